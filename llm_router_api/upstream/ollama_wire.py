"""Ollama's native protocol towards an upstream (api_type ``ollama``): /api/chat, /api/generate, /api/embed.

The canonical (OpenAI) request becomes Ollama's body: sampling fields go under ``options``,
``max_tokens`` is ``num_predict``, images travel as bare base64 strings, tool call arguments as
JSON objects, tool results name their tool (``tool_name``). ``stream`` is always written out,
since Ollama streams when it is absent. Answers come back as canonical ones.

Decisions:

- Paths are Ollama's own (``/api/chat``, ...) under the server root: the config loader takes a
  trailing ``/v1`` (Ollama's OpenAI-compatible base) off an ollama provider's ``api_host``.
- ``provider.input_size`` is sent as ``options.num_ctx`` (Ollama's default context is small and
  it silently cuts longer prompts) and ``provider.keep_alive`` as ``keep_alive``.
- ``n`` > 1 and token-id prompts cannot be expressed: ``InvalidRequest``. Remote image URLs too:
  Ollama takes only inline base64 images. ``tool_choice: "none"`` drops the tools (Ollama has no
  tool_choice); other values are ignored.
- Completions go to /api/generate with ``raw: true`` (the prompt is sent as it is), except with a
  ``suffix``: fill-in-the-middle needs the model's template, so ``raw`` is false then.
- Tool calls without an id from Ollama get a fresh ``call_<random>`` id, unique across turns, so
  clients that key results by call id never mix two turns' calls.

``finish_reason`` from Ollama's answer:

===========================  ==============
Ollama                       finish_reason
===========================  ==============
message has tool_calls       tool_calls
done_reason ``length``       length
anything else (``stop``...)  stop
===========================  ==============
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..config.models import ProviderConfig
from ..dialects.base import arguments_object, new_id, text_of
from ..errors import InvalidRequest
from .errors import StreamFailed
from .openai_wire import probe_headers
from .sse import LineParser
from .wire import Outgoing, StreamDecoder, bearer, error_message, post_headers

ENDPOINT_PATHS = {"chat": "/api/chat", "completions": "/api/generate", "embeddings": "/api/embed"}

_SAME_OPTIONS = ("temperature", "top_p", "top_k", "seed", "min_p", "presence_penalty", "frequency_penalty")
_EFFORT_THINK = {"low": "low", "medium": "medium", "high": "high", "minimal": "low", "none": False}
_TEXT_PARTS = ("text", "input_text", "output_text")


# ---------------------------------------------------------------- where and how


def request_headers(provider: ProviderConfig, *, stream: bool) -> dict[str, str]:
    """The token as a Bearer header: Ollama itself takes none, a proxy in front of it may."""
    return post_headers("application/x-ndjson" if stream else "application/json", bearer(provider.api_token))



# ---------------------------------------------------------------- canonical -> Ollama


def _content(content: Any, where: str) -> tuple[str, list[str]]:
    """(text, base64 images) of an OpenAI message content."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or a list of parts", param=f"{where}.content")
    texts, images = [], []
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            text = part.get("text")
            texts.append(text if isinstance(text, str) else "")
        elif kind == "image_url":
            images.append(_base64_image(part.get("image_url"), f"{where}.content[{k}].image_url"))
        elif kind == "refusal":
            continue
        else:
            raise InvalidRequest(f"{where}.content[{k}]: Ollama upstreams take only text and image parts",
                                 param=f"{where}.content[{k}].type")
    return "\n".join(texts), images


def _base64_image(value: Any, where: str) -> str:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{where}.url is required", param=f"{where}.url")
    head, sep, data = url.partition(",")
    if url.startswith("data:") and sep and head.endswith(";base64") and data:
        return data
    raise InvalidRequest("Ollama upstreams take only inline base64 images (data: URLs)", param=f"{where}.url")


