"""From the balancing benchmark's records to numbers and Markdown (bench/README.md explains each column).

Percentiles are nearest-rank over the requests due inside the measured window. A request still
open at the cut has only a lower bound (the time it had waited); a percentile that such a bound
could push up is printed with "≥".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .openloop import OpenLoopResult
from .procs import CLIENT_CORE, GATEWAY_CORE, CoreTimes

REFERENCES = ("direct round-robin", "balanced", "first_available")  # the ratio columns, in order
OTHERS_NOTE_PCT = 10.0


@dataclass(frozen=True)
class Quantile:
    value: float
    lower_bound: bool  # a request cut before it ended may lie below it, so the true value may be higher


def quantile(samples: list[tuple[float, bool]], q: float) -> Quantile | None:
    """Nearest-rank percentile of (value, censored) samples; censored values are lower bounds."""
    if not samples:
        return None
    ordered = sorted(samples)
    value = ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1][0]
    return Quantile(value, any(censored and v <= value for v, censored in ordered))


@dataclass
class CellSummary:
    """One target at one load: what the client measured, what the servers counted, how loaded the machine was."""

    target: str
    load: float
    rate: float  # offered requests per second
    status: str = "ok"  # or why it did not run ("not available", "failed to start", "gateway died")
    detail: str = ""
    sent: int = 0
    measured: int = 0
    ttft_p50: Quantile | None = None
    ttft_p99: Quantile | None = None
    latency_p50: Quantile | None = None
    latency_p99: Quantile | None = None
    throughput: float = 0.0  # OK requests that ended inside the window, per second
    errors: dict[str, int] = field(default_factory=dict)  # any phase (warm-up, window, after), by kind
    unfinished: int = 0  # requests due in the window still open at the cut
    cut_after_s: float = 0.0
    received: list[int] = field(default_factory=list)  # per server, from its own counters: requests routed there
    served: list[int] = field(default_factory=list)  # ... and completed there (cut requests are not)
    peak_running: list[int] = field(default_factory=list)
    peak_waiting: list[int] = field(default_factory=list)
    lag_mean_ms: list[float] = field(default_factory=list)  # how late the servers' steps ended
    lag_max_ms: list[float] = field(default_factory=list)
    send_late_p99_ms: float = 0.0  # how late the client sent requests against their due times
    send_late_max_ms: float = 0.0
    gateway_cpu_pct: float | None = None  # both workers, % of one core
    client_side_cpu_pct: float = 0.0  # this process + the servers (all on the client core)
    redis_cpu_pct: float | None = None  # the local redis-server (not pinned)
    core_busy_pct: dict[int, float] = field(default_factory=dict)
    predicted: dict[str, float] | None = None  # the step model's percentiles (direct round-robin)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def not_run(cls, target: str, load: float, rate: float, status: str, detail: str) -> CellSummary:
        return cls(target, load, rate, status=status, detail=detail)

    @property
    def ran(self) -> bool:
        return self.status == "ok"

    @property
    def others_pct(self) -> float:
        """Both cores' busy time minus our processes' CPU (gateway, Redis, client, servers), % of one core."""
        ours = (self.gateway_cpu_pct or 0) + (self.redis_cpu_pct or 0) + self.client_side_cpu_pct
        return max(0.0, sum(self.core_busy_pct.values()) - ours)

    @property
    def shares(self) -> list[float]:
        """Where the requests went (% per server): what a strategy decides, even for those cut later."""
        total = sum(self.received)
        return [100 * n / total for n in self.received] if total else []

    def one_line(self) -> str:
        return (f"{self.target} at {self.load:.0%}: TTFT p50/p99 {_ms(self.ttft_p50)}/{_ms(self.ttft_p99)} ms, "
                f"{self.throughput:.1f} req/s, errors {sum(self.errors.values())}, unfinished {self.unfinished}, "
                f"shares {' / '.join(f'{s:.0f}' for s in self.shares)} %")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(target: str, load: float, rate: float, result: OpenLoopResult, sim_stats: list[dict[str, Any]],
              before: dict[str, Any], after: dict[str, Any]) -> CellSummary:
    measured = result.measured()
    answered = [r for r in measured if r.error is None and r.sent is not None]
    ttfts = [(r.ttft, False) if r.ttft is not None else (r.latency, True) for r in answered
             if r.ttft is not None or r.unfinished]
    latencies = [(r.latency, r.unfinished) for r in answered]
    lo, hi = (result.start + t for t in result.window)
    done_in_window = sum(1 for r in result.records if r.error is None and not r.unfinished and r.end is not None
                         and lo <= r.end <= hi)
    late = sorted(max(0.0, r.sent - r.due) for r in result.records if r.sent is not None)
    seconds = after["at"] - before["at"]
    summary = CellSummary(
        target, load, rate, sent=len(result.records), measured=len(measured),
        ttft_p50=quantile(ttfts, 50), ttft_p99=quantile(ttfts, 99),
        latency_p50=quantile(latencies, 50), latency_p99=quantile(latencies, 99),
        throughput=done_in_window / (hi - lo),
        errors=dict(Counter(r.error for r in result.records if r.error is not None)),
        unfinished=sum(1 for r in measured if r.unfinished), cut_after_s=result.cut_after_s,
        received=[s["received"] for s in sim_stats], served=[s["served"] for s in sim_stats],
        peak_running=[s["peak_running"] for s in sim_stats],
        peak_waiting=[s["peak_waiting"] for s in sim_stats], lag_mean_ms=[s["lag_mean_ms"] for s in sim_stats],
        lag_max_ms=[s["lag_max_ms"] for s in sim_stats],
        send_late_p99_ms=1000 * late[max(0, math.ceil(0.99 * len(late)) - 1)] if late else 0.0,
        send_late_max_ms=1000 * late[-1] if late else 0.0,
        client_side_cpu_pct=100 * ((after["client_ns"] - before["client_ns"]) + (after["sims_ns"] - before["sims_ns"]))
        / 1e9 / seconds,
        core_busy_pct=_core_busy(before["cores"], after["cores"]),
    )
    if before["gateway_ns"] is not None and after["gateway_ns"] is not None:
        summary.gateway_cpu_pct = 100 * (after["gateway_ns"] - before["gateway_ns"]) / 1e9 / seconds
    if before["redis_ns"] is not None and after["redis_ns"] is not None:
        summary.redis_cpu_pct = 100 * (after["redis_ns"] - before["redis_ns"]) / 1e9 / seconds
    return summary


def _core_busy(before: dict[int, dict[str, int]], after: dict[int, dict[str, int]]) -> dict[int, float]:
    busy = {}
    for core in after:
        a, b = CoreTimes(**before[core]), CoreTimes(**after[core])
        busy[core] = 100 * (b.busy - a.busy) / (b.total - a.total) if b.total > a.total else 0.0
    return busy


def predicted_summary(result: OpenLoopResult, predicted: dict[int, tuple[float, float]]) -> dict[str, float]:
    """The step model's percentiles for the requests the run measured (no machine in between)."""
    lo, hi = result.window
    chosen = [predicted[i] for i, r in enumerate(result.records) if lo <= r.arrival.at < hi and i in predicted]
    ttfts = [(t, False) for t, _ in chosen]
    latencies = [(e, False) for _, e in chosen]
    return {name: q.value for name, q in (("ttft_p50", quantile(ttfts, 50)), ("ttft_p99", quantile(ttfts, 99)),
                                          ("latency_p50", quantile(latencies, 50)),
                                          ("latency_p99", quantile(latencies, 99))) if q is not None}


