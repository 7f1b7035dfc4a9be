"""Send one request to a model's providers, failing over until one answers.

A connect error, a timeout before the first byte, a 5xx or a 429 moves the request to the next
provider, within ``max_attempts`` and a total ``deadline``. Nothing is retried once a byte has
been handed to the client: for streams the first chunk is read here, before the client sees a
status line, so a provider that accepts and dies at once still fails over. 4xx answers other
than 429 are the caller's problem and go back as they are (with the private model name hidden).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from .balancing import Balancer, Lease, Outcome, Refusal
from .config.models import ModelConfig
from .errors import ClientClosedRequest, GatewayError, NoProviderAvailable, UpstreamFailed, UpstreamTimeout
from .upstream import openai_wire
from .upstream.client import UpstreamClient
from .upstream.errors import TransportError
from .upstream.http11 import Response
from .upstream.origin import Origin

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class FailoverPolicy:
    max_attempts: int
    deadline: float
    connect_timeout: float
    read_timeout: float
    queue_wait: float = 0.0  # how long a request may wait in line for a free slot


@dataclass
class UpstreamReply:
    """A complete answer (success or a client error) to pass back as it is."""

    status: int
    body: bytes
    content_type: str


@dataclass
class UpstreamStream:
    """A streaming answer whose first chunk has arrived; the caller relays the rest."""

    lease: Lease
    response: Response
    first_chunk: bytes
    content_type: str
    rewriter: openai_wire.ModelNameRewriter

    @property
    def provider_id(self) -> str:
        return self.lease.provider.id


class Dispatcher:
    def __init__(self, balancer: Balancer, client: UpstreamClient, policy: FailoverPolicy,
                 clock: Callable[[], float] = time.monotonic):
        self.balancer = balancer
        self.client = client
        self.policy = policy
        self.clock = clock

    def send(self, model: ModelConfig, public_name: str, endpoint: str, payload: dict, raw: bytes,
             *, stream: bool, abandoned: Callable[[], bool] | None = None) -> UpstreamReply | UpstreamStream:
        """The answer of the first provider that gives one; ``abandoned`` says the client left."""
        deadline = self.clock() + self.policy.deadline
        tried: list[str] = []
        failures: list[str] = []
        refusal: Refusal | None = None
        while len(tried) < self.policy.max_attempts:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            lease = self.balancer.acquire(model, tried, min(self.policy.queue_wait, remaining), abandoned)
            if lease is Refusal.ABANDONED:
                log.info("model=%s: client left while waiting for a free slot; not sent upstream", model.name)
                raise ClientClosedRequest("The client closed the connection while the request waited.")
            if isinstance(lease, Refusal):
                refusal = lease
                break
            tried.append(lease.provider.id)
            result = self._attempt(lease, model, public_name, endpoint, payload, raw, stream, remaining)
            if not isinstance(result, str):
                return result
            log.warning("model=%s provider=%s attempt=%d failed: %s", model.name, lease.provider.id, len(tried),
                        result)
            failures.append(result)
        raise self._exhausted(model, public_name, tried, failures, refusal)

    def _attempt(self, lease: Lease, model: ModelConfig, public_name: str, endpoint: str, payload: dict,
                 raw: bytes, stream: bool, remaining: float) -> UpstreamReply | UpstreamStream | str:
        """One provider, one try: the answer to return, or the name of the failure to fail over on.

        The lease is released here unless a stream is handed on (its relay releases it).
        """
        provider = lease.provider
        upstream_name = model.upstream_name(provider)
        rewriter = openai_wire.rewriter_for(upstream_name, public_name)
        read_timeout = min(self.policy.read_timeout, remaining)
        response = None
        try:
            origin = Origin.of(provider.api_host)
            response = self.client.post(
                origin, openai_wire.endpoint_path(origin, endpoint),
                openai_wire.request_body(payload, raw, upstream_name),
                openai_wire.request_headers(provider, stream=stream),
                read_timeout=read_timeout, connect_timeout=min(self.policy.connect_timeout, remaining),
            )
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
                    return UpstreamStream(lease, response, first, content_type, rewriter)
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
            return UpstreamReply(status, rewriter.error(body), content_type)
        lease.release(Outcome.SUCCESS)
        return UpstreamReply(status, rewriter.answer(body), content_type)

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
