"""What does dialect conversion cost? Every client dialect against every provider protocol, CPU per request.

Run from the repository root::

    python -m bench.dialects [--quick] [--concurrency C] [--out PATH]

Three fake upstreams, one per provider protocol (``tests/upstreams``: vLLM/OpenAI, Ollama,
Anthropic), sit behind one gateway (one gevent worker on core 0) whose models config has one model
per upstream: ``m-vllm`` (api_type vllm), ``m-ollama`` and ``m-anthropic``. Each cell is a closed
loop of ``C`` users sending one client dialect (OpenAI chat, Ollama chat, Anthropic Messages,
Responses) to one of those models, streamed or not, ``max_tokens`` = 64, so every answer has 64
tokens whatever the path. Where the client's dialect is the provider's protocol the gateway passes
the request through; elsewhere it converts the request and the answer. The "direct" cells send each
native dialect straight to its fake, for reference. The number that matters is the gateway worker's
CPU per request, and its ratio to the OpenAI-to-vLLM passthrough of the same stream mode.

Processes, pinning, CPU counters, the load generator and the statistics are the gateway overhead
benchmark's (bench/procs.py, bench/loadgen.py, bench/stats.py); see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .gateway_overhead import background_load, describe_code, start_gateway, write_results
from .loadgen import run_closed_loop
from .procs import (CLIENT_CORE, GATEWAY_CORE, Gateway, GatewayConfig, SpeedProbe, Supervisor, Upstream, git_state,
                    prepare_client_process, read_core_times, source_digest, write_models_config)
from .report import consistency_notes, errors_text, fmt, machine_facts, table
from .scenarios import Scenario, Target
from .stats import Measurement, Round, Snapshot, summarize

N_TOKENS = 64
PROMPT = "Write a short poem about load balancers."
PROVIDERS = {"vllm": "openai", "ollama": "ollama", "anthropic": "anthropic"}  # api_type -> fake (upstream_proc)


@dataclass(frozen=True)
class Dialect:
    """A client dialect: where it posts, and how to tell a complete answer of N tokens."""

    name: str
    path: str
    native: str | None  # the provider api_type that speaks it: passthrough there, and the direct baseline
    stream_key: bytes  # the JSON key whose string value is one token in a stream event
    stream_end: bytes  # what only the last event of a complete stream holds
    headers: str = ""

    def body(self, model: str, stream: bool, n: int) -> dict[str, object]:
        messages = [{"role": "user", "content": PROMPT}]
        if self.name == "ollama":
            return {"model": model, "messages": messages, "stream": stream, "options": {"num_predict": n}}
        if self.name == "responses":
            return {"model": model, "input": PROMPT, "max_output_tokens": n, "stream": stream}
        return {"model": model, "messages": messages, "max_tokens": n, "stream": stream}  # openai, anthropic


# The fake vLLM serves no /v1/responses (as vLLM did not): the gateway's first Responses request gets
# a 404, and from then on it converts Responses to chat completions for that provider.
DIALECTS = [
    Dialect("openai", "/v1/chat/completions", "vllm", b'"content"', b"data: [DONE]"),
    Dialect("ollama", "/api/chat", "ollama", b'"content"', b'"done_reason"'),
    Dialect("anthropic", "/v1/messages", "anthropic", b'"text"', b"event: message_stop",
            headers="anthropic-version: 2023-06-01\r\n"),
    Dialect("responses", "/v1/responses", None, b'"delta"', b"event: response.incomplete"),
]


@dataclass(frozen=True)
class DialectWorkload:
    """One cell's request, for bench/loadgen.py (it reads ``stream``, ``token_mark`` and ``check``)."""

    dialect: Dialect
    model: str
    stream: bool
    n_tokens: int

    token_mark = b'"tok0 '  # the first token's text, in every dialect's first token event (TTFT)

    def request_bytes(self, host: str, port: int) -> bytes:
        body = json.dumps(self.dialect.body(self.model, self.stream, self.n_tokens), separators=(",", ":")).encode()
        head = (f"POST {self.dialect.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"{self.dialect.headers}Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def check(self, body: bytearray) -> str | None:
        """Count the tokens (words ``tokN``) with byte searches; None when there are exactly n_tokens.

        Non-stream: every ``tok`` in the body that does not begin ``tokens`` (usage keys). Stream: the
        events whose token value (``"content":"tok..."``, compact or with a space) starts with one,
        since some dialects repeat the whole text in their closing events; and the stream's end."""
        if self.stream:
            key = self.dialect.stream_key
            tokens = body.count(key + b':"tok') + body.count(key + b': "tok')
            if self.dialect.stream_end not in body:
                return "no_end"
        else:
            tokens = body.count(b"tok") - body.count(b"tokens")
        return None if tokens == self.n_tokens else f"tokens_{tokens}"


@dataclass(frozen=True)
class Cell:
    dialect: Dialect
    provider: str  # api_type
    stream: bool
    direct: bool = False  # straight to the provider's fake, no gateway

    @property
    def model(self) -> str:
        return f"m-{self.provider}"

    @property
    def path(self) -> str:
        return "direct" if self.direct else "passthrough" if self.dialect.native == self.provider else "converted"

    @property
    def label(self) -> str:
        return f"{'stream' if self.stream else 'chat'} {self.dialect.name}->{self.provider}"


def build_cells() -> list[Cell]:
    cells = []
    for stream in (False, True):
        cells += [Cell(d, d.native, stream, direct=True) for d in DIALECTS if d.native]
        cells += [Cell(d, p, stream) for d in DIALECTS for p in PROVIDERS]
    return cells


class Bench:
    def __init__(self, upstreams: dict[str, Upstream], gateway: Gateway, probe: SpeedProbe, args: argparse.Namespace):
        self.upstreams, self.gateway, self.probe, self.args = upstreams, gateway, probe, args

    def snapshot(self, gateway: Gateway | None) -> Snapshot:
        return Snapshot(at=time.perf_counter(), gateway=gateway.cpu() if gateway else None,
                        others_ns=0 if gateway else self.gateway.cpu().ns,  # the idle gateway in direct runs
                        client_ns=time.process_time_ns(), upstreams_ns=sum(u.cpu().ns for u in self.upstreams.values()),
                        cores=read_core_times())

    def scenario(self, cell: Cell) -> Scenario:
        warmup, duration = (0.3, 0.8) if self.args.quick else (0.5, 2.0)
        return Scenario(cell.label, cell.model, cell.stream, self.args.concurrency, warmup, duration,
                        rounds=self.args.rounds)

    def target(self, cell: Cell) -> Target:
        if cell.direct:
            return Target("direct", "127.0.0.1", self.upstreams[cell.model].port, None)
        return Target(cell.path, "127.0.0.1", self.gateway.port, self.gateway)

    async def run_round(self, cell: Cell) -> Round:
        upstream, target, scenario = self.upstreams[cell.model], self.target(cell), self.scenario(cell)
        upstream.command("reset")
        probe_us = self.probe.hot_us()
        gc.collect()
        gc.disable()  # no collector pauses inside the client's timings
        try:
            result = await run_closed_loop(
                target.host, target.port, DialectWorkload(cell.dialect, cell.model, cell.stream, N_TOKENS),
                concurrency=scenario.concurrency, warmup=scenario.warmup, duration=scenario.duration,
                grace=scenario.grace, hook=lambda: self.snapshot(target.gateway))
        finally:
            gc.enable()
        seen = upstream.command("stats")["requests"]
        await asyncio.sleep(0.1)  # let closed connections settle before the next run
        return Round(result, seen, probe_us)

    async def warm(self, cells: list[Cell]) -> None:
        """A short unmeasured run of every gateway cell: lazy imports, the Responses 404, first-use costs."""
        for cell in cells:
            if cell.direct:
                continue
            result = await run_closed_loop("127.0.0.1", self.gateway.port,
                                           DialectWorkload(cell.dialect, cell.model, cell.stream, N_TOKENS),
                                           concurrency=4, warmup=0.1, duration=0.2, grace=5, hook=lambda: None)
            errors = sorted({o.error for o in result.outcomes if o.error})
            if errors:
                print(f"  warm-up {cell.label}: errors {errors}", file=sys.stderr, flush=True)

    async def measure(self, cells: list[Cell]) -> list[Measurement]:
        """Every cell in turn, round after round, so that the machine's drift is spread over all of them."""
        rounds: dict[Cell, list[Round]] = {cell: [] for cell in cells}
        for number in range(1, self.args.rounds + 1):
            print(f"  round {number}/{self.args.rounds}: {len(cells)} cells", file=sys.stderr, flush=True)
            for cell in cells:
                rounds[cell].append(await self.run_round(cell))
        measurements = []
        for cell in cells:
            m = summarize(self.scenario(cell), self.target(cell), rounds[cell])
            measurements.append(m)
            print(f"  {cell.label:<28} {cell.path:<11} {fmt(m.rps):>7} req/s  p50 {fmt(m.p50, ' ms'):>9}  "
                  f"cpu/req {fmt(m.gw_cpu_ms_per_req, ' ms'):>8}  errors {m.error_total}", file=sys.stderr, flush=True)
        return measurements


def baselines(by_cell: dict[Cell, Measurement]) -> dict[bool, float | None]:
    """CPU ms/req of the OpenAI client to the vLLM provider (passthrough), per stream mode."""
    return {c.stream: m.gw_cpu_ms_per_req for c, m in by_cell.items()
            if not c.direct and c.dialect.name == "openai" and c.provider == "vllm"}


def ratio(cpu: float | None, base: float | None) -> str:
    return fmt(cpu / base if cpu is not None and base else None)


def render(facts: dict[str, str], cells: list[Cell], ms: list[Measurement], notes: list[str]) -> str:
    by_cell = dict(zip(cells, ms))
    base = baselines(by_cell)
    parts = ["# Dialect conversion benchmark", ""]
    parts += [f"- **{k}**: {v}" for k, v in facts.items()] + [""]
    parts += ["## CPU ms per request (× the OpenAI→vLLM passthrough of the same mode)", "", matrix(by_cell), ""]
    header = ["client", "provider", "path", "gw CPU ms/req", "× openai→vllm", "req/s", "p50 ms", "p99 ms",
              "gw core %", "errors", "direct to the provider's fake: req/s / p50 ms"]
    for stream in (False, True):
        direct = {c.provider: m for c, m in by_cell.items() if c.stream == stream and c.direct}
        rows = []
        for c, m in by_cell.items():
            if c.stream != stream or c.direct:
                continue
            spread = f" ({fmt(m.gw_cpu_round_min)}–{fmt(m.gw_cpu_round_max)})" if m.rounds > 1 else ""
            rows.append([c.dialect.name, c.provider, c.path, fmt(m.gw_cpu_ms_per_req) + spread,
                         ratio(m.gw_cpu_ms_per_req, base[stream]), fmt(m.rps), fmt(m.p50), fmt(m.p99),
                         fmt(m.gw_core_pct), errors_text(m.errors),
                         f"{fmt(direct[c.provider].rps)} / {fmt(direct[c.provider].p50)}"])
        mode = "Stream" if stream else "Non-stream"
        parts += [f"## {mode}, {N_TOKENS} tokens, c={ms[0].concurrency}", "", table(header, rows), ""]
    direct_rows = [[c.label.split()[0], f"{c.dialect.name} → fake {c.provider}", fmt(m.rps), fmt(m.p50), fmt(m.p99),
                    fmt(m.client_core_pct), errors_text(m.errors)] for c, m in by_cell.items() if c.direct]
    parts += ["## Direct to each fake (no gateway), same run", "",
              table(["mode", "client → upstream", "req/s", "p50 ms", "p99 ms", "core 1 %", "errors"], direct_rows), ""]
    if notes:
        parts += ["## Notes from this run", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


def matrix(by_cell: dict[Cell, Measurement]) -> str:
    """Client dialects down, providers (× stream mode) across: the cost at a glance."""
    base = baselines(by_cell)
    gateway = {(c.dialect.name, c.provider, c.stream): m for c, m in by_cell.items() if not c.direct}
    header = ["client \\ provider"] + [f"{p} {mode}" for mode in ("chat", "stream") for p in PROVIDERS]
    rows = []
    for d in DIALECTS:
        row = [d.name]
        for stream in (False, True):
            for p in PROVIDERS:
                cpu, bold = gateway[d.name, p, stream].gw_cpu_ms_per_req, "**" if d.native == p else ""
                row.append(f"{bold}{fmt(cpu)}{bold} (×{ratio(cpu, base[stream])})")
        rows.append(row)
    return table(header, rows) + "\n\nBold: passthrough (the client's dialect is the provider's protocol)."


def describe(args: argparse.Namespace, idle_load: tuple[float, float], elapsed: float) -> dict[str, str]:
    warmup, duration = (0.3, 0.8) if args.quick else (0.5, 2.0)
    return {
        "pinning": f"gunicorn (master + its single gevent worker, worker_connections=2000, LLM_ROUTER_LOG_LEVEL="
                   f"WARNING, LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS=0) on core {GATEWAY_CORE}; this load "
                   f"generator and the three fakes on core {CLIENT_CORE}",
        "upstreams": "tests/upstreams fakes, no token delay: FakeUpstream (vLLM/OpenAI, serves no /v1/responses), "
                     "FakeOllama, FakeAnthropic; models m-vllm, m-ollama, m-anthropic, one provider each",
        "load": f"closed loop, {args.concurrency} keep-alive connections (bench/loadgen.py), one short user message, "
                f"max tokens {N_TOKENS} in each dialect's field; OK = status 200 and exactly {N_TOKENS} tokens "
                f"counted in the answer (stream: token events, and the stream's closing event)",
        "windows": f"{args.rounds} round(s) × every cell in turn × (warm-up {warmup:g} s + window {duration:g} s)",
        "gw CPU ms/req": "gateway worker CPU (process CPU clock) from connections open to last answer, ÷ requests "
                         "answered" + ("; in brackets the lowest–highest round" if args.rounds > 1 else ""),
        "other processes' load before start": f"core 0 {idle_load[0]:.0f}%, core 1 {idle_load[1]:.0f}%",
        "run time": f"{elapsed:.0f} s",
    }


async def run(args: argparse.Namespace, supervisor: Supervisor, nproc: int) -> tuple[str, dict[str, object]]:
    started, git_before, idle_load = time.monotonic(), git_state(), background_load()
    upstreams = {f"m-{p}": Upstream(supervisor, name=f"m-{p}", token_delay=0.0, n_tokens=N_TOKENS, protocol=proto)
                 for p, proto in PROVIDERS.items()}
    # No health checks: the fakes would count them, and the client's and upstream's counts should agree.
    os.environ["LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS"] = "0"
    gateway = start_gateway(supervisor, GatewayConfig("gevent", worker_connections=2000),
                            write_models_config(supervisor.logdir, upstreams))
    bench = Bench(upstreams, gateway, SpeedProbe(supervisor), args)
    cells = build_cells()
    await bench.warm(cells)
    measurements = await bench.measure(cells)
    facts = machine_facts(nproc)
    facts["command"] = ("python -m bench.dialects " + " ".join(sys.argv[1:])).rstrip()
    facts.update(describe(args, idle_load, time.monotonic() - started))
    facts["gateway code"], code_notes = describe_code(git_before, {"gevent": gateway.code}, source_digest())
    probes = sorted(m.core0_probe_us for m in measurements if m.core0_probe_us is not None)
    facts["core 0 speed during the run"] = (f"the speed probe's fixed work took {probes[0]:.0f}–{probes[-1]:.0f} µs "
                                            f"(median {probes[len(probes) // 2]:.0f}) before the runs")
    report = render(facts, cells, measurements, code_notes + consistency_notes(measurements, []))
    return report, {"facts": facts, "cells": [{"dialect": c.dialect.name, "provider": c.provider, "stream": c.stream,
                                              "path": c.path} for c in cells],
                    "measurements": [asdict(m) for m in measurements]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of short windows (about a minute)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per cell (default 16)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all cells (default 3, --quick 1)")
    parser.add_argument("--out", type=Path, default=None, help="report path (default "
                        "bench/results/dialects-latest.md, or dialects-quick.md with --quick)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.out = args.out or Path("bench/results") / ("dialects-quick.md" if args.quick else "dialects-latest.md")
    nproc = len(os.sched_getaffinity(0))
    if not prepare_client_process():
        return 2
    supervisor = Supervisor()
    try:
        report, raw = asyncio.run(run(args, supervisor, nproc))
    finally:
        supervisor.stop_all()
    write_results(args.out, report, raw)
    print(report)
    print(f"written to {args.out} (raw numbers: {args.out.with_suffix('.json')}); logs in {supervisor.logdir}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
