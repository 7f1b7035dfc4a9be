"""What does the gateway add? Direct-to-upstream vs. through one gunicorn worker, side by side.

Run from the repository root::

    python -m bench.gateway_overhead [--quick] [--worker-class gevent|gthread|both] [--out PATH]

It starts fake upstreams and one-worker gateways as subprocesses, runs every scenario against each
target in turn (direct first, then each gateway), runs the hold test (1,000 slow streams at
once), stops everything, and prints + writes a Markdown report (and the raw numbers as JSON next
to it). The gateway worker is pinned to core 0; this process (the load generator) and the
upstreams to core 1. See bench/README.md for what every column means.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import platform
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from .loadgen import ClosedLoopResult, HoldResult, Outcome, Workload, run_closed_loop, run_hold
from .procs import (CLIENT_CORE, GATEWAY_CORE, CpuReading, Gateway, GatewayConfig, Supervisor, Upstream,
                    raise_fd_limit, write_models_config)

N_TOKENS = 64
HOLD_TOKEN_DELAY = 0.05
UPSTREAM_DELAYS = {"fast": 0.0, "tok20ms": 0.02, "tok50ms": HOLD_TOKEN_DELAY}  # model name -> token delay


@dataclass(frozen=True)
class Scenario:
    kind: str  # "chat" (non-stream), "stream", "stream 20ms"
    upstream: str  # key of UPSTREAM_DELAYS, also the model name
    stream: bool
    concurrency: int
    warmup: float
    duration: float
    grace: float = 10.0

    @property
    def label(self) -> str:
        return f"{self.kind} c={self.concurrency}"

    def workload(self) -> Workload:
        return Workload(model=self.upstream, stream=self.stream, n_tokens=N_TOKENS)


def build_scenarios(quick: bool) -> list[Scenario]:
    """The issue's matrix; --quick shortens windows and drops the slowest cell (20 ms, c=128)."""
    fast = (0.5, 1.2) if quick else (1.0, 5.0)  # (warm-up, window) seconds
    slow = (1.4, 2.7) if quick else (1.5, 8.0)  # a 20 ms stream lasts ~1.3 s: warm up past one
    scenarios = [Scenario("chat", "fast", False, c, *fast) for c in (1, 16, 128)]
    scenarios += [Scenario("stream", "fast", True, c, *fast) for c in (1, 16, 128)]
    scenarios += [Scenario("stream 20ms", "tok20ms", True, c, *slow) for c in ((1, 16) if quick else (1, 16, 128))]
    return scenarios


@dataclass(frozen=True)
class Target:
    name: str  # "direct" or a gateway label
    host: str
    port: int
    gateway: Gateway | None


@dataclass(frozen=True)
class Snapshot:
    """CPU counters read at one instant: the gateway worker's, this process's, the upstreams'."""

    at: float
    gateway: CpuReading | None
    client_ns: int
    upstreams_ns: int


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def count_errors(outcomes: Iterable[Outcome]) -> dict[str, int]:
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.error is not None:
            errors[outcome.error] = errors.get(outcome.error, 0) + 1
    return errors


