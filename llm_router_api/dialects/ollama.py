"""The Ollama client dialect: what Ollama apps, Open WebUI and the ``ollama`` Python client send.

Requests (``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/embeddings``) are decoded to
the canonical OpenAI form; canonical answers and chunks are encoded back exactly as an Ollama
0.12 server writes them (NDJSON when streaming, ``{"error": "..."}`` for errors).

Decisions a reader may look for:

- ``stream`` defaults to true, as in Ollama. A streamed canonical request asks for
  ``stream_options.include_usage``: the final ``done`` line needs the token counts.
- ``options``: temperature, top_p, top_k, seed, stop, min_p, presence/frequency_penalty map
  one to one; ``num_predict`` -> ``max_tokens`` (zero or negative = no limit: omitted);
  ``repeat_penalty`` -> ``repetition_penalty`` (vLLM's name). ``num_ctx`` and the other load or
  sampler options (mirostat, typical_p, repeat_last_n, num_gpu, ...) have no OpenAI field and
  are dropped: the context length is the upstream's own setting.
- ``format``: ``"json"`` -> ``response_format: json_object``; a JSON schema ->
  ``json_schema`` named ``response``. ``think``: a bool -> ``chat_template_kwargs.enable_thinking``
  (what vLLM's chat templates read); ``"low"|"medium"|"high"`` (gpt-oss) -> thinking on and
  ``reasoning_effort``. ``keep_alive`` is ignored (the provider config owns it).
- ``/api/generate``: ``template`` and ``context`` are ignored (a template override cannot be
  expressed to an OpenAI server; ``context`` is deprecated in Ollama); answers carry no
  ``context``. Not raw -> a chat request (``system`` + user ``prompt`` and ``images``); ``raw``
  or a ``suffix`` (fill-in-the-middle) -> a completions request with the prompt as it is.
- Tool calls in answers carry ``id`` beside ``function``: newer Ollama servers send one, and the
  ``ollama`` client ignores keys it does not know. Arguments are JSON objects (invalid JSON
  from a model becomes ``{}``). Streams hold tool calls back and send them whole in one line
  before the final one, since Ollama clients read complete calls only.
- Durations are in nanoseconds of wall time measured here: ``total_duration`` since the request
  started; when streaming ``prompt_eval_duration`` is the time to the first token and
  ``eval_duration`` the rest; non-streamed answers report the whole time as ``eval_duration``.
  No duration is zero (clients divide by them); ``load_duration`` is 0.

``done_reason`` from the canonical ``finish_reason``:

==================  ==================  ===============================================
finish_reason       done_reason         why
==================  ==================  ===============================================
stop                stop
length              length
tool_calls          stop                Ollama says stop when the model called tools
content_filter      content_filter      a guardrail cut the answer; clients show it as is
none / other        stop
==================  ==================  ===============================================
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from functools import lru_cache
from typing import Any

from ..errors import GatewayError, InvalidRequest
from .base import CanonicalRequest, EncodeContext, arguments_object, first_choice, text_of, usage_counts

CONTENT_TYPE = "application/x-ndjson"

_ROLES = ("system", "user", "assistant", "tool")
_FLOAT_OPTIONS = ("temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty")
_INT_OPTIONS = ("top_k", "seed")
_EFFORTS = ("low", "medium", "high")
_DONE_REASONS = {"stop": "stop", "length": "length", "tool_calls": "stop", "content_filter": "content_filter"}
_IMAGE_MAGIC = (("/9j/", "image/jpeg"), ("iVBORw0KGgo", "image/png"), ("R0lGOD", "image/gif"),
                ("UklGR", "image/webp"))
_DETAILS = {"parent_model": "", "format": "", "family": "", "families": [], "parameter_size": "",
            "quantization_level": ""}


# ---------------------------------------------------------------- small helpers


def rfc3339(seconds: float | None = None) -> str:
    """A UTC timestamp as Go writes ``time.Time`` with nanoseconds: 2024-01-01T00:00:00.123456789Z."""
    ns = time.time_ns() if seconds is None else int(seconds * 1_000_000_000)
    whole, frac = divmod(ns, 1_000_000_000)
    return _second(whole) + f".{frac:09d}Z"


@lru_cache(maxsize=8)
def _second(whole: int) -> str:
    """Formatting the date was 8% of a converted stream's CPU (one per line); within a second it is the same."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _model(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required", param="model")
    return model


