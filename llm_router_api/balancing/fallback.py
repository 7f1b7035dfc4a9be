"""Redis slots that keep serving when Redis does not: per-process slots until it is back.

On a connection error or timeout the pool switches to :class:`~.slots.LocalSlots` (each worker
then enforces its share of ``max_concurrency``), logs it once, and tries Redis again after
``retry_seconds``; the first success switches back and is logged once too. A slot is always
given back to the pool that granted it, so leases taken during the outage end locally.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import redis

from .redis_slots import RedisSlots
from .slots import Busy, Grant, LocalSlots, SlotRequest

log = logging.getLogger(__name__)

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_UNAVAILABLE = object()


class FallbackSlots:
    def __init__(self, shared: RedisSlots, local: LocalSlots, *, retry_seconds: float,
                 clock: Callable[[], float], on_degraded: Callable[[bool], None] | None = None):
        self.shared = shared
        self.local = local
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: Redis is in use
        self.outages = 0
        self._on_degraded = on_degraded or (lambda degraded: None)  # the Redis-degradation metrics

    @property
    def kind(self) -> str:
        return "redis" if self._retry_at is None else "local"

    @property
    def degraded(self) -> bool:
        return self._retry_at is not None

    def _redis_due(self) -> bool:
        return self._retry_at is None or self._clock() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._retry_at is None:
                self.outages += 1
                log.error("Redis is unreachable (%s); provider leases are kept per process until it is back",
                          type(exc).__name__)
                self._on_degraded(True)
            self._retry_at = self._clock() + self._retry_seconds

    def _succeeded(self) -> None:
        if self._retry_at is not None:
            with self._lock:
                if self._retry_at is not None:
                    self._retry_at = None
                    log.warning("Redis is reachable again; provider leases are shared again")
                    self._on_degraded(False)

    def _try_shared(self, call):
        """``call(shared)`` when Redis is in use or due for a retry; ``_UNAVAILABLE`` if it failed or is not due."""
        if not self._redis_due():
            return _UNAVAILABLE
        try:
            result = call(self.shared)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return _UNAVAILABLE
        self._succeeded()
        return result

    def acquire(self, request: SlotRequest, wait_seconds: float) -> Grant | Busy:
        result = self._try_shared(lambda shared: shared.acquire(request, wait_seconds))
        return self.local.acquire(request, wait_seconds) if result is _UNAVAILABLE else result

    def leave_line(self, model: str, token: str) -> None:
        self.local.leave_line(model, token)
        self._try_shared(lambda shared: shared.leave_line(model, token))

    def in_flight(self, provider_ids: Sequence[str]) -> dict[str, int]:
        result = self._try_shared(lambda shared: shared.in_flight(provider_ids))
        return self.local.in_flight(provider_ids) if result is _UNAVAILABLE else result

    def affinity(self, host: str) -> str | None:
        result = self._try_shared(lambda shared: shared.affinity(host))
        return self.local.affinity(host) if result is _UNAVAILABLE else result

    def claim_once(self, task: str, subject: str, owner: str, seconds: float) -> bool:
        """Shared claim while Redis works; during an outage every worker does its own work."""
        result = self._try_shared(lambda shared: shared.claim_once(task, subject, owner, seconds))
        return True if result is _UNAVAILABLE else result
