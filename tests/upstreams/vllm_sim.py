"""A simulated vLLM server: continuous batching on a step clock, behind an OpenAI-compatible HTTP port.

Load-balancing strategies can only be compared against servers that slow down the way real ones
do. ``FakeUpstream`` streams every answer at a fixed pace however many it serves; a vLLM engine
instead runs *steps*: each step every running sequence produces one token, a step takes longer
the more sequences run, at most ``max_num_seqs`` run at once and the rest wait in a FIFO queue.
This module models exactly that and nothing more (no KV-cache blocks, no preemption, no chunked
prefill)::

    step seconds = (step_base_s + step_per_seq_s * n_running
                    + prefill_per_token_s * prompt tokens admitted this step) / speed

Waiting requests are admitted at the start of a step while fewer than ``max_num_seqs`` run; a
request's first token comes at the end of the step that admitted it, its last after
``max_tokens`` steps. A request that arrives mid-step waits for the next step boundary; an idle
engine sleeps until a request arrives and starts a step at once. A client that disconnects
frees its batch slot (the next step admits a waiting request in its place).

The batching rules live in :class:`Scheduler`, which has no clock: the server drives it in real
time (:class:`Engine`), and :func:`replay` drives it in virtual time, so a benchmark can compute
what the model predicts for the very requests it sent and tell simulation error from queueing.

HTTP/1.1 (keep-alive) is parsed by hand on ``asyncio.Protocol`` with the request parser of
``fake_openai``, so the server costs little CPU next to the gateway it feeds. Routes:
``POST /v1/chat/completions`` and ``/v1/completions`` (stream or not; ``max_tokens`` tokens,
default 16, finish_reason ``length``; prompt tokens = words of the messages' text or prompt),
``GET /health``, ``GET /v1/models``, ``GET /metrics`` (vLLM's ``vllm:*`` gauges and counter),
``GET /sim/stats`` and ``POST /sim/reset`` (counters for benchmarks).

In-process: ``with VllmSim(speed=0.5, max_num_seqs=4) as sim: ... sim.url``. Command line:
``python -m tests.upstreams.vllm_sim --port 9200 --speed 1.0 --max-num-seqs 16``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.upstreams.fake_openai import _chunk, _count_words, _parse_request
from tests.upstreams.threaded import ThreadedServer

DEFAULT_MAX_TOKENS = 16
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}
_JSON = "content-type: application/json\r\n"
_SSE = "content-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n"
_METRICS = "content-type: text/plain; version=0.0.4; charset=utf-8\r\n"
_DONE = _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class StepModel:
    """How long one engine step takes, and what that makes a server's capacity."""

    speed: float = 1.0
    max_num_seqs: int = 16
    step_base_s: float = 0.020
    step_per_seq_s: float = 0.001
    prefill_per_token_s: float = 0.0001

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.max_num_seqs < 1:
            raise ValueError("speed must be > 0 and max_num_seqs >= 1")
        if min(self.step_base_s, self.step_per_seq_s, self.prefill_per_token_s) < 0:
            raise ValueError("step times must be >= 0")

    def step_seconds(self, n_running: int, prompt_tokens_admitted: float) -> float:
        work = self.step_base_s + self.step_per_seq_s * n_running + self.prefill_per_token_s * prompt_tokens_admitted
        return work / self.speed

    def capacity(self, mean_prompt_tokens: float, mean_output_tokens: float) -> float:
        """Requests per second with a full batch at steady state.

        A request holds its slot for exactly ``max_tokens`` steps, so a full batch finishes (and
        admits) ``max_num_seqs / mean_output_tokens`` requests per step on average, whose prompts
        add prefill time to that step.
        """
        per_step = self.max_num_seqs / mean_output_tokens
        return per_step / self.step_seconds(self.max_num_seqs, per_step * mean_prompt_tokens)


