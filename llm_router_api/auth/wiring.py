"""The auth gate built from settings: key store, rate limiter, public paths."""

from __future__ import annotations

from ..observability.metrics import Metrics
from ..settings import Settings
from .cache import CachedLookups
from .gate import AuthGate
from .groups import DEFAULT_PUBLIC, PublicPaths
from .limits import RateLimiter


def limiter_redis(settings: Settings):
    """A Redis client for the rate limits (LLM_ROUTER_AUTH_REDIS_*, else LLM_ROUTER_REDIS_*), or None."""
    host, port, db, password = settings.auth_redis
    if not host:
        return None
    from ..balancing.redis_slots import connect  # short timeouts, one retry without backoff

    return connect(host, port, db, password, settings.redis_timeout_seconds)


def build_gate(settings: Settings, metrics: Metrics, audit=None) -> AuthGate:
    from .store import open_key_store

    public = settings.auth_public_endpoints if settings.auth_public_endpoints is not None else DEFAULT_PUBLIC
    limiter = RateLimiter(limiter_redis(settings), prefix=settings.redis_key_prefix,
                          retry_seconds=settings.redis_retry_seconds)
    store = CachedLookups(open_key_store(settings), settings.auth_cache_seconds)
    return AuthGate(store, limiter, PublicPaths(public, settings.ep_prefix),
                    default_rate_limit=settings.auth_default_rate_limit, metrics=metrics,
                    audit=audit if settings.auth_with_audit else None)
