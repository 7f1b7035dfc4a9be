"""The OpenAI dialect, for answers converted from another upstream protocol.

OpenAI chat is the canonical form, so an answer needs no conversion; a stream only needs its SSE
framing back. Same-protocol traffic never comes here: it is relayed as bytes.
"""

from __future__ import annotations

import base64
import json
from array import array

from ..errors import GatewayError
from ..upstream.sse import sse_frame
from .base import EncodeContext

DONE = b"data: [DONE]\n\n"


def encode_answer(answer: dict, ctx: EncodeContext) -> dict:
    answer["model"] = ctx.model
    if answer.get("object") == "list" and ctx.request.get("encoding_format") == "base64":
        for item in answer.get("data") or ():  # the openai SDK asks for base64 float32 by default
            if isinstance(item, dict) and isinstance(item.get("embedding"), list):
                item["embedding"] = base64.b64encode(array("f", item["embedding"]).tobytes()).decode()
    return answer


def stream_error_event(message: str, code: str) -> bytes:
    """The error event and ``[DONE]`` that end a stream the upstream broke off."""
    body = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return sse_frame(json.dumps(body)) + DONE


def error_body(error: GatewayError) -> dict:
    return {"error": {"message": error.message, "type": error.error_type, "param": error.param, "code": error.code}}


class ChatStreamEncoder:
    """Canonical chunks as ``data:`` events; the usage chunk only when the client asked for it."""

    content_type = "text/event-stream"

    def __init__(self, ctx: EncodeContext):
        options = ctx.request.get("stream_options")
        self.include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.model = ctx.model

    def encode(self, chunk: dict) -> bytes:
        if not chunk.get("choices"):
            if not self.include_usage:
                return b""
        elif not self.include_usage:
            chunk.pop("usage", None)
        chunk["model"] = self.model
        return sse_frame(json.dumps(chunk, ensure_ascii=False))

    def finish(self) -> bytes:
        return DONE

    def fail(self, message: str, code: str) -> bytes:
        return stream_error_event(message, code)
