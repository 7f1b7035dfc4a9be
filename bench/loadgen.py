"""A lean HTTP/1.1 load generator on asyncio, so that the client is never what limits a benchmark.

Why hand-rolled: an HTTP client library (aiohttp, httpx, requests) spends tens to hundreds of
microseconds of Python per request, on the same core as the fake upstream. Here each virtual user
owns one keep-alive connection (an ``asyncio.Protocol``); a request is a prebuilt byte string and
the response is parsed incrementally with ``bytes.find``: status line, ``content-length`` or
``chunked`` framing, nothing else.

Timing (``time.perf_counter``, taken once per ``data_received``):

- latency: from writing the request to the last byte of the response (the terminating chunk).
- time to first token (streams): to the ``data_received`` call that completes the first SSE
  *token* event, i.e. the first ``"delta":{"content":...}`` chunk. The role chunk that precedes
  it (``"delta":{"role":"assistant","content":""}``) is deliberately not counted: it carries no
  token, and the gateway may pass it on before the model has produced anything.

A response counts as OK only when it is complete and right: status 200; for a non-stream answer
the usage reports the requested completion tokens; for a stream exactly the requested number of
token events arrived, no ``error`` event, and it ends with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Callable

# The fake upstreams' tokens are "tok0 ", "tok1 ", ...: one per token event, however the JSON
# around it is spaced (relayed as vLLM wrote it, or converted by the gateway).
TOKEN_MARK = b'"tok0'  # the first token (TTFT); no model is named so
TOKEN_EVENT = re.compile(rb'"content": ?"tok[0-9]')
DONE_MARK = b"data: [DONE]"
_HEAD, _FIXED, _SIZE, _DATA, _TRAILER, _DONE = range(6)


@dataclass(frozen=True)
class Workload:
    """What every virtual user sends: one chat completion request."""

    model: str
    stream: bool
    n_tokens: int
    prompt: str = "Write a short poem about load balancers."
    headers: tuple[str, ...] = ()  # extra "Name: value" header lines (an API key)

    def request_bytes(self, host: str, port: int) -> bytes:
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": self.prompt}],
                "max_tokens": self.n_tokens,
                "stream": self.stream,
            },
            separators=(",", ":"),
        ).encode()
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAccept: {'text/event-stream' if self.stream else 'application/json'}\r\n"
            + "".join(f"{line}\r\n" for line in self.headers)
            + f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    token_mark = TOKEN_MARK  # what the first token event contains (TTFT)

    def check(self, body: bytearray) -> str | None:
        """None when a 200 answer's body is what was asked for, else a short error name."""
        n = self.n_tokens
        if not self.stream:
            # compact (as vLLM writes it) or with a space (as a converted answer is written)
            return None if b'"completion_tokens":%d' % n in body or b'"completion_tokens": %d' % n in body \
                else "wrong_body"
        if b'"error"' in body:
            return "error_event"
        if len(TOKEN_EVENT.findall(body)) != n:
            return "wrong_token_count"
        return None if body.rstrip().endswith(DONE_MARK) else "no_done"


@dataclass(slots=True)
class Outcome:
    """One request as the client saw it; times are perf_counter seconds."""

    start: float
    end: float
    ttft: float | None  # seconds from start to the first token event, streams only
    error: str | None  # None when the response was complete and right

    @property
    def latency(self) -> float:
        return self.end - self.start


class ResponseError(Exception):
    """The server answered something that is not a well-formed HTTP/1.1 response."""