def _stream(body: dict) -> bool:
    value = body.get("stream")
    if value is None:
        return True  # Ollama streams unless told not to
    if not isinstance(value, bool):
        raise InvalidRequest("stream must be true or false", param="stream")
    return value


def _number(value: Any, name: str, integer: bool = False) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a number", param=name)
    if integer:
        if value != int(value):
            raise InvalidRequest(f"{name} must be an integer", param=name)
        return int(value)
    return value


def _options(body: dict, payload: dict) -> None:
    """Ollama ``options`` into the canonical payload (see the module docstring for the drops)."""
    options = body.get("options")
    if options is None:
        return
    if not isinstance(options, dict):
        raise InvalidRequest("options must be an object", param="options")
    for name in _FLOAT_OPTIONS:
        if options.get(name) is not None:
            payload[name] = _number(options[name], f"options.{name}")
    for name in _INT_OPTIONS:
        if options.get(name) is not None:
            payload[name] = _number(options[name], f"options.{name}", integer=True)
    if options.get("repeat_penalty") is not None:
        payload["repetition_penalty"] = _number(options["repeat_penalty"], "options.repeat_penalty")
    if options.get("num_predict") is not None:
        limit = _number(options["num_predict"], "options.num_predict", integer=True)
        if limit > 0:  # -1 (infinite), -2 (fill the context) and 0 all mean: no limit here
            payload["max_tokens"] = limit
    stop = options.get("stop")
    if isinstance(stop, str):
        payload["stop"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if stop:
            payload["stop"] = stop
    elif stop is not None:
        raise InvalidRequest("options.stop must be a string or a list of strings", param="options.stop")


def _format(body: dict, payload: dict) -> None:
    value = body.get("format")
    if value is None or value == "":
        return
    if value == "json":
        payload["response_format"] = {"type": "json_object"}
    elif isinstance(value, dict):
        payload["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    else:
        raise InvalidRequest('format must be "json" or a JSON schema object', param="format")


def _think(body: dict, payload: dict) -> None:
    value = body.get("think")
    if value is None:
        return
    if isinstance(value, bool):
        payload["chat_template_kwargs"] = {"enable_thinking": value}
    elif isinstance(value, str) and value in _EFFORTS:
        payload["chat_template_kwargs"] = {"enable_thinking": True}
        payload["reasoning_effort"] = value
    else:
        raise InvalidRequest('think must be true, false, "low", "medium" or "high"', param="think")


def _image_url(data: Any, param: str) -> dict:
    """A base64 image as an OpenAI ``image_url`` part; the media type from the data's first bytes."""
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f"{param} must be a base64 string", param=param)
    if data.startswith("data:"):
        url = data
    else:
        media = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), "image/png")
        url = f"data:{media};base64,{data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _images(value: Any, param: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"{param} must be a list of base64 strings", param=param)
    return [_image_url(item, f"{param}[{i}]") for i, item in enumerate(value)]


def _user_content(text: str, images: list[dict]) -> str | list[dict]:
    return [{"type": "text", "text": text}, *images] if images else text


def _finalize(payload: dict, stream: bool) -> None:
    payload["stream"] = stream
    if stream:
        payload["stream_options"] = {"include_usage": True}


# ---------------------------------------------------------------- decoders


