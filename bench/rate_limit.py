"""What a per-key rate-limit decision costs: ``RateLimiter.admit`` (and ``charge``) latency.

Run from the repository root::

    python -m bench.rate_limit [--redis HOST:PORT] [--db 9] [--samples 20000] [--out PATH]

Cells: backend (Redis: one script call per step; local: this process's limiter) x distinct key
ids active (10, 10,000; called in a shuffled round-robin, each key warmed first so its sets
exist) x operation: ``admit`` with a request limit only, ``admit`` with all three limits
(requests, tokens per minute, monthly budget), ``admit`` + ``charge`` (a whole request's cost
with token limits), and a refused ``admit`` (the key at its limit); a bare ``PING`` shows what the
round trip alone costs here. Latency is measured around
each call in this process (perf_counter_ns), so it includes redis-py's work and the loopback
round trip; Redis runs on the same machine. On a small VM the round trip itself varies from run
to run (a bare PING took 22 µs in one run and 100 µs in the next, pinned or not, as idle vCPUs
are woken): compare each cell with the PING row of the same run. Also reported: script calls per operation (from
Redis's ``INFO commandstats``; other clients of the same server would add to it) and the memory
of one key's request set. Writes Markdown to ``bench/results/rate-limit-latest.md``.

Keys live in DB 9 under a fresh prefix and are deleted at the end; nothing is flushed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import redis

from llm_router_api.auth.limits import Limits, RateLimiter

RPM_ONLY = Limits(requests_per_minute=10_000_000)
ALL_THREE = Limits(requests_per_minute=10_000_000, tokens_per_minute=10_000_000_000, token_budget=10 ** 15)
AT_LIMIT = Limits(requests_per_minute=5)
PING = "PING (a bare round trip)"
ROUNDS = 5  # each cell's samples are taken in this many slices, interleaved with the other cells'
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rate-limit-latest.md"


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def time_calls(step, key_ids: list[str], samples: int) -> list[int]:
    """``step(key_id)`` ``samples`` times over the keys in shuffled rounds; nanoseconds per call."""
    order = key_ids[:]
    timings = []
    clock = time.perf_counter_ns
    gc.collect()
    while len(timings) < samples:
        random.shuffle(order)
        for key_id in order[:samples - len(timings)]:
            started = clock()
            step(key_id)
            timings.append(clock() - started)
    return timings


def script_stats(client: redis.Redis | None) -> tuple[int, int]:
    """(calls, server-side µs) of EVALSHA/EVAL so far, from ``INFO commandstats``."""
    if client is None:
        return 0, 0
    stats = client.info("commandstats")
    rows = [stats.get(name, {}) for name in ("cmdstat_evalsha", "cmdstat_eval")]
    return sum(r.get("calls", 0) for r in rows), sum(r.get("usec", 0) for r in rows)


@dataclass
class Cell:
    backend: str
    keys: int
    operation: str
    step: Callable[[str], None]
    key_ids: list[str]
    client: redis.Redis | None
    timings: list[int] = field(default_factory=list)
    scripts: int = 0
    server_us: int = 0

    def run(self, samples: int) -> None:
        before = script_stats(self.client)
        self.timings += time_calls(self.step, self.key_ids, samples)
        after = script_stats(self.client)
        self.scripts += after[0] - before[0]
        self.server_us += after[1] - before[1]

    def row(self) -> dict:
        t, n = self.timings, len(self.timings)
        scripted = self.client is not None and not self.operation.startswith("PING")
        return {"backend": self.backend, "keys": self.keys, "operation": self.operation, "samples": n,
                "p50": percentile(t, 50) / 1000, "p99": percentile(t, 99) / 1000, "mean": sum(t) / n / 1000,
                "scripts_per_op": self.scripts / n if scripted else None,
                "server_us": self.server_us / self.scripts if scripted and self.scripts else None}


def make_cell(limiter: RateLimiter, client: redis.Redis | None, key_count: int, operation: str) -> Cell:
    """The step of one cell, with every key warmed (its sets exist; refused keys are at their limit)."""
    key_ids = [f"bench-{operation}-{key_count}-{i}" for i in range(key_count)]
    if operation == PING:
        def step(key_id): client.ping()
    elif operation == "admit (requests only)":
        def step(key_id): limiter.admit(key_id, RPM_ONLY)
    elif operation == "admit (all three limits)":
        def step(key_id): limiter.admit(key_id, ALL_THREE)
    elif operation == "admit + charge":
        def step(key_id):
            limiter.admit(key_id, ALL_THREE)
            limiter.charge(key_id, ALL_THREE, 321)
    elif operation == "admit, refused":
        def step(key_id):
            assert not limiter.admit(key_id, AT_LIMIT).allowed
    else:
        raise ValueError(operation)
    for key_id in key_ids:
        if operation == "admit, refused":
            for _ in range(AT_LIMIT.requests_per_minute):
                limiter.admit(key_id, AT_LIMIT)
        else:
            step(key_id)
    return Cell("redis" if client is not None else "local", key_count, operation, step, key_ids, client)


def set_memory(client: redis.Redis, prefix: str, entries: int) -> int:
    """Bytes Redis reports for one key's request set holding ``entries`` requests."""
    limiter = RateLimiter(client, prefix=prefix)
    key_id = f"memory-{entries}"
    for _ in range(entries):
        limiter.admit(key_id, Limits(requests_per_minute=entries))
    return client.memory_usage("{" + prefix + "}:rl:req:" + key_id, samples=0)


