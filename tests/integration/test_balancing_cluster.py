"""Balancing across real gunicorn workers sharing real Redis, in front of real test upstreams."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import provider, until

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw, timeout=30, **extra):
    return requests.post(gw.v1 + "/chat/completions", json={**CHAT, **extra}, timeout=timeout)


def posts(up) -> int:
    return sum(1 for r in up.requests if r.method == "POST")


def health_checks(up) -> int:
    return sum(1 for r in up.requests if r.method == "GET" and r.path == "/health")


def in_background(fn, *args, **kwargs):
    """Run a request that is expected to hang or fail; its outcome is not the test's subject."""
    def run():
        try:
            fn(*args, **kwargs)
        except requests.RequestException:
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_max_concurrency_holds_across_four_workers(upstreams, gateway_process, redis_space):
    a = upstreams(token_delay=0.05, n_tokens=4)
    b = upstreams(token_delay=0.05, n_tokens=4)
    gw = gateway_process({"m": {"providers": [provider(a, "a", max_concurrency=3),
                                              provider(b, "b", max_concurrency=3)]}},
                         LLM_ROUTER_SERVER_WORKERS_COUNT="4", LLM_ROUTER_BALANCE_STRATEGY="least_outstanding",
                         **redis_space.env())
    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda _: chat(gw, stream=True).status_code, range(50)))
    assert statuses == [200] * 50  # nobody was refused: they waited in line for a slot
    assert a.peak_concurrency <= 3 and b.peak_concurrency <= 3
    assert a.peak_concurrency == 3 and b.peak_concurrency == 3  # and the slots were used
    assert posts(a) + posts(b) == 50
    assert redis_space.slot_holders("a") == [] and redis_space.slot_holders("b") == []


def test_a_killed_worker_s_slots_come_back_within_the_lease_ttl(upstreams, gateway_process, redis_space):
    up = upstreams(behaviour="hang")
    gw = gateway_process({"m": {"providers": [provider(up, "a", max_concurrency=2)]}},
                         LLM_ROUTER_SERVER_WORKERS_COUNT="2", LLM_ROUTER_LEASE_TTL_SECONDS="2",
                         LLM_ROUTER_QUEUE_WAIT_SECONDS="20", **redis_space.env())
    for _ in range(2):
        in_background(chat, gw, timeout=60)
    until(lambda: len(redis_space.slot_holders("a")) == 2, what="both slots held")
    holders = {int(token.split(":")[-2]) for token in redis_space.slot_holders("a")}
    up.behaviour = "echo"
    for pid in holders:
        os.kill(pid, signal.SIGKILL)  # no release, no clean-up: only the TTL can free the slots
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # both need a slot: both dead leases must come back
        statuses = list(pool.map(lambda _: chat(gw).status_code, range(2)))
    elapsed = time.monotonic() - started
    assert statuses == [200, 200]
    assert elapsed < 2 + 3  # the TTL plus a margin, against a 20 s wait
    assert redis_space.slot_holders("a") == []


def test_weighted_three_to_one_over_400_requests_on_two_workers(upstreams, gateway_process, redis_space):
    a, b = upstreams(), upstreams()
    gw = gateway_process({"m": {"providers": [provider(a, "a", weight=3), provider(b, "b", weight=1)]}},
                         LLM_ROUTER_BALANCE_STRATEGY="weighted", **redis_space.env())
    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(lambda _: chat(gw).status_code, range(400)))
    assert statuses == {200: 400}
    assert 0.70 <= posts(a) / 400 <= 0.80


