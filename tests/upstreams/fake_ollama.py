"""A fake Ollama 0.12 server speaking Ollama's native API, for the gateway's ``api_type: ollama`` tests.

Same HTTP machinery, behaviours and counters as :class:`~tests.upstreams.fake_openai.FakeUpstream`;
answers come from :mod:`tests.upstreams.scripted`. What a real Ollama does and a gateway codec
must cope with, reproduced here: ``stream`` defaults to TRUE, streams are NDJSON
(``application/x-ndjson``, one JSON object per line), tool call arguments are JSON objects (a
string is refused, as Go's decoder refuses it), ``options.stop`` must be an array, a tool call
arrives whole in one stream line, errors are ``{"error": "..."}`` and the final line
(``done: true``) carries ``done_reason`` and the counts, which are left out when zero
(Go's ``omitempty``). An empty ``messages`` (chat) or ``prompt`` (generate) only "loads" the
model: ``done_reason: "load"``.

Routes: ``GET /``, ``GET /api/version``, ``GET /api/tags``, ``POST /api/chat``,
``POST /api/generate``, ``POST /api/embed``, ``POST /api/embeddings``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tests.upstreams.fake_openai import (
    _END,
    FakeUpstream,
    _chunk,
    _embedding,
    _encode,
    _function_names,
    _Reply,
    _Stream,
)
from tests.upstreams.scripted import Answer, Message, answer, pieces

VERSION = "0.12.0"
_JSON = "content-type: application/json; charset=utf-8\r\n"
_NDJSON = "content-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n"
_ROOT = _Reply(200, b"Ollama is running", "content-type: text/plain; charset=utf-8\r\n")


def _now() -> str:
    """RFC 3339 with nanoseconds, as Go marshals a time.Time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _json(obj: Any) -> _Reply:
    return _Reply(200, _encode(obj).encode(), _JSON)


def _line(obj: Any) -> bytes:
    return _chunk(_encode(obj).encode() + b"\n")


def _metrics(out: Answer) -> dict[str, int]:
    """The final object's timings (ns) and counts; zero values left out, as Ollama does."""
    metrics = {
        "total_duration": 0,
        "load_duration": 1_000_000,
        "prompt_eval_count": out.prompt_tokens,
        "prompt_eval_duration": 1_000 * out.prompt_tokens,
        "eval_count": out.completion_tokens,
        "eval_duration": 10_000 * out.completion_tokens,
    }
    metrics["total_duration"] = metrics["load_duration"] + metrics["prompt_eval_duration"] + metrics["eval_duration"]
    return {key: value for key, value in metrics.items() if value}


def _message_problem(message: Any) -> str | None:
    """Why Ollama's JSON decoder would refuse this chat message, or None."""
    if not isinstance(message, dict):
        return "must be an object"
    if not isinstance(message.get("role"), str):
        return "role must be a string"
    for key in ("content", "thinking", "tool_name"):
        if message.get(key) is not None and not isinstance(message[key], str):
            return f"{key} must be a string"
    images = message.get("images")
    if images is not None and not (isinstance(images, list) and all(isinstance(i, str) for i in images)):
        return "images must be a list of base64 strings"
    calls = message.get("tool_calls")
    if calls is None:
        return None
    if not isinstance(calls, list):
        return "tool_calls must be a list"
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return "tool_calls[].function.name must be a string"
        if not isinstance(function.get("arguments"), dict):
            return "tool_calls[].function.arguments must be an object"
    return None


