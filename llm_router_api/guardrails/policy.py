"""When guardrails judge, and what their verdicts do to a request and its answer.

Request guardrails (``LLM_ROUTER_FORCE_GUARDRAIL_REQUEST``) judge the request as it would leave
the gateway (after masking): a flagged request is refused with 400 ``content_policy_violation``
and never sent upstream. Response guardrails (``LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE``) judge the
answer before unmasking: a flagged answer keeps no text and ends with ``finish_reason:
"content_filter"``; a stream is judged as it passes (``stream.py``). A guard that gives no
verdict refuses the request with 503 (fail closed) unless ``LLM_ROUTER_GUARDRAIL_FAIL_OPEN``.

Blocks go to the log (guard, label, score; never text), the incident counter and, when audited,
the encrypted audit log with the flagged text.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Sequence

from llm_router_plugins.guardrails import Flag, GuardrailPipeline, GuardUnavailable

from ..errors import ContentBlocked, GuardrailUnavailable
from ..observability.metrics import Metrics
from ..observability.request_record import RequestRecord
from .texts import GUARDED_ENDPOINTS, answer_parts, choice_text, request_texts

log = logging.getLogger(__name__)

BLOCKED_MESSAGE = ("The request was blocked by the content guardrail ({labels}). Rephrase it and try again.")
UNAVAILABLE_MESSAGE = "The content guardrail could not check the {what} ({reason}); it was not {done}."
RETRY_AFTER_SECONDS = 5  # a 503 tells clients when to try again


class Guarding:
    """The gateway's guardrail policy: which pipelines run in which direction, and what failure means."""

    def __init__(self, request: GuardrailPipeline | None, response: GuardrailPipeline | None, *,
                 fail_open: bool = False, audit_request=None, audit_response=None,
                 metrics: Metrics | None = None, stream_windows=None):
        self.request = request
        self.response = response
        self.fail_open = fail_open
        self.audits = {"request": audit_request, "response": audit_response}
        self.metrics = metrics or Metrics.disabled()
        self.stream_windows = stream_windows  # None: stream.Windows' defaults

    @classmethod
    def off(cls) -> "Guarding":
        return cls(None, None)

    def health(self) -> dict[str, Any] | None:
        """What ``/health`` shows of the guardrails (names and states, no addresses); None when off."""
        if self.request is None and self.response is None:
            return None
        guards = {}
        for pipeline in (self.request, self.response):
            for guard in pipeline.guards if pipeline is not None else ():
                guards[guard.name] = guard.state()
        return {"request": self.request.names if self.request else [],
                "response": self.response.names if self.response else [],
                "fail_open": self.fail_open, "guards": guards}

    def judges_answers(self, endpoint: str) -> bool:
        """Whether answers of ``endpoint`` are judged (they then take the converted path)."""
        return self.response is not None and endpoint in GUARDED_ENDPOINTS

    def check_request(self, endpoint: str, payload: dict[str, Any], record: RequestRecord | None) -> None:
        """Raise :class:`ContentBlocked` if a request guard flags the request (or
        :class:`GuardrailUnavailable` if one cannot judge it and the policy is to fail closed)."""
        if self.request is None:
            return
        texts = request_texts(endpoint, payload)
        if not texts:
            return
        flags = self.judge("request", self.request, texts, record)
        if flags:
            self.report("request", flags, texts, record, payload.get("model"))
            labels = ", ".join(sorted({flag.verdict.label or "unsafe" for flag in flags}))
            raise ContentBlocked(BLOCKED_MESSAGE.format(labels=labels))

    def judge(self, direction: str, pipeline: GuardrailPipeline, texts: Sequence[str],
              record: RequestRecord | None, *, remember: bool = True) -> list[Flag]:
        """The pipeline's flags; a guard failure fails closed (raised) or open (no flags), as configured."""
        try:
            return pipeline.check(texts, remember=remember)
        except GuardUnavailable as exc:
            action = "passed" if self.fail_open else "blocked"
            self.metrics.guardrail_failures_total.labels(exc.guardrail, direction, action).inc()
            request_id = record.request_id if record is not None else "-"
            if self.fail_open:
                log.warning("request_id=%s guardrail %s gave no verdict (%s); the %s passes unchecked "
                            "(LLM_ROUTER_GUARDRAIL_FAIL_OPEN=1)", request_id, exc.guardrail, exc.reason, direction)
                return []
            log.error("request_id=%s guardrail %s gave no verdict (%s); the %s is refused", request_id,
                      exc.guardrail, exc.reason, direction)
            what, done = ("request", "sent to the model") if direction == "request" else ("answer", "delivered")
            raise GuardrailUnavailable(UNAVAILABLE_MESSAGE.format(what=what, reason=exc.reason, done=done),
                                       retry_after=RETRY_AFTER_SECONDS) from None

    def report(self, direction: str, flags: list[Flag], texts: Sequence[str], record: RequestRecord | None,
               model: Any) -> None:
        """One block: a log line and a counter per guard, and the audit record when configured."""
        request_id = record.request_id if record is not None else uuid.uuid4().hex
        guard = flags[0].guardrail
        self.metrics.guardrail_incidents_total.labels(guard, direction).inc()
        worst = max(flags, key=lambda flag: flag.verdict.score)
        log.warning("request_id=%s %s blocked by guardrail %s (label=%s score=%.3f, %d text(s) flagged)",
                    request_id, direction, guard, worst.verdict.label, worst.verdict.score, len(flags))
        audit = self.audits[direction]
        if audit is not None:
            audit.record("guardrail", {
                "request_id": request_id,
                "direction": direction,
                "guardrail": guard,
                "model": model,
                "flagged": [{"text": texts[flag.text_index], "label": flag.verdict.label,
                             "score": flag.verdict.score, "scores": flag.verdict.scores} for flag in flags],
            })

    # -- answers ------------------------------------------------------------------------------
    def check_answer(self, answer: dict[str, Any], record: RequestRecord | None) -> dict[str, Any]:
        """``answer`` with every flagged choice emptied and finished with ``content_filter``."""
        if self.response is None:
            return answer
        texts = [choice_text(part) for part in answer_parts(answer)]
        if not texts:
            return answer
        flags = self.judge("response", self.response, texts, record)
        if not flags:
            return answer
        self.report("response", flags, texts, record, answer.get("model"))
        choices = [choice for choice in answer.get("choices") or () if isinstance(choice, dict)]
        for flag in flags:
            filter_choice(choices[flag.text_index])
        return answer

    def stream_stage(self, record: RequestRecord | None):
        """A stream stage judging the answer as it passes; None when answers are not judged."""
        if self.response is None:
            return None
        from .stream import StreamGuard, Windows

        return StreamGuard(self, record, self.stream_windows or Windows())


def filter_choice(choice: dict[str, Any]) -> None:
    """A non-streamed choice with its text taken out and its finish set to ``content_filter``."""
    message = choice.get("message")
    if isinstance(message, dict):
        message["content"] = ""
        for name in ("reasoning_content", "reasoning", "tool_calls", "function_call"):
            message.pop(name, None)
    if isinstance(choice.get("text"), str):
        choice["text"] = ""
    choice["finish_reason"] = "content_filter"
