"""Health of each provider as this worker sees it: a circuit breaker and the active probe's verdict.

Capacity (``max_concurrency``) is not decided here but by the slot pool (``slots.py``), which is
cluster-wide when Redis is configured. ``in_flight`` counts this worker's own requests, for
``/health``.

The breaker ejects a provider after ``failures`` consecutive failures for a cool-down; after it,
exactly one request is let through as a probe (half-open). A successful probe restores the
provider; a failed one ejects it again for twice as long (capped), so a dead server costs one
request per cool-down instead of one per request. The active monitor (``health.py``) marks a
provider down when its health endpoint fails and restores it, breaker included, when it answers
again. State is keyed by provider id and survives config reloads.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Callable

from ..config.models import ProviderConfig

MAX_COOLDOWN_FACTOR = 8


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"   # counts against the provider's health
    NEUTRAL = "neutral"   # says nothing about health: 429, a client error, a client that left


@dataclass
class ProviderState:
    in_flight: int = 0
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    probe_in_flight: bool = False
    last_error: str | None = None
    served: int = 0
    failed: int = 0
    down: bool = False  # the last active health check failed

    def mode(self, now: float) -> str:
        if self.down:
            return "down"
        if self.ejected_until == 0.0:
            return "healthy"
        return "ejected" if now < self.ejected_until else "probing"

    def available(self, now: float) -> bool:
        mode = self.mode(now)
        return mode == "healthy" or (mode == "probing" and not self.probe_in_flight)


class ProviderStates:
    """All providers' states, with the lock that makes check-and-take atomic across threads."""

    def __init__(self, *, failures_to_eject: int, cooldown: float, clock: Callable[[], float],
                 on_change: Callable[[str, bool], None] | None = None):
        self.failures_to_eject = failures_to_eject
        self.cooldown = cooldown
        self.clock = clock
        self.lock = threading.Lock()
        self._states: dict[str, ProviderState] = {}
        self._on_change = on_change  # (provider id, out of rotation now): the breaker-state metric

    def _report(self, provider_id: str, state: "ProviderState", was_out: bool) -> None:
        out = state.down or state.ejected_until != 0.0
        if out != was_out and self._on_change is not None:
            self._on_change(provider_id, out)

    def get(self, provider_id: str) -> ProviderState:
        state = self._states.get(provider_id)
        if state is None:
            state = self._states.setdefault(provider_id, ProviderState())
        return state

    def available(self, provider: ProviderConfig) -> bool:
        return self.get(provider.id).available(self.clock())

    def begin(self, provider_id: str) -> bool:
        """Count a request on ``provider_id``; True if it is the breaker's half-open probe.

        Availability was checked when candidates were chosen; two threads racing for the one
        probe of a provider both get through, which costs one extra request to a dead server.
        """
        with self.lock:
            state = self.get(provider_id)
            state.in_flight += 1
            probe = state.mode(self.clock()) == "probing"
            if probe:
                state.probe_in_flight = True
            return probe

    def finish(self, provider_id: str, probe: bool, outcome: Outcome, error: str | None) -> None:
        with self.lock:
            state = self.get(provider_id)
            was_out = state.down or state.ejected_until != 0.0
            state.in_flight -= 1
            if probe:
                state.probe_in_flight = False
            if outcome is Outcome.SUCCESS:
                state.served += 1
                state.consecutive_failures = 0
                state.ejections = 0
                state.ejected_until = 0.0
            elif outcome is Outcome.FAILURE:
                state.failed += 1
                state.consecutive_failures += 1
                state.last_error = error
                if probe or state.consecutive_failures >= self.failures_to_eject:
                    factor = min(2 ** state.ejections, MAX_COOLDOWN_FACTOR)
                    state.ejections += 1
                    state.ejected_until = self.clock() + self.cooldown * factor
            self._report(provider_id, state, was_out)

    def set_probe_result(self, provider_id: str, healthy: bool, error: str | None = None) -> bool:
        """Record an active health check; True when the provider came back (waiters may retry)."""
        with self.lock:
            state = self.get(provider_id)
            was_out = state.down or state.ejected_until != 0.0
            if not healthy:
                state.down = True
                state.last_error = error
                self._report(provider_id, state, was_out)
                return False
            state.down = False
            state.consecutive_failures = 0
            state.ejections = 0
            state.ejected_until = 0.0
            self._report(provider_id, state, was_out)
            return was_out

    def snapshot(self, provider_id: str) -> dict:
        state = self.get(provider_id)
        return {
            "state": state.mode(self.clock()),
            "in_flight": state.in_flight,
            "consecutive_failures": state.consecutive_failures,
            "last_error": state.last_error,
            "served": state.served,
            "failed": state.failed,
        }