@dataclass
class Measurement:
    """One scenario against one target, reduced to the numbers the report shows (ms, req/s)."""

    scenario: str
    target: str
    concurrency: int
    requests: int  # every request answered in the run (warm-up and drain included)
    samples: int  # OK requests that started and ended inside the window: the latency sample
    rps: float  # OK requests that ended inside the window, per second
    p50: float | None
    p99: float | None
    ttft_p50: float | None
    ttft_p99: float | None
    errors: dict[str, int]
    upstream_requests: int  # what the upstream counted for this run (forwarding check)
    window_s: float
    gw_cpu_ms_per_req: float | None = None  # whole run, ns clock (the table's number)
    gw_cpu_ms_per_req_ticks: float | None = None  # whole run, /proc/<pid>/stat utime+stime
    gw_cpu_ms_per_req_window: float | None = None  # window only, ns clock (cross-check)
    gw_core_pct: float | None = None  # worker CPU / wall time inside the window
    client_core_pct: float = 0.0  # load generator + upstreams CPU / wall time inside the window
    idle_gateways_ms_per_s: dict[str, float] = field(default_factory=dict)  # other gateways' CPU meanwhile

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def summarize(scenario: Scenario, target: Target, result: ClosedLoopResult, run_start: Snapshot,
              run_end: Snapshot, upstream_requests: int) -> Measurement:
    window = result.window
    steady = sorted((o for o in result.in_window() if o.error is None), key=lambda o: o.latency)
    latencies = [o.latency * 1000 for o in steady]
    ttfts = sorted(o.ttft * 1000 for o in steady if o.ttft is not None)
    done_ok = sum(1 for o in result.completed_in_window() if o.error is None)
    errors = count_errors(result.outcomes)
    if result.unfinished:
        errors["unfinished"] = result.unfinished
    w_start, w_end = window.at_start, window.at_end
    assert isinstance(w_start, Snapshot) and isinstance(w_end, Snapshot)
    m = Measurement(
        scenario=scenario.kind, target=target.name, concurrency=scenario.concurrency,
        requests=len(result.outcomes), samples=len(latencies), rps=done_ok / window.seconds,
        p50=percentile(latencies, 50), p99=percentile(latencies, 99),
        ttft_p50=percentile(ttfts, 50), ttft_p99=percentile(ttfts, 99),
        errors=errors, upstream_requests=upstream_requests, window_s=window.seconds,
        client_core_pct=100 * ((w_end.client_ns - w_start.client_ns) + (w_end.upstreams_ns - w_start.upstreams_ns))
        / 1e9 / window.seconds,
    )
    if run_start.gateway and run_end.gateway and w_start.gateway and w_end.gateway and result.outcomes:
        ns_ms, tick_ms = run_end.gateway.ms_since(run_start.gateway)
        m.gw_cpu_ms_per_req = ns_ms / len(result.outcomes)
        m.gw_cpu_ms_per_req_ticks = tick_ms / len(result.outcomes)
        window_ms, _ = w_end.gateway.ms_since(w_start.gateway)
        ended_in_window = len(result.completed_in_window())
        m.gw_cpu_ms_per_req_window = window_ms / ended_in_window if ended_in_window else None
        m.gw_core_pct = 100 * window_ms / 1000 / window.seconds
    return m


class Bench:
    """Holds the running processes and runs scenarios against them."""

    def __init__(self, supervisor: Supervisor, upstreams: dict[str, Upstream], gateways: list[Gateway]) -> None:
        self.supervisor = supervisor
        self.upstreams = upstreams
        self.gateways = gateways

    def snapshot(self, gateway: Gateway | None) -> Snapshot:
        return Snapshot(
            at=time.perf_counter(),
            gateway=gateway.cpu() if gateway else None,
            client_ns=time.process_time_ns(),
            upstreams_ns=sum(up.cpu().ns for up in self.upstreams.values()),
        )

    def targets(self, upstream: Upstream) -> list[Target]:
        direct = Target("direct", "127.0.0.1", upstream.port, None)
        return [direct] + [Target(g.config.label, "127.0.0.1", g.port, g) for g in self.gateways]

    async def measure(self, scenario: Scenario, target: Target) -> Measurement:
        upstream = self.upstreams[scenario.upstream]
        upstream.command("reset")
        others = [g for g in self.gateways if g is not target.gateway]
        others_before = {g.config.label: g.cpu() for g in others}
        gc.collect()
        gc.disable()  # no collector pauses inside the client's timings
        try:
            run_start = self.snapshot(target.gateway)
            result = await run_closed_loop(
                target.host, target.port, scenario.workload(), concurrency=scenario.concurrency,
                warmup=scenario.warmup, duration=scenario.duration, grace=scenario.grace,
                hook=lambda: self.snapshot(target.gateway),
            )
            run_end = self.snapshot(target.gateway)
        finally:
            gc.enable()
        seen = upstream.command("stats")["requests"]
        m = summarize(scenario, target, result, run_start, run_end, seen)
        elapsed = run_end.at - run_start.at
        m.idle_gateways_ms_per_s = {g.config.label: g.cpu().ms_since(others_before[g.config.label])[0] / elapsed
                                    for g in others}
        await asyncio.sleep(0.2)  # let closed connections settle before the next run
        return m

    async def warm_gateway(self, gateway: Gateway) -> None:
        """A short unmeasured run of each request kind, so lazy imports and first-use costs are paid."""
        for upstream, stream in (("fast", False), ("fast", True)):
            await run_closed_loop("127.0.0.1", gateway.port, Workload(upstream, stream, N_TOKENS), concurrency=4,
                                  warmup=0.3, duration=0.3, grace=5, hook=lambda: None)


