"""``llm-router keys create|list|revoke|rotate``: manage the gateway's API keys.

The store and its secret come from the same variables the gateway reads
(``LLM_ROUTER_AUTH_KEY_STORE``, ``LLM_ROUTER_AUTH_KEYS_FILE``, ``LLM_ROUTER_AUTH_SECRET``, Redis).
A new key is printed once, alone on the last line of stdout, so a script can take it with
``KEY=$(llm-router keys create --name x | tail -1)``; nothing else secret is ever printed.

Exit status: 0 done, 1 no such key (or it cannot be rotated, or the event hook failed after the
change), 2 usage or configuration errors (including a store that cannot be opened).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Callable

from .keys import BUDGET_PERIODS, ENDPOINT_GROUPS, ApiKey, KeyPolicy

OnEvent = Callable[[str, dict], None]


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(minimum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
        if not (value >= minimum) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number of seconds >= {minimum:g}")
        return value

    return parse


def _csv(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(",") if item.strip())


def _error(text: str, status: int) -> int:
    print(f"error: {text}", file=sys.stderr)
    return status


def _on_store(operation, refusals=()):
    """``operation(store)`` on the configured store, closed afterwards: (its result, store, None), or
    (None, None, exit status) with the reason printed. ``refusals``: ``(exception type, status,
    message or None for the exception's own)``, checked in order; the store failing is status 2."""
    from .store import KeyStoreError

    store, status = _open_store()
    if store is None:
        return None, None, status
    try:
        return operation(store), store, None
    except KeyStoreError as exc:
        return None, None, _error(str(exc), 2)
    except Exception as exc:
        for kind, code, message in refusals:
            if isinstance(exc, kind):
                return None, None, _error(message or str(exc), code)
        raise
    finally:
        store.close()


def _open_store():
    """(store, None) or (None, exit status) with the reason printed."""
    from ..settings import Settings, SettingsError
    from .store import KeyStoreError, open_key_store

    try:
        settings = Settings.from_environ()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None, 2
    try:
        return open_key_store(settings), None
    except KeyStoreError as exc:
        return None, _error(str(exc), 2)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _limits_text(policy: KeyPolicy) -> str:
    parts = []
    if policy.requests_per_minute is not None:
        parts.append(f"{policy.requests_per_minute} req/min")
    if policy.tokens_per_minute is not None:
        parts.append(f"{policy.tokens_per_minute} tokens/min")
    if policy.token_budget is not None:
        parts.append(f"{policy.token_budget} tokens/{policy.budget_period}")
    return ", ".join(parts) or "default"


def _state(key: ApiKey, now: float) -> str:
    if not key.enabled:
        return "revoked"
    if key.expires_at is not None and now >= key.expires_at:
        return "expired"
    return "yes"


def _emit(on_event: OnEvent | None, event: str, key: ApiKey) -> bool:
    """Tell the hook (name and id only); False if it failed (the change itself stands)."""
    if on_event is None:
        return True
    try:
        on_event(event, {"name": key.name, "id": key.id})
    except Exception as exc:  # the hook is the caller's (e.g. the audit log): report, do not hide the key
        print(f"warning: the change was made but recording the {event} event failed: {exc.__class__.__name__}: "
              f"{' '.join(str(exc).split())}", file=sys.stderr)
        return False
    return True


def _create(args: argparse.Namespace, on_event: OnEvent | None) -> int:
    from .store import KeyExists

    endpoints, models = _csv(args.endpoints), _csv(args.models)
    unknown = [group for group in endpoints if group not in ENDPOINT_GROUPS]
    if unknown:
        return _error(f"unknown endpoint group {unknown[0]!r}; valid: {', '.join(ENDPOINT_GROUPS)}", 2)
    if args.budget_period is not None and args.token_budget is None:
        return _error("--budget-period needs --token-budget", 2)
    try:
        policy = KeyPolicy(endpoints=endpoints, models=models, requests_per_minute=args.rate_limit,
                           tokens_per_minute=args.tokens_per_minute, token_budget=args.token_budget,
                           budget_period=args.budget_period or "month")
    except ValueError as exc:
        return _error(str(exc), 2)
    expires_at = None if args.expires_in is None else time.time() + args.expires_in
    created, store, status = _on_store(lambda store: store.create(args.name, policy, expires_at),
                                       ((KeyExists, 1, None), (ValueError, 2, None)))
    if created is None:
        return status
    plaintext, key = created
    hooked = _emit(on_event, "created", key)
    print(f"created key {key.name!r} (id {key.id}) in {store.describe()}")
    print(f"  endpoints: {', '.join(policy.endpoints) or 'all'}; models: {', '.join(policy.models) or 'all'}; "
          f"limits: {_limits_text(policy)}; expires: {_when(key.expires_at)}")
    print("the key is shown only this once; store it now:")
    print(plaintext)
    return 0 if hooked else 1


def _list(args: argparse.Namespace, on_event: OnEvent | None) -> int:
    keys, store, status = _on_store(lambda store: store.list())
    if keys is None:
        return status
    if not keys:
        print(f"no keys in {store.describe()}")
        return 0
    now = time.time()
    header = ["NAME", "ID", "ENABLED", "EXPIRES", "ENDPOINTS", "MODELS", "LIMITS"]
    rows = [[k.name, k.id, _state(k, now), _when(k.expires_at), ",".join(k.policy.endpoints) or "all",
             ",".join(k.policy.models) or "all", _limits_text(k.policy)] for k in keys]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _revoke(args: argparse.Namespace, on_event: OnEvent | None) -> int:
    key, _, status = _on_store(lambda store: store.revoke(args.name), ((KeyError, 1, f"no key named {args.name!r}"),))
    if key is None:
        return status
    hooked = _emit(on_event, "revoked", key)
    print(f"revoked key {key.name!r} (id {key.id}): it no longer works")
    return 0 if hooked else 1


def _rotate(args: argparse.Namespace, on_event: OnEvent | None) -> int:
    rotated, _, status = _on_store(lambda store: store.rotate(args.name, args.grace),
                                   ((KeyError, 1, f"no key named {args.name!r}"), (ValueError, 1, None)))
    if rotated is None:
        return status
    plaintext, key = rotated
    hooked = _emit(on_event, "rotated", key)
    old = "stopped working now" if args.grace == 0 else f"works until {_when(time.time() + args.grace)}"
    print(f"rotated key {key.name!r} (id {key.id}); the old key {old}")
    print("the new key is shown only this once; store it now:")
    print(plaintext)
    return 0 if hooked else 1


def add_keys_commands(subparsers: "argparse._SubParsersAction",
                      on_event: OnEvent | None = None) -> argparse.ArgumentParser:
    """Add ``keys create|list|revoke|rotate`` to a CLI's subcommands; each sets ``handler(args)``
    (returns the exit status). ``on_event(kind, {"name", "id"})`` is called after each change,
    kind being created, revoked or rotated (never with a key or digest)."""

    def bind(handler: Callable[[argparse.Namespace, OnEvent | None], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: handler(args, on_event)

    keys = subparsers.add_parser(
        "keys", help="API keys: create, list, revoke, rotate",
        description="Manage the gateway's API keys, in the store the LLM_ROUTER_AUTH_* variables name. "
                    "LLM_ROUTER_AUTH_SECRET must be the gateway's.")
    commands = keys.add_subparsers(dest="keys_command", required=True)

    create = commands.add_parser("create", help="make a key; it is printed once, alone on the last line")
    create.add_argument("--name", required=True, help="a unique name (letters, digits, . _ @ : + -)")
    create.add_argument("--rate-limit", type=_positive_int, metavar="RPM",
                        help="requests per minute (default: LLM_ROUTER_AUTH_DEFAULT_RATE_LIMIT)")
    create.add_argument("--tokens-per-minute", type=_positive_int, metavar="N", help="tokens per minute")
    create.add_argument("--token-budget", type=_positive_int, metavar="N", help="tokens per --budget-period")
    create.add_argument("--budget-period", choices=BUDGET_PERIODS, help="default: month")
    create.add_argument("--models", metavar="M1,M2",
                        help="allowed model names or patterns (bielik-*); default: all")
    create.add_argument("--endpoints", metavar="GROUPS",
                        help=f"allowed endpoint groups, comma-separated, of: {', '.join(ENDPOINT_GROUPS)}; "
                             "default: all")
    create.add_argument("--expires-in", type=_seconds(1), metavar="SECONDS", help="the key stops working after this")
    create.set_defaults(handler=bind(_create))

    listing = commands.add_parser("list", help="every key's name, id, state, expiry and policy (never a key)")
    listing.set_defaults(handler=bind(_list))

    revoke = commands.add_parser("revoke", help="disable a key at once (old keys in rotation grace too)")
    revoke.add_argument("name")
    revoke.set_defaults(handler=bind(_revoke))

    rotate = commands.add_parser("rotate", help="a new key for the same name and policy; printed on the last line")
    rotate.add_argument("name")
    rotate.add_argument("--grace", type=_seconds(0), default=3600.0, metavar="SECONDS",
                        help="how long the old key keeps working (default 3600; 0: stops now)")
    rotate.set_defaults(handler=bind(_rotate))
    return keys
