"""Choose a provider for one attempt and take a lease on it, waiting in line when all are full.

The balancer puts together what the other modules decide: which providers are up (the circuit
breaker and health checks, ``provider_state``), their order (the strategy), and who has a free
slot (the slot pool, per process or in Redis). ``providers_sleep`` are asked only when no
primary has room. When every provider that is up is full, the request joins the model's line
and sleeps until a slot frees anywhere (``wakeups``) or its wait ends; when none is up, it is
refused at once: waiting would only delay the 503.
"""

from __future__ import annotations

import enum
import logging
import os
import secrets
import socket
from typing import Callable, Collection

from ..config.models import ModelConfig
from .fallback import REDIS_ERRORS
from .provider_state import Outcome, ProviderStates
from .renewer import LeaseRenewer
from .slots import Candidate, Grant, SlotPool, SlotRequest
from ..observability.metrics import Metrics
from .strategies import Strategy
from .wakeups import RedisWakeups, WaitRoom

log = logging.getLogger(__name__)

MIN_WAKE_SECONDS = 0.005


class Refusal(enum.Enum):
    UNAVAILABLE = "unavailable"  # every provider is down, ejected, or already tried by this request
    BUSY = "busy"                # every provider that is up stayed full until the wait ended
    ABANDONED = "abandoned"      # the client left while the request waited


class Lease:
    """A slot held on one provider for one request; released exactly once."""

    __slots__ = ("provider", "token", "probe", "started", "first_byte_at", "_pool", "_finish", "_released")

    def __init__(self, provider, token: str, probe: bool, started: float, pool: SlotPool,
                 finish: Callable[["Lease", Outcome, str | None], None]):
        self.provider = provider
        self.token = token
        self.probe = probe
        self.started = started
        self.first_byte_at: float | None = None  # set by the dispatcher: the answer's head, or a stream's first event
        self._pool = pool
        self._finish = finish
        self._released = False

    @property
    def pool(self) -> SlotPool:
        return self._pool

    def release(self, outcome: Outcome, error: str | None = None) -> None:
        if self._released:
            return
        self._released = True
        self._finish(self, outcome, error)


def _owner_prefix() -> str:
    """Who holds a lease, for an operator reading Redis: host and worker pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Balancer:
    def __init__(self, strategy: Strategy, states: ProviderStates, slots: SlotPool, room: WaitRoom, *,
                 renewer: LeaseRenewer | None = None, wakeups: RedisWakeups | None = None,
                 clock: Callable[[], float], metrics: Metrics | None = None):
        self.metrics = metrics or Metrics.disabled()
        self.strategy = strategy
        self.states = states
        self.slots = slots
        self.room = room
        self.renewer = renewer
        self.wakeups = wakeups
        self.clock = clock
        self._owner: tuple[int, str] | None = None

    def acquire(self, model: ModelConfig, exclude: Collection[str] = (), wait_seconds: float = 0.0,
                abandoned: Callable[[], bool] | None = None) -> Lease | Refusal:
        """A lease, or why none: at once when nothing can take the request, else after waiting.

        ``abandoned`` is asked each time a waiting request wakes: True stops the wait.
        """
        token = self._new_token()
        request = self._request(model, exclude, token)
        if request is None:
            return Refusal.UNAVAILABLE
        result = self.slots.acquire(request, wait_seconds)
        if isinstance(result, Grant):
            return self._lease(result, token)
        if wait_seconds <= 0:
            return Refusal.BUSY
        try:
            refusal = self._wait(model, exclude, token, wait_seconds, abandoned)
        except BaseException:
            self.slots.leave_line(model.name, token)
            raise
        if isinstance(refusal, Refusal):
            self.slots.leave_line(model.name, token)
        return refusal

    def _wait(self, model: ModelConfig, exclude: Collection[str], token: str, wait_seconds: float,
              abandoned: Callable[[], bool] | None) -> Lease | Refusal:
        deadline = self.clock() + wait_seconds
        if self.wakeups is not None:
            self.wakeups.ensure_started()
        provider_ids = [p.id for p in model.all_providers]
        queue_length = self.metrics.queue_length.labels(model.name)
        queue_length.inc()
        try:
            return self._wait_in_room(model, exclude, token, deadline, provider_ids, abandoned)
        finally:
            queue_length.dec()

    def _wait_in_room(self, model: ModelConfig, exclude: Collection[str], token: str, deadline: float,
                      provider_ids: list[str], abandoned: Callable[[], bool] | None) -> Lease | Refusal:
        with self.room.waiting(provider_ids) as woken:
            while True:
                # Registered before this try, so a slot freed right after it still wakes us.
                request = self._request(model, exclude, token)
                if request is None:
                    return Refusal.UNAVAILABLE
                result = self.slots.acquire(request, max(0.0, deadline - self.clock()))
                if isinstance(result, Grant):
                    return self._lease(result, token)
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return Refusal.BUSY
                if result.retry_in is not None:  # a lease held by a dead worker expires then
                    remaining = min(remaining, max(result.retry_in, MIN_WAKE_SECONDS))
                woken.wait(remaining)
                woken.clear()
                if abandoned is not None and abandoned():
                    return Refusal.ABANDONED

    def _request(self, model: ModelConfig, exclude: Collection[str], token: str) -> SlotRequest | None:
        candidates: list[Candidate] = []
        for tier, group in ((0, model.providers), (1, model.providers_sleep)):
            up = [p for p in group if p.id not in exclude and self.states.available(p)]
            if up:
                ordered = self.strategy.order(model.name, up) if tier == 0 else up
                candidates += [Candidate(p, tier) for p in ordered]
        if not candidates:
            return None
        return SlotRequest(model.name, candidates, self.strategy.pick, token)

    def _new_token(self) -> str:
        pid = os.getpid()
        if self._owner is None or self._owner[0] != pid:
            self._owner = (pid, _owner_prefix())
        return f"{self._owner[1]}:{secrets.token_hex(6)}"

    def _lease(self, grant: Grant, token: str) -> Lease:
        provider = grant.provider
        probe = self.states.begin(provider.id)
        if self.renewer is not None and grant.pool is self.renewer.pool:
            self.renewer.add(provider.id, token)
        self.metrics.in_flight_requests.labels(provider.id).inc()
        return Lease(provider, token, probe, self.clock(), grant.pool, self._finish)

    def _finish(self, lease: Lease, outcome: Outcome, error: str | None) -> None:
        provider_id = lease.provider.id
        self.metrics.in_flight_requests.labels(provider_id).dec()
        if self.renewer is not None:
            self.renewer.remove(lease.token)
        try:
            lease.pool.release(provider_id, lease.token)
        except REDIS_ERRORS as exc:  # the lease expires by its TTL instead
            log.debug("provider=%s: lease release failed (%s)", provider_id, type(exc).__name__)
        self.states.finish(provider_id, lease.probe, outcome, error)
        latency = None if lease.first_byte_at is None else lease.first_byte_at - lease.started
        self.strategy.observe(provider_id, outcome, latency)

    def provider_recovered(self, provider_id: str) -> None:
        """A provider came back: whoever waits for it may try again."""
        self.room.notify(provider_id)
