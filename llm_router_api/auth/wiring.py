"""The auth gate built from settings: key store, rate limiter, public paths."""

from __future__ import annotations

from ..observability.metrics import Metrics
from ..settings import Settings
from .cache import CachedLookups
from .gate import AuthGate
from .groups import DEFAULT_PUBLIC, PublicPaths
from .limits import RateLimiter
from .store import auth_redis_client, open_key_store


def build_gate(settings: Settings, metrics: Metrics, audit=None) -> AuthGate:
    public = settings.auth_public_endpoints if settings.auth_public_endpoints is not None else DEFAULT_PUBLIC
    limiter = RateLimiter(auth_redis_client(settings), prefix=settings.redis_key_prefix,
                          retry_seconds=settings.redis_retry_seconds)
    store = CachedLookups(open_key_store(settings), settings.auth_cache_seconds)
    return AuthGate(store, limiter, PublicPaths(public, settings.ep_prefix),
                    default_rate_limit=settings.auth_default_rate_limit, metrics=metrics,
                    audit=audit if settings.auth_with_audit else None)