@dataclass(eq=False, slots=True)
class Sequence:
    """One request inside the engine; ``on_token`` is called after each step that gave it a token."""

    prompt_tokens: int
    max_tokens: int
    on_token: Callable[[Sequence], None]
    produced: int = 0

    @property
    def finished(self) -> bool:
        return self.produced >= self.max_tokens


@dataclass
class SchedulerStats:
    """Counters since the last reset; the benchmark reads them per run (served = completed)."""

    received: int = 0
    admitted: int = 0
    served: int = 0
    cancelled: int = 0
    peak_running: int = 0
    peak_waiting: int = 0


class Scheduler:
    """vLLM's continuous batching without a clock: FIFO admission up to ``max_num_seqs``, one token per step."""

    def __init__(self, max_num_seqs: int) -> None:
        self.max_num_seqs = max_num_seqs
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.stats = SchedulerStats()
        self.served_total = 0  # never reset: vllm:request_success_total is a Prometheus counter

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)
        self.stats.received += 1
        self.stats.peak_waiting = max(self.stats.peak_waiting, len(self.waiting))

    def cancel(self, seq: Sequence) -> None:
        """Drop a sequence whose client left; its slot is free for the next step's admission."""
        for container in (self.running, self.waiting):
            if seq in container:
                container.remove(seq)
                self.stats.cancelled += 1
                return

    def admit(self) -> int:
        """Start of a step: move waiting sequences into the batch; returns their prompt tokens."""
        prompt_tokens = 0
        while self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting.popleft()
            self.running.append(seq)
            prompt_tokens += seq.prompt_tokens
            self.stats.admitted += 1
        self.stats.peak_running = max(self.stats.peak_running, len(self.running))
        return prompt_tokens

    def step(self) -> None:
        """End of a step: every running sequence gets a token; finished ones leave the batch."""
        batch, self.running = self.running, []
        for seq in batch:
            seq.produced += 1
            if seq.finished:
                self.stats.served += 1
                self.served_total += 1
            else:
                self.running.append(seq)
        for seq in batch:  # after the batch is settled, so a callback that cancels finds it consistent
            seq.on_token(seq)

    def reset_stats(self) -> None:
        """Zero the counters; the peaks restart from what is running and waiting now."""
        self.stats = SchedulerStats(peak_running=len(self.running), peak_waiting=len(self.waiting))


@dataclass(frozen=True)
class Timeline:
    """When one request got its first and its last token, in the replay's virtual seconds."""

    first_token: float
    last_token: float


def replay(model: StepModel, requests: Iterable[tuple[float, int, int]]) -> list[Timeline]:
    """What the step model predicts for ``requests``: (arrival s, prompt tokens, max_tokens) each.

    Returns one Timeline per request, in the order given. The same Scheduler as the server, on a
    virtual clock: an idle engine starts a step at the next arrival; a request that arrives during a
    step waits for the step's end. No client ever leaves.
    """
    pending = sorted(enumerate(requests), key=lambda item: item[1][0])
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    scheduler = Scheduler(model.max_num_seqs)
    now = 0.0

    def recorder(index: int) -> Callable[[Sequence], None]:
        def record(seq: Sequence) -> None:
            first.setdefault(index, now)
            if seq.finished:
                last[index] = now
        return record

    position = 0
    while position < len(pending) or not scheduler.idle:
        if scheduler.idle:
            now = max(now, pending[position][1][0])
        while position < len(pending) and pending[position][1][0] <= now:
            index, (_, prompt_tokens, max_tokens) = pending[position]
            scheduler.add(Sequence(prompt_tokens, max_tokens, recorder(index)))
            position += 1
        prompt_tokens = scheduler.admit()
        now += model.step_seconds(len(scheduler.running), prompt_tokens)
        scheduler.step()
    return [Timeline(first[i], last[i]) for i in range(len(pending))]


@dataclass
class _Lag:
    """How late the event loop ended steps against the step model's schedule (the machine's share)."""

    steps: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, late_s: float) -> None:
        self.steps += 1
        self.total_s += late_s
        self.max_s = max(self.max_s, late_s)