class _Exchange:
    """One response being read: an incremental parser of the status line, framing and body.

    ``workload`` is a :class:`Workload` or any object with its ``stream``, ``token_mark`` and
    ``check`` (bench/dialects.py sends other dialects through the same machinery)."""

    __slots__ = ("workload", "start", "future", "buf", "state", "status", "remaining", "body", "ttft", "scan",
                 "close_after")

    def __init__(self, workload: Workload, start: float, future: asyncio.Future[Outcome]) -> None:
        self.workload = workload
        self.start = start
        self.future = future
        self.buf = bytearray()
        self.state = _HEAD
        self.status = 0
        self.remaining = 0
        self.body = bytearray()
        self.ttft: float | None = None
        self.scan = 0  # where the next search for the first token starts in body
        self.close_after = False

    def feed(self, data: bytes, now: float) -> bool:
        """Consume bytes; True once the response is complete (raises ResponseError if malformed)."""
        buf = self.buf
        buf += data
        if self.state == _HEAD and not self._parse_head():
            return False
        if self.state == _FIXED:
            take = min(self.remaining, len(buf))
            self.body += buf[:take]
            del buf[:take]
            self.remaining -= take
            if self.remaining == 0:
                self.state = _DONE
        else:
            self._parse_chunks()
        if self.ttft is None and self.workload.stream:
            self._look_for_first_token(now)
        return self.state == _DONE

    def _parse_head(self) -> bool:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(buf[:end]).split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ResponseError(f"bad status line {lines[0][:60]!r}")
        self.status = int(parts[1])
        chunked, length = False, 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self.close_after = b"close" in value.lower()
        del buf[: end + 4]
        if chunked:
            self.state = _SIZE
        else:
            self.state, self.remaining = (_FIXED, length) if length else (_DONE, 0)
        return True

    def _parse_chunks(self) -> None:
        buf, pos = self.buf, 0
        while self.state != _DONE:
            if self.state == _DATA:
                if len(buf) - pos < self.remaining + 2:
                    break
                self.body += buf[pos : pos + self.remaining]
                pos += self.remaining + 2
                self.state = _SIZE
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if self.state == _SIZE:
                try:
                    size = int(buf[pos:eol].split(b";", 1)[0], 16)
                except ValueError:
                    raise ResponseError(f"bad chunk size {bytes(buf[pos:eol][:20])!r}") from None
                self.state, self.remaining = (_TRAILER, 0) if size == 0 else (_DATA, size)
            elif eol == pos:  # _TRAILER: the empty line ends the message
                self.state = _DONE
            pos = eol + 2
        del buf[:pos]

    def _look_for_first_token(self, now: float) -> None:
        mark = self.workload.token_mark
        if self.body.find(mark, self.scan) >= 0:
            self.ttft = now - self.start
        else:
            self.scan = max(0, len(self.body) - len(mark))

    def verdict(self) -> str | None:
        """None when the complete response is what was asked for (the workload's check), else a short error name."""
        return f"http_{self.status}" if self.status != 200 else self.workload.check(self.body)


