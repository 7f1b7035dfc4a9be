"""A fake vLLM / OpenAI-compatible upstream for the gateway's tests and benchmarks.

HTTP/1.1 is parsed by hand on ``asyncio.Protocol`` (stdlib only) so that one event loop pinned
to a core can hold thousands of slow streams and answer keep-alive requests for a fraction of
the CPU the gateway spends on them: the fake must never be the bottleneck of a benchmark.

Tests run it in-process (``with FakeUpstream(...) as up``); benchmarks run it on the command line:
``python -m tests.upstreams.fake_openai --port 9100 --token-delay 0.02 --n-tokens 64``.

Plain chat (and every completion) takes a fast path: ``tok0 tok1 ...`` or ``echo:`` text. A chat
with tools, tool messages, ``stop``, content parts, or a last message starting with ``sys?`` or
``think:`` is answered by :mod:`tests.upstreams.scripted` instead, the brain every fake shares
(tool calls, ``reasoning_content``, vLLM's ``stop_reason``). With ``serves_responses=True``,
``POST /v1/responses`` answers a minimal OpenAI Responses API from the same brain.

The HTTP machinery (:class:`_Connection`, :class:`_Reply`, :class:`_Stream`) is shared by the
other protocol fakes (``fake_ollama``, ``fake_anthropic``): they subclass :class:`FakeUpstream`
and override ``_route`` and ``_error``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import socket
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.upstreams.scripted import WORDS, Answer, Message, answer, content_text, json_pieces, pieces, stop_list
from tests.upstreams.threaded import ThreadedServer

BEHAVIOURS = frozenset(
    {"echo", "slow", "hang", "fail500", "fail429", "fail400", "drop_mid_stream", "close_before_headers"}
)

_MAX_HEAD = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_KINDS = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError", 429: "RateLimitError"}
_FAILURES = {"fail500": 500, "fail429": 429, "fail400": 400}
_JSON = "content-type: application/json\r\n"
_SSE = "content-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_WORDS = WORDS  # stream pieces that concatenate back to the exact text


@dataclass(slots=True)
class RecordedRequest:
    """One request as the upstream received it, for tests to assert on what the gateway sent."""

    method: str
    path: str  # the request target as sent, query string included
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # the parsed body, None when it is empty or not JSON


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    headers: str = _JSON  # header lines, each ending in CRLF


@dataclass(slots=True)
class _Stream:
    """A streamed answer (SSE unless ``headers`` say otherwise), already framed as HTTP chunks (one per event)."""

    lead: list[bytes]  # before the tokens: chat's role chunk
    tokens: list[bytes]  # the events spread over time (token_delay before each; drop_mid_stream cuts here)
    tail: list[bytes]  # finish chunk, usage chunk, [DONE], terminating chunk
    headers: str = _SSE  # header lines, each ending in CRLF


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


_END = b"0\r\n\r\n"  # the terminating chunk
_DONE = _chunk(b"data: [DONE]\n\n") + _END


def _sse(name: str, payload: Any) -> bytes:
    """One named SSE event (Anthropic's and the Responses API's framing) as an HTTP chunk."""
    return _chunk(b"event: %s\ndata: %s\n\n" % (name.encode(), _encode(payload).encode()))


def _error(status: int, message: str, kind: str, headers: str = _JSON) -> _Reply:
    body = _encode({"error": {"message": message, "type": kind, "code": status}}).encode()
    return _Reply(status, body, headers)


_HEALTH = _Reply(200, b"", "")


def _count_words(value: Any) -> int:
    """Prompt "tokens": words in strings, lists of them and content parts ({"type": "text", ...})."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(item) for item in value)
    if isinstance(value, dict):
        return _count_words(value.get("text"))
    return 0


