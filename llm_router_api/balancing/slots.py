"""Capacity: per provider a counting semaphore of ``max_concurrency`` slots, and a waiting line.

A slot pool answers one question atomically: "of these candidates, in this order of preference,
which one can take this request now?" The strategy gives the order and how to pick
(:class:`Pick`); the pool checks capacity, takes the slot, and keeps the line fair: a request
that arrives while others wait for the same model queues behind them (earliest deadline first)
instead of taking the slot that was freed for them.

Two pools share these rules: :class:`LocalSlots` (this process) here, and ``RedisSlots``
(cluster-wide, ``redis_slots.py``). Both run :func:`choose` (Redis runs its Lua twin).
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from ..config.models import ProviderConfig
from ..upstream.origin import Origin

UNLIMITED = -1
NO_WEIGHT_PENALTY = 1e12  # weight 0: chosen only when nothing else has room


class Pick(enum.Enum):
    ORDERED = "ordered"    # the first candidate with room, in the strategy's order
    LEAST = "least"        # the fewest requests in flight per unit of weight
    AFFINITY = "affinity"  # hosts that last served this model first, then unclaimed hosts, then the rest


@dataclass(frozen=True)
class Candidate:
    provider: ProviderConfig
    tier: int  # 0: the model's providers; 1: providers_sleep, used only when no tier-0 one has room


@dataclass(frozen=True)
class SlotRequest:
    model: str
    candidates: Sequence[Candidate]
    pick: Pick
    token: str  # the owner token: the slot and the place in line are held under it


@dataclass(frozen=True)
class Grant:
    provider: ProviderConfig
    pool: "SlotPool"  # the pool to give the slot back to (after a Redis outage, not the current one)


@dataclass(frozen=True)
class Busy:
    """No candidate has room. ``retry_in``: seconds until a held slot expires, if the pool knows."""

    retry_in: float | None = None


class SlotPool(Protocol):
    kind: str

    def acquire(self, request: SlotRequest, wait_seconds: float) -> Grant | Busy:
        """Take a slot, or join the model's line (when ``wait_seconds`` > 0) and say Busy."""

    def release(self, provider_id: str, token: str) -> None: ...

    def leave_line(self, model: str, token: str) -> None: ...

    def in_flight(self, provider_ids: Sequence[str]) -> dict[str, int]: ...


def host_of(provider: ProviderConfig) -> str:
    """The server a provider runs on, for affinity: several models may share one host."""
    origin = Origin.of(provider.api_host)
    return f"{origin.scheme}://{origin.host}:{origin.port}"


def limit_of(provider: ProviderConfig, processes: int = 1) -> int:
    """Slots a pool may hand out for ``provider``: its ``max_concurrency``, or a per-process share
    of it when ``processes`` processes each keep their own count (no Redis)."""
    if provider.max_concurrency is None:
        return UNLIMITED
    return max(1, math.ceil(provider.max_concurrency / processes))


def free_slots(counts: Sequence[int], limits: Sequence[int]) -> float:
    free = 0.0
    for count, limit in zip(counts, limits):
        if limit == UNLIMITED:
            return math.inf
        free += max(0, limit - count)
    return free


def choose(pick: Pick, candidates: Sequence[Candidate], counts: Sequence[int], limits: Sequence[int], model: str,
           affinity: Sequence[str | None]) -> int | None:
    """Index of the candidate to take, or None when none has room. Mirrored in redis_scripts.ACQUIRE."""
    for tier in (0, 1):
        best, best_score = None, None
        for i, candidate in enumerate(candidates):
            if candidate.tier != tier or (limits[i] != UNLIMITED and counts[i] >= limits[i]):
                continue
            if pick is Pick.ORDERED:
                return i
            if pick is Pick.LEAST:
                weight = candidate.provider.weight
                score = (counts[i] + 1) / weight if weight > 0 else NO_WEIGHT_PENALTY + counts[i]
            else:  # AFFINITY
                score = 0 if affinity[i] == model else 1 if affinity[i] is None else 2
            if best_score is None or score < best_score:
                best, best_score = i, score
        if best is not None:
            return best
    return None


class LocalSlots:
    """Slots and lines of this process only (no Redis, or Redis unreachable).

    With ``processes`` worker processes each holding its own count, each enforces its share of
    ``max_concurrency`` (rounded up), so together they stay near the limit. ``on_release`` is
    told the provider id of every freed slot, so waiters wake at once.
    """

    kind = "local"

    def __init__(self, clock: Callable[[], float], on_release: Callable[[str], None] = lambda _id: None,
                 *, processes: int = 1):
        self._clock = clock
        self.processes = processes
        self._on_release = on_release
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}
        self._lines: dict[str, dict[str, float]] = {}  # model -> token -> deadline
        self._affinity: dict[str, str] = {}  # host -> model it served last

    def acquire(self, request: SlotRequest, wait_seconds: float) -> Grant | Busy:
        candidates = request.candidates
        with self._lock:
            now = self._clock()
            line = self._lines.setdefault(request.model, {})
            for token in [t for t, deadline in line.items() if deadline <= now]:
                del line[token]
            counts = [len(self._held.get(c.provider.id, ())) for c in candidates]
            limits = [limit_of(c.provider, self.processes) for c in candidates]
            mine = line.get(request.token)
            ahead = len(line) if mine is None else sum(1 for d in line.values() if d < mine)
            if ahead < free_slots(counts, limits):
                hosts = [host_of(c.provider) for c in candidates] if request.pick is Pick.AFFINITY else []
                affinity = [self._affinity.get(h) for h in hosts]
                index = choose(request.pick, candidates, counts, limits, request.model, affinity)
                if index is not None:
                    provider = candidates[index].provider
                    self._held.setdefault(provider.id, set()).add(request.token)
                    line.pop(request.token, None)
                    if hosts:
                        self._affinity[hosts[index]] = request.model
                    return Grant(provider, self)
            if wait_seconds > 0 and mine is None:
                line[request.token] = now + wait_seconds
            return Busy()

    def release(self, provider_id: str, token: str) -> None:
        with self._lock:
            held = self._held.get(provider_id)
            if held is None or token not in held:
                return
            held.discard(token)
        self._on_release(provider_id)

    def leave_line(self, model: str, token: str) -> None:
        with self._lock:
            line = self._lines.get(model)
            if line is not None:
                line.pop(token, None)

    def in_flight(self, provider_ids: Sequence[str]) -> dict[str, int]:
        with self._lock:
            return {pid: len(self._held.get(pid, ())) for pid in provider_ids}

    def affinity(self, host: str) -> str | None:
        return self._affinity.get(host)
