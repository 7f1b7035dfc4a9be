"""What one request did, gathered along its way and reported once when its answer has ended.

The record lives in the WSGI environ from ``before_request`` to the moment the server closes the
answer (for a stream: after its last byte, or when the client left). Then it becomes the
Prometheus samples of the request and exactly one access log line. Routes and streams fill in
what they learn (model, provider, first-token time, token counts); nothing here reads a body
beyond the few bytes that carry token counts, and no message content is ever recorded.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass, field

from .metrics import Metrics

ENVIRON_KEY = "llm_router.record"
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # a client's id is echoed only when it is this tame

access_log = logging.getLogger("llm_router_api.access")

# Token counts as every protocol writes them: OpenAI usage, Anthropic usage, Ollama's counters.
_INPUT = re.compile(rb'"(?:prompt_tokens|input_tokens|prompt_eval_count)"\s*:\s*(\d+)')
_OUTPUT = re.compile(rb'"(?:completion_tokens|output_tokens|eval_count)"\s*:\s*(\d+)')


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a plain token, else a new one."""
    if header and _SAFE_ID.match(header):
        return header
    return secrets.token_hex(8)


@dataclass
class RequestRecord:
    request_id: str
    method: str
    started: float = field(default_factory=time.monotonic)
    route: str = "unmatched"  # the URL rule's template, never the raw path
    model: str = ""  # the public model, once resolved (an unknown name is not a label)
    provider: str = ""
    status: int = 0
    error_code: str | None = None
    stream: bool = False
    attempts: int = 0
    first_byte_at: float | None = None  # a stream's first upstream event
    last_byte_at: float | None = None
    events: int = 0  # upstream stream events relayed or converted
    input_tokens: int | None = None
    output_tokens: int | None = None
    client_ip: str | None = None  # X-Forwarded-For only from trusted proxies (auth/client_ip.py)
    key_name: str = ""  # the API key's name, never the key

    def usage_from_bytes(self, data: bytes) -> None:
        """Token counts from an answer's bytes (the last ones reported win), if it has any."""
        found = _INPUT.findall(data)
        if found:
            self.input_tokens = int(found[-1])
        found = _OUTPUT.findall(data)
        if found:
            self.output_tokens = int(found[-1])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        if prompt_tokens or completion_tokens:
            self.input_tokens, self.output_tokens = prompt_tokens, completion_tokens

    def finish(self, metrics: Metrics) -> None:
        """The answer has ended: its samples and its log line."""
        ended = time.monotonic()
        model = self.model or "-"
        metrics.requests_total.labels(self.route, model, f"{self.status // 100}xx").inc()
        if self.status >= 400:
            metrics.request_errors_total.labels(self.route, model, self.error_code or str(self.status)).inc()
        metrics.request_duration_seconds.labels(self.route, model).observe(ended - self.started)
        ttft = itl = None
        if self.provider:
            if self.input_tokens:
                metrics.input_tokens_total.labels(model, self.provider).inc(self.input_tokens)
            if self.output_tokens:
                metrics.output_tokens_total.labels(model, self.provider).inc(self.output_tokens)
            if self.stream and self.first_byte_at is not None:
                ttft = self.first_byte_at - self.started
                metrics.time_to_first_token_seconds.labels(model, self.provider).observe(ttft)
                last = self.last_byte_at or ended
                if self.events > 1 and last > self.first_byte_at:
                    itl = (last - self.first_byte_at) / (self.events - 1)
                    metrics.inter_token_latency_seconds.labels(model, self.provider).observe(itl)
                if self.output_tokens and last > self.first_byte_at:
                    rate = self.output_tokens / (last - self.first_byte_at)
                    metrics.output_tokens_per_second.labels(model, self.provider).observe(rate)
            elif not self.stream and self.output_tokens and ended > self.started:
                metrics.output_tokens_per_second.labels(model, self.provider).observe(
                    self.output_tokens / (ended - self.started))
        access_log.info("%s %s %s", self.method, self.route, self.status, extra={"request": self._fields(ended, ttft)})

    def _fields(self, ended: float, ttft: float | None) -> dict:
        fields = {"request_id": self.request_id, "method": self.method, "route": self.route,
                  "model": self.model or None, "provider": self.provider or None, "status": self.status,
                  "stream": self.stream, "duration_ms": round((ended - self.started) * 1000, 2),
                  "ttft_ms": None if ttft is None else round(ttft * 1000, 2), "attempts": self.attempts,
                  "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                  "client": self.client_ip}
        if self.key_name:
            fields["key"] = self.key_name
        if self.error_code:
            fields["error"] = self.error_code
        return fields