def _embedding(text: str) -> list[float]:
    return [b / 255 for b in hashlib.blake2b(text.encode(), digest_size=8).digest()]


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _parse_request(buf: bytearray) -> tuple[str, str, dict[str, str], bytes, bool] | None:
    """Take one complete request off ``buf``: (method, target, headers, body, keep_alive).

    None while it is incomplete; ValueError when it is not HTTP/1.x.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > _MAX_HEAD:
            raise ValueError("request head too large")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if "chunked" in headers.get("transfer-encoding", "").lower():
        dechunked = _dechunk(buf, start)
        if dechunked is None:
            return None
        body, stop = dechunked
    else:
        length = int(headers.get("content-length", "0"))
        if length < 0:
            raise ValueError("negative content-length")
        stop = start + length
        if len(buf) < stop:
            return None
        body = bytes(buf[start:stop])
    del buf[:stop]
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return method, target, headers, body, keep_alive


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body that starts at ``pos``: (body, end offset), None while incomplete."""
    parts = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            break
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        pos += size + 2
    while True:  # trailer lines, up to the empty one
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        if eol == pos:
            return b"".join(parts), eol + 2
        pos = eol + 2


class _Connection(asyncio.Protocol):
    """One client connection; answers its requests one at a time, in order (keep-alive, pipelining)."""

    __slots__ = ("_active", "_buf", "_keep_alive", "_task", "_transport", "_up")

    def __init__(self, up: FakeUpstream) -> None:
        self._up = up
        self._buf = bytearray()
        self._transport: asyncio.Transport
        self._active = False  # a request is being answered (or hung on)
        self._keep_alive = True
        self._task: asyncio.Task[None] | None = None  # the answer, when it needs the clock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._up._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._active:
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        # eof_received's default closes the transport, so a client leaving lands here at once.
        self._up._connections.discard(self)
        if self._active:
            self._abandon(disconnected=True)

    def shutdown(self) -> None:
        """Server stop: drop the connection without counting it as a client disconnect."""
        if self._active:
            self._abandon(disconnected=False)
        self._transport.abort()

    def _abandon(self, *, disconnected: bool) -> None:
        if self._task is not None:
            self._task.cancel()
        self._end(disconnected)

    def _end(self, disconnected: bool = False) -> None:
        """The current answer is over (before its last bytes go out, so clients never see it in flight)."""
        self._active = False
        self._task = None
        self._up._finish(disconnected)

    def _process(self) -> None:
        while self._buf and not self._active and not self._transport.is_closing():
            try:
                request = _parse_request(self._buf)
            except ValueError as exc:
                self._keep_alive = False
                reply = self._up._error(400, f"malformed HTTP request: {exc}")
                self._transport.write(self._head(reply.status, reply.headers, len(reply.body)) + reply.body)
                self._transport.close()
                return
            if request is None:
                return
            self._respond(*request)

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        up = self._up
        parsed = _parse_json(body)
        up._record(RecordedRequest(method, target, headers, body, parsed))
        self._active = True
        self._keep_alive = keep_alive
        behaviour = up.behaviour
        if behaviour == "hang":
            return
        if behaviour == "close_before_headers":
            self._end()
            self._transport.close()
            return
        reply = up._reply(behaviour, method, target.partition("?")[0], parsed, headers)
        drop_after = up.drop_after if behaviour == "drop_mid_stream" else None
        delay = up.headers_delay if behaviour == "slow" else 0.0
        if delay > 0 or isinstance(reply, _Stream):
            self._task = asyncio.get_running_loop().create_task(self._deliver(reply, delay, up.token_delay, drop_after))
        else:
            self._write(reply, drop_after)

    def _head(self, status: int, headers: str, length: int | None = None) -> bytes:
        framing = "" if length is None else f"content-length: {length}\r\n"
        close = "" if self._keep_alive else "connection: close\r\n"
        return f"HTTP/1.1 {status} {_REASONS[status]}\r\n{headers}{framing}{close}\r\n".encode()

    def _write(self, reply: _Reply, drop_after: int | None) -> None:
        body = reply.body
        head = self._head(reply.status, reply.headers, len(body))
        if drop_after is None:
            self._complete(head + body)
        else:
            self._drop(head + body[: len(body) // 2])

    async def _deliver(self, reply: _Reply | _Stream, delay: float, token_delay: float, drop_after: int | None) -> None:
        """An answer that needs the clock: a late status line and/or tokens spread over time."""
        if delay > 0:
            await asyncio.sleep(delay)
        if isinstance(reply, _Reply):
            self._write(reply, drop_after)
        else:
            write = self._transport.write
            write(self._head(200, reply.headers) + b"".join(reply.lead))
            tokens = reply.tokens if drop_after is None else reply.tokens[:drop_after]
            for event in tokens:
                if token_delay > 0:
                    await asyncio.sleep(token_delay)
                write(event)
            if drop_after is None:
                self._complete(b"".join(reply.tail))
            else:
                self._drop(b"")
        self._process()

    def _complete(self, data: bytes) -> None:
        self._end()
        self._transport.write(data)
        if not self._keep_alive:
            self._transport.close()

    def _drop(self, data: bytes) -> None:
        self._end()
        self._transport.write(data)
        self._transport.abort()


_POSTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})