@dataclass
class HoldMeasurement:
    target: str
    streams: int
    bound_s: float
    ok: int
    errors: dict[str, int]
    unfinished_streaming: int
    unfinished_waiting: int
    upstream_peak: int
    client_peak_streaming: int
    ttft_p50: float | None
    ttft_p99: float | None
    ttft_max: float | None
    duration_p50: float | None
    duration_max: float | None
    elapsed_s: float
    rss_before_kib: int | None = None
    rss_max_kib: int | None = None
    gw_cpu_ms_per_stream: float | None = None
    gw_core_pct: float | None = None


async def hold_test(bench: Bench, target: Target, streams: int, bound: float) -> HoldMeasurement:
    """``streams`` 64-token streams at 50 ms per token, all opened at once, bounded to ``bound`` s."""
    upstream = bench.upstreams["tok50ms"]
    upstream.command("reset")
    gateway = target.gateway
    rss_before = gateway.memory_kib()["VmRSS"] if gateway else None
    rss_max = [rss_before or 0]

    def sample() -> None:
        if gateway is not None:
            rss_max[0] = max(rss_max[0], gateway.memory_kib()["VmRSS"])

    cpu_before = gateway.cpu() if gateway else None
    gc.collect()
    gc.disable()
    try:
        result: HoldResult = await run_hold(target.host, target.port, Workload("tok50ms", True, N_TOKENS),
                                            streams=streams, bound=bound, sample=sample)
    finally:
        gc.enable()
    cpu_after = gateway.cpu() if gateway else None
    sample()
    stats = upstream.command("stats")
    ok = [o for o in result.outcomes if o.error is None]
    ttfts = sorted(o.ttft * 1000 for o in ok if o.ttft is not None)
    durations = sorted(o.latency for o in ok)
    errors = count_errors(result.outcomes)
    for name, count in result.connect_errors.items():
        errors[f"connect: {name}"] = count
    m = HoldMeasurement(
        target=target.name, streams=streams, bound_s=bound, ok=len(ok), errors=errors,
        unfinished_streaming=result.unfinished_streaming, unfinished_waiting=result.unfinished_waiting,
        upstream_peak=stats["peak_concurrency"], client_peak_streaming=result.peak_streaming,
        ttft_p50=percentile(ttfts, 50), ttft_p99=percentile(ttfts, 99), ttft_max=ttfts[-1] if ttfts else None,
        duration_p50=percentile(durations, 50), duration_max=durations[-1] if durations else None,
        elapsed_s=result.elapsed,
    )
    if gateway is not None and cpu_before is not None and cpu_after is not None:
        cpu_ms, _ = cpu_after.ms_since(cpu_before)
        m.rss_before_kib, m.rss_max_kib = rss_before, rss_max[0]
        m.gw_cpu_ms_per_stream = cpu_ms / len(ok) if ok else None
        m.gw_core_pct = 100 * cpu_ms / 1000 / result.elapsed
    await asyncio.sleep(0.5)
    return m


# ---------------------------------------------------------------- report


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text + unit


def pair(a: float | None, b: float | None) -> str:
    return f"{fmt(a)} / {fmt(b)}"


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) if errors else "0"


def overhead_table(direct: list[Measurement], gateway: list[Measurement]) -> str:
    header = ["scenario", "c", "p50/p99 direct ms", "p50/p99 gateway ms", "added p50/p99 ms",
              "TTFT p50/p99 direct ms", "TTFT p50/p99 gateway ms", "added TTFT p50/p99 ms",
              "req/s direct", "req/s gateway", "ratio", "errors d / g", "gw CPU ms/req", "gw core %",
              "core 1 % (gen+upstream)"]
    rows = []
    for d, g in zip(direct, gateway):
        rows.append([
            d.scenario, str(d.concurrency), pair(d.p50, d.p99), pair(g.p50, g.p99),
            pair(diff(g.p50, d.p50), diff(g.p99, d.p99)),
            pair(d.ttft_p50, d.ttft_p99) if d.ttft_p50 is not None else "–",
            pair(g.ttft_p50, g.ttft_p99) if g.ttft_p50 is not None else "–",
            pair(diff(g.ttft_p50, d.ttft_p50), diff(g.ttft_p99, d.ttft_p99)) if d.ttft_p50 is not None else "–",
            fmt(d.rps), fmt(g.rps), fmt(g.rps / d.rps if d.rps else None),
            f"{d.error_total} / {g.error_total}", fmt(g.gw_cpu_ms_per_req), fmt(g.gw_core_pct),
            f"{fmt(d.client_core_pct)} / {fmt(g.client_core_pct)}",
        ])
    return table(header, rows)


