"""Where API keys live: the interface both stores share, and the one the settings choose.

- ``file`` (``store_file.FileKeyStore``): a JSON file, re-read when it changes on disk, so a key
  made by ``llm-router keys create`` works on a running gateway without a restart.
- ``redis`` (``store_redis.RedisKeyStore``): shared by every replica.

Either way a key is found by its HMAC digest in one read (a dict lookup, or one Redis GET):
the cost does not grow with the number of keys, and no stored value works as a key.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Callable, Iterable

from .keys import ApiKey, KeyPolicy, check_name, generate_key, key_digest, looks_like_key, new_key_id

__all__ = ["KeyStore", "KeyStoreError", "KeyExists", "open_key_store", "auth_redis_client", "key_digest", "looks_like_key",
           "generate_key", "new_key_id", "check_name"]

MISSING_SECRET = ("LLM_ROUTER_AUTH_SECRET is not set: the key store needs it (the same long random value on "
                  "every replica and for the CLI; e.g. openssl rand -hex 32)")


class KeyStoreError(Exception):
    """The store cannot be used (unreadable keys file, Redis unreachable, no secret); one line."""


class KeyExists(ValueError):
    """``create``: a key with that name exists already (revoked ones keep their name)."""


class KeyStore(ABC):
    """API keys by digest. ``lookup`` is the request path; the rest are admin operations."""

    kind = "abstract"

    @abstractmethod
    def lookup(self, presented: str) -> ApiKey | None:
        """The usable key ``presented`` is, else None (unknown, malformed, revoked, expired, or an old
        key past its rotation grace). Never raises for what a client sends; a store that cannot be
        read raises ``KeyStoreError``."""

    @abstractmethod
    def create(self, name: str, policy: KeyPolicy, expires_at: float | None = None) -> tuple[str, ApiKey]:
        """A new key: (its plaintext, shown only now; its record). ValueError if the name is taken or
        invalid, or the policy is bad."""

    def create_many(self, items: Iterable[tuple[str, KeyPolicy, float | None]]) -> list[tuple[str, ApiKey]]:
        """``create`` for many keys; stores override it to write once."""
        return [self.create(name, policy, expires_at) for name, policy, expires_at in items]

    @abstractmethod
    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    @abstractmethod
    def get(self, name: str) -> ApiKey | None: ...

    @abstractmethod
    def revoke(self, name: str) -> ApiKey:
        """Disable the key and drop every digest of it at once (old ones in rotation grace too).
        KeyError if there is no such key; revoking twice is not an error."""

    @abstractmethod
    def rotate(self, name: str, grace_seconds: float) -> tuple[str, ApiKey]:
        """A new plaintext for the key (same id, name and policy); the old one keeps working until
        now + ``grace_seconds``, then never. KeyError if unknown, ValueError if revoked."""

    def describe(self) -> str:
        """Where the keys are, for the CLI's output (no secrets)."""
        return self.kind

    def close(self) -> None:
        """Release connections (nothing to do for the file store)."""


def check_new(name: str, policy: KeyPolicy, expires_at: float | None) -> None:
    check_name(name)
    if not isinstance(policy, KeyPolicy):
        raise ValueError("policy must be a KeyPolicy")
    if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))
                                   or expires_at != expires_at):
        raise ValueError("expires_at must be a unix time or None")


def check_grace(grace_seconds: float) -> float:
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, (int, float)) \
            or not grace_seconds >= 0 or grace_seconds == float("inf"):
        raise ValueError("the rotation grace must be a finite number of seconds >= 0")
    return float(grace_seconds)


def auth_redis_client(settings):
    """The Redis of the key store and the rate limits (LLM_ROUTER_AUTH_REDIS_*, else LLM_ROUTER_REDIS_*), or None."""
    host, port, db, password = settings.auth_redis
    if not host:
        return None
    from ..balancing.redis_slots import connect  # short timeouts, one retry without backoff

    return connect(host, port, db, password, settings.redis_timeout_seconds)


def open_key_store(settings, *, clock: Callable[[], float] = time.time) -> KeyStore:
    """The store ``settings.auth_key_store`` names. KeyStoreError if it cannot be opened."""
    if not settings.auth_secret:
        raise KeyStoreError(MISSING_SECRET)
    if settings.auth_key_store == "redis":
        from .store_redis import RedisKeyStore

        client = auth_redis_client(settings)
        if client is None:
            raise KeyStoreError("LLM_ROUTER_AUTH_KEY_STORE=redis needs LLM_ROUTER_AUTH_REDIS_HOST "
                                "(or LLM_ROUTER_REDIS_HOST)")
        return RedisKeyStore(client, settings.redis_key_prefix, settings.auth_secret, clock=clock)
    if settings.auth_key_store == "file":
        from .store_file import FileKeyStore

        return FileKeyStore(settings.auth_keys_file, settings.auth_secret, clock=clock)
    raise KeyStoreError(f"unknown key store {settings.auth_key_store!r}; use file or redis")