def _messages(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise InvalidRequest("messages must be a list", param="messages")
    names: dict[str, str] = {}  # tool call id -> function name, for the tool results
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = message.get("role")
        text, images = _content(message.get("content"), where)
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text})
        elif role == "user":
            entry: dict = {"role": "user", "content": text}
            if images:
                entry["images"] = images
            out.append(entry)
        elif role == "assistant":
            entry = {"role": "assistant", "content": text}
            thinking = message.get("reasoning_content") or message.get("reasoning")
            if isinstance(thinking, str) and thinking:
                entry["thinking"] = thinking
            calls = []
            raw_calls = message.get("tool_calls")
            if raw_calls is not None and not isinstance(raw_calls, list):
                raise InvalidRequest(f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
            for call in raw_calls or ():
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                    raise InvalidRequest(f"{where}.tool_calls: each call needs function.name",
                                         param=f"{where}.tool_calls")
                item: dict = {"function": {"name": function["name"],
                                           "arguments": arguments_object(function.get("arguments"))}}
                if isinstance(call.get("id"), str) and call["id"]:
                    item = {"id": call["id"], **item}
                    names[call["id"]] = function["name"]
                calls.append(item)
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
        elif role in ("tool", "function"):
            entry = {"role": "tool", "content": text}
            call_id = message.get("tool_call_id")
            name = names.get(call_id) if isinstance(call_id, str) else None
            name = name or (message.get("name") if isinstance(message.get("name"), str) else None)
            if name:
                entry["tool_name"] = name
            if isinstance(call_id, str) and call_id:
                entry["tool_call_id"] = call_id
            out.append(entry)
        else:
            raise InvalidRequest(f"{where}.role must be system, developer, user, assistant or tool",
                                 param=f"{where}.role")
    return out


def _options(payload: dict, provider: ProviderConfig) -> dict:
    options = {name: payload[name] for name in _SAME_OPTIONS if payload.get(name) is not None}
    limit = payload.get("max_completion_tokens")
    if limit is None:
        limit = payload.get("max_tokens")
    if limit is not None:
        options["num_predict"] = limit
    if payload.get("repetition_penalty") is not None:
        options["repeat_penalty"] = payload["repetition_penalty"]
    stop = payload.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list) and stop:
        options["stop"] = stop
    if provider.input_size:
        options["num_ctx"] = provider.input_size
    return options


def _common(body: dict, payload: dict, provider: ProviderConfig) -> None:
    """options, format and keep_alive: the fields chat and generate share."""
    n = payload.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Ollama upstreams return one choice: n must be 1", param="n")
    options = _options(payload, provider)
    if options:
        body["options"] = options
    response_format = payload.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            body["format"] = "json"
        elif kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            body["format"] = schema if isinstance(schema, dict) else "json"
    if provider.keep_alive not in (None, ""):
        body["keep_alive"] = provider.keep_alive


def _think(payload: dict) -> bool | str | None:
    kwargs = payload.get("chat_template_kwargs")
    enabled = kwargs.get("enable_thinking") if isinstance(kwargs, dict) else None
    enabled = enabled if isinstance(enabled, bool) else None
    effort = _EFFORT_THINK.get(payload.get("reasoning_effort")) if isinstance(payload.get("reasoning_effort"),
                                                                               str) else None
    if enabled is False:
        return False
    if effort is not None:
        return effort
    return enabled


def _chat_body(payload: dict, model: str, provider: ProviderConfig, stream: bool) -> dict:
    body: dict = {"model": model, "messages": _messages(payload.get("messages")), "stream": stream}
    tools = payload.get("tools")
    if isinstance(tools, list) and tools and payload.get("tool_choice") != "none":
        body["tools"] = tools
    _common(body, payload, provider)
    think = _think(payload)
    if think is not None:
        body["think"] = think
    return body