def worker_class_table(by_target: dict[str, list[Measurement]], labels: list[str]) -> str:
    header = ["scenario", "c"]
    for label in labels:
        header += [f"{label} CPU ms/req", f"{label} req/s", f"{label} added p50/p99 ms"]
    direct = by_target["direct"]
    rows = []
    for i, d in enumerate(direct):
        row = [d.scenario, str(d.concurrency)]
        for label in labels:
            g = by_target[label][i]
            row += [fmt(g.gw_cpu_ms_per_req), fmt(g.rps), pair(diff(g.p50, d.p50), diff(g.p99, d.p99))]
        rows.append(row)
    return table(header, rows)


def details_table(measurements: list[Measurement]) -> str:
    header = ["target", "scenario", "c", "requests", "latency samples", "upstream saw", "window s",
              "CPU ms/req (ns clock, whole run)", "CPU ms/req (/proc stat ticks, whole run)",
              "CPU ms/req (ns clock, window)", "errors", "idle gateways' CPU ms/s"]
    rows = []
    for m in measurements:
        idle = ", ".join(f"{k} {v:.2f}" for k, v in m.idle_gateways_ms_per_s.items()) or "–"
        rows.append([m.target, m.scenario, str(m.concurrency), str(m.requests), str(m.samples),
                     str(m.upstream_requests), f"{m.window_s:.2f}", fmt(m.gw_cpu_ms_per_req),
                     fmt(m.gw_cpu_ms_per_req_ticks), fmt(m.gw_cpu_ms_per_req_window), errors_text(m.errors), idle])
    return table(header, rows)


def hold_table(holds: list[HoldMeasurement]) -> str:
    header = ["target", "streams", "OK", "errors", "unfinished at bound (streaming / no token yet)", "bound s",
              "upstream peak concurrency", "client peak streaming", "TTFT p50/p99/max ms",
              "stream duration p50/max s", "elapsed s", "worker RSS before → max MiB", "gw CPU ms/stream",
              "gw core %"]
    rows = []
    for h in holds:
        rss = (f"{h.rss_before_kib / 1024:.0f} → {h.rss_max_kib / 1024:.0f}"
               if h.rss_before_kib is not None and h.rss_max_kib is not None else "–")
        rows.append([h.target, str(h.streams), str(h.ok), errors_text(h.errors),
                     f"{h.unfinished_streaming} / {h.unfinished_waiting}", f"{h.bound_s:.0f}",
                     str(h.upstream_peak), str(h.client_peak_streaming),
                     f"{fmt(h.ttft_p50)} / {fmt(h.ttft_p99)} / {fmt(h.ttft_max)}",
                     f"{fmt(h.duration_p50)} / {fmt(h.duration_max)}", f"{h.elapsed_s:.1f}", rss,
                     fmt(h.gw_cpu_ms_per_stream), fmt(h.gw_core_pct)])
    return table(header, rows)


def targets_table(by_target: dict[str, list[Measurement]], labels: list[str],
                  holds: list[HoldMeasurement]) -> str:
    """The issue's targets next to what each worker class measured (worst case over concurrencies)."""
    def worst(label: str, kind: str, attr: str) -> float | None:
        values = [getattr(m, attr) for m in by_target[label] if m.scenario == kind and getattr(m, attr) is not None]
        return max(values) if values else None

    def added_p50_c1(label: str) -> float | None:
        pairs = zip(by_target["direct"], by_target[label])
        return next((diff(g.p50, d.p50) for d, g in pairs if d.scenario == "chat" and d.concurrency == 1), None)

    rows = []
    checks = [
        ("CPU per non-stream request (max over c)", "≤ 1 ms", lambda l: worst(l, "chat", "gw_cpu_ms_per_req"), 1.0),
        ("CPU per 64-token stream, no delay (max over c)", "≤ 2 ms",
         lambda l: worst(l, "stream", "gw_cpu_ms_per_req"), 2.0),
        ("CPU per 64-token stream, 20 ms delay (max over c)", "≤ 2 ms",
         lambda l: worst(l, "stream 20ms", "gw_cpu_ms_per_req"), 2.0),
        ("added p50, non-stream, c=1", "< 1 ms", added_p50_c1, 1.0),
    ]
    for name, target, measure, limit in checks:
        row = [name, target]
        for label in labels:
            value = measure(label)
            row.append("–" if value is None else f"{fmt(value)} ms ({'met' if value <= limit else 'not met'})")
        rows.append(row)
    hold_row = ["1,000 slow streams held without errors", "1000 OK, 0 errors"]
    for label in labels:
        h = next((h for h in holds if h.target.split("-")[0] == label.split("-")[0]), None)
        if h is None:
            hold_row.append("–")
        else:
            good = h.ok == h.streams and not h.errors
            hold_row.append(f"{h.ok} OK, {sum(h.errors.values())} errors ({'met' if good else 'not met'}; {h.target})")
    rows.append(hold_row)
    return table(["target", "goal"] + labels, rows)


