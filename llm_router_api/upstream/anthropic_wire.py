"""Anthropic's Messages API towards an upstream (api_type ``anthropic``): POST /v1/messages.

Canonical (OpenAI chat) requests are rewritten to Anthropic's shape, and its answers and SSE
events read back as canonical answers and chunks. Only chat exists there: completions,
embeddings and responses are refused with ``InvalidRequest``.

Request mapping (canonical -> Anthropic), with the choices made where the protocols differ:

- ``system``/``developer`` messages -> top-level ``system``, joined by a blank line.
- user parts: text; ``image_url`` data URIs -> base64 sources, http(s) URLs -> url sources.
- assistant ``content`` + ``tool_calls`` -> text then ``tool_use`` blocks (``input`` = the
  parsed arguments; arguments that are not a JSON object -> ``InvalidRequest`` naming the call);
  ``reasoning_content`` in history is dropped (Anthropic demands its own signatures on it).
- ``tool`` messages -> ``tool_result`` blocks (text, or text and image blocks) in a user
  message; consecutive messages of the same role are merged (Anthropic requires alternation),
  tool results first in a merged turn.
- Call ids are passed through with characters outside ``[A-Za-z0-9_-]`` replaced by ``_``
  (Anthropic's id pattern; some servers use ids like ``functions.get_weather:0``), the same way
  in ``tool_use`` and ``tool_result`` so they still pair up.
- ``max_completion_tokens``/``max_tokens`` -> ``max_tokens``, else ``DEFAULT_MAX_TOKENS``
  (Anthropic requires the field; OpenAI clients may leave it out).
- ``stop`` -> ``stop_sequences``; ``temperature`` (clamped to Anthropic's 0..1), ``top_p``,
  ``top_k``; function ``tools`` -> ``{name, description, input_schema}``; ``tool_choice`` auto /
  required -> any / none / named -> tool; ``parallel_tool_calls: false`` ->
  ``disable_parallel_tool_use``; ``user`` -> ``metadata.user_id``; ``response_format``
  json_schema -> ``output_config.format`` (structured outputs; ``json_object`` has no
  Anthropic equivalent and is not sent). Other OpenAI sampling fields (seed, penalties,
  logprobs, ...) have none either and are dropped.
- ``chat_template_kwargs.enable_thinking: true`` -> ``thinking: {"type": "enabled",
  "budget_tokens": THINKING_BUDGET_TOKENS}``, only when ``max_tokens`` exceeds the budget
  (Anthropic's rule); then temperature/top_p/top_k are not sent (not allowed with thinking).

stop_reason -> finish_reason:

==================  ==============================================================
Anthropic           canonical
==================  ==============================================================
end_turn            stop
stop_sequence       stop, with the choice's ``stop_reason`` = the matched sequence
max_tokens          length
tool_use            tool_calls
refusal             content_filter
pause_turn          stop
model_context_...   length (``model_context_window_exceeded``)
other / null        stop
==================  ==============================================================
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ..config.models import ProviderConfig
from ..dialects.base import new_id
from ..errors import InvalidRequest
from .errors import StreamFailed
from .origin import Origin
from .sse import EventParser
from .wire import Outgoing, StreamDecoder, error_message, get_headers, post_headers

#: Anthropic requires ``max_tokens``; OpenAI clients often send none. 4096 is a length most
#: answers fit in and every current Claude model accepts.
DEFAULT_MAX_TOKENS = 4096
#: ``budget_tokens`` when thinking is switched on via ``enable_thinking``: Anthropic's minimum.
THINKING_BUDGET_TOKENS = 1024
ANTHROPIC_VERSION = "2023-06-01"

_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DATA_URI = re.compile(r"^data:([^;,]+);base64,(.*)$", re.DOTALL)


def _credentials(api_token: str) -> tuple[tuple[str, str], ...]:
    """The key as ``x-api-key`` (not a Bearer token), and the API version."""
    version = (("anthropic-version", ANTHROPIC_VERSION),)
    return version + (("x-api-key", api_token),) if api_token else version


def request_headers(provider: ProviderConfig, *, stream: bool) -> dict[str, str]:
    return post_headers("text/event-stream" if stream else "application/json", _credentials(provider.api_token))


def messages_path(origin: Origin) -> str:
    """/v1/messages under the origin; an ``api_host`` that already ends in /v1 is not doubled."""
    return "/messages" if origin.base_path.endswith("/v1") else "/v1/messages"


class AnthropicWire:
    """api_type ``anthropic``: the codec of ``upstream/wire.py`` for Anthropic's Messages API."""

    family = "anthropic"

    def outgoing(self, endpoint: str, payload: dict, upstream_model: str, provider: ProviderConfig,
                 stream: bool) -> Outgoing:
        if endpoint != "chat":
            what = {"completions": "/completions", "embeddings": "/embeddings"}.get(endpoint, f"/{endpoint}")
            raise InvalidRequest(f"Anthropic upstreams serve chat only; this model's provider cannot answer {what}.")
        body = to_messages_request(payload, upstream_model, stream)
        return Outgoing(messages_path(Origin.of(provider.api_host)),
                        json.dumps(body, ensure_ascii=False).encode("utf-8"),
                        request_headers(provider, stream=stream))

    def decode(self, endpoint: str, body: bytes | str | dict, public_model: str) -> dict:
        message = json.loads(body) if isinstance(body, (bytes, bytearray, str)) else body
        if not isinstance(message, dict):
            raise ValueError("the answer is not a JSON object")
        return to_chat_completion(message, public_model)

    def error_message(self, body: bytes | str) -> str:
        return error_message(body)

    def stream_decoder(self, endpoint: str, public_model: str) -> "MessageStreamDecoder":
        return MessageStreamDecoder(public_model)

    def request_headers(self, provider: ProviderConfig, stream: bool) -> dict[str, str]:
        """Headers of a Messages call (also for an Anthropic client's body passed through as is)."""
        return request_headers(provider, stream=stream)

    def probe_headers(self, provider: ProviderConfig) -> dict[str, str]:
        return get_headers(_credentials(provider.api_token))


