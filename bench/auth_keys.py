"""How long does finding an API key take, with 10 keys stored and with 10,000?

Run from the repository root::

    python -m bench.auth_keys [--lookups N] [--redis-host H] [--redis-port P] [--redis-db D] [--out PATH]

For each store (the JSON file, Redis) and each size it creates the keys in a private place (a
temporary directory; a fresh ``bench-auth-<random>`` prefix in Redis DB 9 by default), then times
``store.lookup()`` of known keys picked at random, and of unknown well-formed keys, one call at a
time (p50/p99). For Redis it also counts the commands one lookup sends (socket writes: round
trips). Afterwards it deletes exactly the keys it made (SCAN of its own prefix + DEL; never a
flush). It also times what the file store does off the lookup path with 10,000 keys: a reload
(re-parse after a change) and one CLI ``create`` (locked rewrite of the whole file).

Writes a Markdown table to bench/results/auth-keys-latest.md (or --out).
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
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

import redis

from llm_router_api.auth.keys import KeyPolicy, generate_key
from llm_router_api.auth.store_file import FileKeyStore
from llm_router_api.auth.store_redis import AuthKeySpace, RedisKeyStore

from .report import fmt, table
from .stats import percentile

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "bench-secret-" + "0" * 32
SIZES = (10, 10_000)
POLICY = KeyPolicy(endpoints=("chat", "embedding"), models=("bielik-*", "gpt-4o"), requests_per_minute=600)


def timed(fn, inputs: list) -> list[float]:
    """µs per call, sorted."""
    samples = []
    clock = time.perf_counter_ns
    for item in inputs:
        start = clock()
        fn(item)
        samples.append((clock() - start) / 1000)
    samples.sort()
    return samples


def measure(cells: dict, lookups: int, per_turn: int = 100) -> dict:
    """p50/p99 per cell. The cells take turns of ``per_turn`` lookups (in alternating order) until
    each made ``lookups``, so what else the machine does (two cores, Redis on the same host, other
    work coming and going) falls on every cell alike. A cell is (store, known keys); a baseline is
    (object with .lookup and ``baseline = True``, keys)."""
    rng = random.Random(7)
    samples: dict = {name: ([], []) for name in cells}
    for store, made in cells.values():  # warm up: connections, caches
        for presented in made[:1000]:
            assert store.lookup(presented) is not None or getattr(store, "baseline", False)
    plan = {name: ([rng.choice(made) for _ in range(lookups)], [generate_key() for _ in range(lookups)])
            for name, (_, made) in cells.items()}
    gc.collect()
    gc.disable()
    try:
        order = list(cells.items())
        for turn, start in enumerate(range(0, lookups, per_turn)):
            for name, (store, _) in (order if turn % 2 == 0 else order[::-1]):
                known, unknown = plan[name]
                samples[name][0].extend(timed(store.lookup, known[start:start + per_turn]))
                samples[name][1].extend(timed(store.lookup, unknown[start:start + per_turn]))
    finally:
        gc.enable()
    for name, (store, _) in cells.items():
        known, unknown = plan[name]
        assert getattr(store, "baseline", False) or (store.lookup(known[0]) is not None
                                                     and store.lookup(unknown[0]) is None)
    result = {}
    for name, (hits, misses) in samples.items():
        hits.sort()
        misses.sort()
        result[name] = {"p50": percentile(hits, 50), "p99": percentile(hits, 99), "miss_p50": percentile(misses, 50),
                        "miss_p99": percentile(misses, 99), "n": len(hits)}
    return result


def specs(count: int) -> list:
    return [(f"bench-{i:05d}", POLICY, None) for i in range(count)]


def file_runs(lookups: int) -> tuple[list[dict], dict[str, float]]:
    extra = {}
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as work:
        cells, sizes = {}, {}
        for size in SIZES:
            path = Path(work) / f"keys-{size}.json"
            made = [p for p, _ in FileKeyStore(path, SECRET).create_many(specs(size))]
            cells[size] = (FileKeyStore(path, SECRET), made)  # as a gateway worker: reads the file once
            sizes[size] = path.stat().st_size
        results = measure(cells, lookups)
        rows = [{"store": "file", "keys": size, **results[size], "trips": None, "bytes": sizes[size]}
                for size in SIZES]
        server, _ = cells[max(SIZES)]
        start = time.perf_counter()
        for _ in range(5):
            server._read()
        extra["reload_ms"] = (time.perf_counter() - start) / 5 * 1000
        cli = FileKeyStore(server.path, SECRET)
        start = time.perf_counter()
        cli.create("one-more", POLICY)
        extra["create_ms"] = (time.perf_counter() - start) * 1000
    return rows, extra


def counting_client(host: str, port: int, db: int):
    class Counting(redis.Connection):
        writes = 0

        def send_packed_command(self, command, check_health=True):
            Counting.writes += 1
            return super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool(connection_class=Counting, host=host, port=port, db=db, socket_timeout=5)
    return redis.Redis(connection_pool=pool), Counting


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    deleted = 0
    batch = []
    for key in client.scan_iter(match="{" + prefix + "}:auth:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


class BareGet:
    """The floor under a Redis lookup: one GET round trip of a key of the same shape."""

    baseline = True

    def __init__(self, client: redis.Redis, prefix: str):
        self.client = client
        self.key = AuthKeySpace(prefix).digest("0" * 64)

    def lookup(self, presented: str) -> None:
        self.client.get(self.key)


def redis_runs(host: str, port: int, db: int, lookups: int) -> tuple[list[dict], str]:
    from llm_router_api.auth.store_redis import connect

    admin = redis.Redis(host=host, port=port, db=db, socket_timeout=10)
    version = admin.info("server").get("redis_version", "?")
    prefixes = {size: f"bench-auth-{uuid.uuid4().hex[:10]}" for size in SIZES}
    clients = []
    try:
        cells, trips = {}, {}
        for size, prefix in prefixes.items():
            made = [p for p, _ in RedisKeyStore(admin, prefix, SECRET).create_many(specs(size))]
            client = connect(host, port, db, None, 1.0)  # the client open_key_store builds
            clients.append(client)
            cells[size] = (RedisKeyStore(client, prefix, SECRET), made)
            counting, counter = counting_client(host, port, db)
            clients.append(counting)
            counted = RedisKeyStore(counting, prefix, SECRET)
            counted.lookup(made[0])  # connection set up
            sample = [made[i % len(made)] for i in range(100)]
            counter.writes = 0
            for presented in sample:
                counted.lookup(presented)
            trips[size] = counter.writes / len(sample)
        bare = connect(host, port, db, None, 1.0)
        clients.append(bare)
        cells["GET"] = (BareGet(bare, prefixes[SIZES[0]]), cells[SIZES[0]][1])
        results = measure(cells, lookups)
        rows = [{"store": "redis", "keys": size, **results[size], "trips": trips[size], "bytes": None}
                for size in SIZES]
        rows.append({"store": "redis baseline: a bare GET of one digest key (no HMAC, no parsing)", "keys": None,
                     **results["GET"], "trips": 1, "bytes": None})
    finally:
        for client in clients:
            client.close()
        for prefix in prefixes.values():
            delete_prefix(admin, prefix)
        admin.close()
    return rows, version


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def render(facts: dict[str, str], rows: list[dict], extra: dict[str, float]) -> str:
    header = ["store", "keys stored", "known key p50 µs", "known key p99 µs", "unknown key p50 µs",
              "unknown key p99 µs", "Redis commands per lookup", "file size"]
    body = [[r["store"], "–" if r["keys"] is None else f"{r['keys']:,}", fmt(r["p50"]), fmt(r["p99"]), fmt(r["miss_p50"]), fmt(r["miss_p99"]),
             "–" if r["trips"] is None else f"{r['trips']:g}",
             "–" if r["bytes"] is None else f"{r['bytes'] / 1024:.0f} KiB"] for r in rows]
    lines = ["# API key lookup benchmark", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "## `store.lookup()` per call (HMAC-SHA256 of the key + one read by digest)", "",
              table(header, body), ""]
    by = {(r["store"], r["keys"]): r for r in rows}
    for store in ("file", "redis"):
        small, large = by.get((store, SIZES[0])), by.get((store, SIZES[-1]))
        if small and large:
            lines.append(f"- {store}: p50 with {SIZES[-1]:,} keys / with {SIZES[0]} keys = "
                         f"{large['p50'] / small['p50']:.2f}")
    lines += ["", "Every lookup computes the HMAC of the presented key and reads one entry by that digest; nothing "
              "in it depends on how many keys are stored. With the file store, known keys among 10,000 pay a few "
              "hundred ns of CPU cache misses (the records no longer fit in L1/L2); unknown keys, the same dict "
              "probe, do not. A Redis lookup is one GET: the round trip (the baseline row) plus the HMAC and the "
              "JSON parse of the ~350-byte entry a known key returns."]
    if extra:
        lines += ["", f"## The file store with {SIZES[-1]:,} keys, off the lookup path", "",
                  table(["what", "ms"], [
                      ["reload: read + parse the file after it changed (once per change per worker, on use)",
                       fmt(extra["reload_ms"])],
                      ["`keys create`: flock + read + rewrite + fsync + rename of the whole file",
                       fmt(extra["create_ms"])]]), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.auth_keys", description=__doc__.split("\n")[0])
    parser.add_argument("--lookups", type=int, default=20_000, help="timed lookups per cell (default 20000)")
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--redis-db", type=int, default=9, help="default 9: the tests' DB, never flushed")
    parser.add_argument("--no-redis", action="store_true", help="only the file store")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out or RESULTS / "auth-keys-latest.md"
    started = time.time()
    rows, extra = file_runs(args.lookups)
    redis_version = "not measured"
    if not args.no_redis:
        redis_rows, redis_version = redis_runs(args.redis_host, args.redis_port, args.redis_db, args.lookups)
        rows += redis_rows
    facts = {
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": "python -m bench.auth_keys" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                   if (argv if argv is not None else sys.argv[1:]) else ""),
        "nproc": str(os.cpu_count()),
        "CPU model": cpu_model(),
        "Python": platform.python_version(),
        "redis-py": metadata.version("redis"),
        "Redis server": f"{redis_version} at {args.redis_host}:{args.redis_port} (same host, TCP)",
        "lookups per cell": f"{args.lookups:,} known + {args.lookups:,} unknown, one at a time, one thread, "
                            "the cells taking turns of 100",
        "run time": f"{time.time() - started:.0f} s",
    }
    text = render(facts, rows, extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
