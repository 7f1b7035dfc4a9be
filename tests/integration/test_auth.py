"""API keys end to end: 401/403/429 in each client's dialect, limits per key, keys changed while the
server runs, token budgets from streamed usage, and the hardening that goes with them."""

from __future__ import annotations

import json
import subprocess
import sys

import anthropic
import ollama
import openai
import pytest
import requests

from llm_router_api.auth.keys import KeyPolicy
from llm_router_api.auth.store import open_key_store
from llm_router_api.settings import Settings
from tests.conftest import REPO_ROOT, register_secret, until
from tests.integration.conftest import TOKEN

SECRET = register_secret("test-hmac-secret-0123456789abcdef")
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def keyed(tmp_path, upstreams, gateway):
    """(gateway, create): a gateway with auth on over a file store, and a key factory for that store."""
    keys_file = tmp_path / "keys.json"
    auth = {"auth_enabled": True, "auth_secret": SECRET, "auth_keys_file": str(keys_file)}
    store = open_key_store(Settings(**auth))
    up = upstreams()
    models = {"m": {"providers": [{"id": "a", "api_host": up.url, "api_type": "vllm", "api_token": TOKEN}]},
              "other": {"providers": [{"id": "b", "api_host": up.url, "api_type": "vllm", "api_token": TOKEN}]}}
    started = {}

    def create(name, **policy):
        key, _ = store.create(name, KeyPolicy(**policy))
        return register_secret(key)

    def start(**settings):
        started["gw"] = gateway(models, log_level="DEBUG", **{**auth, **settings})
        return started["gw"]

    return start, create, up, store


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_no_key_a_wrong_key_and_a_key_in_the_query_string_are_401_in_each_dialect(keyed):
    start, create, _, _ = keyed
    key = create("a")
    gw = start()
    for headers in ({}, _bearer("sk-llmr-" + "x" * 43), {"Authorization": "Basic abc"}):
        response = requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert requests.post(gw.v1 + "/chat/completions?api_key=sk-llmr-notakey", json=CHAT, timeout=10).status_code == 401
    ollama_answer = requests.post(gw.url + "/api/chat", json={**CHAT, "stream": False}, timeout=10)
    assert ollama_answer.status_code == 401 and isinstance(ollama_answer.json()["error"], str)
    anthropic_answer = requests.post(gw.url + "/v1/messages", json={**CHAT, "max_tokens": 5}, timeout=10)
    assert anthropic_answer.status_code == 401
    assert anthropic_answer.json()["error"]["type"] == "authentication_error"
    assert key not in anthropic_answer.text

    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=_bearer(key), timeout=10).status_code == 200
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers={"x-api-key": key}, timeout=10).ok
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)  # sends x-api-key
    assert client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]).content


def test_public_paths_need_no_key_and_the_rest_do(keyed):
    start, _, _, _ = keyed
    gw = start()
    for path in ("/ping", "/api/ping", "/health", "/version", "/"):
        assert requests.get(gw.url + path, timeout=10).status_code == 200, path
    assert requests.get(gw.v1 + "/models", timeout=10).status_code == 401
    assert requests.get(gw.url + "/api/tags", timeout=10).status_code == 401
    gw = start(auth_public_endpoints=("/ping",))
    assert requests.get(gw.url + "/health", timeout=10).status_code == 401
    assert requests.get(gw.url + "/ping", timeout=10).status_code == 200