# ---------------------------------------------------------------------------------------------
# Request: canonical -> Anthropic


def _safe_id(call_id: Any) -> str:
    return _ID_UNSAFE.sub("_", call_id) if isinstance(call_id, str) else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _texts(content: Any, where: str) -> list[str]:
    """The texts of a system/tool message content (a string or text parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise InvalidRequest(f"{where}: only text parts can be sent to an Anthropic upstream here.",
                                     param=where)
        return texts
    raise InvalidRequest(f"{where}: must be a string or a list of content parts.", param=where)


def _image_block(part: dict, where: str) -> dict:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{where}.image_url.url: must be a data URI or an http(s) URL.",
                             param=f"{where}.image_url")
    match = _DATA_URI.match(url)
    if match:
        return {"type": "image", "source": {"type": "base64", "media_type": match.group(1), "data": match.group(2)}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"{where}.image_url.url: must be a base64 data URI or an http(s) URL.",
                         param=f"{where}.image_url")


def _user_blocks(content: Any, where: str) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or a list of content parts.", param=where)
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(f"{at}.text: must be a string.", param=at)
            if text:
                blocks.append({"type": "text", "text": text})
        elif kind == "image_url":
            blocks.append(_image_block(part, at))
        else:
            raise InvalidRequest(f"{at}: content parts of type {kind!r} cannot be sent to an Anthropic upstream.",
                                 param=at)
    return blocks


def _assistant_blocks(message: dict, where: str) -> list[dict]:
    blocks = [{"type": "text", "text": text} for text in _texts(message.get("content"), f"{where}.content")
              if text]
    calls = message.get("tool_calls")
    if calls is None:
        return blocks
    if not isinstance(calls, list):
        raise InvalidRequest(f"{where}.tool_calls: must be a list.", param=f"{where}.tool_calls")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"{at}: a function call needs function.name.", param=at)
        call_id = _safe_id(call.get("id"))
        if not call_id:
            raise InvalidRequest(f"{at}.id: Field required (tool results refer to it).", param=f"{at}.id")
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            parsed: Any = arguments
        elif arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            parsed = {}
        else:
            try:
                parsed = json.loads(arguments) if isinstance(arguments, str) else None
            except ValueError:
                parsed = None
        if not isinstance(parsed, dict):
            raise InvalidRequest(f"{at}.function.arguments: the arguments of call {call.get('id')!r} "
                                 f"({function['name']}) must be a JSON object.", param=f"{at}.function.arguments")
        blocks.append({"type": "tool_use", "id": call_id, "name": function["name"], "input": parsed})
    return blocks


def _append(turns: list[dict], role: str, blocks: list[dict]) -> None:
    """Add a turn, merging into the previous one of the same role (tool results kept first)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        merged = turns[-1]["content"] + blocks
        if role == "user":
            merged = ([b for b in merged if b["type"] == "tool_result"]
                      + [b for b in merged if b["type"] != "tool_result"])
        turns[-1]["content"] = merged
    else:
        turns.append({"role": role, "content": list(blocks)})