# Formatting.

def _ms(q: Quantile | None) -> str:
    if q is None:
        return "–"
    value = 1000 * q.value
    text = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return ("≥" if q.lower_bound else "") + text


def _s(q: Quantile | None) -> str:
    return "–" if q is None else ("≥" if q.lower_bound else "") + f"{q.value:.2f}"


def _ratio(cell: CellSummary, reference: CellSummary | None) -> str:
    if reference is None or not reference.ran or cell.ttft_p99 is None or reference.ttft_p99 is None:
        return "–"
    if reference is cell:
        return "1"
    value = cell.ttft_p99.value / reference.ttft_p99.value
    # A lower bound over an exact value is a lower bound; over a lower bound it says nothing.
    if reference.ttft_p99.lower_bound:
        return "?" if cell.ttft_p99.lower_bound else f"≤{value:.2f}"
    return ("≥" if cell.ttft_p99.lower_bound else "") + f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _load_section(load: float, cells: list[CellSummary], plan: dict[str, Any]) -> list[str]:
    by_target = {c.target: c for c in cells}
    rate = cells[0].rate
    ideal = " / ".join(f"{100 * s['capacity_share']:.1f}" for s in plan["servers"])
    header = ["target", "TTFT p50 ms", "TTFT p99 ms", "latency p50 s", "latency p99 s", "done req/s", "errors",
              "unfinished", "share % per server", "p99 TTFT ÷ direct RR", "÷ balanced", "÷ first_available"]
    rows = [["*capacity share*", "", "", "", "", f"*{rate:.1f} offered*", "", "", f"*{ideal}*", "", "", ""]]
    for cell in cells:
        if not cell.ran:
            rows.append([cell.target, f"{cell.status}: {cell.detail}"] + [""] * (len(header) - 2))
            continue
        rows.append([cell.target, _ms(cell.ttft_p50), _ms(cell.ttft_p99), _s(cell.latency_p50), _s(cell.latency_p99),
                     f"{cell.throughput:.1f}", str(sum(cell.errors.values())), str(cell.unfinished),
                     " / ".join(f"{s:.1f}" for s in cell.shares) or "–"]
                    + [_ratio(cell, by_target.get(ref)) for ref in REFERENCES])
    return [f"## {load:.0%} of capacity ({rate:.1f} requests/s offered)", ""] + _table(header, rows) + [""]