def _generate_body(payload: dict, model: str, provider: ProviderConfig, stream: bool) -> dict:
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest("Ollama upstreams take one text prompt: a string or a list of one string",
                             param="prompt")
    suffix = payload.get("suffix")
    body: dict = {"model": model, "prompt": prompt, "stream": stream}
    if isinstance(suffix, str) and suffix:
        body["suffix"] = suffix  # fill-in-the-middle goes through the model's template: not raw
    else:
        body["raw"] = True
    _common(body, payload, provider)
    return body


def _embed_body(payload: dict, model: str, provider: ProviderConfig) -> dict:
    value = payload.get("input")
    if not (isinstance(value, str) or (isinstance(value, list) and value
                                       and all(isinstance(item, str) for item in value))):
        raise InvalidRequest("Ollama upstreams embed text only: input must be a string or a list of strings",
                             param="input")
    body: dict = {"model": model, "input": value}
    if payload.get("dimensions") is not None:
        body["dimensions"] = payload["dimensions"]
    if provider.keep_alive not in (None, ""):
        body["keep_alive"] = provider.keep_alive
    return body


# ---------------------------------------------------------------- Ollama -> canonical


def _usage(answer: dict) -> dict:
    prompt = _count(answer.get("prompt_eval_count"))
    completion = _count(answer.get("eval_count"))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _finish_reason(answer: dict, had_tool_calls: bool) -> str:
    if had_tool_calls:
        return "tool_calls"
    return "length" if answer.get("done_reason") == "length" else "stop"


def _canonical_calls(calls: Any, first_index: int = 0) -> list[dict]:
    """Ollama's complete tool calls as OpenAI ones (arguments a JSON string, an id each)."""
    out = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            arguments_text = arguments
        else:
            arguments_text = json.dumps(arguments if isinstance(arguments, dict) else {}, ensure_ascii=False)
        call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else new_id("call_")
        out.append({"index": first_index + len(out), "id": call_id, "type": "function",
                    "function": {"name": function["name"], "arguments": arguments_text}})
    return out


def _message_parts(answer: dict) -> tuple[str, str, Any]:
    message = answer.get("message") if isinstance(answer.get("message"), dict) else {}
    content = message.get("content")
    thinking = message.get("thinking")
    return (content if isinstance(content, str) else text_of(content),
            thinking if isinstance(thinking, str) else "", message.get("tool_calls"))


def _decode_chat(answer: dict, public_model: str) -> dict:
    content, thinking, raw_calls = _message_parts(answer)
    calls = _canonical_calls(raw_calls)
    message: dict = {"role": "assistant", "content": content}
    if thinking:
        message["reasoning_content"] = thinking
    if calls:
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls]
    return {"id": new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
            "model": public_model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _finish_reason(answer, bool(calls))}],
            "usage": _usage(answer)}


def _decode_generate(answer: dict, public_model: str) -> dict:
    text = answer.get("response")
    choice: dict = {"index": 0, "text": text if isinstance(text, str) else "", "logprobs": None,
                    "finish_reason": _finish_reason(answer, False)}
    if isinstance(answer.get("thinking"), str) and answer["thinking"]:
        choice["reasoning_content"] = answer["thinking"]
    return {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
            "model": public_model, "choices": [choice], "usage": _usage(answer)}


def _decode_embed(answer: dict, public_model: str) -> dict:
    vectors = answer.get("embeddings")
    vectors = vectors if isinstance(vectors, list) else []
    prompt = _count(answer.get("prompt_eval_count"))
    return {"object": "list", "model": public_model,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}


