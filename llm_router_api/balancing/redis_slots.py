"""Cluster-wide slots in Redis: every worker of every replica shares one count per provider.

Each operation is one script call (``redis_scripts``). Nothing is ever deleted wholesale: a
replica that restarts finds the others' leases where they were, and its own old ones expire by
TTL. Connection errors propagate (``redis.exceptions.ConnectionError`` / ``TimeoutError``) so
that :class:`~.fallback.FallbackSlots` can switch to per-process slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import redis_scripts
from .slots import Busy, Grant, Pick, SlotRequest, host_of, limit_of


@dataclass(frozen=True)
class KeySpace:
    """Every key under one prefix, in one hash tag (``{prefix}``) so scripts work on a cluster too."""

    prefix: str

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def slots(self, provider_id: str) -> str:
        return f"{self.tag}:slots:{provider_id}"

    def line(self, model: str) -> str:
        return f"{self.tag}:line:{model}"

    def affinity(self, host: str) -> str:
        return f"{self.tag}:affinity:{host}"

    def once(self, task: str, subject: str) -> str:
        return f"{self.tag}:once:{task}:{subject}"

    @property
    def released_channel(self) -> str:
        return f"{self.tag}:released"


def connect(host: str, port: int, db: int, password: str | None, timeout: float) -> redis.Redis:
    """A client with short timeouts and one immediate retry.

    redis-py retries a failed command with backoff by default, which made a request pay over
    4 s when Redis was down. One retry without backoff is kept: after Redis restarts, each
    pooled connection fails once, and the retry reconnects. A second failure switches to
    per-process slots (``fallback.py``) until ``LLM_ROUTER_REDIS_RETRY_SECONDS`` have passed.
    """
    return redis.Redis(host=host, port=port, db=db, password=password, socket_timeout=timeout,
                       socket_connect_timeout=timeout, health_check_interval=30, retry=Retry(NoBackoff(), 1))


class RedisSlots:
    kind = "redis"

    def __init__(self, client: redis.Redis, keys: KeySpace, ttl_seconds: float):
        self.client = client
        self.keys = keys
        self.ttl_ms = int(ttl_seconds * 1000)
        self._acquire = client.register_script(redis_scripts.ACQUIRE)
        self._release = client.register_script(redis_scripts.RELEASE)
        self._renew = client.register_script(redis_scripts.RENEW)
        self._leave = client.register_script(redis_scripts.LEAVE_LINE)
        self._count = client.register_script(redis_scripts.COUNT)

    def acquire(self, request: SlotRequest, wait_seconds: float) -> Grant | Busy:
        candidates = request.candidates
        keys = [self.keys.line(request.model)]
        keys += [self.keys.slots(c.provider.id) for c in candidates]
        keys += [self.keys.affinity(host_of(c.provider)) if request.pick is Pick.AFFINITY else keys[0]
                 for c in candidates]
        args: list[object] = [request.token, self.ttl_ms, int(wait_seconds * 1000), request.pick.value,
                              request.model, len(candidates)]
        for c in candidates:
            args += [limit_of(c.provider), repr(float(c.provider.weight)), c.tier]
        index, value = self._acquire(keys=keys, args=args)
        if index:
            return Grant(candidates[index - 1].provider, self)
        return Busy(retry_in=value / 1000 if value >= 0 else None)

    def release(self, provider_id: str, token: str) -> None:
        self._release(keys=[self.keys.slots(provider_id)],
                      args=[token, self.keys.released_channel, provider_id])

    def renew(self, leases: Sequence[tuple[str, str]]) -> int:
        """Extend (provider id, token) leases by the TTL; returns how many were no longer held."""
        if not leases:
            return 0
        return self._renew(keys=[self.keys.slots(pid) for pid, _ in leases],
                           args=[self.ttl_ms] + [token for _, token in leases])

    def leave_line(self, model: str, token: str) -> None:
        self._leave(keys=[self.keys.line(model)], args=[token, self.keys.released_channel])

    def in_flight(self, provider_ids: Sequence[str]) -> dict[str, int]:
        if not provider_ids:
            return {}
        counts = self._count(keys=[self.keys.slots(pid) for pid in provider_ids])
        return dict(zip(provider_ids, counts))

    def affinity(self, host: str) -> str | None:
        value = self.client.get(self.keys.affinity(host))
        return value.decode() if value is not None else None

    def claim_once(self, task: str, subject: str, owner: str, seconds: float) -> bool:
        """True for exactly one caller cluster-wide per ``seconds`` (periodic work done once)."""
        return bool(self.client.set(self.keys.once(task, subject), owner, nx=True, px=max(1, int(seconds * 1000))))
