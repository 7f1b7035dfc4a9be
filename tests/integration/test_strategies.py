"""Strategies that learn or remember: dynamic weights from real latencies, affinity and keep-alive pings."""

from __future__ import annotations

import requests

from tests.conftest import provider


def chat(gw, name="m"):
    return requests.post(gw.v1 + "/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
                         timeout=30)


def posts(up, **match) -> list:
    return [r for r in up.requests if r.method == "POST" and all(r.json.get(k) == v for k, v in match.items())]


def test_dynamic_weighted_sends_less_to_a_slower_provider(upstreams, gateway):
    fast, slow = upstreams(), upstreams(behaviour="slow", headers_delay=0.08)
    gw = gateway({"m": {"providers": [provider(fast, "fast"), provider(slow, "slow")]}},
                 balance_strategy="dynamic_weighted")
    assert all(chat(gw).status_code == 200 for _ in range(80))
    assert len(posts(fast)) >= 0.75 * 80  # equal weights, but one answers far sooner


def test_dynamic_weighted_sends_less_to_a_failing_provider(upstreams, gateway):
    good, flaky = upstreams(), upstreams(behaviour="fail500")
    gw = gateway({"m": {"providers": [provider(good, "good"), provider(flaky, "flaky")]}},
                 balance_strategy="dynamic_weighted", circuit_breaker_failures=1000)
    assert all(chat(gw).status_code == 200 for _ in range(60))  # failed over to good
    assert len(posts(flaky)) <= 15


def test_affinity_and_keep_alive_pings_only_the_model_a_host_has_loaded(upstreams, gateway):
    box = upstreams()  # one model-swapping server (LocalAI-like) listed for two models
    other = upstreams()
    models = {
        "llama": {"providers": [provider(box, "box-llama", keep_alive="5m", model_path="llama-q4")]},
        "qwen": {"providers": [provider(other, "other-qwen", keep_alive="5m"),
                               provider(box, "box-qwen", keep_alive="5m")]},
    }
    gw = gateway(models, balance_strategy="first_available_optim", keepalive_model_monitor_interval_seconds=3600)
    pinger = gw.app.extensions["llm_router"].balancing.pinger
    assert pinger.ping_due() == 0  # nothing served yet: no host has a model we know of

    assert chat(gw, "llama").status_code == 200
    assert chat(gw, "qwen").status_code == 200  # box has llama loaded: qwen goes to the other host
    assert len(posts(other, model="qwen")) == 1 and not posts(box, model="qwen")
    assert pinger.ping_due() == 2
    pings = [r.json for r in posts(box) if r.json.get("max_tokens") == 1]
    assert [p["model"] for p in pings] == ["llama-q4"]  # the upstream name, and never qwen on box
    assert len(posts(other, max_tokens=1)) == 1


def test_a_health_route_hidden_by_a_proxy_does_not_take_a_working_provider_out(upstreams):
    from llm_router_api.balancing.health import HealthMonitor
    from llm_router_api.balancing.provider_state import ProviderStates
    from llm_router_api.config.models import ProviderConfig
    from llm_router_api.upstream.client import UpstreamClient

    up = upstreams()
    monitor = HealthMonitor(None, ProviderStates(failures_to_eject=3, cooldown=1, clock=lambda: 0.0),
                            UpstreamClient(pool_size=2, connect_timeout=1), interval=1, connect_timeout=1,
                            on_recovered=lambda _id: None)
    behind_proxy = ProviderConfig(id="p", api_host=up.url + "only-chat/", api_type="vllm")  # /only-chat/health: 404
    assert monitor.check(behind_proxy) is None
    assert [r.path for r in up.requests] == ["/only-chat/health"]
    up.behaviour = "fail500"
    assert monitor.check(behind_proxy) == "health_http_500"
    up.stop()
    assert monitor.check(behind_proxy) == "health_connect"
