"""The OpenAI Responses API (``POST /v1/responses``) for upstreams that only serve chat.

A Responses request becomes a canonical chat request and the chat answer becomes a ``response``
object (or its SSE event sequence), so clients built on ``client.responses.create`` /
``client.responses.stream`` (Codex, the Agents SDK) work against any upstream. The gateway
stores nothing, so everything that refers to server-side state (``previous_response_id``,
``conversation``, ``background``, stored prompts, file ids, item references) and OpenAI's hosted
tools are refused with a message saying what to send instead.

Request mapping (Responses -> chat):

==============================  ===========================================================
``instructions``                first ``system`` message
``input`` string                one ``user`` message
message item (role, content)    chat message; ``developer`` -> ``system``; ``input_text`` /
                                ``output_text`` -> text parts, ``input_image`` (image_url) ->
                                ``image_url`` part; a lone text part becomes a string
``function_call`` items         ``tool_calls`` of an assistant message (merged into the
                                assistant message just before them), id = ``call_id``
``function_call_output``        ``tool`` message
``reasoning`` items             dropped (the upstream cannot take them back)
``tools`` (function)            chat function tools
``tool_choice``                 same strings; ``{type: function, name}`` -> named form
``max_output_tokens``           ``max_tokens``
``temperature``, ``top_p``,     as they are (``parallel_tool_calls`` only with tools)
``parallel_tool_calls``
``text.format``                 ``response_format`` (text: none, json_object, json_schema)
``reasoning.effort``            ``reasoning_effort``
``stream``                      ``stream`` + ``stream_options.include_usage``
``user``, ``metadata``,         dropped (nothing upstream uses them; metadata is echoed back)
``store``, ``include``, ...
==============================  ===========================================================

Answer mapping: reasoning -> a ``reasoning`` item (``reasoning_text`` content), text -> a
``message`` item (``output_text``), each tool call -> a ``function_call`` item. Usage
prompt/completion tokens -> input/output tokens.

=================  =========================  =====================================
finish_reason      ``status``                 ``incomplete_details.reason``
=================  =========================  =====================================
stop, tool_calls   completed                  (null)
length             incomplete                 max_output_tokens
content_filter     incomplete                 content_filter
none / other       completed                  (null)
=================  =========================  =====================================

The stream follows OpenAI's event order (``response.created``, ``response.in_progress``, per
item ``output_item.added`` / deltas / ``*.done`` / ``output_item.done``, then
``response.completed`` or ``response.incomplete``), which the SDK's stream helper accumulates
into the same Response as the non-streaming answer.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from ..errors import InvalidRequest
from ..upstream.sse import sse_frame
from .base import CanonicalRequest, EncodeContext, first_choice, new_id, text_of

MESSAGE_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
TEXT_PARTS = ("input_text", "output_text", "text")
TOOL_CHOICES = ("auto", "none", "required")
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
# ResponseError.code is an enum in OpenAI's spec; other codes go out as "server_error" in the
# response object (the ``error`` event before it carries the gateway's own code).
RESPONSE_ERROR_CODES = frozenset({
    "server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout", "invalid_image",
    "invalid_image_format", "invalid_base64_image", "invalid_image_url", "image_too_large",
    "image_too_small", "image_parse_error", "image_content_policy_violation", "invalid_image_mode",
    "image_file_too_large", "unsupported_image_media_type", "empty_image_file",
    "failed_to_download_image", "image_file_not_found",
})
STATELESS = "{} is not supported: this gateway stores no responses; send the whole conversation in input"


# --- request ------------------------------------------------------------------------------------

def decode_responses(body: dict) -> CanonicalRequest:
    """A Responses API request as a canonical chat request (``native`` keeps the body)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a string", param="model")
    for key in ("previous_response_id", "conversation"):
        if body.get(key) is not None:
            raise InvalidRequest(STATELESS.format(key), param=key)
    if body.get("background"):
        raise InvalidRequest("background is not supported by this gateway; send the request "
                             "without it (stream it if it is long)", param="background")
    if body.get("prompt") is not None:
        raise InvalidRequest("prompt (a stored prompt template) is not supported by this gateway; "
                             "send instructions and input instead", param="prompt")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")

    messages: list[dict] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("instructions must be a string", param="instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    _decode_input(body.get("input"), messages)
    if not messages:
        raise InvalidRequest("input must contain at least one message", param="input")

    payload: dict[str, Any] = {"model": model, "messages": messages}
    tools = _decode_tools(body.get("tools"))
    if tools:
        payload["tools"] = tools
        tool_choice = _decode_tool_choice(body.get("tool_choice"))
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
        parallel = body.get("parallel_tool_calls")
        if parallel is not None:
            if not isinstance(parallel, bool):
                raise InvalidRequest("parallel_tool_calls must be a boolean", param="parallel_tool_calls")
            payload["parallel_tool_calls"] = parallel
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequest("max_output_tokens must be a positive integer", param="max_output_tokens")
        payload["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InvalidRequest(f"{key} must be a number", param=key)
            payload[key] = value
    response_format = _decode_text(body.get("text"))
    if response_format is not None:
        payload["response_format"] = response_format
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise InvalidRequest("reasoning must be an object", param="reasoning")
        effort = reasoning.get("effort")
        if effort is not None:
            if not isinstance(effort, str):
                raise InvalidRequest("reasoning.effort must be a string", param="reasoning.effort")
            payload["reasoning_effort"] = effort
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return CanonicalRequest("chat", payload, bool(stream), native=body)


def _decode_input(value: Any, messages: list[dict]) -> None:
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
        return
    if not isinstance(value, list):
        raise InvalidRequest("input is required: a string or a list of input items", param="input")
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{param} must be an object", param=param)
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            messages.append(_decode_message(item, param))
        elif kind == "function_call":
            _append_call(messages, _decode_call(item, param))
        elif kind == "function_call_output":
            messages.append(_decode_call_output(item, param))
        elif kind == "reasoning":
            continue
        elif kind == "item_reference":
            raise InvalidRequest(f"{param}: item_reference is not supported: this gateway stores no items; "
                                 "send the items themselves", param=param)
        else:
            raise InvalidRequest(f"{param}: input item type {kind!r} is not supported by this gateway",
                                 param=f"{param}.type")


def _decode_message(item: dict, param: str) -> dict:
    role = MESSAGE_ROLES.get(item["role"]) if isinstance(item.get("role"), str) else None
    if role is None:
        raise InvalidRequest(f"{param}.role must be one of user, system, developer, assistant",
                             param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of content parts",
                             param=f"{param}.content")
    parts = [_decode_part(part, f"{param}.content[{j}]", role) for j, part in enumerate(content)]
    if not parts:
        return {"role": role, "content": ""}
    if len(parts) == 1 and parts[0]["type"] == "text":
        return {"role": role, "content": parts[0]["text"]}
    return {"role": role, "content": parts}


def _decode_part(part: Any, param: str, role: str) -> dict:
    if not isinstance(part, dict):
        raise InvalidRequest(f"{param} must be an object", param=param)
    kind = part.get("type")
    if kind in TEXT_PARTS or kind == "refusal":
        text = part.get("refusal" if kind == "refusal" else "text")
        if not isinstance(text, str):
            field_name = "refusal" if kind == "refusal" else "text"
            raise InvalidRequest(f"{param}.{field_name} must be a string", param=f"{param}.{field_name}")
        return {"type": "text", "text": text}
    if kind == "input_image":
        if role != "user":
            raise InvalidRequest(f"{param}: images are only accepted in user messages", param=param)
        url = part.get("image_url")
        if isinstance(url, str) and url:
            image: dict[str, Any] = {"url": url}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            return {"type": "image_url", "image_url": image}
        if part.get("file_id") is not None:
            raise InvalidRequest(f"{param}: input_image with file_id is not supported by this gateway "
                                 "(it stores no files); send image_url (a URL or a data: URL)",
                                 param=f"{param}.file_id")
        raise InvalidRequest(f"{param}.image_url is required (a URL or a data: URL)", param=f"{param}.image_url")
    if kind == "input_file":
        raise InvalidRequest(f"{param}: input_file is not supported by this gateway; send the text "
                             "as input_text", param=param)
    raise InvalidRequest(f"{param}: content part type {kind!r} is not supported by this gateway",
                         param=f"{param}.type")


def _decode_call(item: dict, param: str) -> dict:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.call_id is required (a string)", param=f"{param}.call_id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name is required (a string)", param=f"{param}.name")
    if arguments is None:
        arguments = "{}"
    elif isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif not isinstance(arguments, str):
        raise InvalidRequest(f"{param}.arguments must be a JSON string", param=f"{param}.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _append_call(messages: list[dict], call: dict) -> None:
    """Calls of one turn go on one assistant message, as chat templates expect them."""
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if "content" not in last:
            last["content"] = None
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _decode_call_output(item: dict, param: str) -> dict:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.call_id is required (a string)", param=f"{param}.call_id")
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") not in TEXT_PARTS or not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{param}.output[{j}]: only text parts are supported in a "
                                     "function_call_output", param=f"{param}.output[{j}]")
            texts.append(part["text"])
        output = "".join(texts)
    elif not isinstance(output, str):
        raise InvalidRequest(f"{param}.output must be a string or a list of input_text parts",
                             param=f"{param}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _decode_tools(tools: Any) -> list[dict]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    out = []
    for i, tool in enumerate(tools):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(f"{param} must be an object", param=param)
        kind = tool.get("type")
        if kind != "function":
            raise InvalidRequest(f"tool type {kind!r} is not supported by this gateway; only function "
                                 "tools are", param=f"{param}.type")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{param}.name is required (a string)", param=f"{param}.name")
        function: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        parameters = tool.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, dict):
                raise InvalidRequest(f"{param}.parameters must be a JSON schema object", param=f"{param}.parameters")
            function["parameters"] = parameters
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _decode_tool_choice(choice: Any) -> Any:
    if choice is None or choice in TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice.name is required (a string)", param="tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise InvalidRequest(f"tool_choice {kind!r} is not supported by this gateway; use auto, none, "
                         "required or {\"type\": \"function\", \"name\": ...}", param="tool_choice")


def _decode_text(text: Any) -> dict | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise InvalidRequest("text must be an object", param="text")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise InvalidRequest("text.format must be an object", param="text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name, schema = fmt.get("name"), fmt.get("schema")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("text.format.name is required (a string)", param="text.format.name")
        if not isinstance(schema, dict):
            raise InvalidRequest("text.format.schema is required (a JSON schema object)", param="text.format.schema")
        json_schema: dict[str, Any] = {"name": name, "schema": schema}
        if isinstance(fmt.get("strict"), bool):
            json_schema["strict"] = fmt["strict"]
        if isinstance(fmt.get("description"), str):
            json_schema["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": json_schema}
    raise InvalidRequest(f"text.format type {kind!r} is not supported; use text, json_object or json_schema",
                         param="text.format.type")


# --- answer -------------------------------------------------------------------------------------

def encode_response(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical ``chat.completion`` as a Responses API ``response`` object."""
    choice = first_choice(answer)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    status, reason = _status(choice.get("finish_reason"))
    output: list[dict] = []
    reasoning = _reasoning_of(message)
    if reasoning:
        output.append(_reasoning_item(new_id("rs_"), reasoning))
    text = text_of(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else ""
    if text or refusal:
        output.append(_message_item(new_id("msg_"), text, "completed", refusal))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            output.append(_call_item(new_id("fc_"), _str(call.get("id")) or new_id("call_"),
                                     _str(function.get("name")), _arguments(function.get("arguments")),
                                     "completed"))
    if status == "incomplete" and output and "status" in output[-1]:
        output[-1]["status"] = "incomplete"
    return _response(ctx, new_id("resp_"), status, output, _usage(answer.get("usage")), reason)


def _status(finish_reason: Any) -> tuple[str, str | None]:
    reason = INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", reason) if reason else ("completed", None)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _reasoning_of(message: dict) -> str:
    return _str(message.get("reasoning_content")) or _str(message.get("reasoning"))


def _arguments(value: Any) -> str:
    """A JSON string, ``{}`` when empty (clients ``json.loads`` it)."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value if isinstance(value, str) and value.strip() else "{}"


def _reasoning_item(item_id: str, text: str) -> dict:
    return {"type": "reasoning", "id": item_id, "summary": [],
            "content": [{"type": "reasoning_text", "text": text}]}


def _text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, text: str, status: str, refusal: str = "") -> dict:
    content = [_text_part(text)] if text or not refusal else []
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return max(int(value), 0)


def _usage(usage: Any) -> dict:
    usage = usage if isinstance(usage, dict) else {}
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    input_tokens, output_tokens = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": _count(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0,
            "cache_write_tokens": 0,
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": _count(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0,
        },
        "total_tokens": _count(usage.get("total_tokens")) or input_tokens + output_tokens,
    }


def _response(ctx: EncodeContext, response_id: str, status: str, output: list[dict], usage: dict | None,
              reason: str | None = None, error: dict | None = None) -> dict:
    """The response object, with the request's settings echoed as OpenAI does."""
    request = ctx.request if isinstance(ctx.request, dict) else {}
    reasoning = request.get("reasoning") if isinstance(request.get("reasoning"), dict) else {}
    text = request.get("text") if isinstance(request.get("text"), dict) else {}
    tools = request.get("tools")

    def number(key: str) -> int | float | None:
        value = request.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return {
        "id": response_id,
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": request.get("instructions") if isinstance(request.get("instructions"), str) else None,
        "max_output_tokens": number("max_output_tokens"),
        "max_tool_calls": None,
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "reasoning": {"effort": _str(reasoning.get("effort")) or None, "summary": None},
        "store": False,
        "temperature": number("temperature"),
        "text": {**text, "format": text.get("format") if isinstance(text.get("format"), dict) else {"type": "text"}},
        "tool_choice": request.get("tool_choice") if request.get("tool_choice") is not None else "auto",
        "tools": tools if isinstance(tools, list) else [],
        "top_p": number("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": request.get("metadata") if isinstance(request.get("metadata"), dict) else {},
    }


# --- stream -------------------------------------------------------------------------------------

class _Item:
    """An output item being streamed: its final dict, its index, the text or arguments so far."""

    def __init__(self, kind: str, index: int, item: dict):
        self.kind, self.index, self.item = kind, index, item
        self.pieces: list[str] = []

    @property
    def id(self) -> str:
        return self.item["id"]

    def text(self) -> str:
        return "".join(self.pieces)


class ResponseStreamEncoder:
    """Canonical chat chunks as Responses API SSE events, ``sequence_number`` 0, 1, 2, ...

    One item is open at a time, except function calls: a new tool-call index (or a new call id
    at a used index) opens another call, and all open calls are closed together when text,
    reasoning or the end comes (so interleaved argument pieces are never lost). The final event waits for ``finish()``
    because usage comes after the finish_reason chunk.
    """

    content_type = "text/event-stream"

    def __init__(self, ctx: EncodeContext):
        self._ctx = ctx
        self._id = new_id("resp_")
        self._seq = 0
        self._started = False
        self._ended = False
        self._output: list[dict] = []  # every item, by output_index; open ones filled in on close
        self._open: list[_Item] = []
        self._calls: dict[int, _Item] = {}  # tool-call index -> its open item
        self._finish_reason: Any = None
        self._usage: Any = None

    def encode(self, chunk: dict) -> bytes:
        if self._ended or not isinstance(chunk, dict):
            return b""
        out = [self._start()]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choice = first_choice(chunk)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        reasoning = _reasoning_of(delta)
        if reasoning:
            out.append(self._add_text("reasoning", reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(self._add_text("message", content))
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, dict):
                out.append(self._add_call(call, position))
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._ended:
            return b""
        status, reason = _status(self._finish_reason)
        out = [self._start(), self._close_all("incomplete" if reason else "completed")]
        self._ended = True
        response = _response(self._ctx, self._id, status, self._output, _usage(self._usage), reason)
        out.append(self._event("response.incomplete" if reason else "response.completed", response=response))
        return b"".join(out)

    def fail(self, message: str, code: str) -> bytes:
        if self._ended:
            return b""
        out = [self._start()]
        for open_item in self._open:  # the output so far, cut where it broke
            self._fill(open_item, "incomplete")
        self._open, self._calls = [], {}
        self._ended = True
        out.append(self._event("error", code=code, message=message, param=None))
        error = {"code": code if code in RESPONSE_ERROR_CODES else "server_error", "message": message}
        usage = _usage(self._usage) if self._usage is not None else None
        out.append(self._event("response.failed",
                               response=_response(self._ctx, self._id, "failed", self._output, usage, error=error)))
        return b"".join(out)

    # -- events

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse_frame(json.dumps(data, ensure_ascii=False), kind)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        response = _response(self._ctx, self._id, "in_progress", [], None)
        return self._event("response.created", response=response) + self._event("response.in_progress",
                                                                                 response=response)

    def _open_item(self, kind: str, item: dict) -> tuple[_Item, bytes]:
        opened = _Item(kind, len(self._output), item)
        self._output.append(item)
        self._open.append(opened)
        return opened, self._event("response.output_item.added", output_index=opened.index, item=item)

    def _add_text(self, kind: str, piece: str) -> bytes:
        out = b""
        current = self._open[-1] if self._open else None
        if current is None or current.kind != kind:
            out = self._close_all("completed")
            if kind == "message":
                item = {"type": "message", "id": new_id("msg_"), "status": "in_progress", "role": "assistant",
                        "content": []}
                part = _text_part("")
            else:
                item = {"type": "reasoning", "id": new_id("rs_"), "summary": [], "content": []}
                part = {"type": "reasoning_text", "text": ""}
            current, added = self._open_item(kind, item)
            out += added + self._event("response.content_part.added", item_id=current.id,
                                       output_index=current.index, content_index=0, part=part)
        current.pieces.append(piece)
        if kind == "message":
            return out + self._event("response.output_text.delta", item_id=current.id, output_index=current.index,
                                     content_index=0, delta=piece, logprobs=[])
        return out + self._event("response.reasoning_text.delta", item_id=current.id, output_index=current.index,
                                 content_index=0, delta=piece)

    def _add_call(self, call: dict, position: int) -> bytes:
        index = call.get("index") if isinstance(call.get("index"), int) else position
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        out = b""
        current = self._calls.get(index)
        call_id = _str(call.get("id"))
        if current is not None and call_id and call_id != current.item["call_id"]:
            current = None  # a new call reusing the index, as some servers send every call at index 0
        if current is None:
            if any(item.kind != "function_call" for item in self._open):
                out = self._close_all("completed")
            item = _call_item(new_id("fc_"), call_id or new_id("call_"), _str(function.get("name")),
                              "", "in_progress")
            current, added = self._open_item("function_call", item)
            self._calls[index] = current
            out += added
        elif not current.item["name"] and _str(function.get("name")):
            current.item["name"] = function["name"]
        piece = function.get("arguments")
        if isinstance(piece, dict):  # a whole call at once, as some upstreams send it
            piece = json.dumps(piece, ensure_ascii=False)
        if isinstance(piece, str) and piece:
            current.pieces.append(piece)
            out += self._event("response.function_call_arguments.delta", item_id=current.id,
                               output_index=current.index, delta=piece)
        return out

    def _fill(self, item: _Item, status: str) -> None:
        """Put the streamed text into the item's final dict."""
        if item.kind == "message":
            item.item["content"] = [_text_part(item.text())]
            item.item["status"] = status
        elif item.kind == "reasoning":
            item.item["content"] = [{"type": "reasoning_text", "text": item.text()}]
        else:
            item.item["arguments"] = _arguments(item.text())
            item.item["status"] = status

    def _close_all(self, status: str) -> bytes:
        out = []
        for item in self._open:
            self._fill(item, status)
            where = {"item_id": item.id, "output_index": item.index}
            if item.kind == "message":
                part = item.item["content"][0]
                out.append(self._event("response.output_text.done", **where, content_index=0, text=part["text"],
                                       logprobs=[]))
                out.append(self._event("response.content_part.done", **where, content_index=0, part=part))
            elif item.kind == "reasoning":
                part = item.item["content"][0]
                out.append(self._event("response.reasoning_text.done", **where, content_index=0, text=part["text"]))
                out.append(self._event("response.content_part.done", **where, content_index=0, part=part))
            else:
                out.append(self._event("response.function_call_arguments.done", **where,
                                       name=item.item["name"], arguments=item.item["arguments"]))
            out.append(self._event("response.output_item.done", output_index=item.index, item=item.item))
        self._open, self._calls = [], {}
        return b"".join(out)
