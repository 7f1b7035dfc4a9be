"""Send one request to a model's providers, failing over until one answers.

A connect error, a timeout before the first byte, a 5xx or a 429 moves the request to the next
provider, within ``max_attempts`` and a total ``deadline``. Nothing is retried once a byte has
been handed to the client: for streams the first chunk is read here, before the client sees a
status line, so a provider that accepts and dies at once still fails over. 4xx answers other
than 429 are the caller's problem and go back as they are (with the private model name hidden).

What goes out depends on the provider's protocol: a provider of the client's own protocol gets
the client's request as it came (``NativeCall``, unknown fields intact); any other gets the
canonical request in its protocol (``upstream/wires.py``). The result says which happened, so
the route knows whether to relay the answer or convert it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from .balancing import Balancer, Lease, Outcome, Refusal
from .config.models import ModelConfig
from .dialects.base import CanonicalRequest
from .errors import (ClientClosedRequest, GatewayError, InvalidRequest, NoProviderAvailable, UpstreamFailed,
                     UpstreamTimeout)
from .observability.metrics import Metrics
from .observability.request_record import RequestRecord
from .upstream import openai_wire
from .upstream.client import UpstreamClient
from .upstream.errors import TransportError
from .upstream.http11 import Response
from .upstream.origin import Origin
from .upstream.wire import Outgoing
from .upstream.wires import family_of, native_path, wire_for

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class FailoverPolicy:
    max_attempts: int
    deadline: float
    connect_timeout: float
    read_timeout: float
    queue_wait: float = 0.0  # how long a request may wait in line for a free slot


@dataclass(frozen=True)
class NativeCall:
    """The client's request as it came, for a provider that speaks the client's protocol.

    ``path`` is from the server root (``/v1/chat/completions``, ``/api/chat``, ``/v1/messages``).
    ``unserved`` lists statuses that mean "this server has no such route" (the Responses API on
    a server without it): the canonical request then goes to the same provider instead, and the
    provider is remembered as one that needs it. ``headers`` are the client's protocol headers
    that go along (Anthropic's ``anthropic-beta``); credentials are always the provider's own.
    """

    family: str
    path: str
    payload: dict
    raw: bytes
    unserved: frozenset[int] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Call:
    """One client request: the canonical form, and the client's own when it can pass through."""

    canonical: CanonicalRequest
    native: NativeCall | None = None

    @property
    def stream(self) -> bool:
        return self.canonical.stream


@dataclass
class UpstreamReply:
    """A complete answer (success or a client error).

    ``native``: the body is in the client's protocol (relay it); else in ``wire``'s (decode it).
    """

    status: int
    body: bytes
    content_type: str
    wire: object = None
    native: bool = True


@dataclass
class UpstreamStream:
    """A streaming answer whose first chunk has arrived; the caller relays or converts the rest."""

    lease: Lease
    response: Response
    first_chunk: bytes
    content_type: str
    rewriter: openai_wire.ModelNameRewriter
    wire: object = None
    native: bool = True

    @property
    def provider_id(self) -> str:
        return self.lease.provider.id


class Dispatcher:
    def __init__(self, balancer: Balancer, client: UpstreamClient, policy: FailoverPolicy,
                 clock: Callable[[], float] = time.monotonic, metrics: Metrics | None = None):
        self.metrics = metrics or Metrics.disabled()
        self.balancer = balancer
        self.client = client
        self.policy = policy
        self.clock = clock
        self._unserved: set[tuple[str, str]] = set()  # (provider id, native path) that answered "no such route"

    def send(self, model: ModelConfig, public_name: str, call: Call, *,
             abandoned: Callable[[], bool] | None = None,
             record: RequestRecord | None = None) -> UpstreamReply | UpstreamStream:
        """The answer of the first provider that gives one; ``abandoned`` says the client left.

        ``record`` learns the attempts and the provider that answered (for the access log).
        """
        metrics = self.metrics
        deadline = self.clock() + self.policy.deadline
        tried: list[str] = []
        failures: list[str] = []
        refusal: Refusal | None = None
        unsupported: InvalidRequest | None = None
        while len(tried) < self.policy.max_attempts:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            if failures:
                metrics.failovers_total.labels(public_name, failures[-1]).inc()
            asked = self.clock()
            lease = self.balancer.acquire(model, tried, min(self.policy.queue_wait, remaining), abandoned)
            metrics.queue_wait_seconds.labels(public_name).observe(self.clock() - asked)
            if lease is Refusal.ABANDONED:
                log.info("model=%s: client left while waiting for a free slot; not sent upstream", model.name)
                raise ClientClosedRequest("The client closed the connection while the request waited.")
            if isinstance(lease, Refusal):
                refusal = lease
                break
            provider_id = lease.provider.id
            tried.append(provider_id)
            try:
                result = self._attempt(lease, model, public_name, call, remaining)
            except InvalidRequest as exc:  # this provider's protocol cannot express the request
                lease.release(Outcome.NEUTRAL)
                unsupported, result = exc, "unsupported"
            if record is not None:
                record.attempts, record.provider = len(tried), provider_id
            if not isinstance(result, str):
                status = result.status if isinstance(result, UpstreamReply) else 200
                metrics.upstream_requests_total.labels(public_name, provider_id,
                                                       "ok" if status < 400 else "client_error").inc()
                return result
            metrics.upstream_requests_total.labels(public_name, provider_id, result).inc()
            log.warning("model=%s provider=%s attempt=%d failed: %s", model.name, lease.provider.id, len(tried),
                        result)
            failures.append(result)
        if unsupported is not None and all(f == "unsupported" for f in failures):
            raise unsupported
        raise self._exhausted(model, public_name, tried, failures, refusal)

    def _outgoing(self, provider, wire, upstream_name: str, call: Call) -> tuple[Outgoing, bool, frozenset[int]]:
        """What to send this provider: (request, is it the client's own, statuses meaning "not served")."""
        native = call.native
        if native is not None and native.family == family_of(provider) \
                and (provider.id, native.path) not in self._unserved:
            path = native_path(Origin.of(provider.api_host), native.path)
            body = openai_wire.request_body(native.payload, native.raw, upstream_name)
            headers = wire.request_headers(provider, stream=call.stream)
            if native.headers:
                headers = {**headers, **dict(native.headers)}
            return Outgoing(path, body, headers), True, native.unserved
        canonical = call.canonical
        return wire.outgoing(canonical.endpoint, canonical.payload, upstream_name, provider, call.stream), False, \
            frozenset()

    def _attempt(self, lease: Lease, model: ModelConfig, public_name: str, call: Call,
                 remaining: float) -> UpstreamReply | UpstreamStream | str:
        """One provider, one try: the answer to return, or the name of the failure to fail over on.

        The lease is released here unless a stream is handed on (its relay releases it).
        """
        provider = lease.provider
        wire = wire_for(provider)
        upstream_name = model.upstream_name(provider)
        rewriter = openai_wire.rewriter_for(upstream_name, public_name)
        read_timeout = min(self.policy.read_timeout, remaining)
        stream = call.stream
        response = None
        outgoing, native, unserved = self._outgoing(provider, wire, upstream_name, call)
        try:
            origin = Origin.of(provider.api_host)
            connect_timeout = min(self.policy.connect_timeout, remaining)
            response = self.client.post(origin, outgoing.path, outgoing.body, outgoing.headers,
                                        read_timeout=read_timeout, connect_timeout=connect_timeout)
            if response.status in unserved:
                log.info("provider=%s does not serve %s (HTTP %d); converting for it from now on", provider.id,
                         call.native.path, response.status)
                self._unserved.add((provider.id, call.native.path))
                response.read_all()
                response.release()
                outgoing, native, unserved = self._outgoing(provider, wire, upstream_name, call)
                response = self.client.post(origin, outgoing.path, outgoing.body, outgoing.headers,
                                            read_timeout=read_timeout, connect_timeout=connect_timeout)
            lease.first_byte_at = self.clock()
            status = response.status
            failure = _retryable_failure(status)
            if failure is None and stream and status == 200:
                first = response.read_some()
                lease.first_byte_at = self.clock()  # a stream's first event: its time to first token
                if first:
                    if read_timeout < self.policy.read_timeout:
                        response.set_read_timeout(self.policy.read_timeout)
                    content_type = response.headers.get("content-type", "text/event-stream")
                    return UpstreamStream(lease, response, first, content_type, rewriter, wire, native)
                failure = "empty_stream"
            if failure is not None:
                response.close()
                lease.release(Outcome.NEUTRAL if status == 429 else Outcome.FAILURE, failure)
                return failure
            body = response.read_all()
            response.release()
        except TransportError as exc:
            if response is not None:
                response.close()
            lease.release(Outcome.FAILURE, exc.kind)
            return exc.kind
        except BaseException:
            if response is not None:
                response.close()
            lease.release(Outcome.NEUTRAL)
            raise
        content_type = response.headers.get("content-type", "application/json")
        if status >= 400:
            lease.release(Outcome.NEUTRAL)
            return UpstreamReply(status, rewriter.error(body), content_type, wire, native)
        lease.release(Outcome.SUCCESS)
        return UpstreamReply(status, rewriter.answer(body) if native else body, content_type, wire, native)

    def _exhausted(self, model: ModelConfig, public_name: str, tried: list[str],
                   failures: list[str], refusal: Refusal | None) -> GatewayError:
        if not failures:
            if refusal is Refusal.BUSY:
                log.warning("model=%s: every provider stayed at capacity for the whole wait (%.1f s)", model.name,
                            self.policy.queue_wait)
                return NoProviderAvailable(
                    f"Every provider of model '{public_name}' is at capacity and none freed up in time; "
                    "retry shortly.", retry_after=RETRY_AFTER_SECONDS)
            log.warning("model=%s: no provider can take the request (all down or ejected)", model.name)
            return NoProviderAvailable(
                f"No provider of model '{public_name}' is available right now; retry shortly.",
                retry_after=RETRY_AFTER_SECONDS)
        summary = ", ".join(failures)
        log.error("model=%s: request failed after %d attempt(s): %s (providers %s)",
                  model.name, len(failures), summary, ", ".join(tried))
        last = failures[-1]
        if last == "timeout":
            return UpstreamTimeout(f"The upstream serving model '{public_name}' did not answer in time "
                                   f"({len(failures)} attempt(s)).")
        if all(f == "http_429" for f in failures):
            return NoProviderAvailable(f"Every provider of model '{public_name}' is overloaded; retry shortly.",
                                       retry_after=RETRY_AFTER_SECONDS)
        return UpstreamFailed(f"The upstream serving model '{public_name}' failed ({len(failures)} attempt(s): "
                              f"{summary}).")


def _retryable_failure(status: int) -> str | None:
    """The failure name of a status that sends the request to the next provider, else None."""
    return f"http_{status}" if status >= 500 or status == 429 else None
