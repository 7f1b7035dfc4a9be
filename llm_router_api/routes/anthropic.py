"""Anthropic's Messages API, so Claude Code and the ``anthropic`` SDK can use the gateway.

An Anthropic provider gets the request as it came; any other gets it as an OpenAI chat request,
and the answer (JSON, or SSE events ``message_start`` ... ``message_stop``) is converted back.
"""

from __future__ import annotations

from flask import Blueprint, request

from ..dialects import anthropic
from ..dialects.base import EncodeContext
from ..dispatch import Call, NativeCall
from ..streaming import ANTHROPIC_SSE
from .exchange import Codec, Exchange
from .json_body import json_response, read_json_object

MESSAGES = Codec(anthropic.encode_message, ANTHROPIC_SSE, anthropic.MessageStreamEncoder)
#: Client headers an Anthropic provider gets with a passed-through request (Claude Code's beta
#: features; a newer API version): they change what the body means. Keys never go along.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def create_anthropic_blueprint(exchange: Exchange, prefix: str, max_body_size: int) -> Blueprint:
    bp = Blueprint("anthropic", __name__)

    def messages():
        body, raw = read_json_object(max_body_size)
        canonical = anthropic.decode_messages(body)
        public_name = canonical.payload["model"]
        model = exchange.model(public_name, f"model: {public_name}")
        forwarded = tuple((name, request.headers[name]) for name in FORWARDED_HEADERS if name in request.headers)
        call = Call(canonical, NativeCall("anthropic", "/v1/messages", body, raw, headers=forwarded))
        return exchange.serve(call, MESSAGES, EncodeContext(public_name, body), model)

    def count_tokens():
        """An estimate from the text's length: no tokenizer of the model is at hand here."""
        body, _ = read_json_object(max_body_size)
        counted = anthropic.decode_messages({"max_tokens": 1, **body})
        exchange.model(counted.payload["model"], f"model: {counted.payload['model']}")
        return json_response({"input_tokens": anthropic.estimate_input_tokens(body)})

    for root in dict.fromkeys(("", prefix)):
        bp.add_url_rule(f"{root}/v1/messages", "messages", messages, methods=["POST"])
        bp.add_url_rule(f"{root}/v1/messages/count_tokens", "count_tokens", count_tokens, methods=["POST"])
    return bp
