"""Start, watch and stop the processes a benchmark needs: fake upstreams and gunicorn gateways.

Every child is started in a session of its own (its own process group), pinned with ``taskset``,
and registered with a :class:`Supervisor` that stops the whole group on exit, on error and on
Ctrl-C, so no gunicorn worker or upstream outlives the benchmark.

CPU time of a process is read two ways (see bench/README.md):

- ``utime + stime`` from ``/proc/<pid>/stat`` in clock ticks (``SC_CLK_TCK``, 10 ms here): the
  classic counter, all threads of the process included, dead ones too.
- the kernel's per-process CPU clock (``clock_gettime`` on the process's CPU clock id): the same
  quantity (user + system, all threads) in nanoseconds. Windows where the gateway spends only a few
  dozen milliseconds (one slow stream at a time) would be mostly rounding error in ticks.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
GATEWAY_CORE = 0
CLIENT_CORE = 1  # the load generator (this process) and the upstreams


@dataclass(frozen=True)
class CpuReading:
    """A process's CPU time so far, by both counters."""

    ticks: int  # utime + stime, in SC_CLK_TCK units
    ns: int  # process CPU clock, nanoseconds

    def ms_since(self, earlier: CpuReading) -> tuple[float, float]:
        """(ms by the ns clock, ms by the tick counter) spent since ``earlier``."""
        return (self.ns - earlier.ns) / 1e6, (self.ticks - earlier.ticks) * 1000 / CLK_TCK


def _process_cpu_clock(pid: int) -> int:
    """Linux's clock id for the whole-process CPU clock of ``pid`` (what clock_getcpuclockid returns)."""
    return ((~pid) << 3) | 2  # CPUCLOCK_SCHED, process-wide


def read_cpu(pid: int) -> CpuReading:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return CpuReading(ticks, time.clock_gettime_ns(_process_cpu_clock(pid)))


def read_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


@dataclass(frozen=True)
class CoreTimes:
    """One core's time so far from /proc/stat, in USER_HZ ticks."""

    busy: int  # user + nice + system + irq + softirq (guest time is inside user)
    steal: int  # time the hypervisor ran something else while this virtual CPU wanted to run
    total: int  # all of the above + idle + iowait


def read_core_times(cores: tuple[int, ...] = (GATEWAY_CORE, CLIENT_CORE)) -> dict[int, CoreTimes]:
    """Per-core counters, to tell how much of a core went to processes that are not ours."""
    wanted = {f"cpu{c}": c for c in cores}
    times = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name in wanted:
                user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in values[:8])
                busy = user + nice + system + irq + softirq
                times[wanted[name]] = CoreTimes(busy, steal, busy + idle + iowait + steal)
    return times


def source_digest(package: str = "llm_router_api") -> str:
    """A short hash of the gateway's source files as they are on disk now.

    Others edit the gateway while benchmarks run; a worker imports the code when it starts, so
    each gateway records this at its start and the report can tell which code every number
    belongs to (and say so when two gateways of one run loaded different code).
    """
    import hashlib

    root = Path(__file__).resolve().parents[1] / package
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def git_state() -> str:
    """HEAD and the modified tracked files, read without taking git's index lock (read-only)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "--no-optional-locks", *args], capture_output=True, text=True,
                                  timeout=10, cwd=Path(__file__).resolve().parents[1]).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
               if not line[3:].startswith("bench/")]
    return f"HEAD {head}" + (f", uncommitted changes in {', '.join(changed)}" if changed else ", clean")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> int:
    """Lift this process's (and its children's) open-file limit to the hard limit; returns it."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def prepare_client_process() -> bool:
    """Set this (load-generating) process up as both benchmarks need it; False if it cannot run here.

    It must be allowed both cores; it then keeps to the client core, lifts its open-file limit,
    and turns SIGTERM and SIGINT into exceptions so that the caller's clean-up runs on a kill.
    """
    allowed = os.sched_getaffinity(0)
    if not {GATEWAY_CORE, CLIENT_CORE} <= allowed:
        print(f"needs cores {GATEWAY_CORE} and {CLIENT_CORE}; this process may use {allowed}", file=sys.stderr)
        return False
    os.sched_setaffinity(0, {CLIENT_CORE})
    raise_fd_limit()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    return True


class Supervisor:
    """Owns every child process; ``stop_all`` ends each one's process group, politely then firmly."""

    def __init__(self) -> None:
        self._children: list[tuple[subprocess.Popen[bytes], int]] = []  # (process, polite signal)
        self.logdir = Path(tempfile.mkdtemp(prefix="llm-router-bench-"))

    def spawn(self, argv: list[str], *, env: dict[str, str] | None, log_name: str, polite: int,
              stdin: int | None = None, stdout: int | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logdir / log_name, "wb")
        proc = subprocess.Popen(
            argv, env=env, stdin=stdin, stdout=stdout if stdout is not None else log, stderr=log,
            start_new_session=True,
        )
        log.close()
        self._children.append((proc, polite))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        polite = next((sig for p, sig in self._children if p is proc), signal.SIGTERM)
        _signal_group(proc.pid, polite)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # anything left in the group (a gunicorn worker)
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        self._children = [(p, s) for p, s in self._children if p is not proc]

    def stop_all(self) -> None:
        for proc, _ in reversed(list(self._children)):
            self.stop(proc)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _taskset(core: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv]


