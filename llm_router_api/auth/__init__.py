"""Authentication: API keys (``keys``, ``store*``, ``cli``) and per-key limits (``limits``).

Importing the package is cheap: the key model comes from ``keys`` (standard library only); the
stores load on first use (``open_key_store`` imports Redis support only for the redis store).
"""

from __future__ import annotations

from typing import Any

from .keys import BUDGET_PERIODS, ENDPOINT_GROUPS, ApiKey, KeyPolicy, key_digest

__all__ = ["ENDPOINT_GROUPS", "BUDGET_PERIODS", "ApiKey", "KeyPolicy", "key_digest", "KeyStore", "KeyStoreError",
           "open_key_store"]

_FROM_STORE = ("KeyStore", "KeyStoreError", "open_key_store")


def __getattr__(name: str) -> Any:
    if name in _FROM_STORE:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
