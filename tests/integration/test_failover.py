"""Failover between providers, the circuit breaker, and streams that break."""

import socket
import time

import openai
import pytest
import requests

from tests.conftest import ManualClock, provider

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw, **extra):
    return requests.post(gw.v1 + "/chat/completions", json={**CHAT, **extra}, timeout=30)


@pytest.mark.parametrize("behaviour", ["fail500", "fail429", "close_before_headers", "refused", "hang"])
def test_a_failing_provider_moves_the_request_to_the_next(upstreams, gateway, dead_port, behaviour):
    good = upstreams()
    if behaviour == "refused":
        first = provider(dead_port, "bad")
    else:
        bad = upstreams(behaviour=behaviour)
        first = provider(bad, "bad")
    gw = gateway({"m": {"providers": [first, provider(good, "good")]}},
                 balance_strategy="weighted", external_timeout=0.5)
    for stream in (False, True):
        response = chat(gw, stream=stream)
        assert response.status_code == 200
        if stream:
            assert response.content.endswith(b"data: [DONE]\n\n")
    assert len(good.requests) == 2


def test_a_stream_whose_first_chunk_never_comes_fails_over(upstreams, gateway):
    silent = upstreams(behaviour="slow", headers_delay=5)
    good = upstreams()
    gw = gateway({"m": {"providers": [provider(silent, "silent"), provider(good, "good")]}},
                 balance_strategy="weighted", external_timeout=0.3)
    assert chat(gw, stream=True).status_code == 200
    assert len(good.requests) == 1


def test_client_errors_are_returned_not_retried(upstreams, gateway):
    picky = upstreams(behaviour="fail400")
    other = upstreams()
    gw = gateway({"m": {"providers": [provider(picky, "picky"), provider(other, "other")]}},
                 balance_strategy="weighted")
    assert chat(gw).status_code == 400
    assert other.requests == []


def test_nothing_is_retried_after_the_first_byte(upstreams, gateway):
    dropping = upstreams(behaviour="drop_mid_stream", drop_after=2)
    other = upstreams()
    gw = gateway({"m": {"providers": [provider(dropping, "dropping"), provider(other, "other", weight=0)]}},
                 balance_strategy="weighted")  # weight 0: "other" only serves if "dropping" cannot
    client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(stream=True, **CHAT):
            received.append(chunk)
    assert "broke" in caught.value.message
    assert len(received) == 3  # the role chunk and two tokens reached the client before the error
    assert other.requests == []
    raw = chat(gw, stream=True).content  # the wire form: an error event, then a clean end
    assert b'"code": "upstream_stream_interrupted"' in raw and raw.endswith(b"data: [DONE]\n\n")


def test_a_stream_that_stalls_mid_way_ends_with_an_error_not_a_hang(upstreams, gateway):
    stalling = upstreams(token_delay=5)
    gw = gateway({"m": {"providers": [provider(stalling, "stalling")]}}, external_timeout=0.3)
    started = time.monotonic()
    raw = chat(gw, stream=True).content
    assert time.monotonic() - started < 3
    assert b"upstream_stream_interrupted" in raw and raw.endswith(b"data: [DONE]\n\n")


def test_attempts_are_bounded(upstreams, gateway):
    failing = [upstreams(behaviour="fail500") for _ in range(3)]
    gw = gateway({"m": {"providers": [provider(up, f"p{i}") for i, up in enumerate(failing)]}},
                 failover_max_attempts=2)
    response = chat(gw)
    assert response.status_code == 502
    assert sum(len(up.requests) for up in failing) == 2


def test_the_total_deadline_is_bounded(upstreams, gateway):
    hanging = [upstreams(behaviour="hang") for _ in range(3)]
    gw = gateway({"m": {"providers": [provider(up, f"p{i}") for i, up in enumerate(hanging)]}},
                 external_timeout=5, failover_deadline_seconds=0.5)
    started = time.monotonic()
    response = chat(gw)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 2.5, elapsed
    assert sum(len(up.requests) for up in hanging) == 1


def test_sleeping_providers_serve_only_when_every_primary_is_out(upstreams, gateway, dead_port):
    primary, spare = upstreams(), upstreams()
    gw = gateway({"m": {"providers": [provider(primary, "primary")], "providers_sleep": [provider(spare, "spare")]}})
    for _ in range(5):
        assert chat(gw).status_code == 200
    assert len(primary.requests) == 5 and spare.requests == []
    primary.behaviour = "fail500"
    assert chat(gw).status_code == 200
    assert len(spare.requests) == 1


def test_a_dead_provider_is_ejected_then_probed_back(upstreams, gateway):
    clock = ManualClock()
    flaky, steady = upstreams(behaviour="fail500"), upstreams()
    gw = gateway({"m": {"providers": [provider(flaky, "flaky"), provider(steady, "steady")]}}, clock=clock,
                 circuit_breaker_failures=2, circuit_breaker_cooldown_seconds=10)
    for _ in range(20):
        assert chat(gw).status_code == 200  # every request served, failing over while needed
    assert len(flaky.requests) == 2  # then ejected: no more traffic
    health = requests.get(gw.url + "/health").json()
    flaky_state = next(p for p in health["models"][0]["providers"] if p["id"] == "flaky")
    assert flaky_state["state"] == "ejected" and flaky_state["last_error"] == "http_500"
    assert "api_host" not in flaky_state and "127.0.0.1" not in str(health)

    flaky.behaviour = "echo"  # the server recovers
    clock.advance(10)
    for _ in range(10):
        assert chat(gw).status_code == 200
    assert len(flaky.requests) > 3  # probe succeeded, back in rotation
    health = requests.get(gw.url + "/health").json()
    assert all(p["state"] == "healthy" for p in health["models"][0]["providers"])


def test_all_ejected_is_503_with_retry_after(upstreams, gateway):
    clock = ManualClock()
    broken = upstreams(behaviour="fail500")
    gw = gateway({"m": {"providers": [provider(broken, "broken")]}}, clock=clock, circuit_breaker_failures=1)
    assert chat(gw).status_code == 502
    response = chat(gw)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "no_provider_available"
    assert len(broken.requests) == 1
    assert requests.get(gw.url + "/health").json()["status"] == "degraded"


def test_max_concurrency_holds_under_parallel_load(upstreams, gateway):
    from concurrent.futures import ThreadPoolExecutor

    slow = upstreams(behaviour="slow", headers_delay=0.2)
    gw = gateway({"m": {"providers": [provider(slow, "slow", max_concurrency=3)]}})
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: chat(gw).status_code, range(8)))
    assert slow.peak_concurrency <= 3
    assert statuses.count(200) >= 3 and set(statuses) <= {200, 503}


def test_client_disconnect_closes_the_upstream_stream(upstreams, gateway):
    up = upstreams(token_delay=0.05, n_tokens=400)
    gw = gateway({"m": {"providers": [provider(up, "p1")]}})
    read_two_chunks_and_leave(gw.url, "/v1/chat/completions")
    assert up.wait_for_disconnect(5)
    health = requests.get(gw.url + "/health").json()
    assert health["models"][0]["providers"][0]["in_flight"] == 0


def read_two_chunks_and_leave(base_url: str, path: str) -> None:
    """A client that starts a stream, reads a little, and closes its socket."""
    host, port = base_url.removeprefix("http://").split(":")
    body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        while received.count(b"data: ") < 3:
            received += sock.recv(4096)
        assert b"200 OK" in received