class _CallIds:
    """Ids for a request's tool calls, and which calls still wait for their tool message."""

    def __init__(self) -> None:
        self.count = 0
        self.pending: list[tuple[str, str]] = []  # (id, name), oldest first

    def new(self, given: Any, name: str) -> str:
        call_id = given if isinstance(given, str) and given else f"call_{self.count}"
        self.count += 1
        self.pending.append((call_id, name))
        return call_id

    def answer(self, given: Any, name: Any) -> str:
        """The id a tool message answers: given, else the first open call of its name, else the first."""
        if isinstance(given, str) and given:
            chosen = given
        else:
            chosen = next((cid for cid, n in self.pending if isinstance(name, str) and n == name), None)
            if chosen is None and self.pending:
                chosen = self.pending[0][0]
            if chosen is None:
                chosen = f"call_{self.count}"
                self.count += 1
        self.pending = [(cid, n) for cid, n in self.pending if cid != chosen]
        return chosen


def _tool_calls(value: Any, ids: _CallIds, param: str) -> list[dict]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{param} must be a list", param=param)
    calls = []
    for j, call in enumerate(value):
        where = f"{param}[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise InvalidRequest(f"{where}.function.name is required", param=f"{where}.function.name")
        arguments = function.get("arguments")
        if arguments is None:
            arguments = "{}"
        elif isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        elif not isinstance(arguments, str):
            raise InvalidRequest(f"{where}.function.arguments must be an object",
                                 param=f"{where}.function.arguments")
        call_id = ids.new(call.get("id"), function["name"])
        calls.append({"id": call_id, "type": "function",
                      "function": {"name": function["name"], "arguments": arguments}})
    return calls


