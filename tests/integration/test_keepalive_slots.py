"""Keep-alive pings (``first_available_optim``) hold a slot of their provider while they run.

One model-swapping box serves two models under one provider id with ``max_concurrency: 1``, as in
examples/localai-llamacpp. A ping for the loaded model must count as the box's one request: a
request for the other model waits for it (it never reaches the box next to the ping), a ping is
skipped when the box is busy, and the slot comes back however the ping ends (answer, error,
timeout). Real parts only: the in-process gateway, a FakeUpstream, per-process slots or Redis.
"""

from __future__ import annotations

import threading

import pytest
import requests

from tests.conftest import provider, until


def chat(gw, model: str) -> requests.Response:
    return requests.post(gw.v1 + "/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                         timeout=30)


def in_flight(gw, provider_id: str = "box") -> int:
    """The gateway's count of slots held on ``provider_id`` (cluster-wide with Redis), from /health."""
    body = requests.get(gw.url + "/health", timeout=5).json()
    return next(p["in_flight"] for m in body["models"] for p in m["providers"] if p["id"] == provider_id)


def pings(up) -> list:
    return [r for r in up.requests if r.method == "POST" and (r.json or {}).get("max_tokens") == 1]


@pytest.fixture(params=["local", "redis"])
def swapping_box(request, upstreams, gateway):
    """A gateway in front of one box holding two models (one id, one slot); llama is loaded on it."""
    box = upstreams()
    entry = {"max_concurrency": 1, "keep_alive": "5m"}
    models = {"llama": {"providers": [provider(box, "box", model_path="llama-q4", **entry)]},
              "qwen": {"providers": [provider(box, "box", model_path="qwen-q4", **entry)]}}
    settings = {}
    if request.param == "redis":
        settings = request.getfixturevalue("redis_space").settings()
    # The pinger's own thread waits an hour: the test calls ping_due() itself.
    gw = gateway(models, balance_strategy="first_available_optim", keepalive_model_monitor_interval_seconds=3600,
                 queue_wait_seconds=30, circuit_breaker_failures=1000, **settings)
    assert chat(gw, "llama").status_code == 200  # the box's affinity record: llama
    box.reset()
    return gw, box, gw.app.extensions["llm_router"].balancing.pinger


def test_a_request_for_another_model_waits_while_a_ping_runs(swapping_box):
    gw, box, pinger = swapping_box
    pinger.timeout = 1.0  # the ping below hangs: it ends by its timeout, which must free the slot
    box.behaviour = "hang"
    sent: list[int] = []
    thread = threading.Thread(target=lambda: sent.append(pinger.ping_due()))
    thread.start()
    try:
        assert box.wait_for_requests(1, 10), "no keep-alive ping reached the box"
        assert [p.json["model"] for p in pings(box)] == ["llama-q4"]  # the loaded model only
        assert in_flight(gw) == 1  # the ping holds the box's one slot
        box.behaviour = "echo"
        answer = chat(gw, "qwen")  # must wait for the ping; sent at once, the box would see two models
        assert answer.status_code == 200, answer.text
    finally:
        thread.join(10)
    assert sent == [0]  # the ping timed out
    assert box.peak_concurrency == 1, "a request reached the box while the keep-alive ping ran there"
    assert in_flight(gw) == 0


def test_a_ping_is_skipped_while_the_box_is_busy(swapping_box):
    gw, box, pinger = swapping_box
    box.behaviour, box.headers_delay = "slow", 2.0  # a request that holds the box for a while
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(chat(gw, "llama").status_code))
    thread.start()
    try:
        until(lambda: box.in_flight == 1, 10, "the request at the box")
        model = next(m for m in pinger.store.current().models if m.name == "llama")
        with pinger.slot(model, model.providers[0]) as held:
            assert held is False  # no free slot: never waits for one
        assert pinger.ping_due() == 0
        assert in_flight(gw) == 1  # the skipped ping left the request's slot alone
    finally:
        thread.join(10)
    assert answers == [200] and not pings(box)
    box.behaviour = "echo"
    assert pinger.ping_due() == 1 and len(pings(box)) == 1  # idle again: pinged
    assert in_flight(gw) == 0


def test_a_failed_ping_gives_its_slot_back(swapping_box):
    gw, box, pinger = swapping_box
    box.behaviour = "fail500"
    assert pinger.ping_due() == 0 and len(pings(box)) == 1
    assert in_flight(gw) == 0
    box.stop()  # connection refused
    assert pinger.ping_due() == 0
    assert in_flight(gw) == 0
