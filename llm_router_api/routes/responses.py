"""OpenAI's Responses API: passed through to providers that serve it, converted for the rest.

A provider of the OpenAI family gets ``/v1/responses`` as it came; if it answers that it has no
such route (404, 405, 501), it is remembered and gets the request as chat completions from then
on, as do Ollama and Anthropic providers. ``previous_response_id`` is refused: the gateway keeps
no responses, and a follow-up may land on another provider than the one that stored its parent.
"""

from __future__ import annotations

from flask import Blueprint

from ..dialects import responses
from ..dialects.base import EncodeContext
from ..dispatch import Call, NativeCall
from ..streaming import OPENAI_RESPONSES
from .exchange import Codec, Exchange
from .json_body import read_json_object
from .openai import path_variants

RESPONSES = Codec(responses.encode_response, OPENAI_RESPONSES, responses.ResponseStreamEncoder)
NOT_SERVED = frozenset({404, 405, 501})


def create_responses_blueprint(exchange: Exchange, prefix: str, max_body_size: int) -> Blueprint:
    bp = Blueprint("responses", __name__)

    def create():
        body, raw = read_json_object(max_body_size)
        canonical = responses.decode_responses(body)
        public_name = canonical.payload["model"]
        call = Call(canonical, NativeCall("openai", "/v1/responses", body, raw, unserved=NOT_SERVED))
        return exchange.serve(call, RESPONSES, EncodeContext(public_name, body))

    for path in path_variants(prefix, "/responses"):
        bp.add_url_rule(path, "create", create, methods=["POST"])
    return bp
