"""Endpoint groups of every route, public paths, the client's address behind proxies, JSON depth."""

from __future__ import annotations

import pytest

from llm_router_api.auth.client_ip import TrustedProxies
from llm_router_api.auth.groups import DEFAULT_PUBLIC, PublicPaths, endpoint_groups
from llm_router_api.routes.json_body import json_depth


@pytest.mark.parametrize("endpoint,groups", [
    ("openai.chat", {"chat"}), ("openai.completions", {"chat"}), ("openai.embeddings", {"embedding"}),
    ("responses.create", {"chat"}), ("lmstudio.chat_completions", {"chat"}), ("lmstudio.embeddings", {"embedding"}),
    ("anthropic.messages", {"anthropic"}), ("anthropic.count_tokens", {"anthropic"}),
    ("ollama.chat", {"ollama"}), ("ollama.generate", {"ollama"}), ("ollama.embed", {"ollama", "embedding"}),
    ("ollama.tags", {"ollama"}), ("builtin_masking.fast_text_mask", {"builtin"}),
    ("operations.health", {"admin"}), ("operations.metrics", {"admin"}), ("flasgger.apidocs", {"admin"}),
    ("openai.models", set()), ("openai.model", set()), ("lmstudio.models", set()),
    ("someone_else.view", {"admin"}), (None, {"admin"}),
])
def test_every_route_has_its_groups_and_unknown_ones_are_admin(endpoint, groups):
    assert endpoint_groups(endpoint) == frozenset(groups)


def test_every_route_of_the_app_is_in_a_known_group(gateway):
    from llm_router_api.auth.keys import ENDPOINT_GROUPS

    gw = gateway({"m": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:9/", "api_type": "vllm"}]}})
    endpoints = {rule.endpoint for rule in gw.app.url_map.iter_rules()}
    for endpoint in endpoints:
        assert endpoint_groups(endpoint) <= set(ENDPOINT_GROUPS), endpoint
    assert {e for e in endpoints if endpoint_groups(e) == {"admin"}} == {
        "operations.health", "operations.metrics", "operations.ping", "operations.version",
        "flasgger.apidocs", "flasgger.apispec", "flasgger.static", "flasgger.oauth_redirect", "flasgger.<lambda>"}


def test_public_paths_are_exact_or_prefixes_with_the_prefix_filled_in():
    public = PublicPaths(DEFAULT_PUBLIC, "/api")
    assert "/ping" in public and "/api/ping" in public and "/" in public and "/metrics" in public
    assert "/v1/chat/completions" not in public and "/api/ping/x" not in public and "/pingx" not in public
    docs = PublicPaths(("/apidocs*",), "")
    assert "/apidocs/" in docs and "/apidocs/static/x.js" in docs and "/apispec.json" not in docs


@pytest.mark.parametrize("proxies,peer,header,client", [
    ((), "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # no trusted proxy: the header is ignored
    (("10.0.0.0/8",), "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # the peer is not a trusted proxy
    (("10.0.0.0/8",), "10.0.0.2", "1.2.3.4", "1.2.3.4"),
    (("10.0.0.0/8",), "10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7", "1.2.3.4"),  # a forged left part is skipped
    (("10.0.0.0/8",), "10.0.0.2", "10.0.0.5, 10.0.0.7", "10.0.0.5"),  # all proxies: the leftmost
    (("10.0.0.0/8",), "10.0.0.2", "not-an-ip", "10.0.0.2"),
    (("::1",), "::1", "2001:db8::1", "2001:db8::1"),
    (("10.0.0.0/8",), "10.0.0.2", None, "10.0.0.2"),
])
def test_the_client_address_comes_from_x_forwarded_for_only_through_trusted_proxies(proxies, peer, header, client):
    assert TrustedProxies(proxies).client_ip(peer, header) == client


def test_json_depth():
    assert json_depth({"a": [1, {"b": []}]}, 10) == 4
    assert json_depth("x", 5) == 0
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    assert json_depth(deep, 64) == 65  # stops counting past the limit


def test_lookups_are_remembered_for_the_cache_time_and_no_longer(tmp_path):
    from llm_router_api.auth.cache import CachedLookups
    from llm_router_api.auth.keys import KeyPolicy
    from llm_router_api.auth.store_file import FileKeyStore
    from tests.conftest import ManualClock

    clock = ManualClock()
    store = FileKeyStore(tmp_path / "keys.json", "s" * 32, reload_interval=0, clock=clock)
    key, created = store.create("a", KeyPolicy())
    cached = CachedLookups(store, ttl_seconds=1.0, clock=clock)
    assert cached.lookup(key) == created and cached.lookup("sk-llmr-" + "x" * 43) is None
    store.revoke("a")
    assert store.lookup(key) is None
    assert cached.lookup(key) == created  # remembered: revocation takes effect within the cache time
    clock.advance(1.01)
    assert cached.lookup(key) is None
    assert cached.get("a").name == "a"  # the rest is the store's
    uncached = CachedLookups(store, ttl_seconds=0, clock=clock)
    assert uncached.lookup(key) is None
