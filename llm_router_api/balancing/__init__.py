"""Provider choice: strategies, per-provider state (in flight, circuit breaker) and leases."""

from .balancer import Balancer
from .provider_state import Lease, Outcome, ProviderStates
from .strategies import STRATEGIES, build_strategy

__all__ = ["Balancer", "Lease", "Outcome", "ProviderStates", "STRATEGIES", "build_strategy"]
