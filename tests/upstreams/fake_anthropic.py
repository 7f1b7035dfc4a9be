"""A fake Anthropic Messages API, for the gateway's ``api_type: anthropic`` tests.

Same HTTP machinery, behaviours and counters as :class:`~tests.upstreams.fake_openai.FakeUpstream`;
answers come from :mod:`tests.upstreams.scripted`. It validates like the real API where a
gateway codec could go wrong: ``anthropic-version`` header required, ``max_tokens`` required,
roles only ``user``/``assistant`` (system is top-level), no unknown fields (an OpenAI field such
as ``stream_options`` or ``messages[].tool_calls`` is a 400), ``tool_use.input`` an object,
tools need ``name`` and ``input_schema``. Errors are ``{"type": "error", "error": {"type", "message"}}``.

Routes: ``POST /v1/messages`` (stream or not) and ``GET /v1/models``. Streams follow Anthropic's
event sequence: message_start, ping, per content block start/delta.../stop, message_delta,
message_stop. stop_reason: stop -> end_turn (stop_sequence when a stop sequence matched),
length -> max_tokens, tool_calls -> tool_use.
"""

from __future__ import annotations

from typing import Any

from tests.upstreams.fake_openai import _END, FakeUpstream, _encode, _Reply, _sse, _Stream
from tests.upstreams.scripted import Message, answer, content_text, json_pieces, pieces

SIGNATURE = "sig"  # every thinking block's signature
_KINDS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}
_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
        "tools", "tool_choice", "metadata", "thinking", "service_tier", "container", "mcp_servers",
        "context_management",
    }
)  # fmt: skip
_BLOCKS = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result"}
)
_STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use"}


def _blocks_problem(content: Any, where: str) -> str | None:
    """Why the real API would refuse this message content (a string or a list of blocks), or None."""
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"{where}: Input should be a valid string or a list of content blocks"
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCKS:
            return f"{at}: Input tag {kind!r} found using 'type' does not match any of the expected tags"
        if kind == "text" and not isinstance(block.get("text"), str):
            return f"{at}.text: Field required"
        if kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                return f"{at}.tool_use: id and name are required"
            if not isinstance(block.get("input"), dict):
                return f"{at}.tool_use.input: Input should be a valid dictionary"
        if kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                return f"{at}.tool_result.tool_use_id: Field required"
            if block.get("content") is not None and (problem := _blocks_problem(block["content"], f"{at}.content")):
                return problem
    return None


def _request_problem(body: dict[str, Any]) -> str | None:
    """Why the real API would answer this body with a 400 invalid_request_error, or None."""
    for key in body:
        if key not in _FIELDS:
            return f"{key}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    limit = body.get("max_tokens")
    if limit is None:
        return "max_tokens: Field required"
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return "max_tokens: Input should be an integer greater than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{index}: Input should be a valid dictionary"
        for key in message:
            if key not in ("role", "content"):
                return f"messages.{index}.{key}: Extra inputs are not permitted"
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if problem := _blocks_problem(message.get("content"), f"messages.{index}.content"):
            return problem
    if "system" in body and (problem := _blocks_problem(body["system"], "system")):
        return problem
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        return "stop_sequences: Input should be a valid list of strings"
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{index}.name: Field required"
        if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
            return f"tools.{index}.custom.input_schema: Field required"
    return None


def _conversation(body: dict[str, Any]) -> list[Message]:
    """The validated body as the brain's conversation: tool_result blocks become tool messages."""
    convo = [Message("system", content_text(body["system"]))] if "system" in body else []
    for message in body["messages"]:
        role, content = message["role"], message.get("content")
        if not isinstance(content, list):
            convo.append(Message(role, content_text(content)))
            continue
        texts: list[str] = []
        results = 0
        for block in content:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_result":
                if texts:
                    convo.append(Message(role, "\n".join(texts)))
                    texts = []
                convo.append(Message("tool", content_text(block.get("content"))))
                results += 1
        if texts or not results:
            convo.append(Message(role, "\n".join(texts)))
    return convo


