"""Fixtures that start real parts: test upstreams, the gateway in-process, the gateway under gunicorn."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from llm_router_api.app import create_app
from llm_router_api.settings import Settings
from tests.redis_servers import SHARED, RedisProcess, new_space, reachable
from tests.upstreams import FakeUpstream, closed_port

REPO_ROOT = Path(__file__).resolve().parent.parent


class _LeakWatch(logging.Handler):
    """Every log line of the session, and the secrets tests used, to check that none was ever logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.secrets: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(f"{record.getMessage()} {getattr(record, 'request', '')}")
        except Exception:  # a bad format string is the logging test's problem, not this one's
            pass


LEAK_WATCH = _LeakWatch()


def register_secret(secret: str) -> str:
    """Remember a key or token a test uses: the session fails if any log line holds it."""
    LEAK_WATCH.secrets.add(secret)
    return secret


@pytest.fixture
def caplog(caplog):
    """pytest's caplog, also seeing the gateway's loggers after create_app stopped their propagation."""
    logger = logging.getLogger("llm_router_api")
    attached = not logger.propagate
    if attached:
        logger.addHandler(caplog.handler)
    yield caplog
    if attached:
        logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory):
    """Every log line of the session (in-process, and each gateway's log file) is free of every secret."""
    loggers = [logging.getLogger(), logging.getLogger("llm_router_api")]  # the gateway's does not propagate
    for logger in loggers:
        logger.addHandler(LEAK_WATCH)
    yield
    for logger in loggers:
        logger.removeHandler(LEAK_WATCH)
    texts = list(LEAK_WATCH.lines)
    for path in tmp_path_factory.getbasetemp().rglob("*.log"):
        texts.append(path.read_text(errors="replace"))
    leaked = sorted(secret[:12] + "..." for secret in LEAK_WATCH.secrets if any(secret in text for text in texts))
    assert not leaked, f"secrets found in log lines: {leaked}"


