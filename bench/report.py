"""The Markdown report: tables, machine facts, and notes on anything that makes a run suspect."""

from __future__ import annotations

import datetime as dt
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

from .procs import GATEWAY_CORE
from .stats import CoreLoad, HoldMeasurement, Measurement

FOREIGN_LOAD_WARNING = 5.0  # percent of a core used by other processes that makes a run suspect


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


def cpu_cell(m: Measurement) -> str:
    """Pooled CPU ms per request, with the range over rounds when there were several."""
    if m.rounds > 1 and m.gw_cpu_round_min is not None:
        return f"{fmt(m.gw_cpu_ms_per_req)} ({fmt(m.gw_cpu_round_min)}–{fmt(m.gw_cpu_round_max)})"
    return fmt(m.gw_cpu_ms_per_req)


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
              "core 1 % (gen+upstream) d / g", "others' load core 0 / 1 % (g)"]
    rows = []
    for d, g in zip(direct, gateway):
        rows.append([
            d.scenario, str(d.concurrency), pair(d.p50, d.p99), pair(g.p50, g.p99),
            pair(diff(g.p50, d.p50), diff(g.p99, d.p99)),
            pair(d.ttft_p50, d.ttft_p99) if d.ttft_p50 is not None else "–",
            pair(g.ttft_p50, g.ttft_p99) if g.ttft_p50 is not None else "–",
            pair(diff(g.ttft_p50, d.ttft_p50), diff(g.ttft_p99, d.ttft_p99)) if d.ttft_p50 is not None else "–",
            fmt(d.rps), fmt(g.rps), fmt(g.rps / d.rps if d.rps else None),
            f"{d.error_total} / {g.error_total}", cpu_cell(g), fmt(g.gw_core_pct),
            f"{fmt(d.client_core_pct)} / {fmt(g.client_core_pct)}",
            f"{fmt(g.load.foreign0)} / {fmt(g.load.foreign1)}" if g.load else "–",
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
            row += [cpu_cell(g), fmt(g.rps), pair(diff(g.p50, d.p50), diff(g.p99, d.p99))]
        rows.append(row)
    return table(header, rows)


def details_table(measurements: list[Measurement]) -> str:
    header = ["target", "scenario", "c", "rounds", "requests", "latency samples", "upstream saw", "windows s",
              "CPU ms/req (ns clock, whole run)", "CPU ms/req (/proc stat ticks, whole run)",
              "CPU ms/req (ns clock, window)", "errors", "idle gateways' CPU ms/s",
              "core 0 / 1 busy %", "others' load core 0 / 1 %", "steal %", "core 0 speed probe µs"]
    rows = []
    for m in measurements:
        idle = fmt(m.idle_gateways_ms_per_s)
        rows.append([m.target, m.scenario, str(m.concurrency), str(m.rounds), str(m.requests), str(m.samples),
                     str(m.upstream_requests), f"{m.window_s:.2f}", fmt(m.gw_cpu_ms_per_req),
                     fmt(m.gw_cpu_ms_per_req_ticks), fmt(m.gw_cpu_ms_per_req_window), errors_text(m.errors), idle,
                     *load_cells(m.load), fmt(m.core0_probe_us)])
    return table(header, rows)


def load_cells(load: CoreLoad | None) -> list[str]:
    if load is None:
        return ["–", "–", "–"]
    return [pair(load.busy0, load.busy1), pair(load.foreign0, load.foreign1), fmt(load.steal)]


def cut_cell(h: HoldMeasurement) -> str:
    """What the upstream still did for streams whose client had been cut off at the bound."""
    if not h.upstream_open_at_cut and not h.upstream_requests_after_cut:
        return "0"
    idle = "still open after 20 s" if h.upstream_idle_after_s is None else f"{h.upstream_idle_after_s:.1f}"
    return f"{h.upstream_open_at_cut} → {idle} ({h.upstream_requests_after_cut})"


def hold_table(holds: list[HoldMeasurement]) -> str:
    header = ["test", "target", "streams", "OK", "errors", "unfinished at bound (streaming / no token yet)", "bound s",
              "upstream peak concurrency", "client peak streaming", "TTFT p50/p99/max ms",
              "stream duration p50/max s", "elapsed s", "worker RSS before → max MiB", "gw CPU ms/stream",
              "gw core %", "upstream open at cut → idle after s (new requests after cut)",
              "others' load core 0 / 1 %", "core 0 speed probe µs"]
    rows = []
    for h in holds:
        rss = (f"{h.rss_before_kib / 1024:.0f} → {h.rss_max_kib / 1024:.0f}"
               if h.rss_before_kib is not None and h.rss_max_kib is not None else "–")
        rows.append([h.test, h.target, str(h.streams), str(h.ok), errors_text(h.errors),
                     f"{h.unfinished_streaming} / {h.unfinished_waiting}", f"{h.bound_s:.0f}",
                     str(h.upstream_peak), str(h.client_peak_streaming),
                     f"{fmt(h.ttft_p50)} / {fmt(h.ttft_p99)} / {fmt(h.ttft_max)}",
                     f"{fmt(h.duration_p50)} / {fmt(h.duration_max)}", f"{h.elapsed_s:.1f}", rss,
                     fmt(h.gw_cpu_ms_per_stream), fmt(h.gw_core_pct), cut_cell(h),
                     pair(h.load.foreign0, h.load.foreign1) if h.load else "–", fmt(h.core0_probe_us)])
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
    for test in dict.fromkeys(h.test for h in holds):
        streams = next(h.streams for h in holds if h.test == test)
        row = [f"{streams} slow streams held without errors ({test})", f"{streams} OK, 0 errors"]
        for label in labels:
            kind = label.split("-")[0]
            h = next((h for h in holds if h.test == test and h.target.split("-")[0] == kind), None)
            if h is None:
                row.append("–")
                continue
            good = h.ok == h.streams and not h.errors
            row.append(f"{h.ok} OK, {sum(h.errors.values())} errors, "
                       f"{h.unfinished_streaming + h.unfinished_waiting} unfinished at {h.bound_s:.0f} s "
                       f"({'met' if good else 'not met'}; {h.target})")
        rows.append(row)
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
        "command": ("python -m bench.gateway_overhead " + shlex.join(sys.argv[1:])).rstrip(),
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
        parts += [f"## Hold test: {holds[0].streams} streams opened at once", "", hold_table(holds), ""]
    parts += ["## Targets from the issue", "", targets_table(by_target, labels, holds), ""]
    parts += ["## Details (every run)", "", details_table(measurements), ""]
    if notes:
        parts += ["## Notes from this run", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


def consistency_notes(measurements: list[Measurement], holds: list[HoldMeasurement]) -> list[str]:
    """Facts the tables could hide: runs with errors, and the upstream seeing a different count."""
    notes = []
    for m in measurements:
        if m.errors:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: errors {errors_text(m.errors)}")
        if m.upstream_requests != m.requests:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: client counted {m.requests} requests, "
                         f"upstream {m.upstream_requests}")
        if m.target != "direct" and m.client_core_pct > 90:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: core 1 (load generator + upstream) was "
                         f"{m.client_core_pct:.0f}% busy, so this gateway run may be limited by the client side")
        if m.load and max(m.load.foreign0, m.load.foreign1) > FOREIGN_LOAD_WARNING:
            notes.append(f"{m.target} / {m.scenario} c={m.concurrency}: processes that are not this benchmark's "
                         f"used {m.load.foreign0:.0f}% of core 0 and {m.load.foreign1:.0f}% of core 1 during the "
                         f"window: its numbers are disturbed")
    for h in holds:
        if h.load and max(h.load.foreign0, h.load.foreign1) > FOREIGN_LOAD_WARNING:
            notes.append(f"hold test {h.test} / {h.target}: processes that are not this benchmark's used "
                         f"{h.load.foreign0:.0f}% of core 0 and {h.load.foreign1:.0f}% of core 1")
    return notes
