"""The path every dialect route shares: resolve the model, dispatch, then relay or convert.

A route decodes its dialect into a ``Call`` and names its ``Codec``; ``Exchange.serve`` does
the rest. When the provider spoke the client's protocol, its answer is relayed as bytes;
otherwise the provider's wire decodes it and the codec encodes it for the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from flask import Response, request

from ..auth.gate import check_model, with_usage_reported
from ..config.models import ModelConfig
from ..config.store import ConfigStore
from ..dialects.base import CanonicalRequest, EncodeContext, usage_counts
from ..dispatch import Call, Dispatcher, UpstreamStream
from ..errors import ModelNotFound, UpstreamFailed, UpstreamRejected
from ..guardrails import Guarding
from ..masking import Masking
from ..streaming import Framing, chain, convert, relay
from ..observability.hooks import current_record
from .client_connection import client_gone
from .json_body import json_response

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
USAGE_BYTES = 2048  # token counts sit at the end of every protocol's answer


@dataclass(frozen=True)
class Codec:
    """How one route answers: its JSON encoder, its stream encoder, its relay framing."""

    encode: Callable[[dict, EncodeContext], dict]
    framing: Framing
    stream_encoder: Callable[[EncodeContext], object] | None = None  # None: the route never streams


class Exchange:
    def __init__(self, store: ConfigStore, dispatcher: Dispatcher, masking: Masking,
                 guarding: Guarding | None = None):
        self.store = store
        self.dispatcher = dispatcher
        self.masking = masking
        self.guarding = guarding or Guarding.off()

    def model(self, public_name: str, not_found: str | None = None) -> ModelConfig:
        model = self.store.current().resolve(public_name)
        if model is None:
            raise ModelNotFound(not_found or f"The model '{public_name}' does not exist or is not served by this "
                                "gateway.", param="model")
        return model

    def serve(self, call: Call, codec: Codec, ctx: EncodeContext, model: ModelConfig | None = None) -> Response:
        public_name = ctx.model
        environ = request.environ
        record = current_record()
        model, call, masked = self._admit(call, public_name, ctx.request, record, model)
        guarding = self.guarding
        judged = guarding.judges_answers(call.canonical.endpoint)
        if judged and call.native is not None:
            call = Call(call.canonical)  # answers are judged as canonical chunks: no byte relay
        if client_gone(environ):
            log.info("model=%s: client left before the request was dispatched; not sent upstream", public_name)
            return Response(status=499)  # nginx's "client closed request"; nobody reads it
        result = self.dispatcher.send(model, public_name, call, abandoned=lambda: client_gone(environ),
                                      record=record)
        endpoint = call.canonical.endpoint
        if isinstance(result, UpstreamStream):
            if result.native:
                return Response(relay(result, codec.framing, record), status=200, content_type=result.content_type,
                                headers=STREAM_HEADERS)
            encoder = codec.stream_encoder(ctx)
            # The guard judges the masked text, before unmasking puts the values back.
            stage = chain(guarding.stream_stage(record) if judged else None,
                          masked.stream_stage() if masked is not None else None)
            body = convert(result, result.wire.stream_decoder(endpoint, public_name), encoder, record, stage)
            return Response(body, status=200, content_type=encoder.content_type, headers=STREAM_HEADERS)
        if result.native:
            if record is not None:
                record.usage_from_bytes(result.body[-USAGE_BYTES:])
            return Response(result.body, status=result.status, content_type=result.content_type)
        answer = self._answer(result, endpoint, public_name, record, masked, judged)
        return json_response(codec.encode(answer, ctx))

    def complete(self, payload: dict, record=None, client_body: dict | None = None) -> dict:
        """A non-streamed chat of the gateway's own (built-in task routes) along the same path as a
        client's: the key's model check, masking, guardrails, balancing and failover. The canonical
        answer, unmasked."""
        public_name = payload["model"]
        model, call, masked = self._admit(Call(CanonicalRequest("chat", payload, False)), public_name,
                                          client_body or payload, record)
        result = self.dispatcher.send(model, public_name, call, abandoned=lambda: False, record=record)
        return self._answer(result, "chat", public_name, record, masked, self.guarding.judges_answers("chat"))

    def complete_text(self, payload: dict, record=None, client_body: dict | None = None) -> str:
        """The text of the first choice of :meth:`complete`'s answer ("" when it has none)."""
        choices = self.complete(payload, record, client_body).get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content") or ""

    def _admit(self, call: Call, public_name: str, client_body: dict, record,
               model: ModelConfig | None = None) -> tuple[ModelConfig, Call, object]:
        """What every request passes before it is sent: the model resolved (404), the key's model
        permission (403), usage asked for where the key counts tokens, masking, request guardrails
        (on the masked request). The model, the call to send, and the request's masking."""
        model = model or self.model(public_name)
        if record is not None:
            record.model, record.stream = public_name, call.stream  # resolved: never an unknown name as a label
        check_model(public_name)
        call = with_usage_reported(call)
        call, masked = self.masking.begin(call, client_body, record)
        self.guarding.check_request(call.canonical.endpoint, call.canonical.payload, record)  # what leaves, masked
        return model, call, masked

    def _answer(self, result, endpoint: str, public_name: str, record, masked, judged: bool) -> dict:
        """A converted (not relayed) complete answer: decoded, judged, unmasked."""
        if result.status >= 400:
            raise UpstreamRejected(result.status, result.wire.error_message(result.body))
        try:
            answer = result.wire.decode(endpoint, result.body, public_name)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("model=%s: the upstream's answer could not be decoded", public_name)
            raise UpstreamFailed(f"The upstream serving model '{public_name}' sent an answer that could not be "
                                 "read.") from None
        if record is not None:
            record.usage(*usage_counts(answer))
        if judged:
            answer = self.guarding.check_answer(answer, record)
        if masked is not None:
            answer = masked.answer(answer)
        return answer
