"""The end-to-end tier's stack: the Bielik quickstart, started by its own README commands.

Real parts only: three vLLM servers (the CPU build, in the venv ``tests/e2e/run.sh`` makes; its
Python is ``LLM_ROUTER_E2E_VLLM_PYTHON``) serving a tiny Llama built here, each behind a recording
proxy; the guard service with the tiny trained classifier; the machine's Redis (own DB index and
key prefix); the gateway under gunicorn with the quickstart's settings. Started once per session,
in parallel where they are independent; stopped with SIGTERM to each process group.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process, wait_until_ready
from tests.e2e.quickstart import QUICKSTART, QuickstartRunner, command_starting, readme_exports
from tests.e2e.recording_proxy import RecordingProxy
from tests.fixtures.tiny_guard import MODEL_DIR as TINY_GUARD
from tests.redis_servers import RedisSpace, new_space

MODEL = "speakleash/Bielik-11B-v2.3-Instruct"
VLLM_SCRIPTS = [f"examples/quickstart/speakleash-bielik/run-bielik-11b-v2_3-vllm_{i}.sh" for i in range(3)]
VLLM_READY_S = 420      # three vLLM starts at once on 2 cores: ~2-3 min; more when the machine is busy
SERVICE_READY_S = 90
PROVIDER_CAPACITY = 2   # max_concurrency of each provider here, so a few requests fill the first


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        stop_process(self.process, 30, group=True)


@dataclass
class Stack:
    runner: QuickstartRunner
    gateway: Server
    guard: Server
    vllms: list[Server]
    proxies: list[RecordingProxy]
    provider_ids: list[str]
    redis: RedisSpace
    workdir: Path
    servers: list[Server] = field(default_factory=list)

    @property
    def audit_dir(self) -> Path:
        return self.workdir / "audit-logs"


def vllm_python() -> str:
    python = os.environ.get("LLM_ROUTER_E2E_VLLM_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.fail("LLM_ROUTER_E2E_VLLM_PYTHON must name the Python of a venv with vLLM (the CPU build); "
                    "tests/e2e/run.sh makes one and sets it: run the e2e tier with tests/e2e/run.sh")
    return python


def wait_http(server: Server, path: str, deadline_s: float) -> None:
    """Poll ``path`` until it answers 200; fail with the server's log if it exits or takes too long."""
    try:
        wait_until_ready(server.url, server.process, server.log_path, deadline_s, path=path, name=server.name)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def build_tiny_llama(python: str, out: Path) -> Path:
    """The tiny Llama, built by vLLM's own Python (its transformers writes what it reads)."""
    result = subprocess.run([python, "-m", "tests.fixtures.tiny_llama.build", str(out)], cwd=QUICKSTART.parents[2],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"building the tiny Llama failed:\n{result.stderr[-3000:]}"
    return out


def e2e_models_config(proxies: list[RecordingProxy], out: Path) -> tuple[Path, list[str]]:
    """speakleash-models.json with its first providers pointed at the proxies, the rest left out."""
    config = json.loads((QUICKSTART / "speakleash-models.json").read_text())
    model = config["speakleash_models"][MODEL]
    model["providers"] = model["providers"][:len(proxies)]
    for provider, proxy in zip(model["providers"], proxies):
        provider["api_host"] = proxy.url
        provider["max_concurrency"] = PROVIDER_CAPACITY
        provider["input_size"] = 512
    out.write_text(json.dumps(config, indent=2))
    return out, [p["id"] for p in model["providers"]]


def start_server(runner: QuickstartRunner, name: str, command: str, port: int, log_path: Path, **variables: str) -> Server:
    return Server(name, f"http://127.0.0.1:{port}", runner.start(command, log_path, **variables), log_path)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, redis_address):
    python = vllm_python()
    workdir = tmp_path_factory.mktemp("quickstart")
    logs = tmp_path_factory.mktemp("logs")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_ROUTER_", "VLLM_", "CUDA_"))}
    runner = QuickstartRunner.create(workdir, {**base_env, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"})
    servers: list[Server] = []
    proxies: list[RecordingProxy] = []
    space = new_space(*redis_address)
    try:
        tiny_llama = build_tiny_llama(python, workdir / "models" / "tiny-llama")
        for script in VLLM_SCRIPTS:
            port = free_port()
            servers.append(start_server(
                runner, script.rsplit("/", 1)[1], script, port, logs / f"vllm-{port}.log", VLLM_PYTHON=python, BIELIK_MODEL=str(tiny_llama), VLLM_PORT=str(port),
                VLLM_HOST="127.0.0.1", VLLM_MAX_MODEL_LEN="512", VLLM_CPU_KVCACHE_SPACE="1",
                VLLM_EXTRA_ARGS="--dtype float32 --enforce-eager"))
        vllms = list(servers)

        guard_port = free_port()
        guard = start_server(
            runner, "guard service", "examples/quickstart/speakleash-bielik/run-sojka-guardrail.sh", guard_port,
            logs / "guard.log",
            LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=str(TINY_GUARD), LLM_ROUTER_SOJKA_GUARD_DEVICE="-1",
            LLM_ROUTER_API_HOST="127.0.0.1", LLM_ROUTER_API_PORT=str(guard_port),
            LLM_ROUTER_GUARD_TORCH_THREADS="1")
        servers.append(guard)

        keygen = runner.run(command_starting("llm-router audit keygen"))
        assert keygen.returncode == 0, keygen.stderr
        check = runner.run(command_starting("llm-router config check"))
        assert check.returncode == 0 and "OK, 1 active model(s), 8 provider(s)" in check.stdout, check.stdout

        with ThreadPoolExecutor(len(vllms)) as pool:
            list(pool.map(lambda s: wait_http(s, "/health", VLLM_READY_S), vllms))
        wait_http(guard, "/api/ping", SERVICE_READY_S)

        proxies = [RecordingProxy("127.0.0.1", int(s.url.rsplit(":", 1)[1])).start() for s in vllms]
        config_path, provider_ids = e2e_models_config(proxies, workdir / "e2e-models.json")
        gateway_port = free_port()
        gateway_env = {
            # The variables the README exports, set to this machine's addresses.
            "LLM_ROUTER_REDIS_HOST": space.host,
            "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST": guard.url,
            # Ports, the config with local providers, and this session's corner of Redis.
            "LLM_ROUTER_MODELS_CONFIG": str(config_path),
            "LLM_ROUTER_SERVER_HOST": "127.0.0.1", "LLM_ROUTER_SERVER_PORT": str(gateway_port),
            "LLM_ROUTER_REDIS_PORT": str(space.port), "LLM_ROUTER_REDIS_DB": str(space.db),
            "LLM_ROUTER_REDIS_KEY_PREFIX": space.prefix,
            "LLM_ROUTER_RESULTS_DB": str(workdir / "results.sqlite"),
        }
        missing = set(readme_exports()) - set(gateway_env)
        assert not missing, f"the README exports {missing}; the tier must set them too"
        gateway = start_server(runner, "gateway", command_starting("examples/quickstart/speakleash-bielik/run-rest-api"),
                               gateway_port, logs / "gateway.log", **gateway_env)
        servers.append(gateway)
        wait_http(gateway, "/ping", SERVICE_READY_S)
        runner.gateway_url = gateway.url
        yield Stack(runner=runner, gateway=gateway, guard=guard, vllms=vllms, proxies=proxies,
                    provider_ids=provider_ids, redis=space, workdir=workdir, servers=servers)
    finally:
        for server in reversed(servers):
            server.stop()
        for proxy in proxies:
            proxy.stop()
        space.cleanup()
