"""How well does each balancing strategy spread real-shaped load over unequal servers?

Run from the repository root::

    python -m bench.balancing [--quick] [--strategies a,b,c | +extra] [--loads 0.5,0.8,0.95] [--out PATH]

Four simulated vLLM servers (tests/upstreams/vllm_sim.py: continuous batching on a step clock)
of different speeds serve one model. For every load (a share of the four servers' summed
capacity) the same seeded Poisson arrivals are sent: direct from the load generator (round-robin,
then least-outstanding), then through the gateway once per strategy, one gateway process per
strategy. The report (Markdown + JSON) gives TTFT and latency percentiles, throughput, errors,
each server's share of the requests next to its share of the capacity, and ratios against the
direct round-robin run, ``balanced`` and ``first_available``. See bench/README.md.

This module starts things and runs the cells; openloop.py sends the requests;
balancing_report.py turns the records into numbers and tables.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import os
import secrets
import select
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.upstreams.vllm_sim import StepModel, replay

from .balancing_report import CellSummary, predicted_summary, render, summarize
from .openloop import (Arrival, OpenLoopResult, RequestShape, Router, least_outstanding, poisson_arrivals,
                       round_robin, run_open_loop)
from .report import machine_facts
from .procs import (CLIENT_CORE, GATEWAY_CORE, Supervisor, free_port, git_state, prepare_client_process,
                    read_core_times, read_cpu, source_digest)

MODEL = "bench-model"
SPEEDS = (1.0, 1.0, 0.6, 0.3)  # mixed GPU generations
MAX_NUM_SEQS = 16
STEP = {"step_base_s": 0.020, "step_per_seq_s": 0.001, "prefill_per_token_s": 0.0001}
SHAPE = RequestShape(prompt_words=(20, 200), output_tokens=(20, 60))
DEFAULT_STRATEGIES = ("balanced", "weighted", "dynamic_weighted", "first_available", "first_available_optim",
                      "least_outstanding")
DEFAULT_LOADS = (0.5, 0.8, 0.95)
DIRECT_TARGETS = ("direct round-robin", "direct least-outstanding")
REDIS = ("127.0.0.1", 6379, 0)


@dataclass(frozen=True)
class Timing:
    warmup: float  # seconds of arrivals before the measured window (not counted)
    window: float  # seconds of arrivals whose requests are measured
    bound: float  # at most this long after the window for its requests to end; then the rest are cut


FULL = Timing(warmup=4.0, window=18.0, bound=20.0)
QUICK = Timing(warmup=2.5, window=3.5, bound=2.0)


def step_models() -> list[StepModel]:
    return [StepModel(speed=speed, max_num_seqs=MAX_NUM_SEQS, **STEP) for speed in SPEEDS]


class SimServer:
    """One simulated vLLM server in a process of its own (its CLI), pinned to the client core."""

    def __init__(self, supervisor: Supervisor, index: int, model: StepModel) -> None:
        self.index = index
        self.model = model
        self.port = free_port()
        argv = ["taskset", "-c", str(CLIENT_CORE), sys.executable, "-m", "tests.upstreams.vllm_sim",
                "--port", str(self.port), "--model", MODEL, "--speed", str(model.speed),
                "--max-num-seqs", str(model.max_num_seqs), "--step-base-s", str(model.step_base_s),
                "--step-per-seq-s", str(model.step_per_seq_s), "--prefill-per-token-s", str(model.prefill_per_token_s)]
        self.proc = supervisor.spawn(argv, env=None, log_name=f"sim-{index}.log", polite=signal.SIGTERM,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("listening on"):
            raise RuntimeError(f"simulated server {index} did not start: {line!r} (log in {supervisor.logdir})")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _call(self, method: str, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/sim/stats")

    def reset(self) -> None:
        self._call("POST", "/sim/reset")

    def cpu_ns(self) -> int:
        return read_cpu(self.proc.pid).ns


class NotAvailable(Exception):
    """The gateway refused the strategy at start (exit status 2); the message is its one line."""


class StrategyGateway:
    """``python -m llm_router_api.rest_api`` with two workers and one strategy, pinned to the gateway core."""

    def __init__(self, supervisor: Supervisor, strategy: str, models_config: Path, key_prefix: str) -> None:
        self.supervisor = supervisor
        self.strategy = strategy
        self.port = free_port()
        self.log = supervisor.logdir / f"gateway-{strategy}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
        env.update(
            LLM_ROUTER_MODELS_CONFIG=str(models_config),
            LLM_ROUTER_SERVER_HOST="127.0.0.1",
            LLM_ROUTER_SERVER_PORT=str(self.port),
            LLM_ROUTER_SERVER_WORKERS_COUNT="2",
            LLM_ROUTER_LOG_LEVEL="WARNING",
            LLM_ROUTER_BALANCE_STRATEGY=strategy,
            LLM_ROUTER_REDIS_HOST=REDIS[0],
            LLM_ROUTER_REDIS_PORT=str(REDIS[1]),
            LLM_ROUTER_REDIS_DB=str(REDIS[2]),
            LLM_ROUTER_REDIS_KEY_PREFIX=key_prefix,
            LLM_ROUTER_QUEUE_WAIT_SECONDS="60",
        )
        self.code = source_digest()  # what the workers are about to import
        self.master = supervisor.spawn(
            ["taskset", "-c", str(GATEWAY_CORE), sys.executable, "-m", "llm_router_api.rest_api"],
            env=env, log_name=self.log.name, polite=signal.SIGINT,  # SIGINT: gunicorn's quick shutdown
        )
        try:
            self._wait_ready(timeout=30)
        except BaseException:
            supervisor.stop(self.master)
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.master.poll()
            if status == 2:
                raise NotAvailable(self.last_line())
            if status is not None:
                raise RuntimeError(f"exited with status {status}: {self.last_line()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200 and len(self.workers()) == 2:
                    return
            except OSError:
                pass
            time.sleep(0.1)  # polling readiness, not timing anything
        raise RuntimeError(f"not ready after {timeout} s: {self.last_line()}")

    def last_line(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return lines[-1].strip() if lines else "(empty log)"

    def workers(self) -> list[int]:
        with open(f"/proc/{self.master.pid}/task/{self.master.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def cpu_ns(self) -> int:
        return sum(read_cpu(pid).ns for pid in self.workers())

    def stop(self) -> None:
        self.supervisor.stop(self.master)


def write_models_config(directory: Path, sims: list[SimServer], limits: bool = True) -> Path:
    """One model, four providers: weight = the server's speed, and (with ``limits``)
    max_concurrency = its batch size. Without limits, as llm-router configs are written today,
    only the strategy stands between a slow server and an unbounded queue."""
    providers = [{"id": f"sim{s.index}-x{s.model.speed:g}", "api_host": s.url, "api_type": "vllm",
                  "weight": s.model.speed} for s in sims]
    if limits:
        for provider, sim in zip(providers, sims):
            provider["max_concurrency"] = sim.model.max_num_seqs
    path = directory / "models-config.json"
    path.write_text(json.dumps({"bench": {MODEL: {"providers": providers}}, "active_models": {"bench": [MODEL]}},
                               indent=2))
    return path


def delete_redis_keys(prefix: str) -> str:
    """Delete every key under ``prefix`` (SCAN + DEL, never a flush); returns what happened, for the report.

    The gateway may wrap its prefix in a hash tag (``{prefix}:...``, one cluster slot), so both
    forms are matched.
    """
    try:
        import redis

        client = redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS[2], socket_timeout=5)
        patterns = (f"{prefix}*", f"{{{prefix}*")
        keys = sorted({key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)})
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return f"deleted {len(keys)} keys matching {' or '.join(patterns)}"
    except Exception as exc:  # a report line, not a crash: the results are already measured
        return f"could not clean {prefix}* in Redis: {type(exc).__name__}: {exc}"


def redis_server_pid() -> int | None:
    """The local redis-server's pid, to count its CPU as the gateway's (None when it is not on this machine)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "redis-server":
                return int(entry.name)
        except OSError:
            continue
    return None


