"""In-process balancing strategies: pick one provider among those able to take a request.

A strategy only chooses; capacity and health filtering happen before it is asked (see
``Balancer``), so every strategy honours ``max_concurrency`` and the circuit breaker alike.
Strategies run under the balancer's lock, so they may keep plain mutable state.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from ..config.models import ProviderConfig
from .provider_state import ProviderStates


class Strategy(Protocol):
    name: str

    def choose(self, model: str, candidates: Sequence[ProviderConfig], states: ProviderStates) -> ProviderConfig:
        """Return one of ``candidates`` (never empty)."""


class Balanced:
    """Fewest requests in flight; ties are taken in turn so idle providers share evenly."""

    name = "balanced"

    def __init__(self) -> None:
        self._turn: dict[str, int] = {}

    def choose(self, model, candidates, states):
        least = min(states.get(p.id).in_flight for p in candidates)
        tied = [p for p in candidates if states.get(p.id).in_flight == least]
        turn = self._turn.get(model, 0)
        self._turn[model] = turn + 1
        return tied[turn % len(tied)]


class Weighted:
    """Smooth weighted round-robin (as in nginx): weights 3 and 1 give exactly 3 of every 4.

    Weights are relative and unclamped. A provider of weight 0 is chosen only when no provider
    with a positive weight can take the request.
    """

    name = "weighted"

    def __init__(self) -> None:
        self._current: dict[tuple[str, str], float] = {}

    def choose(self, model, candidates, states):
        weighted = [p for p in candidates if p.weight > 0]
        if not weighted:
            return candidates[0]
        total = 0.0
        best, best_score = weighted[0], float("-inf")
        for provider in weighted:
            key = (model, provider.id)
            score = self._current.get(key, 0.0) + provider.weight
            self._current[key] = score
            total += provider.weight
            if score > best_score:
                best, best_score = provider, score
        self._current[(model, best.id)] -= total
        return best


STRATEGIES = {cls.name: cls for cls in (Balanced, Weighted)}


def build_strategy(name: str) -> Strategy:
    return STRATEGIES[name]()