def _health_section(cells: list[CellSummary]) -> list[str]:
    header = ["load", "target", f"gateway CPU % (core {GATEWAY_CORE})", "Redis CPU %",
              f"client + servers CPU % (core {CLIENT_CORE})", f"core {GATEWAY_CORE} / {CLIENT_CORE} busy %",
              "others' load %", "servers' step lag mean / max ms",
              "send lateness p99 / max ms", "peak waiting per server", "peak running per server", "sent", "cut after s"]
    rows = []
    for c in cells:
        if not c.ran:
            continue
        rows.append([f"{c.load:.0%}", c.target, _pct(c.gateway_cpu_pct), _pct(c.redis_cpu_pct),
                     f"{c.client_side_cpu_pct:.0f}",
                     f"{c.core_busy_pct.get(GATEWAY_CORE, 0):.0f} / {c.core_busy_pct.get(CLIENT_CORE, 0):.0f}",
                     f"{c.others_pct:.0f}",
                     f"{max(c.lag_mean_ms, default=0):.2f} / {max(c.lag_max_ms, default=0):.1f}",
                     f"{c.send_late_p99_ms:.1f} / {c.send_late_max_ms:.1f}",
                     " / ".join(map(str, c.peak_waiting)), " / ".join(map(str, c.peak_running)), str(c.sent),
                     f"{c.cut_after_s:.1f}"])
    return ["## The machine during each run", ""] + _table(header, rows) + [""]


def _model_check_section(cells: list[CellSummary]) -> list[str]:
    header = ["load", "TTFT p50 ms measured / model", "TTFT p99 ms", "latency p50 s", "latency p99 s"]
    rows = []
    for c in cells:
        p = c.predicted
        if not p:
            continue
        rows.append([f"{c.load:.0%}",
                     f"{_ms(c.ttft_p50)} / {1000 * p['ttft_p50']:.0f}",
                     f"{_ms(c.ttft_p99)} / {1000 * p['ttft_p99']:.0f}",
                     f"{_s(c.latency_p50)} / {p['latency_p50']:.2f}", f"{_s(c.latency_p99)} / {p['latency_p99']:.2f}"])
    return (["## Does the simulation run as modelled? (direct round-robin, measured vs the step model)", "",
             "The step model replayed on a virtual clock with the same arrivals and the same server per request "
             "(`tests.upstreams.vllm_sim.replay`): what the servers would do on an infinitely fast machine. "
             "Measured values close to the model mean the 2-core machine did not distort the run.", ""]
            + _table(header, rows) + [""])


def _notes(cells: list[CellSummary], run_notes: list[str]) -> list[str]:
    lines = [f"- {note}" for note in run_notes]
    busy = [c for c in cells if c.ran and c.others_pct > OTHERS_NOTE_PCT]
    if busy:
        lines.append(f"- other processes kept the cores more than {OTHERS_NOTE_PCT:.0f} % busy (of one core) during "
                     + ", ".join(f"{c.target} at {c.load:.0%} ({c.others_pct:.0f} %)" for c in busy)
                     + ": those rows are less trustworthy")
    for c in cells:
        if c.ran and c.errors:
            kinds = ", ".join(f"{kind} × {n}" for kind, n in sorted(c.errors.items()))
            lines.append(f"- {c.target} at {c.load:.0%}: errors {kinds}")
        lines += [f"- {c.target} at {c.load:.0%}: {note}" for note in c.notes]
    return (["## Errors and notes", ""] + lines + [""]) if lines else []


