"""Per-key limits across processes: spawned processes (as gunicorn workers or replicas would be)
hammer one key through one Redis, and exactly the limit gets through in total."""

from __future__ import annotations

import multiprocessing

from llm_router_api.auth.limits import Limits, RateLimiter

PROCESSES = 4
ATTEMPTS = 40  # per process: 160 in all against a limit of 50
LIMIT = 50


def hammer(address: tuple[str, int, int], prefix: str, key_ids: list[str], limits: Limits,
           start: multiprocessing.Barrier, results: multiprocessing.Queue) -> None:
    import redis

    client = redis.Redis(host=address[0], port=address[1], db=address[2], socket_timeout=5)
    limiter = RateLimiter(client, prefix=prefix)
    client.ping()  # connected before the race starts
    counts = {key_id: 0 for key_id in key_ids}
    start.wait(30)
    for _ in range(ATTEMPTS):
        for key_id in key_ids:
            decision = limiter.admit(key_id, limits)
            counts[key_id] += decision.allowed
            if not decision.allowed:
                assert decision.reason == "requests_per_minute" and 1 <= decision.retry_after <= 60
    results.put((limiter.backend, counts))


def run_processes(redis_space, key_ids: list[str], limits: Limits) -> list[tuple[str, dict]]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    address = (redis_space.host, redis_space.port, redis_space.db)
    processes = [context.Process(target=hammer, args=(address, redis_space.prefix, key_ids, limits, start, results))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        collected = [results.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return collected


def test_exactly_the_limit_across_processes(redis_space):
    collected = run_processes(redis_space, ["key-a", "key-b"], Limits(requests_per_minute=LIMIT))
    assert [backend for backend, _ in collected] == ["redis"] * PROCESSES
    for key_id in ("key-a", "key-b"):
        assert sum(counts[key_id] for _, counts in collected) == LIMIT
    limiter = RateLimiter(redis_space.client(), prefix=redis_space.prefix)
    assert limiter.usage("key-a", Limits(requests_per_minute=LIMIT))["requests"] == LIMIT