def test_a_key_restricted_to_a_model_or_to_embeddings_gets_403_elsewhere_in_each_dialect(keyed):
    start, create, _, _ = keyed
    only_m = create("only-m", models=("m",))
    embeddings = create("embeddings", endpoints=("embedding",))
    gw = start()
    oa = openai.OpenAI(base_url=gw.v1, api_key=only_m, max_retries=0)
    assert oa.chat.completions.create(model="m", messages=CHAT["messages"]).choices
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oa.chat.completions.create(model="other", messages=CHAT["messages"])
    assert denied.value.body["code"] == "model_not_allowed"
    with pytest.raises(ollama.ResponseError) as ollama_denied:
        ollama.Client(host=gw.url, headers=_bearer(only_m)).chat(model="other", messages=CHAT["messages"])
    assert ollama_denied.value.status_code == 403 and "other" in ollama_denied.value.error
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic.Anthropic(base_url=gw.url, api_key=only_m, max_retries=0).messages.create(
            model="other", max_tokens=5, messages=CHAT["messages"])

    oa = openai.OpenAI(base_url=gw.v1, api_key=embeddings, max_retries=0)
    assert oa.embeddings.create(model="m", input="x").data
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oa.chat.completions.create(model="m", messages=CHAT["messages"])
    assert denied.value.body["code"] == "permission_denied"
    assert ollama.Client(host=gw.url, headers=_bearer(embeddings)).embed(model="m", input="x").embeddings
    with pytest.raises(ollama.ResponseError):
        ollama.Client(host=gw.url, headers=_bearer(embeddings)).chat(model="m", messages=CHAT["messages"])


def test_the_fourth_request_of_a_key_with_3_per_minute_is_429_while_another_key_passes(keyed):
    start, create, _, _ = keyed
    a, b = create("a", requests_per_minute=3), create("b", requests_per_minute=3)
    gw = start()
    answers = [requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=_bearer(a), timeout=10)
               for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in answers)
    limited = answers[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60 and 0 < int(limited.headers["X-RateLimit-Reset"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=_bearer(b), timeout=10).status_code == 200
    limited_ollama = requests.post(gw.url + "/api/chat", json={**CHAT, "stream": False}, headers=_bearer(a), timeout=10)
    assert limited_ollama.status_code == 429 and "Rate limit" in limited_ollama.json()["error"]


def test_a_token_budget_used_up_by_streamed_usage_blocks_the_next_request(keyed):
    start, create, up, store = keyed
    key = create("budget", token_budget=20, budget_period="day")
    gw = start()
    client = openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0)
    gate = gw.app.extensions["llm_router"].gate
    api_key = store.get("budget")

    def used() -> int:  # tokens are charged when the answer closes, just after the client has it all
        return gate.limiter.usage(api_key.id, gate.limits_of(api_key))["budget_used"]

    up.reset()
    chunks = list(client.chat.completions.create(model="m", messages=CHAT["messages"], stream=True))
    assert not any(chunk.usage for chunk in chunks)  # the client did not ask for usage and gets none
    assert up.requests[0].json["stream_options"] == {"include_usage": True}  # but the gateway did
    until(lambda: used() == 9, 10, f"the first stream's tokens charged ({used()})")  # 1 prompt word + 8 tokens
    list(client.chat.completions.create(model="m", messages=CHAT["messages"], stream=True))
    until(lambda: used() == 18, 10, "the second stream's tokens charged")  # still under the budget of 20
    list(client.chat.completions.create(model="m", messages=CHAT["messages"], stream=True))
    until(lambda: used() == 27, 10, "the third stream's tokens charged")
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="m", messages=CHAT["messages"])
    assert "token budget" in limited.value.message


def test_keys_created_revoked_and_rotated_by_the_cli_take_effect_on_the_running_server(keyed, tmp_path):
    start, _, _, _ = keyed
    gw = start()
    env = {"PATH": "/usr/bin:/bin", "LLM_ROUTER_AUTH_SECRET": SECRET,
           "LLM_ROUTER_AUTH_KEYS_FILE": str(tmp_path / "keys.json")}

    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "keys", *args], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def status(key):
        return requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=_bearer(key), timeout=10).status_code

    key = register_secret(cli("create", "--name", "ci").strip().splitlines()[-1])
    until(lambda: status(key) == 200, 10, "the new key accepted")
    listing = cli("list")
    assert "ci" in listing and key not in listing
    new = register_secret(cli("rotate", "ci", "--grace", "600").strip().splitlines()[-1])
    until(lambda: status(new) == 200, 10, "the rotated key accepted")
    assert status(key) == 200  # the old one during its grace
    cli("revoke", "ci")
    until(lambda: status(new) == 401 and status(key) == 401, 10, "both keys refused after revocation")