HOW_TO_READ = """## How to read it

- Each load is a share of the four servers' summed capacity (requests per second they finish with
  full batches, see the parameters below); arrivals are Poisson, the same seeded arrivals and request
  shapes for every row of a load. Only requests due inside the measured window count.
- **TTFT** runs from writing the request to the first SSE event with a non-empty `delta.content`;
  **latency** to the end of the stream. Both in the client, over OK requests and those cut at the bound
  ("≥": a request cut before it ended may be above the printed value). Errors are not in the percentiles.
- **done req/s**: OK requests that ended inside the window (whenever they were due), per second.
  Well below the offered rate means requests piled up somewhere (a server's queue, the gateway's wait
  line). With `--quick` the window is short and the warm-up shorter than many requests last, so a row
  can read tens of percent above or below the offered rate: compare the rows of a load with each other.
- **errors**: non-OK answers in any phase (HTTP status, `error` event, wrong token count, truncated
  stream); **unfinished**: requests of the window still open at the cut.
- **share % per server**: requests each server received (its own counter, reset before each run) out
  of all four, whether they completed or were cut (the JSON also has `served`, the completed ones); the
  *capacity share* row is what a perfect balancer would give at full load (proportional to speed).
  At light load any share that keeps every server below its capacity is fine; at 95 % only one close to
  the capacity share avoids a queue on the slowest server.
- **p99 TTFT ÷ X**: this row's p99 TTFT over X's at the same load. Below 1 is better than X.
- "direct round-robin" and "direct least-outstanding" are the load generator choosing a server itself,
  with no gateway: round-robin is the project's baseline for ratios (it ignores speed, so it overloads
  the slowest server at every load here), least-outstanding is what a client that counts its own
  open requests gets.
"""


def _parameters(plan: dict[str, Any]) -> list[str]:
    step = plan["step"]
    lines = ["## Simulation parameters", "",
             "Each server is `python -m tests.upstreams.vllm_sim` (continuous batching: FIFO admission up to "
             "`max_num_seqs` at each step start, one token per running sequence per step) with "
             f"step = ({1000 * step['step_base_s']:g} ms + {1000 * step['step_per_seq_s']:g} ms × running + "
             f"{1000 * step['prefill_per_token_s']:g} ms × prompt tokens admitted) ÷ speed.", "",
             f"Requests: streamed chat completions, prompt {plan['shape']['prompt_words'][0]}–"
             f"{plan['shape']['prompt_words'][1]} words, max_tokens {plan['shape']['output_tokens'][0]}–"
             f"{plan['shape']['output_tokens'][1]} (uniform); a server answers exactly max_tokens tokens.", ""]
    header = ["server", "speed", "max_num_seqs", "step alone ms", "step full batch ms", "capacity req/s",
              "capacity share %", "gateway weight", "max_concurrency"]
    rows = [[str(i), f"{s['speed']:g}", str(s["max_num_seqs"]), f"{s['step_alone_ms']:g}", f"{s['step_full_ms']:g}",
             f"{s['capacity_rps']:.2f}", f"{100 * s['capacity_share']:.1f}", f"{s['speed']:g}", str(s["max_num_seqs"])]
            for i, s in enumerate(plan["servers"])]
    timing = plan["timing"]
    lines += _table(header, rows) + [
        "",
        f"Total capacity {plan['capacity_rps']:.1f} requests/s. Loads {', '.join(f'{x:.0%}' for x in plan['loads'])}; "
        f"seeds {', '.join(f'{k}: {v}' for k, v in plan['seeds'].items())}. Per run: {timing['warmup']:g} s warm-up, "
        f"{timing['window']:g} s measured window, then at most {timing['bound']:g} s for the window's requests "
        "to end (arrivals go on meanwhile), then the rest are cut. About "
        f"{plan['events_per_s_at_max_load']} SSE events/s at the highest load.",
        "",
        "The gateway: `python -m llm_router_api.rest_api`, 2 gevent workers pinned to core 0, "
        "`LLM_ROUTER_QUEUE_WAIT_SECONDS=60`, Redis at 127.0.0.1:6379 db 0 under a fresh key prefix "
        "(deleted at the end); one gateway per strategy. The servers and the load generator share core 1.",
        "",
    ]
    return lines


def render(facts: dict[str, str], plan: dict[str, Any], cells: list[CellSummary], run_notes: list[str]) -> str:
    """Measured facts first (per load, then the model check and the machine), then how to read them."""
    speeds = " / ".join(f"{s['speed']:g}" for s in plan["servers"])
    capacities = " / ".join(f"{s['capacity_rps']:.2f}" for s in plan["servers"])
    lines = ["# Load balancing over unequal servers: strategies compared", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += [f"- **servers**: speeds {speeds}, capacity {capacities} req/s ({plan['capacity_rps']:.1f} in all)", ""]
    for load in plan["loads"]:
        lines += _load_section(load, [c for c in cells if c.load == load], plan)
    lines += _model_check_section(cells) + _health_section(cells) + _notes(cells, run_notes)
    lines += HOW_TO_READ.splitlines() + [""] + _parameters(plan)
    return "\n".join(lines)
