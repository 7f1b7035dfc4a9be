"""The gate every request passes when ``LLM_ROUTER_AUTH_ENABLED`` is on: key, permission, rate limit.

Runs before any route: a public path passes; anything else needs a key (``Authorization:
Bearer``, or ``x-api-key`` as Anthropic clients send it; never a query string). The key's
endpoint groups are checked here, its models where the model is known (``check_model``), its
request limit is counted atomically with the check (``RateLimiter.admit``), and the tokens an
answer used are charged when the answer closes. Errors come in the client's dialect through the
app's error handlers; the presented key is never logged, audited or echoed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from flask import Flask, Response, request

from ..dispatch import Call
from ..errors import AuthenticationFailed, KeyStoreUnavailable, PermissionDenied, RateLimited
from ..observability.hooks import current_record
from ..observability.metrics import Metrics
from .groups import PublicPaths, endpoint_groups
from .keys import ApiKey
from .limits import Decision, Limits, RateLimiter
from .store import KeyStoreError

log = logging.getLogger(__name__)

ENVIRON_KEY = "llm_router.caller"
_REASONS = {
    "requests_per_minute": "requests per minute",
    "tokens_per_minute": "tokens per minute",
    "token_budget": "token budget",
}


@dataclass(frozen=True)
class Caller:
    """The key a request came with, its limits, and the rate limiter's word on it."""

    key: ApiKey
    limits: Limits
    decision: Decision

    @property
    def counts_tokens(self) -> bool:
        return bool(self.limits.tokens_per_minute or self.limits.token_budget)


def presented_key(headers) -> str | None:
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def current_caller() -> Caller | None:
    return request.environ.get(ENVIRON_KEY)


def check_model(public_name: str) -> None:
    """403 unless the request's key may use ``public_name`` (no key, auth off: allowed)."""
    caller = current_caller()
    if caller is not None and not caller.key.policy.allows_model(public_name):
        raise PermissionDenied(f"This API key may not use the model '{public_name}'.", param="model",
                               code="model_not_allowed")


def with_usage_reported(call: Call) -> Call:
    """An OpenAI stream whose key counts tokens asks the upstream for usage (``include_usage``).

    The client's own ``stream_options`` still decide what it receives: the call takes the
    converted path, whose encoder sends the usage chunk only to clients that asked for it.
    """
    caller = current_caller()
    native = call.native
    if caller is None or not caller.counts_tokens or not call.stream or native is None or native.family != "openai":
        return call
    options = call.canonical.payload.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return call
    options = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    return Call(replace(call.canonical, payload={**call.canonical.payload, "stream_options": options}))


class AuthGate:
    def __init__(self, store, limiter: RateLimiter, public: PublicPaths, *, default_rate_limit: int = 0,
                 metrics: Metrics | None = None, audit=None, clock: Callable[[], float] = time.time):
        self.store = store
        self.limiter = limiter
        self.public = public
        self.default_rate_limit = default_rate_limit or None
        self.metrics = metrics or Metrics.disabled()
        self.audit = audit
        self.clock = clock

    def install(self, app: Flask) -> None:
        app.before_request(self.check)
        app.after_request(self.finish)

    def check(self) -> None:
        if request.url_rule is None or request.path in self.public:
            return  # an unknown path answers 404 in any case; public ones need no key
        presented = presented_key(request.headers)
        if presented is None:
            self._deny("missing_key", None)
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>' (or 'x-api-key').")
        key = self._lookup(presented)  # None for unknown, revoked and expired keys alike
        if key is None or not key.usable(self.clock()):
            self._deny("invalid_key", None)
            raise AuthenticationFailed("Invalid API key (unknown, revoked or expired).")
        record = current_record()
        if record is not None:
            record.key_name = key.name
        groups = endpoint_groups(request.endpoint)
        if groups and not key.policy.allows_endpoint(groups):
            self._deny("endpoint_not_allowed", key)
            raise PermissionDenied(f"This API key may not use {' or '.join(sorted(groups))} endpoints.")
        limits = self.limits_of(key)
        decision = self.limiter.admit(key.id, limits)
        request.environ[ENVIRON_KEY] = Caller(key, limits, decision)
        if not decision.allowed:
            self.metrics.rate_limit_rejections_total.labels(key.name).inc()
            self._audit("limited", decision.reason, key)
            what = _REASONS.get(decision.reason or "", "limit")
            raise RateLimited(f"Rate limit reached for this API key ({what}); retry in {decision.retry_after} s.",
                              retry_after=decision.retry_after)

    def finish(self, response: Response) -> Response:
        caller = current_caller()
        if caller is None:
            return response
        decision = caller.decision
        if decision.limit is not None:
            response.headers["X-RateLimit-Limit"] = str(decision.limit)
            response.headers["X-RateLimit-Remaining"] = str(max(decision.remaining or 0, 0))
            response.headers["X-RateLimit-Reset"] = str(math.ceil(decision.reset_seconds))
        record = current_record()
        if record is not None:
            # Called when the answer closes: a stream's usage is known only then.
            response.call_on_close(lambda: self._account(caller, record))
        return response

    def _account(self, caller: Caller, record) -> None:
        name = caller.key.name
        self.metrics.key_requests_total.labels(name, f"{record.status // 100}xx").inc()
        tokens = 0
        for kind, count in (("input", record.input_tokens), ("output", record.output_tokens)):
            if count:
                self.metrics.key_tokens_total.labels(name, kind).inc(count)
                tokens += count
        if tokens and caller.counts_tokens:
            try:
                self.limiter.charge(caller.key.id, caller.limits, tokens)
            except Exception:  # an answer already sent must not fail at its close
                log.exception("key=%s: could not charge %d tokens", name, tokens)

    def _lookup(self, presented: str) -> ApiKey | None:
        try:
            return self.store.lookup(presented)
        except KeyStoreError as exc:
            log.error("the key store cannot be read: %s", exc)
            raise KeyStoreUnavailable("API keys cannot be checked right now; retry shortly.", retry_after=1) from None

    def limits_of(self, key: ApiKey) -> Limits:
        policy = key.policy
        return Limits(requests_per_minute=policy.requests_per_minute or self.default_rate_limit,
                      tokens_per_minute=policy.tokens_per_minute, token_budget=policy.token_budget,
                      budget_period=policy.budget_period)

    def _deny(self, reason: str, key: ApiKey | None) -> None:
        log.info("auth denied: %s key=%s route=%s", reason, key.name if key else "-",
                 request.url_rule.rule if request.url_rule else "-")
        self._audit("denied", reason, key)

    def _audit(self, event: str, reason: str | None, key: ApiKey | None) -> None:
        if self.audit is None:
            return
        record = current_record()
        data: dict[str, Any] = {"event": event, "reason": reason, "route": request.url_rule.rule if request.url_rule
                                else None, "method": request.method,
                                "client_ip": record.client_ip if record is not None else request.remote_addr,
                                "request_id": record.request_id if record is not None else None}
        if key is not None:
            data.update(key_name=key.name, key_id=key.id)
        self.audit.record("auth", data)
