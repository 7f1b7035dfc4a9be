"""From raw runs to the numbers the report shows: percentiles, throughput, CPU per request, core load.

See bench/README.md ("The columns", "How gateway CPU per request is measured") for the definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .loadgen import ClosedLoopResult, Outcome
from .procs import CLIENT_CORE, GATEWAY_CORE, CoreTimes, CpuReading
from .scenarios import Scenario, Target


@dataclass(frozen=True)
class Snapshot:
    """CPU counters read at one instant: the gateway worker's, this process's, the upstreams', the cores'."""

    at: float
    gateway: CpuReading | None
    others_ns: int  # the gateways not under test (idle meanwhile)
    client_ns: int
    upstreams_ns: int
    cores: dict[int, CoreTimes]


@dataclass
class CoreLoad:
    """How busy each core was between two snapshots, and how much of that was not ours (percent)."""

    busy0: float
    busy1: float
    steal: float  # the larger of the two cores' steal
    foreign0: float  # core 0 busy minus the gateway workers' CPU
    foreign1: float  # core 1 busy minus this process's and the upstreams' CPU


def core_load(a: Snapshot, b: Snapshot) -> CoreLoad:
    def pct(core: int, attr: str) -> float:
        total = b.cores[core].total - a.cores[core].total
        return 100 * (getattr(b.cores[core], attr) - getattr(a.cores[core], attr)) / total if total else 0.0

    seconds = b.at - a.at
    gateways_ns = b.others_ns - a.others_ns + (b.gateway.ns - a.gateway.ns if a.gateway and b.gateway else 0)
    ours1_ns = b.client_ns - a.client_ns + b.upstreams_ns - a.upstreams_ns
    busy0, busy1 = pct(GATEWAY_CORE, "busy"), pct(CLIENT_CORE, "busy")
    return CoreLoad(
        busy0=busy0, busy1=busy1, steal=max(pct(GATEWAY_CORE, "steal"), pct(CLIENT_CORE, "steal")),
        foreign0=max(0.0, busy0 - 100 * gateways_ns / 1e9 / seconds),
        foreign1=max(0.0, busy1 - 100 * ours1_ns / 1e9 / seconds),
    )


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
    rounds: int
    requests: int  # every request answered in the runs (warm-ups and drains included)
    samples: int  # OK requests that ended inside a window: the latency sample
    rps: float  # OK requests per second inside the windows (each counted for its share of life inside)
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
    gw_cpu_round_min: float | None = None  # the lowest and highest CPU ms/req of a single round
    gw_cpu_round_max: float | None = None
    gw_core_pct: float | None = None  # worker CPU / wall time inside the window
    client_core_pct: float = 0.0  # load generator + upstreams CPU / wall time inside the window
    load: CoreLoad | None = None  # both cores inside the window, ours and others'
    core0_probe_us: float | None = None  # SpeedProbe before each round (median): lower is a faster core 0
    idle_gateways_ms_per_s: float = 0.0  # CPU of the gateways not under test meanwhile (should be ~0)

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


@dataclass
class Round:
    """One closed-loop run of a scenario against one target, and what was read around it."""

    result: ClosedLoopResult
    upstream_requests: int
    probe_us: float

    def snap(self, phase: str) -> Snapshot:
        value = self.result.marks[phase][1]
        assert isinstance(value, Snapshot)
        return value


def window_share(outcome: Outcome, start: float, end: float) -> float:
    """The fraction of a request's life that lies inside [start, end].

    Summed over requests, this counts throughput without rounding to whole requests: 16 slow
    streams that start and end together would otherwise make a window count 0 or 16 of them
    depending on where its edge falls.
    """
    life = outcome.end - outcome.start
    if life <= 0:
        return 1.0 if start <= outcome.end <= end else 0.0
    return max(0.0, min(outcome.end, end) - max(outcome.start, start)) / life


def mean_load(loads: list[CoreLoad]) -> CoreLoad:
    n = len(loads)
    return CoreLoad(*(sum(getattr(load, f) for load in loads) / n
                      for f in ("busy0", "busy1", "steal", "foreign0", "foreign1")))


def summarize(scenario: Scenario, target: Target, rounds: list[Round]) -> Measurement:
    """Pool the rounds: latency, TTFT and req/s from requests that ended in a window; CPU per request
    from each round's whole run (connected → drained, so every request's whole cost is inside)."""
    outcomes = [o for r in rounds for o in r.result.outcomes]
    ended = [o for r in rounds for o in r.result.completed_in_window()]
    ok = sorted((o for o in ended if o.error is None), key=lambda o: o.latency)
    latencies = [o.latency * 1000 for o in ok]
    ttfts = sorted(o.ttft * 1000 for o in ok if o.ttft is not None)
    seconds = sum(r.result.window_seconds for r in rounds)
    done = sum(window_share(o, *r.result.window) for r in rounds for o in r.result.outcomes if o.error is None)
    errors = count_errors(outcomes)
    unfinished = sum(r.result.unfinished for r in rounds)
    if unfinished:
        errors["unfinished"] = unfinished
    client_ns = sum(r.snap("window_end").client_ns - r.snap("window_start").client_ns
                    + r.snap("window_end").upstreams_ns - r.snap("window_start").upstreams_ns for r in rounds)
    whole_s = sum(r.result.marks["drained"][0] - r.result.marks["connected"][0] for r in rounds)
    m = Measurement(
        scenario=scenario.kind, target=target.name, concurrency=scenario.concurrency, rounds=len(rounds),
        requests=len(outcomes), samples=len(latencies), rps=done / seconds,
        p50=percentile(latencies, 50), p99=percentile(latencies, 99),
        ttft_p50=percentile(ttfts, 50), ttft_p99=percentile(ttfts, 99),
        errors=errors, upstream_requests=sum(r.upstream_requests for r in rounds), window_s=seconds,
        client_core_pct=100 * client_ns / 1e9 / seconds,
        load=mean_load([core_load(r.snap("window_start"), r.snap("window_end")) for r in rounds]),
        core0_probe_us=sorted(r.probe_us for r in rounds)[len(rounds) // 2],
        idle_gateways_ms_per_s=sum(r.snap("drained").others_ns - r.snap("connected").others_ns
                                   for r in rounds) / 1e6 / whole_s,
    )
    if target.gateway is not None and outcomes:
        add_gateway_cpu(m, rounds)
    return m


def add_gateway_cpu(m: Measurement, rounds: list[Round]) -> None:
    """The gateway worker's CPU per request, pooled and per round (the spread shows the noise)."""
    total_ns_ms = total_tick_ms = window_ms = 0.0
    per_round = []
    for r in rounds:
        first, last = r.snap("connected").gateway, r.snap("drained").gateway
        w_start, w_end = r.snap("window_start").gateway, r.snap("window_end").gateway
        assert first and last and w_start and w_end
        ns_ms, tick_ms = last.ms_since(first)
        total_ns_ms, total_tick_ms = total_ns_ms + ns_ms, total_tick_ms + tick_ms
        window_ms += w_end.ms_since(w_start)[0]
        if r.result.outcomes:
            per_round.append(ns_ms / len(r.result.outcomes))
    ended = sum(len(r.result.completed_in_window()) for r in rounds)
    m.gw_cpu_ms_per_req = total_ns_ms / m.requests
    m.gw_cpu_ms_per_req_ticks = total_tick_ms / m.requests
    m.gw_cpu_ms_per_req_window = window_ms / ended if ended else None
    m.gw_cpu_round_min, m.gw_cpu_round_max = min(per_round), max(per_round)
    m.gw_core_pct = 100 * window_ms / 1000 / m.window_s


@dataclass
class HoldMeasurement:
    test: str  # HoldSpec.label
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
    load: CoreLoad | None = None
    core0_probe_us: float | None = None
    upstream_open_at_cut: int = 0  # streams the upstream still had open when the client cut its connections
    upstream_idle_after_s: float | None = None  # how long until none was open (None: not within 20 s)
    upstream_requests_after_cut: int = 0  # requests the upstream received after the client had gone