class FakeAnthropic(FakeUpstream):
    """An Anthropic-like server on 127.0.0.1: :class:`FakeUpstream`'s arguments plus ``api_key``
    (when set, ``x-api-key`` or ``authorization: Bearer`` must carry it, else 401; the anthropic
    SDK 2.x sends its api_key as a Bearer token)."""

    thread_name = "fake-anthropic"

    def __init__(self, *, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key

    def _error(self, status: int, message: str) -> _Reply:
        error = {"type": _KINDS.get(status, "api_error"), "message": message}
        return _Reply(status, _encode({"type": "error", "error": error}).encode())

    def _route(self, method: str, path: str, parsed: Any, headers: dict[str, str]) -> _Reply | _Stream:
        known = (method, path) in (("POST", "/v1/messages"), ("GET", "/v1/models"))
        if not known:
            return self._error(404, f"Not Found: {method} {path}")
        sent = headers.get("x-api-key", headers.get("authorization", "").removeprefix("Bearer "))
        if self.api_key is not None and sent != self.api_key:
            return self._error(401, "invalid x-api-key")
        if "anthropic-version" not in headers:
            return self._error(400, "anthropic-version: header is required")
        if method == "GET":
            card = {"type": "model", "id": self.model, "display_name": self.model, "created_at": "2025-05-14T00:00:00Z"}
            body = {"data": [card], "has_more": False, "first_id": self.model, "last_id": self.model}
            return _Reply(200, _encode(body).encode())
        if not isinstance(parsed, dict):
            return self._error(400, "request body must be a JSON object")
        if problem := _request_problem(parsed):
            return self._error(400, problem)
        return self._messages(parsed)

    def _messages(self, body: dict[str, Any]) -> _Reply | _Stream:
        choice = body.get("tool_choice")
        none = isinstance(choice, dict) and choice.get("type") == "none"
        tools = [] if none else [tool["name"] for tool in body.get("tools", [])]
        out = answer(
            _conversation(body),
            tools=tools,
            stop=body.get("stop_sequences", []),
            max_tokens=body["max_tokens"],
            n_tokens=self.n_tokens,
        )
        blocks: list[dict[str, Any]] = []
        if out.reasoning is not None:
            blocks.append({"type": "thinking", "thinking": out.reasoning, "signature": SIGNATURE})
        if out.text or not (out.tool_calls or blocks):
            blocks.append({"type": "text", "text": out.text})
        for call in out.tool_calls:
            tool_id = "toolu_" + call.id.removeprefix("call_")
            blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
        reason = _STOP_REASONS.get(out.finish, "stop_sequence" if out.matched_stop is not None else "end_turn")
        message = {
            "id": f"msg_{next(self._ids):024x}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": reason,
            "stop_sequence": out.matched_stop,
            "usage": {"input_tokens": out.prompt_tokens, "output_tokens": out.completion_tokens},
        }
        if body.get("stream") is not True:
            return _Reply(200, _encode(message).encode())

        def event(name: str, **data: Any) -> bytes:
            return _sse(name, {"type": name, **data})

        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {"input_tokens": out.prompt_tokens, "output_tokens": 1}
        tokens = []
        for index, block in enumerate(blocks):
            if block["type"] == "thinking":
                empty = {**block, "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"])]
                deltas.append({"type": "signature_delta", "signature": SIGNATURE})
            elif block["type"] == "text":
                empty = {**block, "text": ""}
                deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
            else:
                empty = {**block, "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in json_pieces(_encode(block["input"]))]
            tokens.append(event("content_block_start", index=index, content_block=empty))
            tokens += [event("content_block_delta", index=index, delta=delta) for delta in deltas]
            tokens.append(event("content_block_stop", index=index))
        tail = [
            event(
                "message_delta",
                delta={"stop_reason": reason, "stop_sequence": out.matched_stop},
                usage={"output_tokens": out.completion_tokens},
            ),
            event("message_stop"),
            _END,
        ]
        return _Stream([event("message_start", message=start), event("ping")], tokens, tail)