class Connection(asyncio.Protocol):
    """One keep-alive client connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # bytes nobody asked for: the connection can no longer be trusted
            self.close()
            return
        now = time.perf_counter()
        try:
            complete = exchange.feed(data, now)
        except (ResponseError, ValueError) as exc:
            self._settle(Outcome(exchange.start, now, exchange.ttft, f"bad_response: {exc}"))
            self.close()
            return
        if complete:
            self._settle(Outcome(exchange.start, now, exchange.ttft, exchange.verdict()))
            if exchange.close_after:
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None:
            self._settle(Outcome(exchange.start, time.perf_counter(), exchange.ttft, "connection_lost"))

    def _settle(self, outcome: Outcome) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None and not exchange.future.done():
            exchange.future.set_result(outcome)

    def send(self, request: bytes, workload: Workload) -> asyncio.Future[Outcome]:
        """Write one request; the future resolves with its Outcome (never raises)."""
        assert self.transport is not None and self.exchange is None
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.exchange = _Exchange(workload, time.perf_counter(), future)
        self.transport.write(request)
        return future

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


async def connect(host: str, port: int) -> Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, host, port)
    return protocol


PHASES = ("connected", "window_start", "window_end", "drained")


@dataclass
class ClosedLoopResult:
    """Every request of a run, and what ``hook`` read at each phase (see PHASES)."""

    outcomes: list[Outcome] = field(default_factory=list)
    marks: dict[str, tuple[float, object]] = field(default_factory=dict)  # phase -> (perf_counter, hook())
    unfinished: int = 0  # requests still open when the drain grace ran out (counted as errors)

    @property
    def window(self) -> tuple[float, float]:
        return self.marks["window_start"][0], self.marks["window_end"][0]

    @property
    def window_seconds(self) -> float:
        start, end = self.window
        return end - start

    def completed_in_window(self) -> list[Outcome]:
        """Requests that ended inside the window (they may have started in the warm-up)."""
        start, end = self.window
        return [o for o in self.outcomes if start <= o.end <= end]


async def run_closed_loop(
    host: str,
    port: int,
    workload: Workload,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    grace: float,
    hook: Callable[[], object],
) -> ClosedLoopResult:
    """``concurrency`` users, each sending its next request as soon as the last one ends.

    Connections are opened first; then the users run ``warmup`` s, the measured window
    ``duration`` s, then stop sending while in-flight requests get ``grace`` s to finish.
    ``hook`` is called at each of PHASES and its result kept in ``marks`` (the caller reads CPU
    counters there): between "connected" and "drained" lie every request's whole life and nothing else.
    """
    request = workload.request_bytes(host, port)
    connections = list(await asyncio.gather(*(connect(host, port) for _ in range(concurrency))))
    result = ClosedLoopResult()
    stop = asyncio.Event()

    def mark(phase: str) -> None:
        result.marks[phase] = (time.perf_counter(), hook())

    async def user(index: int) -> None:
        conn = connections[index]
        while not stop.is_set():
            if conn.closed:
                try:
                    conn = connections[index] = await connect(host, port)
                except OSError as exc:
                    now = time.perf_counter()
                    result.outcomes.append(Outcome(now, now, None, f"connect: {type(exc).__name__}"))
                    await asyncio.sleep(0.01)
                    continue
            outcome = await conn.send(request, workload)
            result.outcomes.append(outcome)
            if outcome.error is not None:
                conn.abort()
                await asyncio.sleep(0.001)  # an erroring server must not turn this into a busy loop

    mark("connected")
    tasks = [asyncio.ensure_future(user(i)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        mark("window_start")
        await asyncio.sleep(duration)
        mark("window_end")
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=grace)
        result.unfinished = len(pending)
        mark("drained")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in connections:
            conn.abort()
    return result


@dataclass
class HoldResult:
    """Many long streams opened at once, each used for exactly one request."""

    outcomes: list[Outcome]
    unfinished_streaming: int  # still open at the bound, first token received
    unfinished_waiting: int  # still open at the bound, no token yet (queued somewhere)
    connect_errors: dict[str, int]
    peak_streaming: int  # most streams that had a token and had not ended, seen by the client
    elapsed: float


async def run_hold(
    host: str, port: int, workload: Workload, *, streams: int, bound: float, sample: Callable[[], None]
) -> HoldResult:
    """Open ``streams`` connections, send one stream request on each at once, wait at most ``bound`` s.

    ``sample`` is called every 100 ms while the streams run (the caller records gateway RSS).
    Streams still open at the bound are aborted and reported as unfinished, split by whether
    their first token had arrived, which tells "slow" from "queued".
    """
    request = workload.request_bytes(host, port)
    began = time.perf_counter()
    connects = await asyncio.gather(*(connect(host, port) for _ in range(streams)), return_exceptions=True)
    connections = [c for c in connects if isinstance(c, Connection)]
    connect_errors: dict[str, int] = {}
    for failure in connects:
        if isinstance(failure, BaseException):
            name = type(failure).__name__
            connect_errors[name] = connect_errors.get(name, 0) + 1
    futures = [conn.send(request, workload) for conn in connections]
    exchanges = [conn.exchange for conn in connections]
    peak = 0
    deadline = began + bound
    try:
        while time.perf_counter() < deadline and not all(f.done() for f in futures):
            streaming = sum(1 for e, f in zip(exchanges, futures) if not f.done() and e is not None and e.ttft is not None)
            peak = max(peak, streaming)
            sample()
            await asyncio.sleep(0.1)
    finally:
        elapsed = time.perf_counter() - began
        outcomes = [f.result() for f in futures if f.done()]
        open_streaming = sum(1 for e, f in zip(exchanges, futures) if not f.done() and e is not None and e.ttft is not None)
        open_waiting = len(futures) - len(outcomes) - open_streaming
        for conn in connections:
            conn.abort()
    return HoldResult(outcomes, open_streaming, open_waiting, connect_errors, peak, elapsed)
