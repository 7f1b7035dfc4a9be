"""When a request is masked, and what masking it means for the rest of its way.

Masking applies when ``LLM_ROUTER_FORCE_MASKING`` is on or the client's body says
``"anonymize": true``. A request in which something was masked takes the canonical path (never
passed through as bytes): the canonical request is what gets masked, and the canonical answer
is what gets unmasked, one code path for every dialect and protocol. A request in which nothing
was found goes on as it came, passthrough included, at no conversion cost. The ``anonymize``
flag itself never goes upstream.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

from llm_router_plugins.maskers.pipeline import MaskingPipeline
from llm_router_plugins.maskers.session import MaskingSession

from ..dispatch import Call
from ..observability.metrics import Metrics
from ..observability.request_record import RequestRecord
from .answers import StreamUnmasking, unmask_answer
from .request_fields import mask_payload

log = logging.getLogger(__name__)

FLAG = "anonymize"
CONTENT_LOG_LIMIT = 4096  # characters of a masked request in one debug line


@dataclass
class RequestMasking:
    """One masked request: its session (the mapping) and whether answers are unmasked."""

    session: MaskingSession
    unmask_responses: bool

    def answer(self, answer: dict[str, Any]) -> dict[str, Any]:
        return unmask_answer(answer, self.session) if self.unmask_responses else answer

    def stream_stage(self) -> StreamUnmasking | None:
        if not self.unmask_responses:
            return None
        return StreamUnmasking(self.session)


class Masking:
    """The gateway's masking policy: the pipeline, when it applies, where findings are reported."""

    def __init__(self, pipeline: MaskingPipeline, *, forced: bool, unmask_responses: bool,
                 metrics: Metrics | None = None, audit=None, log_content: bool = False):
        self.pipeline = pipeline
        self.forced = forced
        self.unmask_responses = unmask_responses
        self.log_content = log_content  # only ever the masked request: what leaves the gateway anyway
        self.metrics = metrics or Metrics.disabled()
        self.audit = audit  # an AuditLog when LLM_ROUTER_MASKING_WITH_AUDIT is on

    def begin(self, call: Call, client_body: dict[str, Any],
              record: RequestRecord | None = None) -> tuple[Call, RequestMasking | None]:
        """The call to send (masked when masking applies) and the request's masking, if any."""
        requested = client_body.get(FLAG) is True
        call = _without_flag(call)
        if not (self.forced or requested):
            return call, None
        session = MaskingSession(self.pipeline)
        canonical = call.canonical
        payload = mask_payload(canonical.endpoint, canonical.payload, session.mask)
        if not session.masked_anything:
            return call, None  # nothing to hide: on as it came, passed through where the protocol allows
        masked = Call(replace(canonical, payload=payload))
        for rule, count in session.rules.items():
            self.metrics.masking_incidents_total.labels(rule).inc(count)
        # Counts only: never a value, a placeholder's original or the mapping in a log line.
        log.debug("masked %d value(s) by rule: %s", sum(session.rules.values()),
                  ", ".join(f"{rule}={count}" for rule, count in sorted(session.rules.items())))
        self._audit(session, canonical, record)
        if self.log_content and log.isEnabledFor(logging.DEBUG):
            log.debug("request_id=%s masked request sent upstream: %s", record.request_id if record else "-",
                      json.dumps(masked.canonical.payload, ensure_ascii=False)[:CONTENT_LOG_LIMIT])
        return masked, RequestMasking(session, self.unmask_responses)

    def _audit(self, session: MaskingSession, canonical, record: RequestRecord | None) -> None:
        if self.audit is None:
            return
        self.audit.record("masking", {
            "request_id": record.request_id if record is not None else uuid.uuid4().hex,
            "model": canonical.payload.get("model"),
            "endpoint": canonical.endpoint,
            "rules": dict(session.rules),
            "mapping": dict(session.originals),
        })

    def mask_text(self, text: str) -> tuple[str, MaskingSession]:
        """Plain text masked on its own (``/fast_text_mask``, ``llm-router anonymize``)."""
        session = MaskingSession(self.pipeline)
        masked = session.mask(text)
        for rule, count in session.rules.items():
            self.metrics.masking_incidents_total.labels(rule).inc(count)
        return masked, session


def _without_flag(call: Call) -> Call:
    """``call`` with the ``anonymize`` flag removed from what goes upstream (a copy if it had it)."""
    canonical, native = call.canonical, call.native
    if FLAG in canonical.payload:
        canonical = replace(canonical, payload={k: v for k, v in canonical.payload.items() if k != FLAG})
    if native is not None and FLAG in native.payload:
        payload = {k: v for k, v in native.payload.items() if k != FLAG}
        native = replace(native, payload=payload, raw=json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if canonical is call.canonical and native is call.native:
        return call
    return Call(canonical, native)
