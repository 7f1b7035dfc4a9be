"""The simulated vLLM server: step timing, batching, wire format, stats, metrics, disconnects.

Times are measured by a client on the same machine. Lower bounds are exact consequences of the
step model (a step can end late but never early), so they hold on a loaded machine; upper
bounds are generous and only catch a wrong model (a factor, not a few milliseconds).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import pytest

from tests.upstreams.vllm_sim import StepModel, Timeline, VllmSim, replay

TOKEN = b'"delta":{"content":'


@dataclass
class Trace:
    """One streamed answer as the client saw it (perf_counter seconds)."""

    sent: float
    events: list[bytes] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)
    done: float | None = None

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.sent

    @property
    def mean_gap(self) -> float:
        return (self.token_times[-1] - self.token_times[0]) / (len(self.token_times) - 1)


def _chat(max_tokens: int, words: int = 1, stream: bool = True, **extra) -> dict:
    return {"model": "sim", "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
            "max_tokens": max_tokens, "stream": stream, **extra}


async def _request(port: int, method: str, path: str, body: dict | None = None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps(body).encode() if body is not None else b""
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    await writer.drain()
    return reader, writer


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    return int(head[0].split()[1]), headers


async def _call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    """A non-streamed exchange: (status, body)."""
    reader, writer = await _request(port, method, path, body)
    status, headers = await _read_head(reader)
    data = await reader.readexactly(int(headers.get("content-length", "0")))
    writer.close()
    return status, data


async def _stream(port: int, body: dict) -> Trace:
    """Send one streamed request and read its SSE events (one per HTTP chunk) until the end."""
    sent = time.perf_counter()
    reader, writer = await _request(port, "POST", "/v1/chat/completions", body)
    trace = Trace(sent)
    try:
        status, _ = await _read_head(reader)
        assert status == 200
        while True:
            size = int(await reader.readline(), 16)
            if size == 0:
                await reader.readline()
                trace.done = time.perf_counter()
                return trace
            event = (await reader.readexactly(size + 2))[:-2]
            trace.events.append(event)
            if TOKEN in event:
                trace.token_times.append(time.perf_counter())
    finally:  # also when the task is cancelled: the server sees the client leave
        writer.close()


async def _metric(port: int, name: str) -> float:
    _, text = await _call(port, "GET", "/metrics")
    return float(re.search(rf"^{re.escape(name)}\{{[^}}]*\}} (\S+)$", text.decode(), re.M).group(1))


async def _stats(port: int) -> dict:
    return json.loads((await _call(port, "GET", "/sim/stats"))[1])


async def _until(condition, timeout: float = 5.0) -> None:
    """Poll an async condition (a state the server reports, not elapsed time) until it holds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_stream_and_plain_answers_have_the_openai_shape():
    async def scenario(port: int) -> None:
        trace = await _stream(port, _chat(3, words=5, stream_options={"include_usage": True}))
        events = [e.removeprefix(b"data: ").rstrip(b"\n") for e in trace.events]
        assert events[-1] == b"[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert [c["choices"][0]["delta"]["content"] for c in chunks[1:4]] == ["tok0 ", "tok1 ", "tok2 "]
        assert chunks[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
        assert chunks[5]["choices"] == [] and chunks[5]["usage"] == {
            "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}

        status, body = await _call(port, "POST", "/v1/chat/completions", _chat(2, words=4, stream=False))
        answer = json.loads(body)
        assert status == 200 and answer["choices"][0]["message"]["content"] == "tok0 tok1 "
        assert answer["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}

        status, body = await _call(port, "POST", "/v1/completions", {"model": "sim", "prompt": "a b c"})
        answer = json.loads(body)
        assert status == 200 and answer["usage"]["completion_tokens"] == 16  # the default max_tokens
        assert answer["choices"][0]["finish_reason"] == "length"

        assert await _call(port, "GET", "/health") == (200, b"")
        assert json.loads((await _call(port, "GET", "/v1/models"))[1])["data"][0]["id"] == "sim-a"
        assert (await _call(port, "POST", "/v1/chat/completions", _chat(0)))[0] == 400
        assert (await _call(port, "GET", "/nowhere"))[0] == 404

    with VllmSim(step_base_s=0.001, step_per_seq_s=0, prefill_per_token_s=0, model="sim-a") as sim:
        asyncio.run(scenario(sim.port))


def test_prefill_and_speed_set_the_step_duration():
    """Step = (base + per_seq * n + prefill * prompt tokens admitted) / speed."""
    async def scenario(port: int) -> Trace:
        return await _stream(port, _chat(8, words=50))

    with VllmSim(step_base_s=0.04, step_per_seq_s=0, prefill_per_token_s=0.002) as sim:
        normal = asyncio.run(scenario(sim.port))
    with VllmSim(speed=0.5, step_base_s=0.04, step_per_seq_s=0, prefill_per_token_s=0.002) as sim:
        slow = asyncio.run(scenario(sim.port))
    # A step never ends early, so a TTFT has an exact lower bound; a gap can come out a little
    # short when the client read the first token late, hence the slack below the model's value.
    assert 0.14 <= normal.ttft < 0.6  # first step: 0.04 + 50 * 0.002
    assert 0.03 <= normal.mean_gap < 0.1  # later steps admit nothing: 0.04 (0.14 if prefill recurred)
    assert 0.28 <= slow.ttft < 1.2
    assert 0.06 <= slow.mean_gap < 0.2  # 0.08


def test_more_running_sequences_make_every_token_slower():
    async def scenario(port: int) -> tuple[Trace, list[Trace]]:
        alone = await _stream(port, _chat(8))
        together = await asyncio.gather(*(_stream(port, _chat(8)) for _ in range(4)))
        return alone, together

    with VllmSim(max_num_seqs=8, step_base_s=0.02, step_per_seq_s=0.03, prefill_per_token_s=0) as sim:
        alone, together = asyncio.run(scenario(sim.port))
    assert 0.035 <= alone.mean_gap < 0.12  # 0.02 + 1 * 0.03
    for trace in together:  # 0.02 + 4 * 0.03 = 0.14 once all four run; 0.05 if the batch did not matter
        assert 0.11 <= trace.mean_gap < 0.3


def test_a_full_batch_makes_the_next_request_wait_for_a_free_slot():
    async def scenario(port: int) -> tuple[list[Trace], dict]:
        traces = await asyncio.gather(*(_stream(port, _chat(4)) for _ in range(3)))
        return list(traces), await _stats(port)

    with VllmSim(max_num_seqs=2, step_base_s=0.05, step_per_seq_s=0, prefill_per_token_s=0) as sim:
        traces, stats = asyncio.run(scenario(sim.port))
    traces.sort(key=lambda t: t.token_times[0])
    first, second, third = traces
    # The third is admitted at the step after one of the first two has ended: the server writes
    # its first token a whole step (0.05 s) after that end, and 4 + 1 steps after it arrived.
    # Without the batch limit it would come with the others' first tokens, ~0.15 s before.
    assert third.token_times[0] >= min(first.done, second.done) - 0.01
    assert third.ttft >= 0.24
    assert first.ttft < 1 and second.ttft < 1
    assert stats["served"] == stats["admitted"] == stats["received"] == 3
    assert stats["peak_running"] == 2 and stats["peak_waiting"] >= 1
    assert stats["running"] == stats["waiting"] == 0 and stats["steps"] >= 8


def test_metrics_report_the_batch_and_disconnects_free_it():
    async def scenario(port: int) -> None:
        tasks = [asyncio.ensure_future(_stream(port, _chat(1000))) for _ in range(3)]

        async def batch_full() -> bool:
            return await _metric(port, "vllm:num_requests_running") == 2 and \
                await _metric(port, "vllm:num_requests_waiting") == 1

        await _until(batch_full)
        assert await _metric(port, "vllm:kv_cache_usage_perc") == 1.0
        stats = await _stats(port)
        assert (stats["running"], stats["waiting"], stats["peak_running"]) == (2, 1, 2)
        for task in tasks:  # every client leaves: the running pair and the waiting one are dropped
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        async def engine_idle() -> bool:
            return await _metric(port, "vllm:num_requests_running") == 0 and \
                await _metric(port, "vllm:num_requests_waiting") == 0

        await _until(engine_idle)
        stats = await _stats(port)
        assert (stats["cancelled"], stats["served"]) == (3, 0)

        await _stream(port, _chat(2))
        assert await _metric(port, "vllm:request_success_total") == 1
        assert (await _call(port, "POST", "/sim/reset"))[0] == 200
        stats = await _stats(port)
        assert stats["served"] == stats["admitted"] == stats["peak_running"] == stats["steps"] == 0
        assert await _metric(port, "vllm:request_success_total") == 1  # a counter: not reset

    with VllmSim(max_num_seqs=2, step_base_s=0.01, step_per_seq_s=0, prefill_per_token_s=0) as sim:
        asyncio.run(scenario(sim.port))


def test_a_client_that_leaves_frees_its_slot_for_the_queue():
    async def scenario(port: int) -> tuple[float, Trace, dict]:
        hog = asyncio.ensure_future(_stream(port, _chat(10_000)))  # 100 s if it stayed
        await _until(lambda: _stats_has(port, running=1))
        queued = asyncio.ensure_future(_stream(port, _chat(3)))
        await _until(lambda: _stats_has(port, waiting=1))
        left = time.perf_counter()
        hog.cancel()  # closes its connection
        trace = await asyncio.wait_for(queued, 10)
        return left, trace, await _stats(port)

    with VllmSim(max_num_seqs=1, step_base_s=0.01, step_per_seq_s=0, prefill_per_token_s=0) as sim:
        left, queued, stats = asyncio.run(scenario(sim.port))
    assert queued.token_times[0] >= left
    assert queued.ttft < 5
    assert (stats["served"], stats["cancelled"], stats["admitted"]) == (1, 1, 2)


async def _stats_has(port: int, **expected: int) -> bool:
    stats = await _stats(port)
    return all(stats[key] == value for key, value in expected.items())


def test_replay_runs_the_same_schedule_on_a_virtual_clock():
    model = StepModel(max_num_seqs=1, step_base_s=0.01, step_per_seq_s=0.001, prefill_per_token_s=0.001)
    timelines = replay(model, [(0.0, 5, 2), (0.004, 0, 2), (1.0, 0, 1)])
    expected = [Timeline(0.016, 0.027), Timeline(0.038, 0.049), Timeline(1.011, 1.011)]
    for got, want in zip(timelines, expected, strict=True):
        assert got.first_token == pytest.approx(want.first_token)
        assert got.last_token == pytest.approx(want.last_token)


def test_capacity_is_a_full_batch_of_average_requests():
    model = StepModel(speed=0.5, max_num_seqs=16, step_base_s=0.02, step_per_seq_s=0.001, prefill_per_token_s=0.0001)
    # 16 / 40 = 0.4 requests end (and start) per step; a step takes (0.02 + 0.016 + 0.4 * 110 * 0.0001) / 0.5
    assert model.capacity(110, 40) == pytest.approx(0.4 / 0.0808)
