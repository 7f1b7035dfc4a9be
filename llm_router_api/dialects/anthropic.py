"""Anthropic's Messages API as a client dialect: POST /v1/messages (Claude Code, the anthropic SDK).

Requests are decoded to the canonical OpenAI chat body; answers and stream chunks are encoded
back to Anthropic's ``message`` object and its SSE event sequence, in the shapes the official
``anthropic`` SDK parses (``messages.create`` and ``messages.stream``).

Request mapping (Anthropic -> canonical):

- top-level ``system`` (string or text blocks, joined by a blank line) -> the first ``system``
  message; ``cache_control`` everywhere is ignored (no prompt cache here).
- user blocks: text -> text (a plain string when the turn is only text, blocks joined by "\\n"),
  image (base64 or url source) -> ``image_url`` parts; ``tool_result`` -> a separate ``tool``
  message per block, in block order, placed before the rest of that user turn (Anthropic puts
  results first anyway). A result's text blocks are joined by "\\n"; ``is_error: true`` prefixes
  the text with ``"Error: "`` since OpenAI's tool message has no error flag; images inside a
  result move to the user message that follows the tool messages (an OpenAI tool message holds
  text only). ``document`` and other block kinds -> ``InvalidRequest``.
- assistant blocks: text -> ``content``, ``tool_use`` -> ``tool_calls`` (arguments =
  ``json.dumps(input)``), ``thinking``/``redacted_thinking`` -> dropped (the upstream cannot
  verify Anthropic's signatures, and OpenAI servers take no reasoning in history).
- ``tools`` -> function tools (server tools, which carry a ``type`` such as
  ``web_search_20250305``, are refused); ``tool_choice`` auto/any/tool/none -> "auto" /
  "required" / named function / "none", ``disable_parallel_tool_use`` -> ``parallel_tool_calls:
  false``; ``stop_sequences`` -> ``stop``; ``metadata.user_id`` -> ``user``; ``thinking``
  enabled/adaptive -> ``chat_template_kwargs.enable_thinking: true``, disabled -> false (the
  budget has no OpenAI equivalent and is dropped); ``output_config.format`` (structured
  outputs, a JSON schema) -> ``response_format`` json_schema.

finish_reason -> stop_reason (answers and streams):

==================  ===============================================================
canonical           Anthropic
==================  ===============================================================
stop                end_turn; stop_sequence when the choice's ``stop_reason`` (vLLM's
                    matched stop string) is one of the request's ``stop_sequences``;
                    tool_use when the answer nevertheless carries tool calls
length              max_tokens
tool_calls          tool_use (also ``function_call``)
content_filter      refusal
none / other        end_turn
==================  ===============================================================
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import GatewayError, InvalidRequest
from ..upstream.sse import sse_frame
from .base import CanonicalRequest, EncodeContext, arguments_object, first_choice, new_id

# Anthropic's error ``type`` by HTTP status (docs: "Errors"); 504 is the SDK's timeout_error.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Flat estimate per image for count_tokens: Anthropic bills (width*height)/750 tokens and scales
# images down to about 1.15 megapixels, so ~1600 is the most one image costs.
_IMAGE_TOKENS = 1600


# ---------------------------------------------------------------------------------------------
# Request


def decode_messages(body: dict) -> CanonicalRequest:
    """A Messages API request body as the canonical chat request (``native`` keeps the body)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required (a non-empty string).", param="model")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("max_tokens: Field required.", param="max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise InvalidRequest("max_tokens: must be an integer >= 1.", param="max_tokens")
    raw_messages = body.get("messages")
    if raw_messages is None:
        raise InvalidRequest("messages: Field required.", param="messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InvalidRequest("messages: must be a non-empty list of messages.", param="messages")

    messages: list[dict] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(raw_messages):
        messages.extend(_decode_message(message, f"messages[{i}]"))

    payload: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    _decode_tools(body, payload)
    _decode_sampling(body, payload)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean.", param="stream")
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return CanonicalRequest("chat", payload, stream, native=body)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        texts = []
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
                raise InvalidRequest(f"system[{j}]: only text blocks ({{\"type\": \"text\", \"text\": ...}}) "
                                     "are accepted in system.", param="system")
            texts.append(block["text"])
        return "\n\n".join(text for text in texts if text)
    raise InvalidRequest("system: must be a string or a list of text blocks.", param="system")


def _decode_message(message: Any, where: str) -> list[dict]:
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where}: must be an object with role and content.", param=where)
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"{where}.role: must be \"user\" or \"assistant\".", param=f"{where}.role")
    content = message.get("content")
    if content is None:
        raise InvalidRequest(f"{where}.content: Field required.", param=f"{where}.content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: must be a string or a list of content blocks.",
                             param=f"{where}.content")
    if role == "user":
        return _decode_user_blocks(content, where)
    return [_decode_assistant_blocks(content, where)]