class FakeUpstream(ThreadedServer):
    """A vLLM-like server on 127.0.0.1 whose behaviour tests can switch while it runs.

    Configuration attributes are read by the loop thread at the start of each request, so a test
    may change them at any time; counters are guarded by a Condition that the wait_* methods use.
    """

    #: The protocol of each accepted connection; a subclass may serve its own (single_backend.py).
    connection_class: type = _Connection

    thread_name = "fake-openai"

    def __init__(
        self,
        *,
        behaviour: str = "echo",
        token_delay: float = 0.0,
        n_tokens: int = 8,
        headers_delay: float = 0.0,
        drop_after: int = 2,
        model: str = "test-model",
        host: str = "127.0.0.1",
        port: int = 0,
        serves_responses: bool = False,
    ) -> None:
        self.behaviour = behaviour
        self.token_delay = token_delay
        self.n_tokens = n_tokens
        self.headers_delay = headers_delay
        self.drop_after = drop_after
        self.model = model
        self.serves_responses = serves_responses  # POST /v1/responses answers (else 404, as vLLM did)
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._in_flight = self._peak = self._disconnects = 0
        self._ids = itertools.count(1)
        self._connections: set[_Connection] = set()

    @property
    def behaviour(self) -> str:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:  # a typo would otherwise silently mean "echo"
            raise ValueError(f"unknown behaviour {value!r}, expected one of {sorted(BEHAVIOURS)}")
        self._behaviour = value

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def peak_concurrency(self) -> int:
        with self._cond:
            return self._peak

    @property
    def disconnects(self) -> int:
        with self._cond:
            return self._disconnects


    def wait_for_disconnect(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._disconnects > 0, timeout)

    def wait_for_requests(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= n, timeout)

    def reset(self) -> None:
        """Forget requests and counters; in_flight stays true to what is still open (peak restarts from it)."""
        with self._cond:
            self.requests.clear()
            self._disconnects = 0
            self._peak = self._in_flight

    async def _serve(self, ready: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = asyncio.Event()
        server = await loop.create_server(lambda: self.connection_class(self), self.host, self.port, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        ready()
        await self._stopping.wait()
        server.close()
        for conn in list(self._connections):
            conn.shutdown()
        await asyncio.sleep(0)  # let the aborted transports report connection_lost before the loop closes

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            self._cond.notify_all()

    def _finish(self, disconnected: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if disconnected:
                self._disconnects += 1
                self._cond.notify_all()

    # Answers (run on the loop thread).

    def _reply(
        self, behaviour: str, method: str, path: str, parsed: Any, headers: dict[str, str]
    ) -> _Reply | _Stream:
        status = _FAILURES.get(behaviour)
        if status is None:
            return self._route(method, path, parsed, headers)
        if status == 400:
            model = parsed.get("model", self.model) if isinstance(parsed, dict) else self.model
            return self._error(400, f"The model `{model}` does not exist.")
        reply = self._error(status, "rate limit exceeded" if status == 429 else "internal failure")
        if status == 429:
            reply.headers += "retry-after: 1\r\n"
        return reply

    def _error(self, status: int, message: str) -> _Reply:
        """An error in this server's protocol (subclasses speaking another one override it)."""
        return _error(status, message, _KINDS.get(status, "InternalServerError"))

    def _route(self, method: str, path: str, parsed: Any, headers: dict[str, str]) -> _Reply | _Stream:
        if method == "GET":
            if path == "/health":
                return _HEALTH
            if path == "/v1/models":
                card = {"id": self.model, "object": "model", "created": int(time.time()), "owned_by": "vllm"}
                return _Reply(200, _encode({"object": "list", "data": [card]}).encode())
        elif method == "POST" and (path in _POSTS or (path == "/v1/responses" and self.serves_responses)):
            if not isinstance(parsed, dict):
                return self._error(400, "request body must be a JSON object")
            if path == "/v1/chat/completions":
                return self._chat(parsed)
            if path == "/v1/completions":
                return self._completion(parsed)
            if path == "/v1/responses":
                return self._responses(parsed)
            return self._embeddings(parsed)
        return self._error(404, f"Not Found: {method} {path}")

    def _chat(self, body: dict[str, Any]) -> _Reply | _Stream:
        messages = body.get("messages")
        if not isinstance(messages, list):
            messages = []
        contents = [m.get("content") for m in messages if isinstance(m, dict)]
        last = contents[-1] if contents else None
        if (
            body.get("tools")
            or body.get("stop")
            or isinstance(last, list)
            or (isinstance(last, str) and last.startswith(("sys?", "think:")))
            or any(isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages)
        ):
            return self._scripted_chat(body, messages)
        return self._generate(body, True, last, _count_words(contents))

    def _completion(self, body: dict[str, Any]) -> _Reply | _Stream:
        prompt = body.get("prompt")
        last = prompt[-1] if isinstance(prompt, list) and prompt else prompt
        return self._generate(body, False, last, _count_words(prompt))

    def _generate(self, body: dict[str, Any], chat: bool, last: Any, prompt_tokens: int) -> _Reply | _Stream:
        if isinstance(last, str) and last.startswith("echo:"):
            pieces, finish = _WORDS.findall(last[5:]), "stop"
        else:
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            count, finish = (limit, "length") if isinstance(limit, int) else (self.n_tokens, "stop")
            pieces = [f"tok{i} " for i in range(count)]
            if pieces:
                pieces[-1] = pieces[-1][:-1]
        model = body.get("model", self.model)
        created = int(time.time())
        rid = f"chatcmpl-{next(self._ids)}" if chat else f"cmpl-{next(self._ids)}"
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces)}
        usage["total_tokens"] = prompt_tokens + len(pieces)
        if not body.get("stream"):
            text = "".join(pieces)
            answer = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": answer} if chat else {"index": 0, "text": text}
            choice.update(finish_reason=finish, logprobs=None)
            obj = "chat.completion" if chat else "text_completion"
            return _Reply(
                200,
                _encode(
                    {"id": rid, "object": obj, "created": created, "model": model, "choices": [choice], "usage": usage}
                ).encode(),
            )

        obj = "chat.completion.chunk" if chat else "text_completion"
        key = "delta" if chat else "text"

        def event(value: Any = None, finish_reason: str | None = None, **extra: Any) -> bytes:
            choices = (
                [] if value is None else [{"index": 0, key: value, "logprobs": None, "finish_reason": finish_reason}]
            )
            envelope = {"id": rid, "object": obj, "created": created, "model": model, "choices": choices, **extra}
            return b"data: " + _encode(envelope).encode() + b"\n\n"

        # Token events differ only in their text: encode the envelope once, splice each piece in.
        before, after = event({"content": "\0"} if chat else "\0").split(b'"\\u0000"')
        tokens = [_chunk(before + _encode(piece).encode() + after) for piece in pieces]
        lead = [event({"role": "assistant", "content": ""})] if chat else []
        tail = [event({} if chat else "", finish)]
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            tail.append(event(usage=usage))
        return _Stream([_chunk(e) for e in lead], tokens, [_chunk(e) for e in tail] + [_DONE])

    def _scripted_chat(self, body: dict[str, Any], messages: list[Any]) -> _Reply | _Stream:
        """A chat answered by the scripted brain, in vLLM's chat format (tool calls, reasoning, stop_reason)."""
        convo = [
            Message("system" if m.get("role") == "developer" else str(m.get("role")), content_text(m.get("content")))
            for m in messages
            if isinstance(m, dict)
        ]
        tools = [] if body.get("tool_choice") == "none" else _function_names(body.get("tools"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        out = answer(
            convo, tools=tools, stop=stop_list(body.get("stop")), max_tokens=_int_or_none(limit), n_tokens=self.n_tokens
        )
        model, created, rid = body.get("model", self.model), int(time.time()), f"chatcmpl-{next(self._ids)}"
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _encode(c.arguments)}}
            for c in out.tool_calls
        ]
        usage = _usage(out)
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": out.text if out.text or not calls else None}
            if out.reasoning is not None:
                message["reasoning_content"] = out.reasoning
            if calls:
                message["tool_calls"] = calls
            choice = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": out.finish,
                "stop_reason": out.matched_stop,
            }
            envelope = {"id": rid, "object": "chat.completion", "created": created, "model": model}
            return _Reply(200, _encode({**envelope, "choices": [choice], "usage": usage}).encode())

        def event(delta: dict[str, Any] | None, **extra: Any) -> bytes:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]
            envelope = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
            return _chunk(b"data: " + _encode({**envelope, "choices": choices, **extra}).encode() + b"\n\n")

        tokens = [event({"reasoning_content": piece}) for piece in pieces(out.reasoning or "")]
        tokens += [event({"content": piece}) for piece in pieces(out.text)]
        for index, call in enumerate(calls):
            function = call["function"]
            first = {**call, "index": index, "function": {"name": function["name"], "arguments": ""}}
            tokens.append(event({"tool_calls": [first]}))
            tokens += [
                event({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in json_pieces(function["arguments"])
            ]
        finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": out.finish}
        tail = [event(None, choices=[{**finish, "stop_reason": out.matched_stop}])]
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            tail.append(event(None, usage=usage))
        return _Stream([event({"role": "assistant", "content": ""})], tokens, tail + [_DONE])

    def _responses(self, body: dict[str, Any]) -> _Reply | _Stream:
        """A minimal OpenAI Responses API: text and function calls, answered by the scripted brain."""
        items = body.get("input")
        convo = [Message("system", body["instructions"])] if isinstance(body.get("instructions"), str) else []
        if isinstance(items, str):
            convo.append(Message("user", items))
        elif isinstance(items, list):
            for item in items:
                kind = item.get("type", "message") if isinstance(item, dict) else None
                if kind == "message":
                    role = "system" if item.get("role") == "developer" else str(item.get("role"))
                    convo.append(Message(role, content_text(item.get("content"))))
                elif kind == "function_call_output":
                    convo.append(Message("tool", content_text(item.get("output"))))
                elif kind == "function_call":
                    convo.append(Message("assistant", ""))
        else:
            return self._error(400, "input must be a string or a list of input items")
        tools = body.get("tools") if isinstance(body.get("tools"), list) else []
        names = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        out = answer(convo, tools=names, max_tokens=_int_or_none(body.get("max_output_tokens")), n_tokens=self.n_tokens)
        number = next(self._ids)
        rid, msg_id = f"resp_{number:08x}", f"msg_{number:08x}"
        message = {"type": "message", "id": msg_id, "status": "completed", "role": "assistant", "content": []}
        text_part = {"type": "output_text", "text": out.text, "annotations": []}
        calls = [
            {
                "type": "function_call",
                "id": "fc_" + c.id.removeprefix("call_"),
                "call_id": c.id,
                "name": c.name,
                "arguments": _encode(c.arguments),
                "status": "completed",
            }
            for c in out.tool_calls
        ]
        output = ([{**message, "content": [text_part]}] if out.text or not calls else []) + calls
        response = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "incomplete" if out.finish == "length" else "completed",
            "incomplete_details": {"reason": "max_output_tokens"} if out.finish == "length" else None,
            "error": None,
            "model": body.get("model", self.model),
            "output": output,
            "usage": {
                "input_tokens": out.prompt_tokens,
                "output_tokens": out.completion_tokens,
                "total_tokens": out.prompt_tokens + out.completion_tokens,
            },
        }
        if not body.get("stream"):
            return _Reply(200, _encode(response).encode())

        numbers = itertools.count()

        def event(name: str, **data: Any) -> bytes:
            return _sse(name, {"type": name, **data, "sequence_number": next(numbers)})

        start = {**response, "status": "in_progress", "incomplete_details": None, "output": [], "usage": None}
        lead = [event("response.created", response=start), event("response.in_progress", response=start)]
        tokens = []
        if output[0]["type"] == "message":
            at = {"item_id": msg_id, "output_index": 0, "content_index": 0}
            tokens += [
                event("response.output_item.added", output_index=0, item={**message, "status": "in_progress"}),
                event("response.content_part.added", **at, part={**text_part, "text": ""}),
            ]
            tokens += [event("response.output_text.delta", **at, delta=piece) for piece in pieces(out.text)]
            tokens += [
                event("response.output_text.done", **at, text=out.text),
                event("response.content_part.done", **at, part=text_part),
                event("response.output_item.done", output_index=0, item=output[0]),
            ]
        for index, call in enumerate(calls, len(output) - len(calls)):
            at = {"item_id": call["id"], "output_index": index}
            tokens.append(event("response.output_item.added", output_index=index, item={**call, "arguments": ""}))
            tokens += [
                event("response.function_call_arguments.delta", **at, delta=piece)
                for piece in json_pieces(call["arguments"])
            ]
            tokens += [
                event("response.function_call_arguments.done", **at, arguments=call["arguments"]),
                event("response.output_item.done", output_index=index, item=call),
            ]
        return _Stream(lead, tokens, [event("response.completed", response=response), _END])

    def _embeddings(self, body: dict[str, Any]) -> _Reply:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            return _error(400, "input must be a string or a list of strings", "BadRequestError")
        as_base64 = body.get("encoding_format") == "base64"  # the openai SDK's default, as vLLM supports it
        data = []
        for index, text in enumerate(inputs):
            vector: Any = _embedding(text)
            if as_base64:
                vector = base64.b64encode(array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        words = _count_words(inputs)
        usage = {"prompt_tokens": words, "total_tokens": words}
        return _Reply(
            200,
            _encode({"object": "list", "data": data, "model": body.get("model", self.model), "usage": usage}).encode(),
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _function_names(tools: Any) -> list[str]:
    """Tool names offered in OpenAI's (and Ollama's) ``tools`` list, in order."""
    if not isinstance(tools, list):
        return []
    functions = [t.get("function") for t in tools if isinstance(t, dict)]
    return [f["name"] for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)]


def _usage(out: Answer) -> dict[str, int]:
    total = out.prompt_tokens + out.completion_tokens
    return {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens, "total_tokens": total}


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on, for "upstream is down" tests (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake vLLM / OpenAI-compatible upstream for benchmarks.")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--behaviour", default="echo", choices=sorted(BEHAVIOURS))
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--n-tokens", type=int, default=8)
    parser.add_argument("--model", default="test-model")
    args = parser.parse_args(argv)
    up = FakeUpstream(
        behaviour=args.behaviour,
        token_delay=args.token_delay,
        n_tokens=args.n_tokens,
        model=args.model,
        host=args.host,
        port=args.port,
    )
    up.serve_in_foreground()


if __name__ == "__main__":
    main()
