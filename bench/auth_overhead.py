"""What auth and rate limits add through the gateway: bench.gateway_overhead without keys, then with
a Redis key store holding 10 keys, then 10,000, in one invocation.

Run from the repository root (needs Redis; LLM_ROUTER_REDIS_HOST/PORT, default 127.0.0.1:6379)::

    python -m bench.auth_overhead [--quick]

Each run's report goes to bench/results/auth-overhead-<label>.md. The measured key has a
request limit far above what the run sends, so every request runs the limiter's script. The
keys live in DB 9 under a prefix of this run's own, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

import redis

from llm_router_api.auth.keys import KeyPolicy
from llm_router_api.auth.store import open_key_store
from llm_router_api.settings import Settings

DB = 9
RATE_LIMIT = 10**6  # per minute: never reached, always checked


def _store_env(prefix: str) -> dict[str, str]:
    # LLM_ROUTER_AUTH_REDIS_*, not LLM_ROUTER_REDIS_*: the latter would also move the provider
    # leases to Redis, and the runs would measure that too.
    return {"LLM_ROUTER_AUTH_ENABLED": "1", "LLM_ROUTER_AUTH_KEY_STORE": "redis",
            "LLM_ROUTER_AUTH_SECRET": secrets.token_hex(16), "LLM_ROUTER_AUTH_REDIS_HOST":
            os.environ.get("LLM_ROUTER_REDIS_HOST", "127.0.0.1"),
            "LLM_ROUTER_AUTH_REDIS_PORT": os.environ.get("LLM_ROUTER_REDIS_PORT", "6379"),
            "LLM_ROUTER_AUTH_REDIS_DB": str(DB), "LLM_ROUTER_REDIS_KEY_PREFIX": prefix}


def _with_keys(env: dict[str, str], count: int) -> str:
    """``count`` keys in the store; the one the load generator sends."""
    store = open_key_store(Settings.from_environ(env))
    fillers = [(f"filler-{i}", KeyPolicy(), None) for i in range(count - 1)]
    for start in range(0, len(fillers), 1000):
        store.create_many(fillers[start:start + 1000])
    key, _ = store.create("bench", KeyPolicy(requests_per_minute=RATE_LIMIT))
    return key


def _cleanup(env: dict[str, str]) -> None:
    client = redis.Redis(host=env["LLM_ROUTER_AUTH_REDIS_HOST"], port=int(env["LLM_ROUTER_AUTH_REDIS_PORT"]), db=DB)
    keys = list(client.scan_iter(match="{" + env["LLM_ROUTER_REDIS_KEY_PREFIX"] + "}*", count=5000))
    for start in range(0, len(keys), 5000):
        client.delete(*keys[start:start + 5000])


def _overhead(args: list[str], env: dict[str, str]) -> int:
    """One bench.gateway_overhead run in its own process (it pins itself to a core)."""
    return subprocess.run([sys.executable, "-m", "bench.gateway_overhead", *args], env={**os.environ, **env},
                          stdout=subprocess.DEVNULL).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keys", type=int, nargs="*", default=[10, 10_000])
    args = parser.parse_args(argv)
    common = ["--worker-class", "gevent", "--hold-streams", "0"] + (["--quick"] if args.quick else [])
    status = _overhead(common + ["--out", "bench/results/auth-overhead-off.md"], {})
    for count in args.keys:
        env = _store_env(f"bench-auth-{secrets.token_hex(4)}")
        try:
            key = _with_keys(env, count)
            status |= _overhead(common + ["--header", f"Authorization: Bearer {key}",
                                          "--out", f"bench/results/auth-overhead-{count}-keys.md"], env)
        finally:
            _cleanup(env)
    print("reports: " + ", ".join(str(p) for p in sorted(Path("bench/results").glob("auth-overhead-*.md"))))
    return status


if __name__ == "__main__":
    sys.exit(main())