def test_bodies_too_large_or_too_deep_are_clear_400_and_413(gateway, upstreams):
    up = upstreams()
    gw = gateway({"m": {"providers": [{"id": "a", "api_host": up.url, "api_type": "vllm"}]}},
                 max_request_body_size=16384, max_json_depth=16)
    too_large = requests.post(gw.v1 + "/chat/completions", data=json.dumps({**CHAT, "pad": "x" * 20000}),
                              headers={"Content-Type": "application/json"}, timeout=10)
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "request_too_large"
    deep = {**CHAT, "metadata": json.loads("[" * 20 + "]" * 20)}
    answer = requests.post(gw.v1 + "/chat/completions", json=deep, timeout=10)
    assert answer.status_code == 400 and "nested deeper than 16" in answer.json()["error"]["message"]
    very_deep = b'{"model": "m", "messages": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    answer = requests.post(gw.url + "/api/chat", data=very_deep, timeout=10)  # past Python's own recursion limit
    assert answer.status_code == 400 and "nested deeper" in answer.json()["error"]
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, timeout=10).status_code == 200


def test_denied_and_limited_requests_are_audited_and_counted_per_key_name(keyed, tmp_path):
    from llm_router_api.audit import generate_keypair, read_records

    private_key, public_key = generate_keypair(tmp_path / "audit-keys")
    start, create, _, _ = keyed
    key = create("audited", requests_per_minute=1)
    gw = start(auth_with_audit=True, audit_public_key=str(public_key), audit_dir=str(tmp_path / "audit"),
               use_prometheus=True)
    headers = _bearer(key)
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=headers, timeout=10).status_code == 200
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=headers, timeout=10).status_code == 429
    wrong = "sk-llmr-" + "w" * 43
    assert requests.post(gw.v1 + "/chat/completions", json=CHAT, headers=_bearer(wrong), timeout=10).status_code == 401

    metrics = requests.get(gw.url + "/metrics", timeout=10).text
    assert 'llm_router_rate_limit_rejections_total{key="audited"} 1.0' in metrics
    until(lambda: 'llm_router_key_requests_total{key="audited",status="2xx"} 1.0'
          in requests.get(gw.url + "/metrics", timeout=10).text, 10, "the key's request counted")
    assert gw.app.extensions["llm_router"].audit.flush(10)
    events = [(r["data"]["event"], r["data"]["reason"], r["data"].get("key_name"))
              for r in read_records(tmp_path / "audit", private_key) if r["kind"] == "auth"]
    assert events == [("limited", "requests_per_minute", "audited"), ("denied", "invalid_key", None)]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "audit").iterdir())
    assert key.encode() not in stored and wrong.encode() not in stored and b"audited" not in stored


def test_keys_changed_by_the_cli_are_audited(tmp_path):
    from llm_router_api.audit import generate_keypair, read_records

    private_key, public_key = generate_keypair(tmp_path / "audit-keys")
    env = {"PATH": "/usr/bin:/bin", "LLM_ROUTER_AUTH_SECRET": SECRET, "LLM_ROUTER_AUTH_KEYS_FILE": str(tmp_path / "k.json"),
           "LLM_ROUTER_AUTH_WITH_AUDIT": "1", "LLM_ROUTER_AUDIT_PUBLIC_KEY": str(public_key),
           "LLM_ROUTER_AUDIT_DIR": str(tmp_path / "audit")}
    outputs = []
    for args in (["create", "--name", "ops"], ["rotate", "ops", "--grace", "0"], ["revoke", "ops"]):
        result = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "keys", *args], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    created, rotated = (register_secret(out.strip().splitlines()[-1]) for out in outputs[:2])
    records = [r["data"] for r in read_records(tmp_path / "audit", private_key) if r["kind"] == "auth"]
    assert [(r["event"], r["name"], r["by"]) for r in records] == [("created", "ops", "cli"), ("rotated", "ops", "cli"),
                                                                 ("revoked", "ops", "cli")]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "audit").iterdir())
    assert created.encode() not in stored and rotated.encode() not in stored
