"""API keys: their format, their policy, and the keyed digest they are stored under.

A key is ``sk-llmr-`` followed by 43 base64url characters (32 random bytes, no padding). The
plaintext is shown once, when it is made; stores keep only ``key_digest(secret, key)``, an
HMAC-SHA256 under a server secret (``LLM_ROUTER_AUTH_SECRET``). Finding a key is then one read
by digest, and nothing a store holds works as a key or can be checked offline without the secret.

This module needs nothing but the standard library, so importing it is cheap.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

ENDPOINT_GROUPS = ("chat", "embedding", "anthropic", "ollama", "builtin", "admin")
BUDGET_PERIODS = ("day", "week", "month")

KEY_PREFIX = "sk-llmr-"
_RANDOM_BYTES = 32
_RANDOM_CHARS = 43  # base64 of 32 bytes without its one '=' of padding
KEY_LENGTH = len(KEY_PREFIX) + _RANDOM_CHARS
_KEY_RE = re.compile(r"sk-llmr-[A-Za-z0-9_-]{43}\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}\Z")
_ID_BYTES = 6  # 12 hex characters


def generate_key() -> str:
    """A new plaintext key."""
    return KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(_RANDOM_BYTES)).rstrip(b"=").decode("ascii")


def new_key_id() -> str:
    """A short random id: shown in listings and logs, stable across rotation, useless as a key."""
    return secrets.token_hex(_ID_BYTES)


def looks_like_key(presented: object) -> bool:
    """Whether ``presented`` has the shape of a key. Depends only on the value itself, never on
    what is stored, so rejecting early says nothing about stored keys."""
    return isinstance(presented, str) and len(presented) == KEY_LENGTH and _KEY_RE.match(presented) is not None


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def key_digest(secret: str | bytes, presented: str) -> str:
    """The stored form of a key: hex HMAC-SHA256 of the key under the server secret."""
    return hmac.new(_secret_bytes(secret), presented.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class Digester:
    """``key_digest`` with the secret's HMAC state prepared once (a lookup copies it)."""

    def __init__(self, secret: str | bytes):
        if not secret:
            raise ValueError("the key digest secret is empty")
        self._base = hmac.new(_secret_bytes(secret), digestmod=hashlib.sha256)

    def __call__(self, presented: str) -> str:
        mac = self._base.copy()
        mac.update(presented.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError("a key name is 1-64 characters: letters, digits and . _ @ : + -, starting with a letter "
                         "or digit")
    return name


def _limit(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a whole number >= 1 (or none)")
    return value


def _names(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValueError(f"{what} must be a list of names, not one string")
    try:
        items = tuple(values)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} must be a list of names") from None
    if any(not isinstance(item, str) or not item.strip() or item != item.strip() for item in items):
        raise ValueError(f"{what} must be non-empty names without surrounding spaces")
    return tuple(dict.fromkeys(items))  # duplicates dropped, order kept


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a key may do. Constructing one validates it (``ValueError``); lists become tuples."""

    endpoints: tuple[str, ...] = ()  # allowed endpoint groups; empty = all
    models: tuple[str, ...] = ()  # allowed public model names, exact or fnmatch patterns; empty = all
    requests_per_minute: int | None = None  # None = the server default
    tokens_per_minute: int | None = None
    token_budget: int | None = None  # tokens per budget_period
    budget_period: str = "month"

    def __post_init__(self) -> None:
        endpoints = _names(self.endpoints, "endpoints")
        unknown = [group for group in endpoints if group not in ENDPOINT_GROUPS]
        if unknown:
            raise ValueError(f"unknown endpoint group {unknown[0]!r}; valid: {', '.join(ENDPOINT_GROUPS)}")
        object.__setattr__(self, "endpoints", endpoints)
        object.__setattr__(self, "models", _names(self.models, "models"))
        _limit(self.requests_per_minute, "requests_per_minute")
        _limit(self.tokens_per_minute, "tokens_per_minute")
        _limit(self.token_budget, "token_budget")
        if self.budget_period not in BUDGET_PERIODS:
            raise ValueError(f"budget_period must be one of: {', '.join(BUDGET_PERIODS)}")

    def allows_endpoint(self, groups: Iterable[str]) -> bool:
        """True if every group is allowed (no list) or ``groups`` has one of the allowed ones."""
        if not self.endpoints:
            return True
        return any(group in self.endpoints for group in groups)

    def allows_model(self, name: str) -> bool:
        """True if every model is allowed or ``name`` equals / matches (case-sensitively) one entry."""
        if not self.models:
            return True
        return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for pattern in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {"endpoints": list(self.endpoints), "models": list(self.models),
                "requests_per_minute": self.requests_per_minute, "tokens_per_minute": self.tokens_per_minute,
                "token_budget": self.token_budget, "budget_period": self.budget_period}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KeyPolicy":
        if not isinstance(data, (dict, Mapping)):
            raise ValueError("policy must be an object")
        return cls(endpoints=tuple(data.get("endpoints") or ()), models=tuple(data.get("models") or ()),
                   requests_per_minute=data.get("requests_per_minute"),
                   tokens_per_minute=data.get("tokens_per_minute"), token_budget=data.get("token_budget"),
                   budget_period=data.get("budget_period") or "month")


def _frozen(raw: object) -> tuple | None:
    """A hashable form of a stored policy (None if it has no simple one: it is then parsed as is)."""
    if type(raw) is not dict:
        return None
    try:
        frozen = tuple((k, type(v), tuple(v) if type(v) is list else v) for k, v in raw.items())  # 1 != True
        hash(frozen)
    except TypeError:
        return None
    return frozen


def _time(value: object, what: str, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a unix time")
    return float(value)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key's record (never its plaintext or digest)."""

    id: str
    name: str
    enabled: bool
    created_at: float
    expires_at: float | None
    policy: KeyPolicy = field(default_factory=KeyPolicy)

    def usable(self, now: float) -> bool:
        """Enabled and not expired at ``now`` (unix time)."""
        return self.enabled and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        """The stored record, without the id (stores key records by id)."""
        return {"name": self.name, "enabled": self.enabled, "created_at": self.created_at,
                "expires_at": self.expires_at, "policy": self.policy.to_dict()}

    @classmethod
    def from_dict(cls, key_id: str, data: Mapping[str, Any],
                  policies: dict[tuple, KeyPolicy] | None = None) -> "ApiKey":
        """The key a stored record describes; ValueError if it is not valid. ``policies`` memoises
        parsed policies by their content (many keys share one) when a whole file is read."""
        if not isinstance(data, (dict, Mapping)):
            raise ValueError("key record must be an object")
        if not isinstance(key_id, str) or not key_id:
            raise ValueError("key id must be a non-empty string")
        enabled = data.get("enabled")
        if not isinstance(enabled, bool):
            raise ValueError("key record field 'enabled' must be true or false")
        raw_policy = data.get("policy") or {}
        memo = _frozen(raw_policy) if policies is not None else None
        if memo is None:
            policy = KeyPolicy.from_dict(raw_policy)
        else:
            policy = policies.get(memo)  # type: ignore[union-attr]
            if policy is None:
                policy = policies[memo] = KeyPolicy.from_dict(raw_policy)  # type: ignore[index]
        return cls(id=key_id, name=check_name(data.get("name")), enabled=enabled,
                   created_at=_time(data.get("created_at"), "created_at", optional=False),  # type: ignore[arg-type]
                   expires_at=_time(data.get("expires_at"), "expires_at", optional=True), policy=policy)