class Engine:
    """Drives the Scheduler in real time: sleep one step's duration, hand out tokens, repeat."""

    def __init__(self, model: StepModel) -> None:
        self.model = model
        self.scheduler = Scheduler(model.max_num_seqs)
        self.lag = _Lag()
        self._wake = asyncio.Event()

    def submit(self, seq: Sequence) -> None:
        self.scheduler.add(seq)
        self._wake.set()

    def cancel(self, seq: Sequence) -> None:
        self.scheduler.cancel(seq)

    def reset_stats(self) -> None:
        self.scheduler.reset_stats()
        self.lag = _Lag()

    async def run(self) -> None:
        """Steps run back to back on a schedule (start = previous planned end), so timer overshoot
        does not add up; only a loop more than a whole step behind drops the debt and restarts
        the schedule from now. Either way the lateness is recorded."""
        loop = asyncio.get_running_loop()
        scheduler = self.scheduler
        start = loop.time()
        while True:
            if scheduler.idle:
                self._wake.clear()
                await self._wake.wait()
                start = loop.time()
            prompt_tokens = scheduler.admit()
            duration = self.model.step_seconds(len(scheduler.running), prompt_tokens)
            end = start + duration
            await asyncio.sleep(end - loop.time())
            now = loop.time()
            self.lag.add(max(0.0, now - end))
            scheduler.step()
            start = end if now - end < duration else now