def _cpu_ns_or_none(pid: int | None) -> int | None:
    try:
        return read_cpu(pid).ns if pid is not None else None
    except OSError:
        return None


class Bench:
    """The servers, the plan (capacity, arrivals per load) and the cells run so far."""

    def __init__(self, supervisor: Supervisor, timing: Timing, loads: list[float]) -> None:
        self.supervisor = supervisor
        self.timing = timing
        self.sims = [SimServer(supervisor, i, model) for i, model in enumerate(step_models())]
        self.capacities = [m.capacity(SHAPE.mean_prompt, SHAPE.mean_output) for m in step_models()]
        self.loads = loads
        self.cells: list[CellSummary] = []
        self.redis_pid = redis_server_pid()

    @property
    def capacity(self) -> float:
        return sum(self.capacities)

    def arrivals(self, load: float) -> list[Arrival]:
        """The same arrivals for every target at this load: the seed depends on the load alone."""
        t = self.timing
        return poisson_arrivals(load * self.capacity, t.warmup + t.window + t.bound + 1, SHAPE,
                                seed=1000 + round(load * 1000))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until no server runs or queues anything (the previous cell's cut streams are dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s["running"] == 0 and s["waiting"] == 0 for s in (sim.stats() for sim in self.sims)):
                return True
            time.sleep(0.05)  # polling the servers' state
        return False

    async def cell(self, target: str, load: float, ports: list[int], router: Router,
                   gateway: StrategyGateway | None) -> CellSummary:
        idle = self.wait_idle()
        for sim in self.sims:
            sim.reset()
        arrivals = self.arrivals(load)
        t = self.timing
        before = self._counters(gateway)
        gc.collect()
        gc.disable()  # no collector pauses inside the client's timings
        try:
            result = await run_open_loop([("127.0.0.1", p) for p in ports], router, MODEL, arrivals,
                                         window=(t.warmup, t.warmup + t.window), bound=t.bound,
                                         connections_per_target=32 if gateway else 8)
        finally:
            gc.enable()
        after = self._counters(gateway)
        settled = self.wait_idle()
        sim_stats = [sim.stats() for sim in self.sims]
        summary = summarize(target, load, load * self.capacity, result, sim_stats, before, after)
        if not idle or not settled:
            summary.notes.append("the servers were still busy " + ("before the run" if not idle else "30 s after it"))
        if target == DIRECT_TARGETS[0]:
            summary.predicted = predicted_summary(result, self._replay(result))
        print(f"  {summary.one_line()}", file=sys.stderr, flush=True)
        self.cells.append(summary)
        return summary

    def _counters(self, gateway: StrategyGateway | None) -> dict[str, Any]:
        return {"at": time.perf_counter(), "gateway_ns": gateway.cpu_ns() if gateway else None,
                "client_ns": time.process_time_ns(), "sims_ns": sum(s.cpu_ns() for s in self.sims),
                "redis_ns": _cpu_ns_or_none(self.redis_pid),
                "cores": {core: asdict(times) for core, times in read_core_times().items()}}

    def _replay(self, result: OpenLoopResult) -> dict[int, tuple[float, float]]:
        """The step model's TTFT and latency for each request, given the server each one went to."""
        predicted = {}
        for server, model in enumerate(step_models()):
            mine = [i for i, r in enumerate(result.records) if r.target == server]
            timelines = replay(model, [(result.records[i].arrival.at, result.records[i].arrival.prompt_words,
                                        result.records[i].arrival.max_tokens) for i in mine])
            for i, timeline in zip(mine, timelines):
                at = result.records[i].arrival.at
                predicted[i] = (timeline.first_token - at, timeline.last_token - at)
        return predicted

    async def run_direct(self) -> None:
        ports = [sim.port for sim in self.sims]
        for load in self.loads:
            await self.cell(DIRECT_TARGETS[0], load, ports, round_robin(len(ports)), None)
            await self.cell(DIRECT_TARGETS[1], load, ports, least_outstanding(len(ports)), None)

    async def run_strategy(self, strategy: str, models_config: Path, key_prefix: str) -> str | None:
        """Every load through one gateway; returns the digest of the code it loaded (None if it did not start)."""
        try:
            gateway = StrategyGateway(self.supervisor, strategy, models_config, key_prefix)
        except NotAvailable as exc:
            self._not_run(strategy, "not available", str(exc))
            return None
        except RuntimeError as exc:
            self._not_run(strategy, "failed to start", str(exc))
            return None
        try:
            for load in self.loads:
                if gateway.master.poll() is not None:
                    self._not_run(strategy, "gateway died", gateway.last_line(), [load])
                    continue
                await self.cell(strategy, load, [gateway.port], lambda outstanding: 0, gateway)
        finally:
            gateway.stop()
        return gateway.code

    def _not_run(self, strategy: str, status: str, detail: str, loads: list[float] | None = None) -> None:
        print(f"  {strategy}: {status}: {detail}", file=sys.stderr, flush=True)
        for load in loads or self.loads:
            self.cells.append(CellSummary.not_run(strategy, load, load * self.capacity, status, detail))


def describe_plan(bench: Bench, timing: Timing, strategies: list[str]) -> dict[str, Any]:
    """The simulation's parameters and the capacity they give, for the report and the JSON."""
    models = step_models()
    return {
        "servers": [{"speed": m.speed, "max_num_seqs": m.max_num_seqs, "capacity_rps": round(c, 3),
                     "capacity_share": round(c / bench.capacity, 4),
                     "step_full_ms": round(1000 * m.step_seconds(m.max_num_seqs, m.max_num_seqs / SHAPE.mean_output
                                                                  * SHAPE.mean_prompt), 2),
                     "step_alone_ms": round(1000 * m.step_seconds(1, 0), 2)}
                    for m, c in zip(models, bench.capacities)],
        "step": STEP,
        "shape": {"prompt_words": SHAPE.prompt_words, "output_tokens": SHAPE.output_tokens},
        "capacity_rps": round(bench.capacity, 3),
        "loads": bench.loads,
        "seeds": {str(load): 1000 + round(load * 1000) for load in bench.loads},
        "timing": asdict(timing),
        "strategies": strategies,
        "events_per_s_at_max_load": round(max(bench.loads) * bench.capacity * (SHAPE.mean_output + 3)),
    }


async def run(args: argparse.Namespace, supervisor: Supervisor) -> tuple[str, dict[str, Any]]:
    started = time.monotonic()
    git_before = git_state()
    timing = QUICK if args.quick else FULL
    bench = Bench(supervisor, timing, args.loads)
    models_config = write_models_config(supervisor.logdir, bench.sims, limits=not args.no_limits)
    key_prefix = f"llmr-bench-{secrets.token_hex(4)}"
    print(f"capacity {bench.capacity:.1f} req/s; logs in {supervisor.logdir}", file=sys.stderr, flush=True)
    codes: dict[str, str] = {}
    try:
        await bench.run_direct()
        for strategy in args.strategies:
            code = await bench.run_strategy(strategy, models_config, f"{key_prefix}-{strategy}")
            if code is not None:
                codes[strategy] = code
    finally:
        redis_note = delete_redis_keys(key_prefix)
    plan = describe_plan(bench, timing, args.strategies)
    facts = machine_facts(os.cpu_count() or 0)
    facts.update({
        "command": ("python -m bench.balancing " + shlex.join(args.argv)).rstrip(),
        "gateway code": f"{git_before}; source digest per strategy: "
                        + (", ".join(f"{s} {c}" for s, c in codes.items()) or "none started"),
        "providers' max_concurrency": "none (--no-limits)" if args.no_limits else "each server's max_num_seqs",
        "redis": redis_note,
        "run time": f"{time.monotonic() - started:.0f} s",
        "logs": str(supervisor.logdir),
    })
    notes = []
    if len(set(codes.values())) > 1:
        notes.append("the gateways of this run loaded different gateway code (it was edited while the run went on)")
    report = render(facts, plan, bench.cells, notes)
    return report, {"facts": facts, "plan": plan, "cells": [c.to_json() for c in bench.cells], "notes": notes}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows (a few minutes in all)")
    parser.add_argument("--strategies", default=None,
                        help="comma list of strategies to run (default: the six standard ones); "
                             "a leading '+' adds to the default instead, e.g. +my_strategy")
    parser.add_argument("--loads", default=",".join(map(str, DEFAULT_LOADS)),
                        help="comma list of loads as shares of the summed capacity (default 0.5,0.8,0.95)")
    parser.add_argument("--no-limits", action="store_true",
                        help="providers without max_concurrency (as most existing configs): strategies alone")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default bench/results/balancing-latest.md, or balancing-quick.md)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.strategies = _strategy_list(args.strategies)
    args.loads = [float(x) for x in args.loads.split(",") if x.strip()]
    if not args.loads or not all(0 < x < 2 for x in args.loads):
        parser.error("--loads: shares of capacity between 0 and 2, e.g. 0.5,0.8,0.95")
    if args.out is None:
        args.out = Path("bench/results") / ("balancing-quick.md" if args.quick else "balancing-latest.md")
    return args


def _strategy_list(raw: str | None) -> list[str]:
    if raw is None:
        return list(DEFAULT_STRATEGIES)
    named = [s.strip() for s in raw.lstrip("+").split(",") if s.strip()]
    chosen = list(DEFAULT_STRATEGIES) + named if raw.startswith("+") else named
    return list(dict.fromkeys(chosen))  # each once, in order


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not prepare_client_process():
        return 2
    supervisor = Supervisor()
    try:
        report, raw = asyncio.run(run(args, supervisor))
    finally:
        supervisor.stop_all()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    print(report)
    print(f"written to {args.out} (raw numbers: {args.out.with_suffix('.json')})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
