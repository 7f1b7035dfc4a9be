"""Choose a provider for one attempt and take a lease on it.

Primaries first; ``providers_sleep`` only when no primary can take the request (all ejected,
full, or already tried by this request). The check and the take happen under one lock, so two
threads never both take the last slot or both become the half-open probe.
"""

from __future__ import annotations

from typing import Collection

from ..config.models import ModelConfig
from .provider_state import Lease, ProviderStates
from .strategies import Strategy


class Balancer:
    def __init__(self, strategy: Strategy, states: ProviderStates):
        self.strategy = strategy
        self.states = states

    def acquire(self, model: ModelConfig, exclude: Collection[str] = ()) -> Lease | None:
        states = self.states
        with states.lock:
            now = states.clock()
            for group in (model.providers, model.providers_sleep):
                candidates = [p for p in group
                              if p.id not in exclude and states.get(p.id).can_take(p, now)]
                if candidates:
                    provider = self.strategy.choose(model.name, candidates, states)
                    return states.begin(provider, now)
        return None