class FakeOllama(FakeUpstream):
    """An Ollama-like server on 127.0.0.1 (constructor arguments as :class:`FakeUpstream`'s)."""

    thread_name = "fake-ollama"

    def _error(self, status: int, message: str) -> _Reply:
        return _Reply(status, _encode({"error": message}).encode(), _JSON)

    def _route(self, method: str, path: str, parsed: Any, headers: dict[str, str]) -> _Reply | _Stream:
        if method == "GET":
            if path == "/":
                return _ROOT
            if path == "/api/version":
                return _json({"version": VERSION})
            if path == "/api/tags":
                return _json({"models": [self._model_card()]})
        elif method == "POST" and path in ("/api/chat", "/api/generate", "/api/embed", "/api/embeddings"):
            if not isinstance(parsed, dict):
                return self._error(400, "request body must be a JSON object")
            if path == "/api/embeddings":  # the legacy route: no model check, one vector
                prompt = parsed.get("prompt")
                return _json({"embedding": _embedding(prompt) if isinstance(prompt, str) and prompt else []})
            model = parsed.get("model")
            if not isinstance(model, str) or not model:
                return self._error(400, "model is required")
            if path == "/api/embed":
                return self._embed(model, parsed)
            return self._generate_or_chat(model, parsed, chat=path == "/api/chat")
        return self._error(404, f"404 page not found: {method} {path}")

    def _model_card(self) -> dict[str, Any]:
        details = {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1B",
            "quantization_level": "Q4_K_M",
        }
        return {
            "name": self.model,
            "model": self.model,
            "modified_at": "2025-09-18T10:00:00.000000000Z",
            "size": 807_694_464,
            "digest": "a" * 64,
            "details": details,
        }

    def _embed(self, model: str, body: dict[str, Any]) -> _Reply:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            return self._error(400, "invalid input type")
        words = sum(len(text.split()) for text in inputs)
        return _json(
            {
                "model": model,
                "embeddings": [_embedding(text) for text in inputs],
                "total_duration": 2_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": words,
            }
        )

    def _generate_or_chat(self, model: str, body: dict[str, Any], *, chat: bool) -> _Reply | _Stream:
        options = body.get("options") or {}
        if not isinstance(options, dict):
            return self._error(400, "options must be an object")
        stop, limit = options.get("stop", []), options.get("num_predict")
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            return self._error(400, 'option "stop" must be of type array')
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            return self._error(400, 'option "num_predict" must be of type integer')
        if chat:
            messages = body.get("messages") or []
            if not isinstance(messages, list):
                return self._error(400, "messages must be a list")
            for index, message in enumerate(messages):
                if problem := _message_problem(message):
                    return self._error(400, f"messages[{index}]: {problem}")
            convo = [Message(m["role"], m.get("content") or "") for m in messages]
            tools, loading = _function_names(body.get("tools")), not messages
        else:
            prompt, system = body.get("prompt") or "", body.get("system")
            if not isinstance(prompt, str) or (system is not None and not isinstance(system, str)):
                return self._error(400, "prompt and system must be strings")
            convo = ([Message("system", system)] if system else []) + [Message("user", prompt)]
            tools, loading = [], not prompt
        stream = body.get("stream") is not False  # absent or null: Ollama streams
        key = "message" if chat else "response"
        created = _now()

        def reply(text: str = "", **extra: Any) -> dict[str, Any]:
            value = {"role": "assistant", "content": text} if chat else text
            return {"model": model, "created_at": created, key: value, **extra}

        if loading:  # nothing to answer: Ollama loads the model and says so in one JSON object, stream or not
            return _json(reply(done=True, done_reason="load"))
        out = answer(
            convo,
            tools=tools,
            stop=stop,
            max_tokens=limit if limit is not None and limit >= 0 else None,
            n_tokens=self.n_tokens,
        )
        calls = [{"function": {"name": c.name, "arguments": c.arguments}} for c in out.tool_calls]
        done = {"done": True, "done_reason": "length" if out.finish == "length" else "stop", **_metrics(out)}
        if not stream:
            final = reply(out.text, **done)
            extras = final[key] if chat else final
            if out.reasoning is not None:
                extras["thinking"] = out.reasoning
            if calls:
                extras["tool_calls"] = calls
            return _json(final)

        def thinking(piece: str) -> dict[str, Any]:
            line = reply(done=False)
            (line[key] if chat else line)["thinking"] = piece
            return line

        tokens = [_line(thinking(piece)) for piece in pieces(out.reasoning or "")]
        tokens += [_line(reply(piece, done=False)) for piece in pieces(out.text)]
        if calls:
            line = reply(done=False)
            line[key]["tool_calls"] = calls
            tokens.append(_line(line))
        return _Stream([], tokens, [_line(reply(**done)), _END], _NDJSON)
