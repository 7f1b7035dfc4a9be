"""Keeps cluster-wide leases alive while their requests run, however long that is.

A lease in Redis expires ``ttl`` after it was last renewed, which is how a killed worker's
slots come back. Every live lease of this worker is renewed in one script call every ttl/3, so
a long stream or a slow non-streamed answer keeps its slot; a lost one is logged (Redis was
restarted, or this worker stalled for longer than the TTL).
"""

from __future__ import annotations

import logging
import threading

from .background import BackgroundThread, every
from .fallback import REDIS_ERRORS
from .redis_slots import RedisSlots

log = logging.getLogger(__name__)


class LeaseRenewer:
    def __init__(self, pool: RedisSlots, ttl_seconds: float):
        self.pool = pool
        self._lock = threading.Lock()
        self._leases: dict[str, str] = {}  # token -> provider id
        self.thread = BackgroundThread("llm-router-lease-renewer", every(ttl_seconds / 3, self.renew_now,
                                                                         first_at_once=False))

    def add(self, provider_id: str, token: str) -> None:
        with self._lock:
            self._leases[token] = provider_id
        self.thread.ensure_started()

    def remove(self, token: str) -> None:
        with self._lock:
            self._leases.pop(token, None)

    def renew_now(self) -> None:
        with self._lock:
            leases = [(pid, token) for token, pid in self._leases.items()]
        if not leases:
            return
        try:
            lost = self.pool.renew(leases)
        except REDIS_ERRORS as exc:
            log.debug("lease renewal failed (%s)", type(exc).__name__)
            return
        if lost:
            log.warning("%d lease(s) had expired before renewal (Redis restarted, or this worker stalled)", lost)