def _messages(value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("messages must be a list", param="messages")
    ids = _CallIds()
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = message.get("role")
        role = role.lower() if isinstance(role, str) else role
        if role not in _ROLES:
            raise InvalidRequest(f"{where}.role must be one of system, user, assistant, tool",
                                 param=f"{where}.role")
        content = message.get("content")
        if content is None:
            content = ""
        elif isinstance(content, list):  # OpenAI-style parts from a confused client: take the text
            content = text_of(content)
        elif not isinstance(content, str):
            raise InvalidRequest(f"{where}.content must be a string", param=f"{where}.content")
        if role == "assistant":
            entry: dict = {"role": "assistant", "content": content}
            if message.get("tool_calls") is not None:
                calls = _tool_calls(message["tool_calls"], ids, f"{where}.tool_calls")
                if calls:
                    entry["tool_calls"] = calls
            out.append(entry)  # ``thinking`` is dropped: templates strip past reasoning anyway
        elif role == "tool":
            name = message.get("tool_name") or message.get("name")
            out.append({"role": "tool", "tool_call_id": ids.answer(message.get("tool_call_id"), name),
                        "content": content})
        else:
            images = _images(message.get("images"), f"{where}.images")
            out.append({"role": role, "content": _user_content(content, images)})
    return out


def decode_chat(body: Any) -> CanonicalRequest:
    """POST /api/chat. An empty ``messages`` is Ollama's load request: see ``is_chat_load_request``."""
    model = _model(body)
    stream = _stream(body)
    payload: dict = {"model": model, "messages": _messages(body.get("messages"))}
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be a list", param="tools")
        if tools:
            payload["tools"] = tools  # Ollama's tool format is OpenAI's
    _options(body, payload)
    _format(body, payload)
    _think(body, payload)
    _finalize(payload, stream)
    return CanonicalRequest("chat", payload, stream, native=body)


def _optional_str(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", param=name)
    return value


def decode_generate(body: Any) -> CanonicalRequest:
    """POST /api/generate: a chat request, or a completions one for ``raw`` and ``suffix``."""
    model = _model(body)
    stream = _stream(body)
    prompt = _optional_str(body, "prompt")
    suffix = _optional_str(body, "suffix")
    system = _optional_str(body, "system")
    raw = body.get("raw")
    if raw is not None and not isinstance(raw, bool):
        raise InvalidRequest("raw must be true or false", param="raw")
    images = _images(body.get("images"), "images")
    payload: dict = {"model": model}
    if raw or suffix:
        if images:
            raise InvalidRequest("images cannot be sent with raw or suffix: a raw prompt is plain text",
                                 param="images")
        endpoint = "completions"
        payload["prompt"] = prompt
        if suffix:
            payload["suffix"] = suffix
    else:
        endpoint = "chat"
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": _user_content(prompt, images)})
        payload["messages"] = messages
    _options(body, payload)
    _format(body, payload)
    if endpoint == "chat":
        _think(body, payload)
    _finalize(payload, stream)
    return CanonicalRequest(endpoint, payload, stream, native=body)


def is_load_request(body: Any) -> bool:
    """/api/generate with no prompt and no images: Ollama loads the model and generates nothing."""
    if not isinstance(body, dict):
        return False
    return not body.get("prompt") and not body.get("images")


def is_chat_load_request(body: Any) -> bool:
    """/api/chat with no messages: Ollama's way to load a model."""
    return isinstance(body, dict) and not body.get("messages")


def load_reason(body: Any) -> str:
    """``unload`` for a load request with ``keep_alive`` 0 (Ollama's unload call), else ``load``."""
    keep_alive = body.get("keep_alive") if isinstance(body, dict) else None
    return "unload" if keep_alive in (0, "0", "0s", "0m") else "load"


def load_answer(model: str, done_reason: str = "load") -> dict:
    """What Ollama answers to a generate load request, without generating anything."""
    return {"model": model, "created_at": rfc3339(), "response": "", "done": True, "done_reason": done_reason}


def chat_load_answer(model: str, done_reason: str = "load") -> dict:
    """What Ollama answers to a chat load request (no messages)."""
    return {"model": model, "created_at": rfc3339(), "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": done_reason}


def decode_embed(body: Any) -> CanonicalRequest:
    """POST /api/embed. ``truncate`` has no OpenAI field (servers truncate or refuse by their own
    settings) and ``options`` are ignored."""
    model = _model(body)
    value = body.get("input")
    if isinstance(value, str):
        pass
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        pass
    else:
        raise InvalidRequest("input is required: a string or a non-empty list of strings", param="input")
    truncate = body.get("truncate")
    if truncate is not None and not isinstance(truncate, bool):
        raise InvalidRequest("truncate must be true or false", param="truncate")
    payload: dict = {"model": model, "input": value, "encoding_format": "float"}
    if body.get("dimensions") is not None:
        dimensions = _number(body["dimensions"], "dimensions", integer=True)
        if dimensions < 1:
            raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
        payload["dimensions"] = dimensions
    return CanonicalRequest("embeddings", payload, False, native=body)


def decode_embeddings(body: Any) -> CanonicalRequest:
    """POST /api/embeddings (the legacy single-prompt form)."""
    model = _model(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt is required: a string", param="prompt")
    payload = {"model": model, "input": prompt, "encoding_format": "float"}
    return CanonicalRequest("embeddings", payload, False, native=body)


# ---------------------------------------------------------------- encoders


def done_reason(finish_reason: Any) -> str:
    return _DONE_REASONS.get(finish_reason, "stop") if isinstance(finish_reason, str) else "stop"


def _elapsed_ns(since: float) -> int:
    return max(1, int((time.monotonic() - since) * 1_000_000_000))


def _ollama_calls(calls: Any) -> list[dict]:
    out = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        entry: dict = {"function": {"name": function["name"], "arguments": arguments_object(function.get("arguments"))}}
        if isinstance(call.get("id"), str) and call["id"]:
            entry = {"id": call["id"], **entry}
        out.append(entry)
    return out


def _reasoning(message: dict) -> str:
    value = message.get("reasoning_content")
    if not isinstance(value, str):
        value = message.get("reasoning")
    return value if isinstance(value, str) else ""


def _done_fields(answer: dict, ctx: EncodeContext, reason: str, prompt_ns: int = 1, eval_ns: int | None = None) -> dict:
    prompt_tokens, completion_tokens = usage_counts(answer)
    total = _elapsed_ns(ctx.started)
    return {"done": True, "done_reason": reason, "total_duration": total, "load_duration": 0,
            "prompt_eval_count": prompt_tokens, "prompt_eval_duration": max(1, prompt_ns),
            "eval_count": completion_tokens, "eval_duration": max(1, total if eval_ns is None else eval_ns)}


def encode_chat(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical ``chat.completion`` as Ollama's non-streamed /api/chat answer."""
    choice = first_choice(answer)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    out_message: dict = {"role": "assistant", "content": text_of(message.get("content"))}
    thinking = _reasoning(message)
    if thinking:
        out_message["thinking"] = thinking
    calls = _ollama_calls(message.get("tool_calls"))
    if calls:
        out_message["tool_calls"] = calls
    return {"model": ctx.model, "created_at": rfc3339(), "message": out_message,
            **_done_fields(answer, ctx, done_reason(choice.get("finish_reason")))}


def encode_generate(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical ``chat.completion`` or ``text_completion`` as Ollama's /api/generate answer."""
    choice = first_choice(answer)
    message = choice.get("message")
    if isinstance(message, dict):
        text, thinking = text_of(message.get("content")), _reasoning(message)
    else:
        text = choice.get("text") if isinstance(choice.get("text"), str) else ""
        thinking = _reasoning(choice)
    out: dict = {"model": ctx.model, "created_at": rfc3339(), "response": text}
    if thinking:
        out["thinking"] = thinking
    out.update(_done_fields(answer, ctx, done_reason(choice.get("finish_reason"))))
    return out


def _vector(value: Any) -> list:
    """An embedding as a list of floats; base64 (little-endian float32, OpenAI's) is unpacked."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value)
        except ValueError:
            return []
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    return []


def _vectors(answer: dict) -> list[list]:
    data = answer.get("data")
    items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    items.sort(key=lambda item: item.get("index") if isinstance(item.get("index"), int) else 0)
    return [_vector(item.get("embedding")) for item in items]


def encode_embed(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical embeddings ``list`` as Ollama's /api/embed answer."""
    prompt_tokens, _ = usage_counts(answer)
    return {"model": ctx.model, "embeddings": _vectors(answer), "total_duration": _elapsed_ns(ctx.started),
            "load_duration": 0, "prompt_eval_count": prompt_tokens}


def encode_embeddings(answer: dict, ctx: EncodeContext) -> dict:
    """A canonical embeddings ``list`` as the legacy /api/embeddings answer (one vector)."""
    vectors = _vectors(answer)
    return {"embedding": vectors[0] if vectors else []}


def error_body(error: GatewayError) -> dict:
    return {"error": error.message}


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"


def stream_error_line(message: str, code: str | None = None) -> bytes:
    """Ollama's own mid-stream error line (also what a relayed Ollama stream ends with)."""
    return _line({"error": message})


class _StreamEncoder:
    """Shared state of the NDJSON encoders: finish reason, usage, timing, the end."""

    content_type = CONTENT_TYPE

    def __init__(self, ctx: EncodeContext):
        self.ctx = ctx
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.first_token_at: float | None = None
        self.ended = False

    def encode(self, chunk: dict) -> bytes:
        if self.ended or not isinstance(chunk, dict):
            return b""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choice = first_choice(chunk)
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        out = self._piece(choice)
        if out and self.first_token_at is None:
            self.first_token_at = time.monotonic()
        return out

    def _piece(self, choice: dict) -> bytes:
        raise NotImplementedError

    def _before_end(self) -> bytes:
        return b""

    def _final(self) -> dict:
        raise NotImplementedError

    def finish(self) -> bytes:
        if self.ended:
            return b""
        head = self._before_end()
        now = time.monotonic()
        first = self.first_token_at if self.first_token_at is not None else now
        final = self._final()
        final.update(_done_fields({"usage": self.usage or {}}, self.ctx, done_reason(self.finish_reason),
                                  prompt_ns=int((first - self.ctx.started) * 1e9), eval_ns=int((now - first) * 1e9)))
        self.ended = True
        return head + _line(final)

    def fail(self, message: str, code: str | None = None) -> bytes:
        """Ollama's own mid-stream error: one ``{"error": ...}`` line, then the stream ends."""
        if self.ended:
            return b""
        self.ended = True
        return stream_error_line(message)


def _delta(choice: dict) -> tuple[str, str, Any]:
    """(content, reasoning, tool_calls) of a chunk's choice: chat deltas or completion text."""
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return (content if isinstance(content, str) else "", _reasoning(delta), delta.get("tool_calls"))
    text = choice.get("text")
    return (text if isinstance(text, str) else "", _reasoning(choice), None)


class ChatStreamEncoder(_StreamEncoder):
    """Canonical chunks as /api/chat NDJSON lines; tool calls are sent whole before the end."""

    def __init__(self, ctx: EncodeContext):
        super().__init__(ctx)
        self.calls: dict[int, dict] = {}

    def _piece(self, choice: dict) -> bytes:
        content, thinking, calls = _delta(choice)
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                self._add_call(call, position)
        if not content and not thinking:
            return b""
        message: dict = {"role": "assistant", "content": content}
        if thinking:
            message["thinking"] = thinking
        return _line({"model": self.ctx.model, "created_at": rfc3339(), "message": message, "done": False})

    def _add_call(self, call: Any, position: int) -> None:
        if not isinstance(call, dict):
            return
        index = call.get("index") if isinstance(call.get("index"), int) else position
        entry = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if isinstance(call.get("id"), str) and call["id"]:
            entry["id"] = call["id"]
        function = call.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str) and function["name"]:
                entry["name"] = function["name"]
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                entry["arguments"] += arguments
            elif isinstance(arguments, dict):
                entry["arguments"] = json.dumps(arguments, ensure_ascii=False)

    def _before_end(self) -> bytes:
        calls = _ollama_calls([{"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
                               for _, c in sorted(self.calls.items()) if c["name"]])
        if not calls:
            return b""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        return _line({"model": self.ctx.model, "created_at": rfc3339(), "message": message, "done": False})

    def _final(self) -> dict:
        return {"model": self.ctx.model, "created_at": rfc3339(), "message": {"role": "assistant", "content": ""}}


class GenerateStreamEncoder(_StreamEncoder):
    """Canonical chunks (chat or text completion) as /api/generate NDJSON lines."""

    def _piece(self, choice: dict) -> bytes:
        content, thinking, _ = _delta(choice)
        if not content and not thinking:
            return b""
        line: dict = {"model": self.ctx.model, "created_at": rfc3339(), "response": content}
        if thinking:
            line["thinking"] = thinking
        line["done"] = False
        return _line(line)

    def _final(self) -> dict:
        return {"model": self.ctx.model, "created_at": rfc3339(), "response": ""}


# ---------------------------------------------------------------- model listings


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def _details() -> dict:
    return {**_DETAILS, "families": []}


def tag_entry(name: str, modified_at: str, context_length: int | None = None) -> dict:
    """One model of /api/tags. Ollama lists no context length here (``show`` has it)."""
    return {"name": name, "model": name, "modified_at": modified_at, "size": 0, "digest": _digest(name),
            "details": _details()}


def ps_entry(name: str, expires_at: str, context_length: int | None = None) -> dict:
    """One model of /api/ps: every configured model counts as loaded, sizes unknown (0)."""
    entry = {"name": name, "model": name, "size": 0, "digest": _digest(name), "details": _details(),
             "expires_at": expires_at, "size_vram": 0}
    if context_length:
        entry["context_length"] = context_length
    return entry


def show_body(name: str, context_length: int | None, modified_at: str) -> dict:
    """/api/show: clients read ``model_info["<general.architecture>.context_length"]``."""
    model_info: dict = {"general.architecture": "llm-router"}
    if context_length:
        model_info["llm-router.context_length"] = context_length
    return {"license": "", "modelfile": "", "parameters": "", "template": "", "details": _details(),
            "model_info": model_info, "capabilities": ["completion", "tools"], "modified_at": modified_at}
