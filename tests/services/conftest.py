"""Fixtures of the guard service tests: the tiny classifier, apps built from it, served over HTTP.

Models are loaded once per module (transformers' import and the load are the slow part); apps that
need other thresholds or batching settings load their own copy, which takes a fraction of a second.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from llm_router_services.settings import GuardSettings, ServiceSettings
from tests.conftest import REPO_ROOT, free_port
from tests.fixtures.tiny_guard import MODEL_DIR

def settings(*, device: int = -1, nask: GuardSettings | None = None, **overrides) -> ServiceSettings:
    """Service settings for the tiny model: Sojka enabled on ``device``, anything else overridden."""
    sojka_fields = {k[len("sojka_"):]: overrides.pop(k) for k in list(overrides) if k.startswith("sojka_")}
    base = ServiceSettings(log_level="WARNING")
    sojka = replace(base.sojka, **{"enabled": True, "model_path": str(MODEL_DIR), "device": device, **sojka_fields})
    return replace(base, sojka=sojka, nask=nask or base.nask, **overrides)


@dataclass
class Served:
    url: str
    app: object

    def guard(self, name: str = "sojka_guard"):
        return self.app.extensions["llm_router_guards"][name]

    def classify(self, payload, name: str = "sojka_guard") -> requests.Response:
        return requests.post(f"{self.url}/api/guardrails/{name}", json={"payload": payload}, timeout=30)

    def stats(self, name: str = "sojka_guard") -> dict:
        return requests.get(self.url + "/health", timeout=10).json()["guards"][name]["batching"]


class _Servers:
    """Apps served in this process (werkzeug's threaded server: a thread per request), stopped together."""

    def __init__(self) -> None:
        self.running: list = []

    def start(self, service_settings: ServiceSettings) -> Served:
        from llm_router_services.app import create_app

        app = create_app(service_settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        self.running.append((server, thread, app))
        return Served(f"http://127.0.0.1:{server.server_port}", app)

    def stop(self) -> None:
        for server, thread, app in self.running:
            server.shutdown()
            thread.join(5)
            for guard in app.extensions["llm_router_guards"].values():
                guard.close()


@pytest.fixture(scope="module")
def serve():
    """Factory: ``serve(settings)`` builds the app with the real loading code and serves it until the module ends."""
    servers = _Servers()
    yield servers.start
    servers.stop()


@pytest.fixture(scope="module")
def service(serve) -> Served:
    """The tiny Sojka guard on CPU with the default settings."""
    return serve(settings())


@pytest.fixture(scope="module")
def single_label_model(tmp_path_factory) -> Path:
    """The tiny model relabelled as a single-label classifier (as NASK's guard is): label 0 is "safe"."""
    folder = tmp_path_factory.mktemp("single_label") / "nask-like"
    shutil.copytree(MODEL_DIR, folder)
    config = json.loads((folder / "config.json").read_text())
    labels = ["safe", "VULGAR", "SEX", "CRIME", "SELF-HARM"]
    config.update(problem_type="single_label_classification", id2label=dict(enumerate(labels)),
                  label2id={label: i for i, label in enumerate(labels)})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def service_env(port: int, **variables: str) -> dict:
    """The environment of a service started by run-sojka-guardrail.sh: the tiny model on 127.0.0.1:port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
    env.update({
        "LLM_ROUTER_API_HOST": "127.0.0.1",
        "LLM_ROUTER_API_PORT": str(port),
        "LLM_ROUTER_SOJKA_GUARD_MODEL_PATH": str(MODEL_DIR),
        "PYTHONUNBUFFERED": "1",
        # the script runs python3: make it this interpreter
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    })
    env.update(variables)
    return env


def run_script(port: int, log_path: Path, **variables: str) -> subprocess.Popen:
    log = open(log_path, "wb")
    try:
        return subprocess.Popen([str(REPO_ROOT / "run-sojka-guardrail.sh")], cwd=REPO_ROOT,
                                env=service_env(port, **variables), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()  # the child holds its own copy


@contextmanager
def script_service(tmp_path: Path, timeout: float = 60, **variables: str):
    """``run-sojka-guardrail.sh`` serving on a free port until the block ends; yields (URL, log path).

    Polls ``/api/ping`` until it answers, failing fast with the log if the process exits.
    """
    port = free_port()
    log_path = tmp_path / f"guard-{port}.log"
    process = run_script(port, log_path, **variables)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"the service exited with {process.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"not ready in {timeout} s:\n{log_path.read_text()}"
            try:
                if requests.get(url + "/api/ping", timeout=0.5).json() == {"response": "pong"}:
                    break
            except requests.RequestException:
                time.sleep(0.05)  # polling readiness, not synchronising on elapsed time
        yield url, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = ["settings", "Served", "service_env", "run_script", "script_service", "free_port"]