def render(facts: dict[str, str], rows: list[dict], memory: dict[int, int]) -> str:
    lines = ["# Per-key rate limits: decision latency", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "| backend | distinct key ids | operation | p50 µs | p99 µs | mean µs | script calls / op "
              "| Redis µs / script call | samples |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per_op = "–" if r["scripts_per_op"] is None else f"{r['scripts_per_op']:.2f}"
        server = "–" if r["server_us"] is None else f"{r['server_us']:.1f}"
        lines.append(f"| {r['backend']} | {r['keys']:,} | {r['operation']} | {r['p50']:.1f} | {r['p99']:.1f} | "
                     f"{r['mean']:.1f} | {per_op} | {server} | {r['samples']:,} |")
    if memory:
        lines += ["", "Memory of one key's request set (`MEMORY USAGE`, Redis's own estimate):", "",
                  "| requests in the window | bytes | bytes / request |", "|---|---|---|"]
        lines += [f"| {n:,} | {b:,} | {b / n:.0f} |" for n, b in memory.items()]
    lines += ["", "Latency is measured around each call in the benchmark process (redis-py included, loopback to "
              "a Redis on the same machine). `admit + charge` is both calls of one request (two round trips: "
              "the charge comes after the answer). A refused admit adds nothing (not counted). The bare PING "
              "is the round trip alone; on this VM it varies over time (about 20-100 µs, as idle vCPUs are "
              "woken), so every cell's samples are taken in interleaved slices, and *Redis µs / script call* "
              "(from `INFO commandstats`) is the script's own time inside Redis, free of that noise.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="127.0.0.1:6379", help="HOST:PORT ('' to skip the Redis cells)")
    parser.add_argument("--db", type=int, default=9)
    parser.add_argument("--samples", type=int, default=20000, help="timed calls per cell")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--core", type=int, default=-1, help="pin this process to one core (default: not pinned)")
    args = parser.parse_args(argv)
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})

    load_before = os.getloadavg()[0]
    operations = ["admit (requests only)", "admit (all three limits)", "admit + charge", "admit, refused"]
    rows: list[dict] = []
    memory: dict[int, int] = {}
    client = None
    prefix = f"bench-rl-{uuid.uuid4().hex[:10]}"
    version = "–"
    if args.redis:
        host, port = args.redis.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), db=args.db, socket_timeout=2, socket_connect_timeout=2)
        version = client.info("server")["redis_version"]
    try:
        backends = ([("redis", client)] if client is not None else []) + [("local", None)]
        cells, limiters = [], []
        for name, backend_client in backends:
            limiter = RateLimiter(backend_client, prefix=prefix)
            limiters.append((name, limiter))
            for key_count in (10, 10_000):
                baseline = [PING] if backend_client is not None and key_count == 10 else []
                cells += [make_cell(limiter, backend_client, key_count, operation)
                          for operation in baseline + operations]
        for round_index in range(ROUNDS):
            share = args.samples // ROUNDS + (1 if round_index < args.samples % ROUNDS else 0)
            for cell in cells:
                cell.run(share)
        if any(limiter.backend != name or limiter.outages for name, limiter in limiters):
            raise SystemExit("Redis failed during the run: the Redis cells measured the local fallback")
        rows = [cell.row() for cell in cells]
        for row in rows:
            print(f"{row['backend']:6} {row['keys']:>6} {row['operation']:26} p50 {row['p50']:7.1f} µs  "
                  f"p99 {row['p99']:7.1f} µs", flush=True)
        if client is not None:
            memory = {n: set_memory(client, prefix, n) for n in (10, 60, 128, 1000)}
    finally:
        if client is not None:
            keys = list(client.scan_iter(match="{" + prefix + "}*", count=1000))
            for i in range(0, len(keys), 1000):
                client.delete(*keys[i:i + 1000])

    facts = {
        "command": ("python -m bench.rate_limit " + shlex.join(sys.argv[1:] if argv is None else argv)).rstrip(),
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "nproc": str(os.cpu_count()),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "redis-py": redis.__version__,
        "Redis server": f"{version} at {args.redis or '–'} (DB {args.db}), same machine",
        "samples per cell": f"{args.samples:,}",
        "pinned to": f"core {args.core} (Redis not pinned)" if args.core >= 0 else "not pinned",
        "load average (1 min) before / after": f"{load_before:.2f} / {os.getloadavg()[0]:.2f} "
                                                "(the machine is shared: other work skews the numbers)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(facts, rows, memory))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
