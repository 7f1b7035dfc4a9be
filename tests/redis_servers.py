"""Real Redis for tests: the machine's server, or one started here; a private one to stop and start.

Tests never flush anything: each uses its own DB index (``TEST_DB``) and a fresh key prefix, and
deletes only the keys under that prefix when it ends.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

TEST_DB = 9
SHARED = ("127.0.0.1", 6379)


@dataclass
class RedisSpace:
    """One test's corner of a Redis server: a DB index and a key prefix of its own."""

    host: str
    port: int
    db: int
    prefix: str

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, db=self.db, socket_timeout=5)

    def env(self) -> dict[str, str]:
        """The gateway's variables for this space."""
        return {"LLM_ROUTER_REDIS_HOST": self.host, "LLM_ROUTER_REDIS_PORT": str(self.port),
                "LLM_ROUTER_REDIS_DB": str(self.db), "LLM_ROUTER_REDIS_KEY_PREFIX": self.prefix}

    def settings(self) -> dict:
        return {"redis_host": self.host, "redis_port": self.port, "redis_db": self.db,
                "redis_key_prefix": self.prefix}

    def keys(self) -> list[bytes]:
        return list(self.client().scan_iter(match="{" + self.prefix + "}*", count=1000))

    def slot_holders(self, provider_id: str) -> list[str]:
        return [m.decode() for m in self.client().zrange("{" + self.prefix + "}:slots:" + provider_id, 0, -1)]

    def cleanup(self) -> None:
        try:
            keys = self.keys()
            if keys:
                self.client().delete(*keys)
        except redis.exceptions.ConnectionError:
            pass  # a private server that a test stopped


def new_space(host: str, port: int) -> RedisSpace:
    return RedisSpace(host, port, TEST_DB, f"llmr-test-{uuid.uuid4().hex[:10]}")


def reachable(host: str, port: int) -> bool:
    try:
        return bool(redis.Redis(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False


class RedisProcess:
    """A redis-server of the test's own on a free port, that a test may stop and start again."""

    def __init__(self, port: int, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("these tests need Redis: no server answers at 127.0.0.1:6379 and no redis-server "
                        "binary is on PATH (install the redis-server package)")
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisProcess":
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)  # polling a readiness condition
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