def _block_type(block: Any, where: str) -> str:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequest(f"{where}: must be a content block object with a type.", param=where)
    return block["type"]


def _unsupported(kind: str, where: str) -> InvalidRequest:
    return InvalidRequest(f"{where}: content blocks of type {kind!r} are not supported by this gateway.",
                          param=where)


def _decode_user_blocks(blocks: list, where: str) -> list[dict]:
    tool_messages: list[dict] = []
    parts: list[dict] = []
    moved_images: list[dict] = []  # images from tool results, shown right after the results
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = _block_type(block, at)
        if kind == "text":
            parts.append({"type": "text", "text": _text_field(block, at)})
        elif kind == "image":
            parts.append(_image_part(block, at))
        elif kind == "tool_result":
            tool_messages.append(_tool_message(block, at, moved_images))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _unsupported(kind, at)
    parts = moved_images + parts
    messages = list(tool_messages)
    if parts or not tool_messages:
        messages.append({"role": "user", "content": _parts_content(parts)})
    return messages


def _parts_content(parts: list[dict]) -> str | list[dict]:
    """A plain string when every part is text (what every OpenAI server accepts), else parts."""
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _text_field(block: dict, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text: must be a string.", param=f"{where}.text")
    return text


def _image_part(block: dict, where: str) -> dict:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{where}.source: Field required (a base64 or url image source).",
                             param=f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not media_type or not isinstance(data, str) or not data:
            raise InvalidRequest(f"{where}.source: a base64 image needs media_type and data strings.",
                                 param=f"{where}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"{where}.source.url: must be a non-empty string.", param=f"{where}.source.url")
        return {"type": "image_url", "image_url": {"url": url}}
    raise InvalidRequest(f"{where}.source.type: only \"base64\" and \"url\" image sources are supported.",
                         param=f"{where}.source.type")


def _tool_message(block: dict, where: str, moved_images: list[dict]) -> dict:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise InvalidRequest(f"{where}.tool_use_id: Field required (the id of the tool_use it answers).",
                             param=f"{where}.tool_use_id")
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content[{k}]"
            kind = _block_type(inner, at)
            if kind == "text":
                texts.append(_text_field(inner, at))
            elif kind == "image":
                moved_images.append(_image_part(inner, at))
            else:
                raise _unsupported(kind, at)
        text = "\n".join(texts)
    else:
        raise InvalidRequest(f"{where}.content: must be a string or a list of text/image blocks.",
                             param=f"{where}.content")
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _decode_assistant_blocks(blocks: list, where: str) -> dict:
    texts: list[str] = []
    calls: list[dict] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = _block_type(block, at)
        if kind == "text":
            texts.append(_text_field(block, at))
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f"{at}.id: Field required.", param=f"{at}.id")
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"{at}.name: Field required.", param=f"{at}.name")
            arguments = block.get("input")
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise InvalidRequest(f"{at}.input: must be an object.", param=f"{at}.input")
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _unsupported(kind, at)
    text = "\n".join(texts)
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _decode_tools(body: dict, payload: dict) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools: must be a list of tool definitions.", param="tools")
        functions = []
        for i, tool in enumerate(tools):
            at = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise InvalidRequest(f"{at}: must be an object with name and input_schema.", param=at)
            kind = tool.get("type")
            if kind not in (None, "custom"):
                raise InvalidRequest(f"{at}.type: server tool {kind!r} is not supported by this gateway; "
                                     "only client tools (name, description, input_schema) are.", param=f"{at}.type")
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"{at}.name: Field required.", param=f"{at}.name")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise InvalidRequest(f"{at}.input_schema: Field required (a JSON schema object).",
                                     param=f"{at}.input_schema")
            function: dict[str, Any] = {"name": name, "parameters": schema}
            description = tool.get("description")
            if isinstance(description, str) and description:
                function["description"] = description
            functions.append({"type": "function", "function": function})
        if functions:
            payload["tools"] = functions

    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise InvalidRequest("tool_choice: must be an object with a type (auto, any, tool, none).",
                             param="tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        payload["tool_choice"] = "auto"
    elif kind == "any":
        payload["tool_choice"] = "required"
    elif kind == "none":
        payload["tool_choice"] = "none"
    elif kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice.name: Field required when type is \"tool\".", param="tool_choice.name")
        payload["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise InvalidRequest("tool_choice.type: must be one of auto, any, tool, none.", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True:
        payload["parallel_tool_calls"] = False


def _decode_sampling(body: dict, payload: dict) -> None:
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
            raise InvalidRequest("stop_sequences: must be a list of strings.", param="stop_sequences")
        if stops:
            payload["stop"] = list(stops)
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not _is_number(value):
                raise InvalidRequest(f"{name}: must be a number.", param=name)
            payload[name] = value
    top_k = body.get("top_k")
    if top_k is not None:
        if not _is_int(top_k):
            raise InvalidRequest("top_k: must be an integer.", param="top_k")
        payload["top_k"] = top_k
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("metadata: must be an object.", param="metadata")
    user_id = (metadata or {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        payload["user"] = user_id
    thinking = body.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind not in ("enabled", "adaptive", "disabled"):
            raise InvalidRequest("thinking.type: must be \"enabled\", \"adaptive\" or \"disabled\".",
                                 param="thinking")
        payload["chat_template_kwargs"] = {"enable_thinking": kind != "disabled"}
    output_config = body.get("output_config")
    output_format = output_config.get("format") if isinstance(output_config, dict) else None
    if output_format is not None:
        schema = output_format.get("schema") if isinstance(output_format, dict) else None
        if not isinstance(output_format, dict) or output_format.get("type") != "json_schema" \
                or not isinstance(schema, dict):
            raise InvalidRequest("output_config.format: must be {\"type\": \"json_schema\", \"schema\": {...}}.",
                                 param="output_config.format")
        payload["response_format"] = {"type": "json_schema",
                                      "json_schema": {"name": "output", "schema": schema, "strict": True}}


# ---------------------------------------------------------------------------------------------
# Answers


def _message_id(answer_id: Any) -> str:
    """``msg_`` + the canonical id (without its ``chatcmpl-`` prefix), a new one when absent."""
    if isinstance(answer_id, str) and answer_id:
        rest = answer_id.removeprefix("chatcmpl-")
        return rest if rest.startswith("msg_") else "msg_" + rest
    return new_id("msg_")


def _stop_reason(finish_reason: Any, matched: Any, request: dict, has_tool_use: bool) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for a canonical finish (table in the module docstring)."""
    reason = _FINISH_TO_STOP.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    if reason == "end_turn":
        stops = request.get("stop_sequences") if isinstance(request, dict) else None
        if isinstance(matched, str) and isinstance(stops, list) and matched in stops:
            return "stop_sequence", matched
        if has_tool_use:
            return "tool_use", None
    return reason, None


def _usage_counts(answer: dict) -> tuple[int, int]:
    """(prompt, completion) tokens; unlike ``base.usage_counts`` never raises on odd values."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    counts = [usage.get(key) for key in ("prompt_tokens", "completion_tokens")]
    return tuple(int(n) if _is_number(n) and math.isfinite(n) and n >= 0 else 0 for n in counts)  # type: ignore[return-value]


def _text_of(content: Any) -> str:
    """A canonical message content's text (a string or text parts), skipping odd parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content if isinstance(part, dict)
                       and part.get("type") in ("text", "output_text") and isinstance(part.get("text"), str))
    return ""


def _reasoning_of(message: dict) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def encode_message(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical ``chat.completion`` as Anthropic's ``message`` object."""
    if not isinstance(answer, dict):
        answer = {}
    choice = first_choice(answer)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict] = []
    reasoning = _reasoning_of(message)
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _text_of(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        call_id = call.get("id")
        name = function.get("name")
        content.append({"type": "tool_use",
                        "id": call_id if isinstance(call_id, str) and call_id else new_id("toolu_"),
                        "name": name if isinstance(name, str) else "",
                        "input": arguments_object(function.get("arguments"))})
    has_tool_use = any(block["type"] == "tool_use" for block in content)
    stop_reason, stop_sequence = _stop_reason(choice.get("finish_reason"), choice.get("stop_reason"),
                                              ctx.request, has_tool_use)
    prompt_tokens, completion_tokens = _usage_counts(answer)
    return {
        "id": _message_id(answer.get("id")),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    }


def stream_error_event(message: str, code: str | None = None) -> bytes:
    """Anthropic's mid-stream ``error`` event (also what a relayed Anthropic stream ends with)."""
    return sse_frame(json.dumps({"type": "error", "error": {"type": "api_error", "message": message}},
                                ensure_ascii=False), "error")


class MessageStreamEncoder:
    """Canonical chunks to Anthropic's SSE events, in the order ``messages.stream()`` expects.

    ``message_start``, then per block ``content_block_start`` / ``content_block_delta``... /
    ``content_block_stop`` (blocks opened lazily: reasoning -> thinking, content -> text, each
    tool call -> tool_use with ``input_json_delta`` pieces), then ``message_delta`` (stop reason,
    usage) and ``message_stop``, which only ``finish()`` sends, since usage may come after the
    finish chunk. Thinking blocks carry ``signature: ""`` in their start event; the SDK needs no
    ``signature_delta``.
    """

    content_type = "text/event-stream"

    def __init__(self, ctx: EncodeContext):
        self.ctx = ctx
        self._started = False
        self._done = False
        self._message_id = ""
        self._open: tuple[str, Any] | None = None  # ("thinking"|"text", None) or ("tool", key)
        self._next_index = 0
        self._tool_blocks: dict[Any, int] = {}  # canonical tool call index -> block index
        self._last_tool_key: Any = None
        self._has_tool_use = False
        self._finish_reason: Any = None
        self._matched_stop: Any = None
        self._usage: tuple[int, int] | None = None

    def encode(self, chunk: dict) -> bytes:
        if self._done or not isinstance(chunk, dict):
            return b""
        if isinstance(chunk.get("usage"), dict):
            self._usage = _usage_counts(chunk)
        out = [] if self._started else [self._message_start(chunk.get("id"))]
        choice = first_choice(chunk)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        reasoning = _reasoning_of(delta)
        if reasoning:
            out.append(self._delta("thinking", None, {"type": "thinking_delta", "thinking": reasoning}))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(self._delta("text", None, {"type": "text_delta", "text": content}))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                out.append(self._tool_delta(call))
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        if choice.get("stop_reason") is not None:
            self._matched_stop = choice["stop_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._done:
            return b""
        out = [] if self._started else [self._message_start(None)]
        out.append(self._close())
        self._done = True
        stop_reason, stop_sequence = _stop_reason(self._finish_reason, self._matched_stop, self.ctx.request,
                                                  self._has_tool_use)
        usage: dict[str, int] = {"output_tokens": 0}
        if self._usage is not None:
            usage = {"input_tokens": self._usage[0], "output_tokens": self._usage[1]}
        out.append(self._event("message_delta", {"type": "message_delta",
                                                 "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                                                 "usage": usage}))
        out.append(self._event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def fail(self, message: str, code: str | None = None) -> bytes:
        """Anthropic's mid-stream ``error`` event; the SDK raises it as an API error."""
        if self._done:
            return b""
        self._done = True
        return stream_error_event(message)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _event(name: str, data: dict) -> bytes:
        return sse_frame(json.dumps(data, ensure_ascii=False), name)

    def _message_start(self, chunk_id: Any) -> bytes:
        self._started = True
        self._message_id = _message_id(chunk_id)
        input_tokens = self._usage[0] if self._usage is not None else 0
        return self._event("message_start", {"type": "message_start", "message": {
            "id": self._message_id, "type": "message", "role": "assistant", "model": self.ctx.model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 0}}})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return self._event("content_block_stop", {"type": "content_block_stop", "index": self._next_index - 1})

    def _start(self, kind: str, key: Any, block: dict) -> bytes:
        closing = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = (kind, key)
        return closing + self._event("content_block_start",
                                     {"type": "content_block_start", "index": index, "content_block": block})

    def _delta(self, kind: str, key: Any, delta: dict) -> bytes:
        opening = b""
        if self._open != (kind, key):
            block = {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else \
                {"type": "text", "text": ""}
            opening = self._start(kind, key, block)
        return opening + self._event("content_block_delta",
                                     {"type": "content_block_delta", "index": self._next_index - 1, "delta": delta})

    def _tool_delta(self, call: dict) -> bytes:
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        key = call.get("index")
        if not _is_int(key):  # servers that omit the index: a call with an id starts a new one
            key = ("call", len(self._tool_blocks)) if call.get("id") or self._last_tool_key is None \
                else self._last_tool_key
        out = b""
        if key not in self._tool_blocks:
            call_id, name = call.get("id"), function.get("name")
            out = self._start("tool", key, {
                "type": "tool_use", "id": call_id if isinstance(call_id, str) and call_id else new_id("toolu_"),
                "name": name if isinstance(name, str) else "", "input": {}})
            self._tool_blocks[key] = self._next_index - 1
            self._has_tool_use = True
        self._last_tool_key = key
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # Pieces of a call whose block was already closed (interleaved calls) still name
            # their own block index; the SDK accumulates them by index.
            out += self._event("content_block_delta", {
                "type": "content_block_delta", "index": self._tool_blocks[key],
                "delta": {"type": "input_json_delta", "partial_json": arguments}})
        return out


def error_body(error: GatewayError) -> dict:
    """A gateway error in Anthropic's shape; the type follows the HTTP status as Anthropic's does."""
    status = getattr(error, "status", 500)
    kind = _ERROR_TYPES.get(status)
    if kind is None:
        kind = "invalid_request_error" if isinstance(status, int) and 400 <= status < 500 else "api_error"
    message = getattr(error, "message", None) or str(error) or "error"
    return {"type": "error", "error": {"type": kind, "message": message}}


# ---------------------------------------------------------------------------------------------
# count_tokens


def estimate_input_tokens(body: dict) -> int:
    """An ESTIMATE of the input tokens of a Messages request, for /v1/messages/count_tokens.

    No tokenizer of the upstream model is at hand, so this counts characters / 4 (rounded up;
    about right for English under BPE tokenizers, low for code and non-Latin scripts) over the
    system text, message text, tool_use names and inputs, tool results and tool schemas, plus
    1600 tokens per image (Anthropic's cost of a full-size image). Never fails on odd input: what
    it does not understand counts as nothing. At least 1.
    """
    chars = 0
    images = 0

    def walk(value: Any) -> None:
        nonlocal chars, images
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind == "text":
                walk(value.get("text"))
            elif kind == "image":
                images += 1
            elif kind == "tool_use":
                walk(value.get("name"))
                chars += len(_dumps(value.get("input")))
            elif kind == "tool_result":
                walk(value.get("content"))
            elif kind in ("thinking", "redacted_thinking"):
                pass  # previous turns' thinking is not part of the prompt
            elif "content" in value:  # a message
                walk(value.get("content"))

    if isinstance(body, dict):
        try:
            walk(body.get("system"))
            walk(body.get("messages"))
        except RecursionError:  # absurdly nested input: what was counted so far
            pass
        tools = body.get("tools")
        if isinstance(tools, list):
            for tool in tools:
                if isinstance(tool, dict):
                    chars += len(_dumps({key: tool.get(key) for key in ("name", "description", "input_schema")}))
    return max(1, math.ceil(chars / 4) + images * _IMAGE_TOKENS)


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return ""