def machine_facts(nproc: int) -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    versions = {}
    for package in ("llm-router", "gunicorn", "gevent", "greenlet", "flask", "werkzeug", "urllib3"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "nproc": str(nproc),
        "CPU model": model,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "command": "python -m bench.gateway_overhead " + shlex.join(sys.argv[1:]),
    }


def render(facts: dict[str, str], settings: dict[str, str], measurements: list[Measurement],
           holds: list[HoldMeasurement], labels: list[str], notes: list[str]) -> str:
    by_target: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_target.setdefault(m.target, []).append(m)
    parts = ["# Gateway overhead benchmark", ""]
    parts += [f"- **{k}**: {v}" for k, v in facts.items()]
    parts += [f"- **{k}**: {v}" for k, v in settings.items()]
    parts.append("")
    for label in labels:
        parts += [f"## Direct vs. through the gateway ({label}, one worker on core {GATEWAY_CORE})", "",
                  overhead_table(by_target["direct"], by_target[label]), ""]
    if len(labels) > 1:
        parts += ["## Worker classes side by side", "", worker_class_table(by_target, labels), ""]
    if holds:
        parts += [f"## Hold test: {holds[0].streams} concurrent streams of {N_TOKENS} tokens at "
                  f"{HOLD_TOKEN_DELAY * 1000:.0f} ms per token", "", hold_table(holds), ""]
    parts += ["## Targets from the issue", "", targets_table(by_target, labels, holds), ""]
    parts += ["## Details (every run)", "", details_table(measurements), ""]
    if notes:
        parts += ["## Notes from this run", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


# ---------------------------------------------------------------- main


def consistency_notes(measurements: list[Measurement], holds: list[HoldMeasurement]) -> list[str]:
    """Facts the tables could hide: runs with errors, and the upstream seeing a different count."""
    notes = []
    for m in measurements:
        if m.errors:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: errors {errors_text(m.errors)}")
        if m.upstream_requests != m.requests:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: client counted {m.requests} requests, "
                         f"upstream {m.upstream_requests}")
        if m.client_core_pct > 90:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: core 1 (load generator + upstream) was "
                         f"{m.client_core_pct:.0f}% busy, so this run may be limited by the client side")
    return notes


