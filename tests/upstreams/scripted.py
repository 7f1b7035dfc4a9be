"""The scripted "model" behind every fake upstream, whatever protocol it speaks.

Each fake turns its request into a protocol-neutral conversation, asks :func:`answer` what to
say and writes the result in its own wire format. So a test can send one conversation through
the gateway in any dialect, to any kind of upstream, and assert the same content end to end.

Rules, checked in this order on the LAST message:

1. role ``tool`` (a tool result): text ``"result: " + that text``.
2. tools offered and role ``user``: a call of the FIRST tool, id ``call_<hex>``,
   arguments ``{"query": <that text>}``, text ``""``, finish ``tool_calls``.
3. text starts with ``sys?``: the system texts joined with ``" | "``, or ``"no system prompt"``.
4. text starts with ``think:``: reasoning ``"pondering " + rest.strip()``, text ``rest.strip()``.
5. text starts with ``echo:``: the rest, exactly.
6. otherwise ``"tok0 tok1 ... tok{n-1}"``: n = ``max_tokens`` (finish ``length``) when given,
   else ``n_tokens``.

Then stop strings: when one occurs in the text, the text is cut before the earliest occurrence,
finish becomes ``stop`` and ``matched_stop`` names it. Tokens are words (whitespace-split).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

WORDS = re.compile(r"\s*\S+\s*|\s+")  # stream pieces that concatenate back to the exact text
_UNDERSCORE = re.compile(r"(?=_)")


class Message(NamedTuple):
    role: str  # system, user, assistant or tool
    text: str


class ToolCall(NamedTuple):
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class Answer:
    text: str = ""
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str = "stop"  # stop, length or tool_calls
    matched_stop: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def answer(
    messages: Sequence[Message | tuple[str, str]],
    *,
    tools: Sequence[str] = (),
    stop: Sequence[str] = (),
    max_tokens: int | None = None,
    n_tokens: int = 8,
) -> Answer:
    """What the scripted model says to ``messages`` (see the module docstring for the rules)."""
    messages = [Message(*m) for m in messages]
    role, text = messages[-1] if messages else Message("user", "")
    out = Answer(prompt_tokens=sum(len(m.text.split()) for m in messages))
    if role == "tool":
        out.text = "result: " + text
    elif tools and role == "user":
        out.tool_calls.append(ToolCall(f"call_{uuid.uuid4().hex[:12]}", tools[0], {"query": text}))
        out.finish = "tool_calls"
    elif text.startswith("sys?"):
        out.text = " | ".join(m.text for m in messages if m.role == "system") or "no system prompt"
    elif text.startswith("think:"):
        out.text = text[6:].strip()
        out.reasoning = "pondering " + out.text
    elif text.startswith("echo:"):
        out.text = text[5:]
    else:
        count = n_tokens if max_tokens is None else max_tokens
        out.text = " ".join(f"tok{i}" for i in range(count))
        out.finish = "stop" if max_tokens is None else "length"
    hits = [(out.text.find(s), s) for s in stop if s and s in out.text]
    if hits:
        cut, out.matched_stop = min(hits)
        out.text, out.finish = out.text[:cut], "stop"
    words = len(out.text.split()) + len((out.reasoning or "").split())
    out.completion_tokens = max(words, len(out.tool_calls))
    return out


def pieces(text: str) -> list[str]:
    """Stream pieces of ``text``: one per word with its spaces (they concatenate back to it).

    A word is also cut before each ``_``, as a tokenizer would cut ``[PESEL_1]``: the masking
    tests need placeholders that arrive in several pieces.
    """
    return [piece for word in WORDS.findall(text) for piece in _UNDERSCORE.split(word) if piece]


def json_pieces(arguments: str) -> list[str]:
    """A JSON argument string cut into 2 or 3 pieces, as a model streams it (never whole)."""
    size = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def content_text(content: Any) -> str:
    """The text of a message content: a string, or a list of parts whose text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def stop_list(value: Any) -> list[str]:
    """A request's stop strings: one string or a list of them (anything else means none)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str)]
    return []
