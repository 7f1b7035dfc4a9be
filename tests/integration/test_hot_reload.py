"""models-config.json changes on disk are picked up without a restart and without dropping requests."""

import threading

import requests

from tests.conftest import ManualClock, provider, write_config


def test_a_changed_config_is_served_without_restart(upstreams, gateway):
    clock = ManualClock()
    first, second = upstreams(), upstreams()
    gw = gateway({"m": {"providers": [provider(first, "first")]}}, clock=clock)
    assert [m["id"] for m in requests.get(gw.v1 + "/models").json()["data"]] == ["m"]

    write_config(gw.config_path, {"m": {"providers": [provider(second, "second")]},
                                  "n": {"providers": [provider(second, "second")]}})
    clock.advance(1.0)
    assert [m["id"] for m in requests.get(gw.v1 + "/models").json()["data"]] == ["m", "n"]
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "n", "messages": []}).status_code == 200
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    assert len(second.requests) == 2 and first.requests == []
    assert requests.get(gw.url + "/health").json()["config_generation"] == 2


def test_a_broken_config_keeps_the_last_good_one(upstreams, gateway):
    clock = ManualClock()
    up = upstreams()
    gw = gateway({"m": {"providers": [provider(up, "p")]}}, clock=clock)
    gw.config_path.write_text('{"active_models": {"g": ["gone"]}')
    clock.advance(1.0)
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    assert requests.get(gw.url + "/health").json()["config_generation"] == 1


def test_a_request_in_flight_during_a_reload_completes(upstreams, gateway):
    clock = ManualClock()
    slow, other = upstreams(behaviour="slow", headers_delay=0.5), upstreams()
    gw = gateway({"m": {"providers": [provider(slow, "slow")]}}, clock=clock)
    result = {}
    in_flight = threading.Thread(target=lambda: result.update(response=requests.post(
        gw.v1 + "/chat/completions", json={"model": "m", "messages": []})))
    in_flight.start()
    assert slow.wait_for_requests(1, timeout=5)

    write_config(gw.config_path, {"n": {"providers": [provider(other, "other")]}})
    clock.advance(1.0)
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 404
    in_flight.join(10)
    assert result["response"].status_code == 200


def test_provider_health_survives_a_reload(upstreams, gateway):
    clock = ManualClock()
    broken, good = upstreams(behaviour="fail500"), upstreams()
    models = {"m": {"providers": [provider(broken, "broken"), provider(good, "good")]}}
    gw = gateway(models, clock=clock, circuit_breaker_failures=1, balance_strategy="weighted")
    assert requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    write_config(gw.config_path, {**models, "n": models["m"]})
    clock.advance(1.0)
    for name in ("m", "n", "m"):
        requests.post(gw.v1 + "/chat/completions", json={"model": name, "messages": []})
    assert len(broken.requests) == 1  # still ejected: same id, same server
