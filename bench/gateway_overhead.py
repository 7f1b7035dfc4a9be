"""What does the gateway add? Direct-to-upstream vs. through one gunicorn worker, side by side.

Run from the repository root::

    python -m bench.gateway_overhead [--quick] [--worker-class gevent|gthread|both] [--out PATH]

It starts fake upstreams and one-worker gateways as subprocesses, runs every scenario against each
target in turn (direct, gevent, gthread, round after round), runs the hold tests (1,000 slow
streams opened at once), stops everything, and prints + writes a Markdown report (and the raw
numbers as JSON next to it). The gateway worker is pinned to core 0; this process (the load
generator) and the upstreams to core 1. See bench/README.md for what every column means.

This module runs things; scenarios.py says what, stats.py reduces runs to numbers, report.py
writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .loadgen import HoldResult, Workload, run_closed_loop, run_hold
from .procs import (CLIENT_CORE, GATEWAY_CORE, Gateway, GatewayConfig, SpeedProbe, Supervisor, Upstream, git_state,
                    prepare_client_process, read_core_times, source_digest, write_models_config)
from .report import consistency_notes, fmt, machine_facts, render
from .scenarios import N_TOKENS, UPSTREAM_DELAYS, HoldSpec, Scenario, Target, build_scenarios, hold_specs
from .stats import HoldMeasurement, Measurement, Round, Snapshot, core_load, count_errors, percentile, summarize


class Bench:
    """Holds the running processes and runs scenarios against them."""

    def __init__(self, supervisor: Supervisor, upstreams: dict[str, Upstream], gateways: list[Gateway],
                 probe: SpeedProbe, headers: tuple[str, ...] = ()) -> None:
        self.headers = headers  # extra header lines of every request (an API key)
        self.supervisor = supervisor
        self.upstreams = upstreams
        self.gateways = gateways
        self.probe = probe
        self.codes = {g.config.label: g.code for g in gateways}  # source digest each gateway loaded

    def snapshot(self, gateway: Gateway | None) -> Snapshot:
        return Snapshot(
            at=time.perf_counter(),
            gateway=gateway.cpu() if gateway else None,
            others_ns=sum(g.cpu().ns for g in self.gateways if g is not gateway and g.master.poll() is None),
            client_ns=time.process_time_ns(),
            upstreams_ns=sum(up.cpu().ns for up in self.upstreams.values()),
            cores=read_core_times(),
        )

    def targets(self, upstream: Upstream) -> list[Target]:
        direct = Target("direct", "127.0.0.1", upstream.port, None)
        return [direct] + [Target(g.config.label, "127.0.0.1", g.port, g) for g in self.gateways]

    async def run_round(self, scenario: Scenario, target: Target) -> Round:
        upstream = self.upstreams[scenario.upstream]
        upstream.command("reset")
        probe_us = self.probe.hot_us()
        gc.collect()
        gc.disable()  # no collector pauses inside the client's timings
        try:
            result = await run_closed_loop(
                target.host, target.port, scenario.workload(), concurrency=scenario.concurrency,
                warmup=scenario.warmup, duration=scenario.duration, grace=scenario.grace,
                hook=lambda: self.snapshot(target.gateway),
            )
        finally:
            gc.enable()
        seen = upstream.command("stats")["requests"]
        await asyncio.sleep(0.1)  # let closed connections settle before the next run
        return Round(result, seen, probe_us)

    async def measure(self, scenario: Scenario) -> list[Measurement]:
        """All targets, round after round (direct, gateway A, gateway B, direct, ...), then pooled."""
        targets = self.targets(self.upstreams[scenario.upstream])
        rounds: dict[str, list[Round]] = {t.name: [] for t in targets}
        for _ in range(scenario.rounds):
            for target in targets:
                rounds[target.name].append(await self.run_round(scenario, target))
        return [summarize(scenario, t, rounds[t.name]) for t in targets]

    async def warm_gateway(self, gateway: Gateway) -> None:
        """A short unmeasured run of each request kind, so lazy imports and first-use costs are paid."""
        for upstream, stream in (("fast", False), ("fast", True)):
            await run_closed_loop("127.0.0.1", gateway.port, Workload(upstream, stream, N_TOKENS, headers=self.headers),
                                  concurrency=4,
                                  warmup=0.3, duration=0.3, grace=5, hook=lambda: None)


async def hold_test(bench: Bench, target: Target, spec: HoldSpec, streams: int) -> HoldMeasurement:
    """``streams`` streams as ``spec`` says, all opened at once, bounded to ``spec.bound`` s."""
    upstream = bench.upstreams[spec.upstream]
    await wait_idle(upstream)
    upstream.command("reset")
    probe_us = bench.probe.hot_us()
    gateway = target.gateway
    rss_before = gateway.memory_kib()["VmRSS"] if gateway else None
    rss_max = [rss_before or 0]

    def sample() -> None:
        if gateway is not None:
            rss_max[0] = max(rss_max[0], gateway.memory_kib()["VmRSS"])

    gc.collect()
    gc.disable()
    try:
        before = bench.snapshot(gateway)
        result: HoldResult = await run_hold(target.host, target.port, Workload(spec.upstream, True, spec.n_tokens),
                                            streams=streams, bound=spec.bound, sample=sample)
        after = bench.snapshot(gateway)
    finally:
        gc.enable()
    sample()
    stats = upstream.command("stats")
    settle_s = await wait_idle(upstream)
    after_cut = upstream.command("stats")
    ok = [o for o in result.outcomes if o.error is None]
    ttfts = sorted(o.ttft * 1000 for o in ok if o.ttft is not None)
    durations = sorted(o.latency for o in ok)
    errors = count_errors(result.outcomes)
    for name, count in result.connect_errors.items():
        errors[f"connect: {name}"] = count
    m = HoldMeasurement(
        test=spec.label, target=target.name, streams=streams, bound_s=spec.bound, ok=len(ok), errors=errors,
        unfinished_streaming=result.unfinished_streaming, unfinished_waiting=result.unfinished_waiting,
        upstream_peak=stats["peak_concurrency"], client_peak_streaming=result.peak_streaming,
        ttft_p50=percentile(ttfts, 50), ttft_p99=percentile(ttfts, 99), ttft_max=ttfts[-1] if ttfts else None,
        duration_p50=percentile(durations, 50), duration_max=durations[-1] if durations else None,
        elapsed_s=result.elapsed, load=core_load(before, after), core0_probe_us=probe_us,
        upstream_open_at_cut=stats["in_flight"], upstream_idle_after_s=settle_s,
        upstream_requests_after_cut=after_cut["requests"] - stats["requests"],
    )
    if gateway is not None and before.gateway is not None and after.gateway is not None:
        cpu_ms, _ = after.gateway.ms_since(before.gateway)
        m.rss_before_kib, m.rss_max_kib = rss_before, rss_max[0]
        m.gw_cpu_ms_per_stream = cpu_ms / len(ok) if ok else None
        m.gw_core_pct = 100 * cpu_ms / 1000 / result.elapsed
    return m


async def wait_idle(upstream: Upstream, timeout: float = 20.0) -> float | None:
    """Seconds until the upstream has no stream open (the gateway let go of those the client cut),
    None if some are still open after ``timeout``."""
    start = time.monotonic()
    while upstream.command("stats")["in_flight"] > 0:
        if time.monotonic() - start > timeout:
            return None
        await asyncio.sleep(0.05)
    return time.monotonic() - start




def gateway_configs(args: argparse.Namespace) -> list[GatewayConfig]:
    configs = []
    if args.worker_class in ("gevent", "both"):
        configs.append(GatewayConfig("gevent", worker_connections=2000))
    if args.worker_class in ("gthread", "both"):
        configs.append(GatewayConfig("gthread", threads=args.threads, worker_connections=2000))
    return configs


def start_gateway(supervisor: Supervisor, config: GatewayConfig, models_config: Path) -> Gateway:
    """Start one gateway and check that its worker really is pinned where the report says."""
    gateway = Gateway(supervisor, config, models_config)
    if gateway.affinity() != {GATEWAY_CORE}:
        raise RuntimeError(f"gateway worker {gateway.worker_pid} is not pinned to core {GATEWAY_CORE}: "
                           f"{gateway.affinity()}")
    return gateway


def calibrate_wakeup(supervisor: Supervisor) -> dict[str, float]:
    """The machine's wake-from-idle cost on the gateway core (bench/calibrate.py), no gateway involved."""
    proc = supervisor.spawn(["taskset", "-c", str(GATEWAY_CORE), sys.executable, "-m", "bench.calibrate"],
                            env=None, log_name="calibrate.log", polite=signal.SIGTERM, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    supervisor.stop(proc)
    return json.loads(out)


def background_load(seconds: float = 1.0) -> tuple[float, float]:
    """Busy % of core 0 and core 1 while this benchmark does nothing: other people's work."""
    before = read_core_times()
    time.sleep(seconds)
    after = read_core_times()
    return tuple(  # type: ignore[return-value]
        100 * (after[c].busy - before[c].busy) / max(1, after[c].total - before[c].total)
        for c in (GATEWAY_CORE, CLIENT_CORE)
    )


async def run_scenarios(bench: Bench, quick: bool, prompt: str, headers: tuple[str, ...]) -> list[Measurement]:
    """Every scenario against every target, targets back to back so they see the same machine."""
    measurements = []
    for scenario in build_scenarios(quick, prompt, headers):
        for m in await bench.measure(scenario):
            measurements.append(m)
            print(f"  {scenario.label:<18} {m.target:<11} p50 {fmt(m.p50, ' ms'):>9}  "
                  f"{fmt(m.rps):>7} req/s  cpu/req {fmt(m.gw_cpu_ms_per_req, ' ms'):>8}  "
                  f"errors {m.error_total}", file=sys.stderr, flush=True)
    return measurements


async def run_holds(bench: Bench, args: argparse.Namespace, models_config: Path) -> list[HoldMeasurement]:
    """Each hold test direct, through gevent, and through a gthread worker with --hold-threads threads."""
    gateways = [g for g in bench.gateways if g.config.worker_class == "gevent"]
    for gateway in [g for g in bench.gateways if g.config.worker_class == "gthread"]:
        # gthread holds at most as many streams as it has threads: give it its own, larger pool.
        bench.supervisor.stop(gateway.master)
        bench.gateways.remove(gateway)
        hold_gw = start_gateway(bench.supervisor, GatewayConfig("gthread", threads=args.hold_threads,
                                                                worker_connections=2000), models_config)
        await bench.warm_gateway(hold_gw)
        bench.codes[hold_gw.config.label] = hold_gw.code
        gateways.append(hold_gw)
    holds = []
    for spec in hold_specs(args.quick):
        targets = [Target("direct", "127.0.0.1", bench.upstreams[spec.upstream].port, None)]
        targets += [Target(g.config.label, "127.0.0.1", g.port, g) for g in gateways]
        for target in targets:
            h = await hold_test(bench, target, spec, args.hold_streams)
            holds.append(h)
            print(f"  hold {spec.label:<20} {h.target:<11} ok {h.ok}/{h.streams} errors {sum(h.errors.values())} "
                  f"unfinished {h.unfinished_streaming}+{h.unfinished_waiting} upstream peak {h.upstream_peak}",
                  file=sys.stderr, flush=True)
    for gateway in gateways:
        if gateway not in bench.gateways:
            bench.supervisor.stop(gateway.master)
    return holds


def describe_settings(args: argparse.Namespace, configs: list[GatewayConfig], wakeup: dict[str, float],
                      idle_load: tuple[float, float], elapsed: float) -> dict[str, str]:
    gateways = "; ".join(f"{c.label}: worker_connections={c.worker_connections}"
                         + (f", threads={c.threads}" if c.worker_class == "gthread" else "") for c in configs)
    if args.worker_class != "gevent" and args.hold_streams:
        gateways += f"; hold test: gthread with threads={args.hold_threads}"
    return {
        "pinning": f"gunicorn (master + its single worker) on core {GATEWAY_CORE} via taskset; this load "
                   f"generator and the fake upstreams on core {CLIENT_CORE}",
        "load generator": "asyncio + raw sockets, one keep-alive HTTP/1.1 connection per virtual user, "
                          "closed loop; TTFT = first SSE token event (the role chunk before it is not counted)",
        "requests": f"chat completions, max_tokens={N_TOKENS} ({N_TOKENS} tokens answered, stream or not), "
                    f"user message {args.prompt!r}",
        "masking": "LLM_ROUTER_FORCE_MASKING=" + os.environ.get("LLM_ROUTER_FORCE_MASKING", "0"),
        "auth": "LLM_ROUTER_AUTH_ENABLED=" + os.environ.get("LLM_ROUTER_AUTH_ENABLED", "0")
                + (f", store {os.environ.get('LLM_ROUTER_AUTH_KEY_STORE', 'file')}"
                   if os.environ.get("LLM_ROUTER_AUTH_ENABLED") == "1" else ""),
        "windows": ", ".join(f"{s.kind}: {s.rounds} × (warm-up {s.warmup:g} s + window {s.duration:g} s)"
                             for s in build_scenarios(args.quick) if s.concurrency == 1),
        "gateways": gateways + " (LLM_ROUTER_LOG_LEVEL=WARNING)",
        "other processes' load before start": f"core 0 {idle_load[0]:.0f}%, core 1 {idle_load[1]:.0f}%",
        "wake-up cost on core 0 (bench/calibrate.py, no gateway)":
            f"the same small piece of Python costs {wakeup['hot_us']:.0f} µs of CPU back to back, "
            f"{wakeup['after_1ms_sleep_us']:.0f} µs after a 1 ms sleep, "
            f"{wakeup['after_20ms_sleep_us']:.0f} µs after a 20 ms sleep",
        "run time": f"{elapsed:.0f} s",
    }


def describe_code(git_before: str, codes: dict[str, str], digest_after: str) -> tuple[str, list[str]]:
    """Which gateway code the numbers belong to, and notes if it changed while the benchmark ran."""
    digests = sorted(set(codes.values()))
    text = f"{git_before} at start; source digest " + (
        digests[0] if len(digests) == 1 else "; ".join(f"{label} {code}" for label, code in codes.items()))
    notes = []
    if len(digests) > 1:
        notes.append("the gateways of this run loaded different gateway code (edited while it ran): "
                     + ", ".join(f"{label} {code}" for label, code in codes.items()))
    if digest_after not in digests:
        notes.append(f"the gateway's source changed on disk during the run (digest at the end: {digest_after}); "
                     "the running gateways kept the code they had loaded")
    return text, notes


async def run(args: argparse.Namespace, supervisor: Supervisor, nproc: int) -> str:
    started = time.monotonic()
    git_before = git_state()
    idle_load = background_load()
    wakeup = calibrate_wakeup(supervisor)
    upstreams = {name: Upstream(supervisor, name=name, token_delay=delay, n_tokens=N_TOKENS)
                 for name, delay in UPSTREAM_DELAYS.items()}
    models_config = write_models_config(supervisor.logdir, upstreams)
    configs = gateway_configs(args)
    bench = Bench(supervisor, upstreams, [start_gateway(supervisor, c, models_config) for c in configs],
                  SpeedProbe(supervisor), tuple(args.header))
    for gateway in bench.gateways:
        await bench.warm_gateway(gateway)

    measurements = await run_scenarios(bench, args.quick, args.prompt, tuple(args.header))
    holds = await run_holds(bench, args, models_config) if args.hold_streams > 0 else []

    settings = describe_settings(args, configs, wakeup, idle_load, time.monotonic() - started)
    settings["gateway code"], code_notes = describe_code(git_before, bench.codes, source_digest())
    probes = [m.core0_probe_us for m in measurements if m.core0_probe_us is not None]
    if probes:
        settings["core 0 speed during the run"] = (
            f"the speed probe's fixed work took {min(probes):.0f}–{max(probes):.0f} µs (median "
            f"{sorted(probes)[len(probes) // 2]:.0f}) before the runs; see the last column of the details")
    facts = machine_facts(nproc)
    report = render(facts, settings, measurements, holds, [c.label for c in configs],
                    code_notes + consistency_notes(measurements, holds))
    write_results(args.out, report, {"facts": facts, "settings": settings, "wakeup_cost_us": wakeup,
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
    parser.add_argument("--prompt", default=Workload.prompt,
                        help="the user message of every request (e.g. one with personal data, to measure masking "
                             "with LLM_ROUTER_FORCE_MASKING=1)")
    parser.add_argument("--header", action="append", default=[],
                        help="an extra header line of every request, e.g. 'Authorization: Bearer KEY' (repeatable); "
                             "the direct runs send it too")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default bench/results/latest.md, or quick.md with --quick)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path("bench/results") / ("quick.md" if args.quick else "latest.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nproc = len(os.sched_getaffinity(0))
    if not prepare_client_process():
        return 2
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