def write_config(path: Path, models: dict, *, group: str = "test_models") -> Path:
    """Write a models-config.json with ``models`` ({name: spec}) all active in one group."""
    document = {group: models, "active_models": {group: list(models)}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    os.replace(tmp, path)  # atomic, as a careful operator (or a config manager) writes it
    return path


def provider(upstream_or_port, pid: str, **extra) -> dict:
    host = upstream_or_port.url if isinstance(upstream_or_port, FakeUpstream) else \
        f"http://127.0.0.1:{upstream_or_port}/"
    return {"id": pid, "api_host": host, "api_type": "vllm", **extra}


@pytest.fixture
def upstreams():
    """Factory of started FakeUpstreams, all stopped at the end of the test."""
    started: list[FakeUpstream] = []

    def start(**kwargs) -> FakeUpstream:
        up = FakeUpstream(**kwargs).start()
        started.append(up)
        return up

    yield start
    for up in started:
        up.stop()


@pytest.fixture
def dead_port() -> int:
    return closed_port()


class ManualClock:
    """A clock tests move by hand, for cool-downs and reload intervals without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RunningGateway:
    url: str
    config_path: Path
    app: object = None
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


class _InProcessGateways:
    """Gateways served in this process (werkzeug threaded server), stopped together."""

    def __init__(self) -> None:
        self.servers: list = []
        self.apps: list = []

    def start(self, directory: Path, models: dict, *, clock=None, **settings_overrides) -> RunningGateway:
        config_path = write_config(directory / f"models-{len(self.servers)}.json", models)
        # One process serves (so max_concurrency is not split between workers), and no active
        # health checks unless a test asks: their GETs would show up in the upstreams' records.
        defaults = {"server_type": "flask", "provider_monitor_interval_seconds": 0, "log_level": "WARNING",
                    "results_db": str(directory / f"results-{len(self.servers)}.sqlite")}
        settings = Settings(models_config=str(config_path), **{**defaults, **settings_overrides})
        app = create_app(settings, clock=clock) if clock else create_app(settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.servers.append((server, thread))
        self.apps.append(app)
        return RunningGateway(url=f"http://127.0.0.1:{server.server_port}", config_path=config_path, app=app)

    def stop(self) -> None:
        for server, thread in self.servers:
            server.shutdown()
            thread.join(5)
        for gw in self.apps:
            gw.extensions["llm_router"].balancing.stop()


@pytest.fixture
def gateway(tmp_path):
    """Factory: an in-process gateway (werkzeug threaded server) for the given models.

    ``gateway(models, clock=..., **settings)`` writes the config, builds the app with
    ``create_app`` and serves it on a free 127.0.0.1 port until the test ends.
    """
    gateways = _InProcessGateways()
    yield lambda models, **kwargs: gateways.start(tmp_path, models, **kwargs)
    gateways.stop()


@pytest.fixture(scope="module")
def module_gateway(tmp_path_factory):
    """Factory as ``gateway``, for a gateway shared by a whole test module (a matrix of cells)."""
    gateways = _InProcessGateways()
    yield lambda models, **kwargs: gateways.start(tmp_path_factory.mktemp("gateway"), models, **kwargs)
    gateways.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0, *,
                     path: str = "/ping", name: str = "gateway") -> None:
    """Poll ``url + path`` until it answers 200; fail fast with the log's tail if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{_log_tail(log_path)}")
        try:
            if requests.get(url + path, timeout=0.5).status_code == 200:
                return
        except requests.RequestException:  # gunicorn binds before its workers accept
            pass
        time.sleep(0.05)  # polling a readiness condition, not synchronising on elapsed time
    raise RuntimeError(f"{name} not ready in {timeout}s:\n{_log_tail(log_path)}")


def _log_tail(log_path: Path, chars: int = 8000) -> str:
    return log_path.read_text(errors="replace")[-chars:]


def until(condition, timeout: float = 15.0, what: str = "condition") -> None:
    """Wait for a state the test can observe (not for time to pass), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.01)  # polling a condition, not synchronising on elapsed time


def gateway_env(config_path: Path, port: int, **variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
    env.update({
        "LLM_ROUTER_MODELS_CONFIG": str(config_path),
        "LLM_ROUTER_RESULTS_DB": str(config_path.parent / "results.sqlite"),
        "LLM_ROUTER_SERVER_HOST": "127.0.0.1",
        "LLM_ROUTER_SERVER_PORT": str(port),
        "LLM_ROUTER_LOG_LEVEL": "INFO",
        # Active health checks only where a test asks: their GETs would show in upstream records.
        "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(variables)
    return env


@pytest.fixture
def gateway_process(tmp_path):
    """Factory: the real entry point (``python -m llm_router_api.rest_api``) in its own process."""
    processes = []

    def start(models: dict, **variables: str) -> RunningGateway:
        config_path = write_config(tmp_path / "models-gunicorn.json", models)
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        env = gateway_env(config_path, port, **{"LLM_ROUTER_SERVER_WORKERS_COUNT": "2", **variables})
        log = open(log_path, "wb")
        process = subprocess.Popen([sys.executable, "-m", "llm_router_api.rest_api"], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        processes.append((process, log))
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log_path)
        return RunningGateway(url=url, config_path=config_path, process=process, log_path=log_path)

    yield start
    for process, log in processes:
        stop_process(process)
        log.close()


def stop_process(process: subprocess.Popen, timeout: float = 15, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``.

    ``group``: signal the process group of a process started with ``start_new_session`` (a script
    and what it started: vLLM's engine, gunicorn's workers)."""
    if process.poll() is not None:
        return
    signal_to = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    signal_to(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_to(signal.SIGKILL)
        process.wait()


def read_env_file(path: Path) -> dict[str, str]:
    """A NAME=value file (an example's gateway.env) as the shell reads it with ``set -a; . FILE``."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


@pytest.fixture(scope="session")
def redis_address(tmp_path_factory):
    """The machine's Redis at 127.0.0.1:6379, or, where none runs, one started for the session."""
    if reachable(*SHARED):
        yield SHARED
        return
    server = RedisProcess(free_port(), tmp_path_factory.mktemp("redis")).start()
    yield ("127.0.0.1", server.port)
    server.stop()


@pytest.fixture
def redis_space(redis_address):
    """A DB index and key prefix of this test's own; its keys are deleted afterwards."""
    space = new_space(*redis_address)
    yield space
    space.cleanup()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server only this test uses, so it may stop and restart it."""
    server = RedisProcess(free_port(), tmp_path).start()
    yield server
    server.stop()