def test_a_dead_provider_gets_no_traffic_and_gets_it_back_after_recovery(upstreams, gateway_process):
    a, b = upstreams(), upstreams()
    gw = gateway_process({"m": {"providers": [provider(a, "a"), provider(b, "b")]}},
                         LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS="0.3")
    b.behaviour = "fail500"  # its /health fails too
    seen = health_checks(b)
    until(lambda: health_checks(b) >= seen + 8, what="health checks of every worker")
    before = posts(b)
    assert all(chat(gw).status_code == 200 for _ in range(40))
    assert posts(b) == before  # not even one request to find out it is down

    b.behaviour = "echo"
    seen = health_checks(b)
    until(lambda: health_checks(b) >= seen + 8, what="health checks after recovery")
    before = posts(b)
    assert all(chat(gw).status_code == 200 for _ in range(40))
    assert posts(b) - before >= 10  # back in rotation (balanced: about half)
    health = requests.get(gw.url + "/health", timeout=5).json()
    assert {p["id"]: p["state"] for p in health["models"][0]["providers"]} == {"a": "healthy", "b": "healthy"}


def test_requests_keep_succeeding_while_redis_is_down_and_it_is_used_again_after(upstreams, gateway_process,
                                                                                 private_redis, redis_space):
    up = upstreams()
    space = redis_space
    space.port = private_redis.port
    gw = gateway_process({"m": {"providers": [provider(up, "a", max_concurrency=8)]}},
                         LLM_ROUTER_REDIS_RETRY_SECONDS="0.5", **space.env())
    assert all(chat(gw).status_code == 200 for _ in range(5))
    private_redis.stop()
    assert all(chat(gw).status_code == 200 for _ in range(20))
    health = requests.get(gw.url + "/health", timeout=5).json()
    assert health["leases"]["redis"] == "unreachable" and health["status"] == "degraded"
    assert gw.log_text().count("Redis is unreachable") <= 2  # said once per worker, not per request

    private_redis.start()

    def every_worker_is_back():  # each worker retries Redis on its own, when a request reaches it
        ok = requests.get(gw.url + "/health", timeout=5).json()["leases"]["redis"] == "ok"
        log = gw.log_text()
        return ok and log.count("Redis is reachable again") == log.count("Redis is unreachable")

    until(every_worker_is_back, what="shared leases again in every worker")
    up.behaviour = "hang"
    in_background(chat, gw)
    until(lambda: len(space.slot_holders("a")) == 1, what="a lease in the restarted Redis")
    up.stop()  # ends the hanging request now rather than at the gateway's shutdown


def test_a_request_that_gets_no_slot_in_time_gets_503_with_retry_after(upstreams, gateway_process, redis_space):
    up = upstreams(behaviour="hang")
    gw = gateway_process({"m": {"providers": [provider(up, "a", max_concurrency=1)]}},
                         LLM_ROUTER_QUEUE_WAIT_SECONDS="1", **redis_space.env())
    in_background(chat, gw, timeout=60)
    until(lambda: len(redis_space.slot_holders("a")) == 1, what="the only slot held")
    started = time.monotonic()
    response = chat(gw)
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "no_provider_available" and "at capacity" in error["message"]
    assert 0.9 <= elapsed < 5.0
    assert posts(up) == 1  # the refused request never reached the upstream
    up.stop()  # ends the hanging request now rather than at the gateway's shutdown


def test_a_request_whose_client_left_while_waiting_is_never_sent(upstreams, gateway_process, redis_space):
    import json
    import socket

    up = upstreams(token_delay=0.1, n_tokens=15)
    gw = gateway_process({"m": {"providers": [provider(up, "a", max_concurrency=1)]}},
                         LLM_ROUTER_QUEUE_WAIT_SECONDS="30", **redis_space.env())
    holder = in_background(chat, gw, stream=True)  # holds the only slot for about 1.5 s
    until(lambda: len(redis_space.slot_holders("a")) == 1, what="the only slot held")
    body = json.dumps(CHAT).encode()
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        line = "{" + redis_space.prefix + "}:line:m"
        until(lambda: redis_space.client().zcard(line) == 1, what="the second request in line")
    # The client has gone; when the slot frees, the waiter wakes, notices, and leaves the line.
    holder.join(30)
    until(lambda: redis_space.client().zcard(line) == 0, what="the line emptied")
    until(lambda: "client left while waiting" in gw.log_text(), what="the log line")
    assert posts(up) == 1
