"""Runtime state of each provider in this worker: requests in flight and a circuit breaker.

The breaker ejects a provider after ``failures`` consecutive failures for a cool-down; after it,
exactly one request is let through as a probe (half-open). A successful probe restores the
provider; a failed one ejects it again for twice as long (capped), so a dead server costs one
request per cool-down instead of one per request. State is keyed by provider id and survives
config reloads.
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

    def mode(self, now: float) -> str:
        if self.ejected_until == 0.0:
            return "healthy"
        return "ejected" if now < self.ejected_until else "probing"

    def can_take(self, provider: ProviderConfig, now: float) -> bool:
        if provider.max_concurrency is not None and self.in_flight >= provider.max_concurrency:
            return False
        mode = self.mode(now)
        return mode == "healthy" or (mode == "probing" and not self.probe_in_flight)


class ProviderStates:
    """All providers' states, with the lock that makes check-and-take atomic across threads."""

    def __init__(self, *, failures_to_eject: int, cooldown: float, clock: Callable[[], float]):
        self.failures_to_eject = failures_to_eject
        self.cooldown = cooldown
        self.clock = clock
        self.lock = threading.Lock()
        self._states: dict[str, ProviderState] = {}

    def get(self, provider_id: str) -> ProviderState:
        state = self._states.get(provider_id)
        if state is None:
            state = self._states.setdefault(provider_id, ProviderState())
        return state

    def begin(self, provider: ProviderConfig, now: float) -> "Lease":
        """Take a slot on ``provider``; the caller holds ``lock`` and has checked ``can_take``."""
        state = self.get(provider.id)
        state.in_flight += 1
        probe = state.mode(now) == "probing"
        if probe:
            state.probe_in_flight = True
        return Lease(self, provider, probe)

    def finish(self, lease: "Lease", outcome: Outcome, error: str | None) -> None:
        with self.lock:
            state = self.get(lease.provider.id)
            state.in_flight -= 1
            if lease.probe:
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
                if lease.probe or state.consecutive_failures >= self.failures_to_eject:
                    factor = min(2 ** state.ejections, MAX_COOLDOWN_FACTOR)
                    state.ejections += 1
                    state.ejected_until = self.clock() + self.cooldown * factor

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


class Lease:
    """A slot held on one provider for one request; released exactly once."""

    __slots__ = ("_states", "provider", "probe", "_released")

    def __init__(self, states: ProviderStates, provider: ProviderConfig, probe: bool):
        self._states = states
        self.provider = provider
        self.probe = probe
        self._released = False

    def release(self, outcome: Outcome, error: str | None = None) -> None:
        if self._released:
            return
        self._released = True
        self._states.finish(self, outcome, error)
