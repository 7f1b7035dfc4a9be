"""Per-API-key rate limits shared by every worker of every replica: requests and tokens per minute
(sliding windows) and a token budget per calendar period (UTC day, week starting Monday, month).

One decision is one atomic step. :meth:`RateLimiter.admit` refuses a request when the tokens
charged in the last window reached ``tokens_per_minute``, or the tokens charged this period
reached ``token_budget``, or the requests admitted in the last window reached
``requests_per_minute``; otherwise it counts the request and lets it through. A refused request
is not counted, so a client that keeps retrying does not push its own window forward. Tokens are
known only when the answer ends: :meth:`RateLimiter.charge` adds the upstream's reported usage
afterwards, so a key may overshoot its token limits by the answers in flight when it reached them
(the next request is then refused until enough of them left the window or the period ended).

Every decision says when to come back: ``retry_after`` is the whole seconds until the window
(or the period) has room again, never less than 1; ``remaining`` and ``reset_seconds`` feed the
``X-RateLimit-*`` headers: when refused, ``reset_seconds`` is the time until there is room; when
allowed, the time until the request window is empty again (the full limit is back), which is the
window's length as the request just counted is the newest. Limits are per key id (never per key
prefix).

**Redis layout: exact sliding logs, not sliding-window counters.** Each key id has a sorted set
of its admitted requests (one member per request, scored by Redis's time in ms) and a sorted set
of its charges (``<id>:<tokens>``) with a running sum beside it; the script trims entries older
than the window before it counts, and every key gets a ``PEXPIRE`` of window + 1 s, so an idle
key's sets vanish. See ``limit_scripts.py`` for the key names and the Lua.

Why a log rather than a sliding-window counter (two fixed buckets, the previous one weighted by
how much of it still overlaps the window): the counter is O(1) memory per key but it assumes the
previous minute's requests were spread evenly, so it lets through more than the limit after a
burst at the end of a minute, or fewer, and it cannot say exactly when room comes back. The log
is exact and gives an exact ``Retry-After`` (the time the oldest counted entry leaves), at
O(log n) per step and memory bounded by the limit itself: refused requests are never added, so
a request set holds at most ``requests_per_minute`` members (measured: about 30 bytes each while a
set holds up to 128, kept as a compact listpack; about 100 bytes each beyond, as a skiplist).
A token set holds one member per answer charged in the window (at most ``requests_per_minute``
of them when a request limit is set). The budget is one counter per key id and period
(``...:rl:budget:<key_id>:2026-12``) that expires a day after its period ends.

Time in Redis is Redis's own (``TIME`` inside the script), so replicas with skewed clocks agree;
the window length is ``window_seconds`` (60 s; tests shorten it).

**Without Redis.** With ``redis_client=None``, or while Redis cannot be reached or answers with an
error, the limits are kept by :class:`LocalLimiter`: the same rules, in this process only
(thread-safe, and fine under gevent as its lock is only held for in-memory work). **Local limits
are per process**: with several gunicorn workers or replicas, each enforces the full limit on its
own share of the traffic, so a key can get up to (processes x limit) in total during an outage.
A Redis failure logs one warning, after which Redis is tried again every ``retry_seconds`` by one
request at a time (the others use local counts meanwhile, so only that one can wait for the
connection to fail); the first success logs once that limits are shared again. A request never
fails because Redis does; counts made locally during an outage are not carried over to Redis.
Give it a client with short timeouts and few retries (``balancing.redis_slots.connect``): the
redis-py default retries with backoff for seconds before it reports a dead server.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import redis

from . import limit_scripts

log = logging.getLogger(__name__)

BUDGET_PERIODS = ("day", "week", "month")
REASONS = {1: "requests_per_minute", 2: "tokens_per_minute", 3: "token_budget"}
REDIS_ERRORS = (redis.exceptions.RedisError, OSError)  # connection, timeout, OOM, READONLY, BUSY ...
_EPOCH = dt.date(1970, 1, 1)
_DAY = 86400.0


def _positive(value: int | None, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0 or None, not {value!r}")
    return value


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int | None = None  # None or 0 = unlimited
    tokens_per_minute: int | None = None
    token_budget: int | None = None
    budget_period: str = "month"  # "day" | "week" | "month"

    def __post_init__(self) -> None:
        _positive(self.requests_per_minute, "requests_per_minute")
        _positive(self.tokens_per_minute, "tokens_per_minute")
        _positive(self.token_budget, "token_budget")
        if self.budget_period not in BUDGET_PERIODS:
            raise ValueError(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}, not {self.budget_period!r}")

    @property
    def rpm(self) -> int:
        return self.requests_per_minute or 0

    @property
    def tpm(self) -> int:
        return self.tokens_per_minute or 0

    @property
    def budget(self) -> int:
        return self.token_budget or 0

    @property
    def counts_tokens(self) -> bool:
        return bool(self.tpm or self.budget)

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.tpm or self.budget)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None  # None when allowed; else "requests_per_minute" | "tokens_per_minute" | "token_budget"
    limit: int | None  # the request limit (X-RateLimit-Limit); None without one
    remaining: int | None  # requests left in the window after this one (X-RateLimit-Remaining); 0 when refused
    reset_seconds: float  # refused: until there is room again; allowed: until the request window is empty
    retry_after: int | None  # whole seconds >= 1 when refused (Retry-After)


UNLIMITED = Decision(True, None, None, None, 0.0, None)


def _decision(limits: Limits, allowed: bool, reason: int, count: int, wait_seconds: float) -> Decision:
    """``count``: requests in the window with this one (allowed); ``wait_seconds``: see Decision.reset_seconds."""
    rpm = limits.rpm or None
    if allowed:
        if rpm is None:
            return UNLIMITED
        return Decision(True, None, rpm, max(rpm - count, 0), wait_seconds, None)
    return Decision(False, REASONS[reason], rpm, 0 if rpm else None, wait_seconds,
                    max(1, math.ceil(wait_seconds - 1e-9)))


def period_of(ts: float, kind: str) -> tuple[str, float]:
    """The UTC budget period holding time ``ts``: its label and the time it ends (the Lua ``period``'s twin)."""
    days = math.floor(ts / _DAY)
    date = _EPOCH + dt.timedelta(days=days)
    if kind == "day":
        label, end = date.isoformat(), date + dt.timedelta(days=1)
    elif kind == "week":
        monday = date - dt.timedelta(days=date.weekday())
        label, end = "W" + monday.isoformat(), monday + dt.timedelta(days=7)
    elif kind == "month":
        label = f"{date.year:04d}-{date.month:02d}"
        end = dt.date(date.year + 1, 1, 1) if date.month == 12 else dt.date(date.year, date.month + 1, 1)
    else:
        raise ValueError(f"unknown budget period {kind!r}")
    return label, (end - _EPOCH).days * _DAY


def _member_id() -> str:
    """A unique set member (72 random bits): safe across forked workers and replicas, no counter to share."""
    return base64.urlsafe_b64encode(os.urandom(9)).decode()


class _KeyState:
    __slots__ = ("requests", "charges", "tokens", "budget_kind", "budget_label", "budget_used")

    def __init__(self) -> None:
        self.requests: deque[float] = deque()  # admission times
        self.charges: deque[tuple[float, int]] = deque()  # (time, tokens)
        self.tokens = 0  # sum over charges
        self.budget_kind = "month"
        self.budget_label: str | None = None  # the period budget_used belongs to
        self.budget_used = 0

    def trim(self, cutoff: float) -> None:
        requests, charges = self.requests, self.charges
        while requests and requests[0] <= cutoff:
            requests.popleft()
        while charges and charges[0][0] <= cutoff:
            self.tokens -= charges.popleft()[1]

    def budget_in(self, kind: str, label: str) -> int:
        if self.budget_label != label:
            self.budget_kind, self.budget_label, self.budget_used = kind, label, 0
        return self.budget_used


class LocalLimiter:
    """The same limits in this process only (the fallback of :class:`RateLimiter`); thread-safe.

    Keys whose windows are empty and whose budget is spent in a past period (or unused) are
    dropped once per window, so memory follows the keys active recently.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, window_seconds: float = 60.0):
        self._clock = clock
        self.window = float(window_seconds)
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}
        self._swept_at = clock()

    def _state(self, key_id: str, now: float) -> _KeyState:
        if now - self._swept_at >= self.window or now < self._swept_at:
            self._sweep(now)
        state = self._keys.get(key_id)
        if state is None:
            state = self._keys[key_id] = _KeyState()
        state.trim(now - self.window)
        return state

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        cutoff = now - self.window
        idle = []
        for key_id, state in self._keys.items():
            state.trim(cutoff)
            if state.requests or state.charges:
                continue
            if state.budget_used and period_of(now, state.budget_kind)[0] == state.budget_label:
                continue  # this period's budget is still being spent
            idle.append(key_id)
        for key_id in idle:
            del self._keys[key_id]

    def admit(self, key_id: str, limits: Limits) -> Decision:
        if not limits.limited:
            return UNLIMITED
        with self._lock:
            now = self._clock()
            state = self._state(key_id, now)
            tpm, budget, rpm = limits.tpm, limits.budget, limits.rpm
            if tpm and state.tokens >= tpm:
                need, freed = state.tokens - tpm + 1, 0
                wait = self.window
                for at, tokens in state.charges:
                    freed += tokens
                    if freed >= need:
                        wait = at + self.window - now
                        break
                return _decision(limits, False, 2, 0, max(wait, 0.001))
            if budget:
                label, ends = period_of(now, limits.budget_period)
                if state.budget_in(limits.budget_period, label) >= budget:
                    return _decision(limits, False, 3, 0, max(ends - now, 0.001))
            if not rpm:
                return UNLIMITED
            count = len(state.requests)
            if count >= rpm:
                wait = state.requests[count - rpm] + self.window - now
                return _decision(limits, False, 1, 0, max(wait, 0.001))
            state.requests.append(now)
            return _decision(limits, True, 0, count + 1, self.window)

    def charge(self, key_id: str, limits: Limits, tokens: int) -> None:
        if tokens <= 0 or not limits.counts_tokens:
            return
        with self._lock:
            now = self._clock()
            state = self._state(key_id, now)
            if limits.tpm:
                state.charges.append((now, tokens))
                state.tokens += tokens
            if limits.budget:
                state.budget_in(limits.budget_period, period_of(now, limits.budget_period)[0])
                state.budget_used += tokens

    def usage(self, key_id: str, limits: Limits) -> dict:
        with self._lock:
            now = self._clock()
            state = self._keys.get(key_id)
            label = period_of(now, limits.budget_period)[0]
            if state is None:
                return {"requests": 0, "tokens": 0, "budget_used": 0, "period": label, "backend": "local"}
            state.trim(now - self.window)
            return {"requests": len(state.requests), "tokens": state.tokens,
                    "budget_used": state.budget_used if state.budget_label == label else 0,
                    "period": label, "backend": "local"}


class RedisLimiter:
    """The limits in Redis, one script call (one round trip) per operation; Redis errors propagate."""

    def __init__(self, client: redis.Redis, *, prefix: str = "llm-router", window_seconds: float = 60.0):
        self.client = client
        self.tag = "{" + prefix + "}:rl"
        self.window_ms = max(1, int(round(window_seconds * 1000)))
        self._admit = client.register_script(limit_scripts.ADMIT)
        self._charge = client.register_script(limit_scripts.CHARGE)
        self._usage = client.register_script(limit_scripts.USAGE)

    def keys(self, key_id: str) -> list[str]:
        """Requests set, token set, token sum, budget base (the script appends ``:<period>``)."""
        tag = self.tag
        return [f"{tag}:req:{key_id}", f"{tag}:tok:{key_id}", f"{tag}:toksum:{key_id}", f"{tag}:budget:{key_id}"]

    def admit(self, key_id: str, limits: Limits) -> Decision:
        allowed, reason, count, wait_ms = self._admit(
            keys=self.keys(key_id),
            args=[_member_id(), self.window_ms, limits.rpm, limits.tpm, limits.budget, limits.budget_period])
        return _decision(limits, allowed == 1, reason, count, wait_ms / 1000)

    def charge(self, key_id: str, limits: Limits, tokens: int) -> None:
        if tokens <= 0 or not limits.counts_tokens:
            return
        self._charge(keys=self.keys(key_id)[1:],
                     args=[f"{_member_id()}:{int(tokens)}", int(tokens), self.window_ms,
                           1 if limits.tpm else 0, 1 if limits.budget else 0, limits.budget_period])

    def usage(self, key_id: str, limits: Limits) -> dict:
        requests, tokens, budget, label = self._usage(keys=self.keys(key_id),
                                                      args=[self.window_ms, limits.budget_period])
        return {"requests": requests, "tokens": tokens, "budget_used": budget,
                "period": label.decode() if isinstance(label, bytes) else label, "backend": "redis"}


class RateLimiter:
    """Per-key limits in Redis when there is one, else (or while it fails) per process; see the module doc."""

    def __init__(self, redis_client=None, *, prefix: str = "llm-router", clock: Callable[[], float] = time.time,
                 retry_seconds: float = 2.0, window_seconds: float = 60.0):
        self.shared = RedisLimiter(redis_client, prefix=prefix, window_seconds=window_seconds) \
            if redis_client is not None else None
        self.local = LocalLimiter(clock=clock, window_seconds=window_seconds)
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: Redis in use (or none configured)
        self.outages = 0

    @property
    def backend(self) -> str:
        """``redis`` while the limits are shared, ``local`` without Redis or during an outage."""
        return "redis" if self.shared is not None and self._retry_at is None else "local"

    def _shared_due(self) -> bool:
        """Redis in use, or this caller's turn to try it again (one caller per ``retry_seconds``,
        so during an outage only that one request waits for the connection to fail)."""
        if self.shared is None:
            return False
        if self._retry_at is None:
            return True
        with self._lock:
            now = self._clock()
            if self._retry_at is None:
                return True
            if now < self._retry_at:
                return False
            self._retry_at = now + self._retry_seconds  # the others stay local while this one probes
            return True

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._retry_at is None
            if first:
                self.outages += 1
            self._retry_at = self._clock() + self._retry_seconds
        if first:  # logged outside the lock: a handler may do I/O (and yield under gevent)
            log.warning("Redis cannot keep the API-key rate limits (%s: %.200s); they are kept per process "
                        "until it is back", type(exc).__name__, str(exc))

    def _succeeded(self) -> None:
        if self._retry_at is None:
            return
        with self._lock:
            back, self._retry_at = self._retry_at is not None, None
        if back:
            log.info("Redis is reachable again; API-key rate limits are shared again")

    def _call(self, name: str, key_id: str, limits: Limits, *extra):
        if self._shared_due():
            try:
                result = getattr(self.shared, name)(key_id, limits, *extra)
            except REDIS_ERRORS as exc:
                self._failed(exc)
            else:
                self._succeeded()
                return result
        return getattr(self.local, name)(key_id, limits, *extra)

    def admit(self, key_id: str, limits: Limits) -> Decision:
        """Refuse (not counted) or count and allow, atomically; one Redis round trip. Never raises for Redis."""
        if not limits.limited:
            return UNLIMITED
        return self._call("admit", key_id, limits)

    def charge(self, key_id: str, limits: Limits, tokens: int) -> None:
        """Add an answer's tokens to the minute window and the period budget; one round trip."""
        if tokens <= 0 or not limits.counts_tokens:
            return
        self._call("charge", key_id, limits, int(tokens))

    def usage(self, key_id: str, limits: Limits) -> dict:
        """Requests and tokens in the window, budget used this period, period label, backend."""
        return self._call("usage", key_id, limits)