class _Answer:
    """Writes one generation's tokens to its connection as the engine produces them."""

    __slots__ = ("_conn", "_stream", "_chat", "_created", "_id", "_model", "_prompt_tokens", "_usage_chunk",
                 "_before", "_after")

    def __init__(self, conn: _Connection, body: dict[str, Any], chat: bool, prompt_tokens: int, model: str,
                 request_id: str) -> None:
        self._conn = conn
        self._stream = bool(body.get("stream"))
        self._chat = chat
        self._created = int(time.time())
        self._id = request_id
        self._model = model
        self._prompt_tokens = prompt_tokens
        options = body.get("stream_options")
        self._usage_chunk = isinstance(options, dict) and bool(options.get("include_usage"))
        # Token events differ only in their text: encode the envelope once, splice each piece in.
        self._before, self._after = self._event({"content": "\0"} if chat else "\0").split(b'"\\u0000"')

    def _event(self, value: Any = None, finish_reason: str | None = None, **extra: Any) -> bytes:
        key = "delta" if self._chat else "text"
        choices = [] if value is None else [{"index": 0, key: value, "logprobs": None, "finish_reason": finish_reason}]
        envelope = {"id": self._id, "object": "chat.completion.chunk" if self._chat else "text_completion",
                    "created": self._created, "model": self._model, "choices": choices, **extra}
        return b"data: " + _encode(envelope).encode() + b"\n\n"

    def _usage(self, completion_tokens: int) -> dict[str, int]:
        return {"prompt_tokens": self._prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": self._prompt_tokens + completion_tokens}

    def on_token(self, seq: Sequence) -> None:
        if self._stream:
            self._stream_token(seq)
        elif seq.finished:
            self._conn.complete(self._full_body(seq))

    def _stream_token(self, seq: Sequence) -> None:
        index = seq.produced - 1
        out = []
        if index == 0 and self._chat:
            out.append(_chunk(self._event({"role": "assistant", "content": ""})))
        out.append(_chunk(self._before + f'"tok{index} "'.encode() + self._after))
        if not seq.finished:
            self._conn.write(b"".join(out))
            return
        out.append(_chunk(self._event({} if self._chat else "", "length")))
        if self._usage_chunk:
            out.append(_chunk(self._event(usage=self._usage(seq.produced))))
        out.append(_DONE)
        self._conn.complete(b"".join(out))

    def _full_body(self, seq: Sequence) -> bytes:
        text = "".join(f"tok{i} " for i in range(seq.produced))
        if self._chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
        else:
            choice = {"index": 0, "text": text}
        choice.update(logprobs=None, finish_reason="length")
        body = _encode({"id": self._id, "object": "chat.completion" if self._chat else "text_completion",
                        "created": self._created, "model": self._model, "choices": [choice],
                        "usage": self._usage(seq.produced)}).encode()
        return _head(200, _JSON, self._conn.keep_alive, len(body)) + body



def _head(status: int, headers: str, keep_alive: bool, length: int | None) -> bytes:
    framing = "" if length is None else f"content-length: {length}\r\n"
    close = "" if keep_alive else "connection: close\r\n"
    return f"HTTP/1.1 {status} {_REASONS[status]}\r\n{headers}{framing}{close}\r\n".encode()


def _error(status: int, message: str) -> tuple[int, str, bytes]:
    kind = "NotFoundError" if status == 404 else "BadRequestError"
    return status, _JSON, _encode({"error": {"message": message, "type": kind, "param": None,
                                             "code": status}}).encode()


class _Connection(asyncio.Protocol):
    """One client connection; answers its requests one at a time, in order (keep-alive, pipelining)."""

    def __init__(self, sim: VllmSim) -> None:
        self._sim = sim
        self._buf = bytearray()
        self._transport: asyncio.Transport
        self._seq: Sequence | None = None  # the generation being answered
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sim._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._sim._connections.discard(self)
        if self._seq is not None:  # the client left mid-answer: free the batch slot
            self._sim.engine.cancel(self._seq)
            self._seq = None

    def _process(self) -> None:
        while self._buf and self._seq is None and not self._transport.is_closing():
            try:
                request = _parse_request(self._buf)
            except ValueError as exc:
                self.keep_alive = False
                self._reply(*_error(400, f"malformed HTTP request: {exc}"))
                return
            if request is None:
                return
            method, target, _headers, body, self.keep_alive = request
            self._route(method, target.partition("?")[0], body)

    def _route(self, method: str, path: str, body: bytes) -> None:
        sim = self._sim
        if method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            self._generate(body, chat=path == "/v1/chat/completions")
        elif method == "GET" and path == "/health":
            self._reply(200, "", b"")
        elif method == "GET" and path == "/v1/models":
            card = {"id": sim.model, "object": "model", "created": int(time.time()), "owned_by": "vllm",
                    "max_model_len": 32768}
            self._reply(200, _JSON, _encode({"object": "list", "data": [card]}).encode())
        elif method == "GET" and path == "/metrics":
            self._reply(200, _METRICS, sim.metrics_text().encode())
        elif method == "GET" and path == "/sim/stats":
            self._reply(200, _JSON, _encode(sim.stats()).encode())
        elif method == "POST" and path == "/sim/reset":
            sim.engine.reset_stats()
            self._reply(200, _JSON, b'{"ok":true}')
        else:
            self._reply(*_error(404, f"Not Found: {method} {path}"))

    def _generate(self, raw: bytes, *, chat: bool) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        problem = _check_generation(body, chat)
        if problem is not None:
            self._reply(*_error(400, problem))
            return
        prompt_tokens = _count_words([m.get("content") for m in body["messages"] if isinstance(m, dict)]
                                     if chat else body["prompt"])
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) or DEFAULT_MAX_TOKENS
        request_id = f"{'chatcmpl' if chat else 'cmpl'}-{next(self._sim._ids)}"
        answer = _Answer(self, body, chat, prompt_tokens, body.get("model", self._sim.model), request_id)
        self._seq = Sequence(prompt_tokens, max_tokens, answer.on_token)
        if body.get("stream"):  # uvicorn sends a stream's head at once; the first event comes with the first token
            self._transport.write(_head(200, _SSE, self.keep_alive, None))
        self._sim.engine.submit(self._seq)

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def complete(self, data: bytes) -> None:
        """The last bytes of a generation: the connection is free for the next request."""
        self._seq = None
        self._transport.write(data)
        if not self.keep_alive:
            self._transport.close()
        else:
            self._process()

    def _reply(self, status: int, headers: str, body: bytes) -> None:
        self._transport.write(_head(status, headers, self.keep_alive, len(body)) + body)
        if not self.keep_alive:
            self._transport.close()

    def shutdown(self) -> None:
        self._seq = None
        self._transport.abort()


