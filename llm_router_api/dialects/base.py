"""What every client dialect codec works with: the canonical request and the encode context.

The canonical form is OpenAI's (see ARCHITECTURE.md): a chat/completions/embeddings request
body, a ``chat.completion`` answer, ``chat.completion.chunk`` stream chunks. Each dialect module
(``ollama``, ``anthropic``, ``responses``, ...) is a codec at the edge with the same parts:

- ``decode_*(body) -> CanonicalRequest``: the client's JSON to the canonical request; bad input
  raises ``InvalidRequest`` with a message the client can act on.
- ``encode_*(answer, ctx) -> dict``: a canonical answer to the dialect's JSON.
- a stream encoder class: ``encode(chunk) -> bytes`` per canonical chunk, ``finish() -> bytes``
  when the upstream completed, ``fail(message, code) -> bytes`` when it broke mid-answer.
- ``error_body(error) -> dict``: a ``GatewayError`` in the dialect's error shape.

Canonical chunks are plain dicts as OpenAI sends them, only choice 0 is used by other dialects:
``{"id", "object": "chat.completion.chunk", "created", "model", "choices": [{"index": 0,
"delta": {"role"?, "content"?, "reasoning_content"?, "tool_calls"?: [{"index", "id"?, "type"?,
"function": {"name"?, "arguments"?}}]}, "finish_reason": None | "stop" | "length" |
"tool_calls" | "content_filter", "stop_reason"?: matched stop string}], "usage"?: {...}}``.
A chunk with ``"choices": []`` and ``usage`` carries the token counts at the end.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

@dataclass
class CanonicalRequest:
    """A request in OpenAI's shape: ``endpoint`` is chat, completions or embeddings.

    ``payload["model"]`` is the public model name the client asked for. ``native`` is the
    client's own body, kept for same-protocol passthrough (an Ollama client to an Ollama
    upstream gets its unknown fields through).
    """

    endpoint: str
    payload: dict[str, Any]
    stream: bool
    native: dict[str, Any] | None = None


@dataclass
class EncodeContext:
    """What an encoder needs beyond the answer: the public model name and the request."""

    model: str
    request: dict[str, Any] = field(default_factory=dict)  # the client's own (decoded JSON) body
    created: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.monotonic)  # for durations reported to clients


def new_id(prefix: str) -> str:
    """A random id with the dialect's prefix (``chatcmpl-``, ``msg_``, ``resp_``, ``call_``)."""
    return prefix + secrets.token_hex(12)


def first_choice(answer: dict) -> dict:
    """Choice 0 of a canonical answer or chunk, ``{}`` when there is none."""
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def usage_counts(answer: dict) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) of a canonical answer, zeros when not reported."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int:
    """A token count as reported; anything that is not a finite number counts as 0."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf") else 0


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content
                       if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
                       and isinstance(part.get("text"), str))
    return ""


def arguments_object(value: Any) -> dict:
    """Canonical tool-call ``arguments`` (a JSON string) as the object Ollama and Anthropic carry.

    A model can emit arguments that are not valid JSON, or not an object: that becomes ``{}``
    rather than an error, since the call itself still happened.
    """
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
