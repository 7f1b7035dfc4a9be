"""The texts a guard judges: what people wrote in a request, what the model wrote in an answer.

Requests: the same fields masking covers (every role's content and text parts, tool results,
string values of earlier tool-call arguments, ``prompt``), read from the request as it leaves
the gateway, so a guard sees masked text. Embeddings are not judged: nothing is generated.
Answers: each choice's content, reasoning and tool-call arguments, before unmasking.
"""

from __future__ import annotations

from typing import Any

from ..masking.answers import TEXT_FIELDS
from ..masking.request_fields import mask_payload

GUARDED_ENDPOINTS = ("chat", "completions")


def request_texts(endpoint: str, payload: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    if endpoint in GUARDED_ENDPOINTS:
        def collect(text: str) -> str:
            texts.append(text)
            return text

        mask_payload(endpoint, payload, collect)  # the masking walker, as a reader
    return texts


def choice_text(part: dict[str, Any]) -> str:
    """The text of one choice's message, delta, or (completions) the choice itself."""
    pieces = [part[name] for name in TEXT_FIELDS if isinstance(part.get(name), str)]
    for call in part.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            pieces.append(function["arguments"])
    return "".join(pieces)


def answer_parts(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Each choice's text-bearing part of a non-streamed canonical answer, in choice order."""
    parts = []
    for choice in answer.get("choices") or ():
        if isinstance(choice, dict):
            message = choice.get("message")
            parts.append(message if isinstance(message, dict) else choice)
    return parts
