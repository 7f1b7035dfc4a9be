"""Provider choice: strategies, health, capacity slots (per process or in Redis) and leases."""

from .balancer import Balancer, Lease, Refusal
from .provider_state import Outcome, ProviderStates
from .strategies import STRATEGIES, build_strategy

__all__ = ["Balancer", "Lease", "Outcome", "ProviderStates", "Refusal", "STRATEGIES", "build_strategy"]