class OllamaWire:
    """api_type ``ollama``: Ollama's native API, converted to and from the canonical form."""

    family = "ollama"

    def outgoing(self, endpoint: str, payload: dict, upstream_model: str, provider: ProviderConfig,
                 stream: bool) -> Outgoing:
        if endpoint == "chat":
            body = _chat_body(payload, upstream_model, provider, stream)
        elif endpoint == "completions":
            body = _generate_body(payload, upstream_model, provider, stream)
        elif endpoint == "embeddings":
            body = _embed_body(payload, upstream_model, provider)
            stream = False
        else:
            raise InvalidRequest(f"Ollama upstreams do not serve the {endpoint} endpoint")
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return Outgoing(ENDPOINT_PATHS[endpoint], data, request_headers(provider, stream=stream))

    def request_headers(self, provider: ProviderConfig, stream: bool) -> dict[str, str]:
        return request_headers(provider, stream=stream)

    def decode(self, endpoint: str, body: bytes, public_model: str) -> dict:
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError("the answer is not a JSON object")
        if endpoint == "chat":
            return _decode_chat(answer, public_model)
        if endpoint == "completions":
            return _decode_generate(answer, public_model)
        return _decode_embed(answer, public_model)

    def error_message(self, body: bytes) -> str:
        return error_message(body)

    def stream_decoder(self, endpoint: str, public_model: str) -> "NDJSONChunkDecoder":
        return NDJSONChunkDecoder(endpoint, public_model)

    def probe_headers(self, provider: ProviderConfig) -> dict[str, str]:
        return probe_headers(provider)


class NDJSONChunkDecoder(StreamDecoder):
    """Ollama's NDJSON stream to canonical chunks; the ``done: true`` line says it is complete.

    Chat lines become ``chat.completion.chunk``s (role in the first), generate lines
    ``text_completion`` chunks. The done line gives a finish chunk and then a usage-only chunk.
    """

    def __init__(self, endpoint: str, public_model: str):
        self.chat = endpoint == "chat"
        self.public_model = public_model
        self.parser = LineParser()
        self.id = new_id("chatcmpl-" if self.chat else "cmpl-")
        self.created = int(time.time())
        self.started = False
        self.calls = 0  # tool calls sent so far: the next one's index

    def _chunks(self, lines: list[str]) -> list[dict]:
        chunks: list[dict] = []
        for line in lines:
            if self.complete:
                break
            try:
                item = json.loads(line)
            except ValueError:
                raise StreamFailed("The upstream sent a malformed stream line.") from None
            if not isinstance(item, dict):
                continue
            if "error" in item:
                raise StreamFailed(error_message(line))
            if self.chat:
                self._chat_line(item, chunks)
            else:
                self._generate_line(item, chunks)
            if item.get("done") is True:
                self.complete = True
        return chunks

    def _chunk(self, choices: list[dict], **extra) -> dict:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.public_model,
                "choices": choices, **extra}

    def _chat_line(self, item: dict, chunks: list[dict]) -> None:
        content, thinking, raw_calls = _message_parts(item)
        calls = _canonical_calls(raw_calls, self.calls)
        self.calls += len(calls)
        delta: dict = {}
        if not self.started:
            delta["role"] = "assistant"
            self.started = True
        if content or "role" in delta:
            delta["content"] = content
        if thinking:
            delta["reasoning_content"] = thinking
        if calls:
            delta["tool_calls"] = calls
        if delta:
            chunks.append(self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]))
        if item.get("done") is True:
            finish = _finish_reason(item, self.calls > 0)
            chunks.append(self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]))
            chunks.append(self._chunk([], usage=_usage(item)))

    def _generate_line(self, item: dict, chunks: list[dict]) -> None:
        text = item.get("response") if isinstance(item.get("response"), str) else ""
        thinking = item.get("thinking") if isinstance(item.get("thinking"), str) else ""
        if text or thinking:
            choice: dict = {"index": 0, "text": text, "logprobs": None, "finish_reason": None}
            if thinking:
                choice["reasoning_content"] = thinking
            chunks.append(self._chunk([choice]))
        if item.get("done") is True:
            finish = _finish_reason(item, False)
            chunks.append(self._chunk([{"index": 0, "text": "", "logprobs": None, "finish_reason": finish}]))
            chunks.append(self._chunk([], usage=_usage(item)))