class _LineChild:
    """A pinned child process that answers one-line commands on stdin with one JSON line on stdout."""

    def __init__(self, supervisor: Supervisor, name: str, core: int, argv: list[str]) -> None:
        self.name = name
        self.proc = supervisor.spawn(_taskset(core, argv), env=None, log_name=f"{name}.log", polite=signal.SIGTERM,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"{self.name} did not answer within {timeout} s")
        return self.proc.stdout.readline().decode().strip()

    def command(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return json.loads(self.read_line(timeout=10))

    def cpu(self) -> CpuReading:
        return read_cpu(self.proc.pid)


class Upstream(_LineChild):
    """A fake upstream (bench/upstream_proc.py) pinned to the client core, with its stats channel;
    ``protocol`` picks the fake (openai, ollama or anthropic)."""

    def __init__(self, supervisor: Supervisor, *, name: str, token_delay: float, n_tokens: int,
                 protocol: str = "openai") -> None:
        self.token_delay = token_delay
        self.protocol = protocol
        self.port = free_port()
        argv = [sys.executable, "-m", "bench.upstream_proc", "--port", str(self.port),
                "--token-delay", str(token_delay), "--n-tokens", str(n_tokens), "--protocol", protocol]
        super().__init__(supervisor, f"upstream-{name}", CLIENT_CORE, argv)
        line = self.read_line(timeout=15)
        if not line.startswith("listening on"):
            raise RuntimeError(f"upstream {name} did not start: {line!r} (log in {supervisor.logdir})")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class SpeedProbe(_LineChild):
    """bench/calibrate.py --serve on the gateway core: how fast that core runs fixed work right now."""

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__(supervisor, "speed-probe", GATEWAY_CORE, [sys.executable, "-m", "bench.calibrate", "--serve"])

    def hot_us(self) -> float:
        return float(self.command("probe")["hot_us"])


@dataclass(frozen=True)
class GatewayConfig:
    worker_class: str  # gevent | gthread
    threads: int = 1  # gthread only
    worker_connections: int = 2000  # gevent: greenlets (connections) per worker; gthread: connections

    @property
    def label(self) -> str:
        return f"gthread-{self.threads}" if self.worker_class == "gthread" else self.worker_class


class Gateway:
    """``python -m llm_router_api.rest_api`` under gunicorn, one worker, pinned to the gateway core."""

    def __init__(self, supervisor: Supervisor, config: GatewayConfig, models_config: Path) -> None:
        self.config = config
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            LLM_ROUTER_MODELS_CONFIG=str(models_config),
            LLM_ROUTER_SERVER_HOST="127.0.0.1",
            LLM_ROUTER_SERVER_PORT=str(self.port),
            LLM_ROUTER_SERVER_WORKERS_COUNT="1",
            LLM_ROUTER_SERVER_WORKER_CLASS=config.worker_class,
            LLM_ROUTER_SERVER_THREADS_COUNT=str(config.threads),
            LLM_ROUTER_SERVER_WORKER_CONNECTIONS=str(config.worker_connections),
            LLM_ROUTER_LOG_LEVEL="WARNING",
            LLM_ROUTER_EXTERNAL_TIMEOUT="120",
        )
        self.log = supervisor.logdir / f"gateway-{config.label}.log"
        self.code = source_digest()  # what the worker is about to import
        self.master = supervisor.spawn(
            _taskset(GATEWAY_CORE, [sys.executable, "-m", "llm_router_api.rest_api"]),
            env=env, log_name=self.log.name, polite=signal.SIGINT,  # SIGINT: gunicorn's quick shutdown
        )
        self._wait_ready(timeout=30)
        self.worker_pid = self._find_worker()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.master.poll() is not None:
                raise RuntimeError(f"gateway {self.config.label} exited: {self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway {self.config.label} not ready after {timeout} s: {self.log_tail()}")

    def _find_worker(self) -> int:
        """The gunicorn worker: the master's only child (we run exactly one)."""
        with open(f"/proc/{self.master.pid}/task/{self.master.pid}/children") as f:
            children = [int(pid) for pid in f.read().split()]
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {children}")
        return children[0]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def affinity(self) -> set[int]:
        return os.sched_getaffinity(self.worker_pid)

    def cpu(self) -> CpuReading:
        return read_cpu(self.worker_pid)

    def memory_kib(self) -> dict[str, int]:
        return read_memory_kib(self.worker_pid)


API_TYPES = {"openai": "vllm", "ollama": "ollama", "anthropic": "anthropic"}  # Upstream.protocol -> api_type


def write_models_config(directory: Path, upstreams: dict[str, Upstream]) -> Path:
    """One model per upstream, named after it, each served by that upstream alone (api_type after its protocol)."""
    models = {
        name: {"providers": [{"id": f"up-{name}", "api_host": up.url, "api_type": API_TYPES[up.protocol]}]}
        for name, up in upstreams.items()
    }
    path = directory / "models-config.json"
    path.write_text(json.dumps({"bench": models, "active_models": {"bench": list(models)}}, indent=2))
    return path