def _check_generation(body: Any, chat: bool) -> str | None:
    """What vLLM would refuse with a 400, in the few ways a benchmark or a test can get it wrong."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if chat and not isinstance(body.get("messages"), list):
        return "'messages' must be a list"
    if not chat and not isinstance(body.get("prompt"), (str, list)):
        return "'prompt' must be a string or a list"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return "max_tokens must be an integer >= 1"
    return None


class VllmSim(ThreadedServer):
    """The simulated server on 127.0.0.1; ``start()`` serves from a daemon thread, ``stop()`` ends it."""

    thread_name = "vllm-sim"

    def __init__(self, *, speed: float = 1.0, max_num_seqs: int = 16, step_base_s: float = 0.020,
                 step_per_seq_s: float = 0.001, prefill_per_token_s: float = 0.0001, model: str = "sim-model",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.step_model = StepModel(speed, max_num_seqs, step_base_s, step_per_seq_s, prefill_per_token_s)
        self.model = model
        self.host = host
        self.port = port
        self.engine: Engine
        self._ids = itertools.count(1)
        self._connections: set[_Connection] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stats(self) -> dict[str, Any]:
        """The /sim/stats document (call on the server's loop; other threads use the route)."""
        scheduler, lag = self.engine.scheduler, self.engine.lag
        return {
            **vars(scheduler.stats),
            "running": len(scheduler.running),
            "waiting": len(scheduler.waiting),
            "steps": lag.steps,
            "lag_mean_ms": round(1000 * lag.total_s / lag.steps, 3) if lag.steps else 0.0,
            "lag_max_ms": round(1000 * lag.max_s, 3),
        }

    def metrics_text(self) -> str:
        """vLLM's names; the KV-cache usage is approximated by the share of batch slots in use."""
        scheduler = self.engine.scheduler
        label = f'model_name="{self.model}"'
        running, waiting = len(scheduler.running), len(scheduler.waiting)
        series = [
            ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", label, running),
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", label, waiting),
            ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", label,
             running / self.step_model.max_num_seqs),
            ("vllm:request_success_total", "counter", "Count of successfully processed requests.",
             f'finished_reason="length",{label}', scheduler.served_total),
        ]
        lines = []
        for name, kind, help_text, labels, value in series:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} {float(value)}"]
        return "\n".join(lines) + "\n"


    async def _serve(self, ready: Callable[[], None]) -> None:
        """Listen, run the engine, call ``ready`` once both are up, and run until stopped."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = asyncio.Event()
        self.engine = Engine(self.step_model)
        engine = loop.create_task(self.engine.run())
        server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        ready()
        await self._stopping.wait()
        server.close()
        engine.cancel()
        for conn in list(self._connections):
            conn.shutdown()
        await asyncio.sleep(0)  # let the aborted transports report connection_lost before the loop closes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulated vLLM server (continuous batching on a step clock).")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", default="sim-model")
    parser.add_argument("--speed", type=float, default=1.0, help="divides every step's duration")
    parser.add_argument("--max-num-seqs", type=int, default=16, help="sequences in the batch at most")
    parser.add_argument("--step-base-s", type=float, default=0.020, help="fixed cost of a step")
    parser.add_argument("--step-per-seq-s", type=float, default=0.001, help="cost per running sequence")
    parser.add_argument("--prefill-per-token-s", type=float, default=0.0001, help="cost per prompt token admitted")
    args = parser.parse_args(argv)
    sim = VllmSim(speed=args.speed, max_num_seqs=args.max_num_seqs, step_base_s=args.step_base_s,
                  step_per_seq_s=args.step_per_seq_s, prefill_per_token_s=args.prefill_per_token_s,
                  model=args.model, host=args.host, port=args.port)
    sim.serve_in_foreground()


if __name__ == "__main__":
    main()