def to_messages_request(payload: dict, upstream_model: str, stream: bool) -> dict:
    """A canonical chat body as an Anthropic Messages request body."""
    if not isinstance(payload, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    messages = payload.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: must be a list.", param="messages")
    system: list[str] = []
    turns: list[dict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: must be an object.", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(text for text in _texts(message.get("content"), f"{where}.content") if text)
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            call_id = _safe_id(message.get("tool_call_id"))
            if not call_id:
                raise InvalidRequest(f"{where}.tool_call_id: Field required.", param=f"{where}.tool_call_id")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
            blocks = _user_blocks(message.get("content"), f"{where}.content")
            if blocks and all(block["type"] == "text" for block in blocks):
                result["content"] = "\n".join(block["text"] for block in blocks)
            elif blocks:
                result["content"] = blocks  # text and images, as Anthropic's tool_result allows
            _append(turns, "user", [result])
        else:
            raise InvalidRequest(f"{where}.role: {role!r} cannot be sent to an Anthropic upstream.",
                                 param=f"{where}.role")
    if turns and turns[-1]["role"] == "assistant":  # a prefill may not end in whitespace
        last = turns[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                turns[-1]["content"].pop()
                if not turns[-1]["content"]:
                    turns.pop()

    body: dict[str, Any] = {"model": upstream_model, "messages": turns}
    if system:
        body["system"] = "\n\n".join(system)
    max_tokens = payload.get("max_completion_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        max_tokens = payload.get("max_tokens")
    body["max_tokens"] = max_tokens if _is_int(max_tokens) and max_tokens >= 1 else DEFAULT_MAX_TOKENS

    n = payload.get("n")
    if _is_int(n) and n > 1:
        raise InvalidRequest("n: Anthropic upstreams give one choice per request.", param="n")
    stop = payload.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        body["stop_sequences"] = stops

    kwargs = payload.get("chat_template_kwargs")
    thinking = isinstance(kwargs, dict) and kwargs.get("enable_thinking") is True \
        and body["max_tokens"] > THINKING_BUDGET_TOKENS
    if thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET_TOKENS}
    else:
        temperature = payload.get("temperature")
        if _is_number(temperature):
            body["temperature"] = min(max(float(temperature), 0.0), 1.0)
        if _is_number(payload.get("top_p")):
            body["top_p"] = payload["top_p"]
        if _is_int(payload.get("top_k")) and payload["top_k"] > 0:
            body["top_k"] = payload["top_k"]

    tools = _tools(payload.get("tools"))
    if tools:
        body["tools"] = tools
        choice = _tool_choice(payload.get("tool_choice"))
        if payload.get("parallel_tool_calls") is False and choice.get("type") != "none":
            choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
        if choice:
            body["tool_choice"] = choice
    user = payload.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    response_format = payload.get("response_format")
    json_schema = response_format.get("json_schema") if isinstance(response_format, dict) \
        and response_format.get("type") == "json_schema" else None
    if isinstance(json_schema, dict) and isinstance(json_schema.get("schema"), dict):
        body["output_config"] = {"format": {"type": "json_schema", "schema": json_schema["schema"]}}
    if stream:
        body["stream"] = True
    return body


def _tools(tools: Any) -> list[dict]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("tools: must be a list.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict) \
                or not isinstance(function.get("name"), str) or not function["name"]:
            raise InvalidRequest(f"{at}: only function tools with a name can be sent to an Anthropic upstream.",
                                 param=at)
        schema = function.get("parameters")
        converted: dict[str, Any] = {
            "name": function["name"],
            "input_schema": schema if isinstance(schema, dict) and schema else {"type": "object", "properties": {}},
        }
        if isinstance(function.get("description"), str) and function["description"]:
            converted["description"] = function["description"]
        out.append(converted)
    return out


def _tool_choice(choice: Any) -> dict:
    if choice is None:
        return {}
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]:
        return {"type": "tool", "name": function["name"]}
    raise InvalidRequest("tool_choice: must be \"auto\", \"required\", \"none\" or a named function.",
                         param="tool_choice")


# ---------------------------------------------------------------------------------------------
# Answers: Anthropic -> canonical


def _finish(stop_reason: Any) -> str:
    return _STOP_TO_FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _usage(input_tokens: int, output_tokens: int) -> dict:
    return {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens}


def _count(value: Any) -> int:
    return value if _is_int(value) and value >= 0 else 0


def _chat_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else new_id("chatcmpl-")


def to_chat_completion(message: dict, public_model: str) -> dict:
    """An Anthropic ``message`` as a canonical ``chat.completion`` (table in the module docstring)."""
    texts, thinking, calls = [], [], []
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use":
            calls.append({"id": block.get("id") if isinstance(block.get("id"), str) else new_id("call_"),
                          "type": "function",
                          "function": {"name": block.get("name") if isinstance(block.get("name"), str) else "",
                                       "arguments": json.dumps(block.get("input") if isinstance(block.get("input"),
                                                                                                dict) else {},
                                                               ensure_ascii=False)}})
    text = "".join(texts)
    reply: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if thinking:
        reply["reasoning_content"] = "".join(thinking)
    if calls:
        reply["tool_calls"] = calls
    choice: dict[str, Any] = {"index": 0, "message": reply, "logprobs": None,
                              "finish_reason": _finish(message.get("stop_reason"))}
    if message.get("stop_reason") == "stop_sequence" and isinstance(message.get("stop_sequence"), str):
        choice["stop_reason"] = message["stop_sequence"]
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    return {"id": _chat_id(message.get("id")), "object": "chat.completion", "created": int(time.time()),
            "model": public_model, "choices": [choice],
            "usage": _usage(_count(usage.get("input_tokens")), _count(usage.get("output_tokens")))}


def _block_index(data: dict) -> int | None:
    index = data.get("index")
    return index if _is_int(index) else None


class MessageStreamDecoder(StreamDecoder):
    """Anthropic SSE events to canonical chunks; ``message_stop`` says the stream is complete.

    ``message_delta`` becomes the finish chunk followed by a usage-only chunk (``choices: []``),
    as OpenAI sends with ``include_usage``. Tool calls are numbered by their order among the
    message's tool_use blocks, which is the ``index`` of their canonical deltas.
    """

    def __init__(self, public_model: str):
        self.public_model = public_model
        self.parser = EventParser()
        self.id = new_id("chatcmpl-")
        self.created = int(time.time())
        self.input_tokens = 0
        self.output_tokens = 0
        self.tool_of_block: dict[Any, int] = {}  # Anthropic block index -> canonical tool index

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.public_model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def _chunks(self, events) -> list[dict]:
        chunks: list[dict] = []
        for event in events:
            if not event.data.strip():
                continue
            try:
                data = json.loads(event.data)
            except ValueError:
                raise StreamFailed("The upstream sent a malformed stream event.") from None
            if not isinstance(data, dict):
                continue
            kind = event.event or data.get("type")
            if kind == "error" or data.get("type") == "error":
                raise StreamFailed(error_message(event.data))
            handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
            if handler is not None:
                chunks.extend(handler(data))
        return chunks

    def _on_message_start(self, data: dict) -> list[dict]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        if isinstance(message.get("id"), str) and message["id"]:
            self.id = _chat_id(message["id"])
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        self.input_tokens = _count(usage.get("input_tokens"))
        self.output_tokens = _count(usage.get("output_tokens"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, data: dict) -> list[dict]:
        block = data.get("content_block") if isinstance(data.get("content_block"), dict) else {}
        kind = block.get("type")
        if kind == "tool_use":
            tool_index = len(self.tool_of_block)
            self.tool_of_block[_block_index(data)] = tool_index
            arguments = block.get("input")
            call = {"index": tool_index,
                    "id": block.get("id") if isinstance(block.get("id"), str) else new_id("call_"),
                    "type": "function",
                    "function": {"name": block.get("name") if isinstance(block.get("name"), str) else "",
                                 "arguments": json.dumps(arguments, ensure_ascii=False)
                                 if isinstance(arguments, dict) and arguments else ""}}
            return [self._chunk({"tool_calls": [call]})]
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return [self._chunk({"reasoning_content": block["thinking"]})]
        return []

    def _on_content_block_delta(self, data: dict) -> list[dict]:
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str) and delta["thinking"]:
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str) and delta["partial_json"]:
            tool_index = self.tool_of_block.get(_block_index(data))
            if tool_index is None:
                return []
            return [self._chunk({"tool_calls": [{"index": tool_index,
                                                 "function": {"arguments": delta["partial_json"]}}]})]
        return []  # signature_delta, citations_delta: nothing canonical to say

    def _on_message_delta(self, data: dict) -> list[dict]:
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        if _is_int(usage.get("input_tokens")):
            self.input_tokens = _count(usage["input_tokens"])
        if _is_int(usage.get("output_tokens")):
            self.output_tokens = _count(usage["output_tokens"])
        finish = self._chunk({}, _finish(delta.get("stop_reason")))
        if delta.get("stop_reason") == "stop_sequence" and isinstance(delta.get("stop_sequence"), str):
            finish["choices"][0]["stop_reason"] = delta["stop_sequence"]
        usage_chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                       "model": self.public_model, "choices": [],
                       "usage": _usage(self.input_tokens, self.output_tokens)}
        return [finish, usage_chunk]

    def _on_message_stop(self, data: dict) -> list[dict]:
        self.complete = True
        return []