async def run(args: argparse.Namespace, supervisor: Supervisor, nproc: int) -> str:
    started = time.monotonic()
    upstreams = {name: Upstream(supervisor, name=name, token_delay=delay, n_tokens=N_TOKENS)
                 for name, delay in UPSTREAM_DELAYS.items()}
    models_config = write_models_config(supervisor.logdir, upstreams)
    configs = []
    if args.worker_class in ("gevent", "both"):
        configs.append(GatewayConfig("gevent", worker_connections=2000))
    if args.worker_class in ("gthread", "both"):
        configs.append(GatewayConfig("gthread", threads=args.threads, worker_connections=2000))
    gateways = [Gateway(supervisor, c, models_config) for c in configs]
    for g in gateways:
        if g.affinity() != {GATEWAY_CORE}:
            raise RuntimeError(f"gateway worker {g.worker_pid} is not pinned to core {GATEWAY_CORE}: {g.affinity()}")
    bench = Bench(supervisor, upstreams, gateways)
    for g in gateways:
        await bench.warm_gateway(g)

    measurements: list[Measurement] = []
    for scenario in build_scenarios(args.quick):
        for target in bench.targets(upstreams[scenario.upstream]):
            m = await bench.measure(scenario, target)
            measurements.append(m)
            print(f"  {scenario.label:<18} {target.name:<11} p50 {fmt(m.p50, ' ms'):>9}  "
                  f"{fmt(m.rps):>7} req/s  cpu/req {fmt(m.gw_cpu_ms_per_req, ' ms'):>8}  "
                  f"errors {m.error_total}", file=sys.stderr, flush=True)

    holds: list[HoldMeasurement] = []
    if args.hold_streams > 0:
        bound = 10.0 if args.quick else 20.0
        holds.append(await hold_test(bench, bench.targets(upstreams["tok50ms"])[0], args.hold_streams, bound))
        for g in gateways:
            if g.config.worker_class == "gevent":
                holds.append(await hold_test(bench, Target(g.config.label, "127.0.0.1", g.port, g),
                                             args.hold_streams, bound))
            else:  # gthread holds as many streams as threads: give it its own, larger pool
                supervisor.stop(g.master)
                hold_gw = Gateway(supervisor, GatewayConfig("gthread", threads=args.hold_threads,
                                                            worker_connections=2000), models_config)
                await bench.warm_gateway(hold_gw)
                holds.append(await hold_test(bench, Target(hold_gw.config.label, "127.0.0.1", hold_gw.port,
                                                           hold_gw), args.hold_streams, bound))
                supervisor.stop(hold_gw.master)
        for h in holds:
            print(f"  hold {h.target:<11} ok {h.ok}/{h.streams} errors {sum(h.errors.values())} "
                  f"unfinished {h.unfinished_streaming}+{h.unfinished_waiting} peak {h.upstream_peak}",
                  file=sys.stderr, flush=True)

    labels = [c.label for c in configs]
    settings = {
        "pinning": f"gunicorn (master + its single worker) on core {GATEWAY_CORE} via taskset; this load "
                   f"generator and the fake upstreams on core {CLIENT_CORE}",
        "load generator": "asyncio + raw sockets, one keep-alive HTTP/1.1 connection per virtual user, "
                          "closed loop; TTFT = first SSE token event (the role chunk before it is not counted)",
        "requests": f"chat completions, max_tokens={N_TOKENS} ({N_TOKENS} tokens answered, stream or not)",
        "windows": ", ".join(f"{s.label}: warm-up {s.warmup:g} s + window {s.duration:g} s"
                             for s in build_scenarios(args.quick) if s.concurrency == 1),
        "gateways": "; ".join(f"{c.label}: worker_connections={c.worker_connections}"
                              + (f", threads={c.threads}" if c.worker_class == "gthread" else "") for c in configs)
                    + (f"; hold test gthread threads={args.hold_threads}" if args.worker_class != "gevent" else ""),
        "run time": f"{time.monotonic() - started:.0f} s",
    }
    notes = consistency_notes(measurements, holds)
    report = render(machine_facts(nproc), settings, measurements, holds, labels, notes)
    write_results(args.out, report, {"facts": machine_facts(nproc), "settings": settings,
                                     "measurements": [asdict(m) for m in measurements],
                                     "holds": [asdict(h) for h in holds]})
    return report


def write_results(out: Path, report: str, raw: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows (about 90 s in all)")
    parser.add_argument("--worker-class", choices=("gevent", "gthread", "both"), default="both")
    parser.add_argument("--threads", type=int, default=32, help="gthread threads for the scenario runs")
    parser.add_argument("--hold-threads", type=int, default=64, help="gthread threads for the hold test")
    parser.add_argument("--hold-streams", type=int, default=1000, help="streams in the hold test (0 skips it)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default bench/results/latest.md, or quick.md with --quick)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path("bench/results") / ("quick.md" if args.quick else "latest.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nproc = len(os.sched_getaffinity(0))
    if not {GATEWAY_CORE, CLIENT_CORE} <= os.sched_getaffinity(0):
        print(f"needs cores {GATEWAY_CORE} and {CLIENT_CORE}; this process may use {os.sched_getaffinity(0)}",
              file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {CLIENT_CORE})
    raise_fd_limit()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on kill
    supervisor = Supervisor()
    try:
        report = asyncio.run(run(args, supervisor, nproc))
    finally:
        supervisor.stop_all()
    print(report)
    print(f"written to {args.out} (raw numbers: {args.out.with_suffix('.json')}); logs in {supervisor.logdir}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
