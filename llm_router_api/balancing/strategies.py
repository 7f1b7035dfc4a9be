"""Balancing strategies: each puts a model's available providers in its order of preference.

A strategy never checks capacity or health: the balancer gives it only providers that are up,
and the slot pool (per process or cluster-wide in Redis) takes the first one in that order with
a free slot, or, for ``Pick.LEAST`` / ``Pick.AFFINITY``, compares live counts itself inside the
same atomic step. So every strategy honours ``max_concurrency``, the waiting line and the circuit
breaker alike. Strategies run on many threads; their bits of state are guarded by a lock.

| name                  | order                                         | pick     |
|-----------------------|-----------------------------------------------|----------|
| balanced              | round robin: equal shares                     | ordered  |
| weighted              | smooth weighted round robin on ``weight``     | ordered  |
| dynamic_weighted      | the same on weights scaled by observed speed and errors | ordered |
| first_available       | config order                                  | ordered  |
| first_available_optim | config order                                  | affinity |
| least_outstanding     | round robin (for ties)                        | least    |
"""

from __future__ import annotations

import threading
from typing import Protocol, Sequence

from ..config.models import ProviderConfig
from .provider_state import Outcome
from .slots import Pick


class Strategy(Protocol):
    name: str
    pick: Pick

    def order(self, model: str, providers: Sequence[ProviderConfig]) -> list[ProviderConfig]:
        """The providers (never empty) in order of preference."""

    def observe(self, provider_id: str, outcome: Outcome, latency: float | None) -> None:
        """What a finished request says about its provider.

        ``latency``: to a stream's first event (its time to first token), or to the head of a
        non-streamed answer (its whole generation time).
        """


class _Stateless:
    """Default: nothing is learned from outcomes."""

    def observe(self, provider_id, outcome, latency):
        pass


class _Rotation:
    """A per-model turn counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn: dict[str, int] = {}

    def rotated(self, model: str, providers: Sequence[ProviderConfig]) -> list[ProviderConfig]:
        with self._lock:
            turn = self._turn.get(model, 0)
            self._turn[model] = turn + 1
        k = turn % len(providers)
        return list(providers[k:]) + list(providers[:k])


class Balanced(_Stateless):
    """Equal shares: each request starts at the next provider in turn (the reference's meaning)."""

    name = "balanced"
    pick = Pick.ORDERED

    def __init__(self) -> None:
        self._rotation = _Rotation()

    def order(self, model, providers):
        return self._rotation.rotated(model, providers)


class _SmoothWeights:
    """Smooth weighted round-robin (as in nginx): weights 3 and 1 give exactly 3 of every 4.

    Weights are relative and unclamped. A provider of weight 0 comes last, used only when no
    provider with a positive weight has room.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[tuple[str, str], float] = {}

    def order(self, model: str, providers: Sequence[ProviderConfig], weights: Sequence[float]) -> list[ProviderConfig]:
        positive = [(p, w) for p, w in zip(providers, weights) if w > 0]
        if not positive:
            return list(providers)
        with self._lock:
            total = 0.0
            scored = []
            for provider, weight in positive:
                key = (model, provider.id)
                score = self._current.get(key, 0.0) + weight
                self._current[key] = score
                total += weight
                scored.append((score, provider))
            best = max(scored, key=lambda item: item[0])[1]
            self._current[(model, best.id)] -= total
        rest = [p for _, p in sorted(scored, key=lambda item: -item[0]) if p is not best]
        return [best] + rest + [p for p, w in zip(providers, weights) if w <= 0]


class Weighted(_Stateless):
    name = "weighted"
    pick = Pick.ORDERED

    def __init__(self) -> None:
        self._weights = _SmoothWeights()

    def order(self, model, providers):
        return self._weights.order(model, providers, [p.weight for p in providers])


class DynamicWeighted(_Stateless):
    """``weight`` scaled by how fast and how reliably each provider answers, as this worker saw it.

    Latency (to a stream's first event, or a non-streamed answer's head) and success are moving
    averages per provider; the effective weight is ``weight * (fastest latency / this latency) *
    success**2``, so a provider twice as slow gets half the traffic and one failing half its
    requests a quarter. A provider
    not yet observed counts as fast as the fastest, so it gets tried.
    """

    name = "dynamic_weighted"
    pick = Pick.ORDERED
    ALPHA = 0.2  # weight of the newest observation
    MIN_FACTOR = 0.02

    def __init__(self) -> None:
        self._weights = _SmoothWeights()
        self._lock = threading.Lock()
        self._latency: dict[str, float] = {}
        self._success: dict[str, float] = {}

    def observe(self, provider_id, outcome, latency):
        if outcome is Outcome.NEUTRAL:
            return
        ok = 1.0 if outcome is Outcome.SUCCESS else 0.0
        with self._lock:
            self._success[provider_id] = self._success.get(provider_id, 1.0) * (1 - self.ALPHA) + ok * self.ALPHA
            if latency is not None and outcome is Outcome.SUCCESS:
                previous = self._latency.get(provider_id)
                self._latency[provider_id] = latency if previous is None else (
                    previous * (1 - self.ALPHA) + latency * self.ALPHA)

    def effective_weight(self, provider: ProviderConfig, fastest: float | None) -> float:
        latency = self._latency.get(provider.id)
        speed = 1.0 if latency is None or fastest is None or latency <= 0 else fastest / latency
        success = self._success.get(provider.id, 1.0)
        return provider.weight * max(self.MIN_FACTOR, speed * success * success)

    def order(self, model, providers):
        with self._lock:
            seen = [self._latency[p.id] for p in providers if p.id in self._latency]
            fastest = min(seen) if seen else None
            weights = [self.effective_weight(p, fastest) for p in providers]
        return self._weights.order(model, providers, weights)


class FirstAvailable(_Stateless):
    """The first provider in config order with a free slot, cluster-wide when Redis is used."""

    name = "first_available"
    pick = Pick.ORDERED

    def order(self, model, providers):
        return list(providers)


class FirstAvailableOptim(FirstAvailable):
    """Affinity: a host that served this model last is preferred, then a host nobody claimed.

    Model-swapping servers (LocalAI, Ollama, llama.cpp with one active model) then keep serving
    the model they have loaded instead of reloading on every request.
    """

    name = "first_available_optim"
    pick = Pick.AFFINITY


class LeastOutstanding(Balanced):
    """Ours: the provider with the fewest requests in flight cluster-wide per unit of ``weight``.

    A fast server finishes sooner, so it has fewer in flight and gets more: traffic follows
    speed without configuration, and a server that slows down (a long prompt, a busy batch) gets
    less at once. ``weight`` says how much more one server can take (a GPU twice as fast: 2).
    The slot pool compares the counts (``Pick.LEAST``); the order inherited from ``balanced``
    only breaks ties, in turn.
    """

    name = "least_outstanding"
    pick = Pick.LEAST


STRATEGIES = {cls.name: cls for cls in (Balanced, Weighted, DynamicWeighted, FirstAvailable, FirstAvailableOptim,
                                        LeastOutstanding)}


def build_strategy(name: str) -> Strategy:
    return STRATEGIES[name]()
