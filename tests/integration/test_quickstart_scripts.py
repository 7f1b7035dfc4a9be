"""The Bielik quickstart's files, in the default run (the e2e tier runs them with real vLLM).

Both READMEs hold the same commands; the config passes the loader; the vLLM scripts build the
command line the README describes (vLLM itself replaced by a stand-in that records its arguments);
the gateway script starts the real gateway under gunicorn with the seed's settings, or stops with
one line when the audit key is missing.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from llm_router_api.config.loader import load_models_config
from tests.conftest import free_port, stop_process, wait_until_ready
from tests.e2e.quickstart import QUICKSTART, README_EN, README_PL, readme_commands, readme_exports

MODEL = "speakleash/Bielik-11B-v2.3-Instruct"
SCRIPTS = sorted(QUICKSTART.glob("*.sh"))


def clean_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_ROUTER_", "VLLM_", "CUDA_", "BIELIK_"))}
    return {**env, **variables}


def test_both_readmes_hold_the_same_commands_and_variables():
    assert readme_commands(README_EN) == readme_commands(README_PL)
    assert readme_exports(README_EN) == readme_exports(README_PL)
    assert len(readme_commands(README_EN)) >= 15


def test_every_script_the_readme_names_exists_and_runs_as_bash():
    named = {c.split()[0] for c in readme_commands() if c.startswith("examples/")}
    assert named, "the README starts no script"
    for command in named:
        path = QUICKSTART.parents[2] / command
        assert path.exists() and path.stat().st_mode & stat.S_IXUSR, f"{command} is missing or not executable"
    for script in SCRIPTS:
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


def test_the_models_config_has_the_seeds_eight_providers():
    config = load_models_config(str(QUICKSTART / "speakleash-models.json"))
    (model,) = config.models
    assert model.name == MODEL and len(model.providers) == 8
    assert len({p.id for p in model.providers}) == 8
    assert all(p.api_type == "vllm" and p.max_concurrency == 32 and p.input_size == 32768 for p in model.providers)


@pytest.fixture
def fake_vllm(tmp_path) -> tuple[Path, Path]:
    """A stand-in for vLLM's Python: records its arguments and CUDA_VISIBLE_DEVICES, then exits."""
    record = tmp_path / "argv.json"
    stub = tmp_path / "python"
    stub.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                    f"json.dump({{'argv': sys.argv[1:], 'cuda': os.environ.get('CUDA_VISIBLE_DEVICES')}}, "
                    f"open({str(record)!r}, 'w'))\n")
    stub.chmod(0o755)
    return stub, record


@pytest.mark.parametrize("gpu", [0, 1, 2])
def test_each_vllm_script_serves_bielik_on_its_gpu_and_port(fake_vllm, gpu):
    stub, record = fake_vllm
    script = QUICKSTART / f"run-bielik-11b-v2_3-vllm_{gpu}.sh"
    result = subprocess.run([str(script), "--max-num-seqs", "128"], env=clean_env(VLLM_PYTHON=str(stub)),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    seen = json.loads(record.read_text())
    argv = seen["argv"]
    assert seen["cuda"] == str(gpu)
    assert argv[:2] == ["-m", "vllm.entrypoints.openai.api_server"]
    options = dict(zip(argv[2::2], argv[3::2]))
    assert options["--model"] == MODEL and options["--served-model-name"] == MODEL
    assert options["--port"] == str(7000 + gpu) and options["--host"] == "0.0.0.0"
    assert options["--max-model-len"] == "32768" and options["--gpu-memory-utilization"] == "0.90"
    assert argv[-2:] == ["--max-num-seqs", "128"]


def test_vllm_variables_override_the_defaults(fake_vllm):
    stub, record = fake_vllm
    env = clean_env(VLLM_PYTHON=str(stub), CUDA_DEVICE="3", VLLM_PORT="7100", BIELIK_MODEL="/models/bielik",
                    VLLM_MAX_MODEL_LEN="8192", VLLM_EXTRA_ARGS="--dtype bfloat16 --enforce-eager")
    subprocess.run([str(QUICKSTART / "run-bielik-11b-v2_3-vllm_0.sh")], env=env, check=True, timeout=30)
    seen = json.loads(record.read_text())
    assert seen["cuda"] == "3"
    argv = seen["argv"]
    assert argv[argv.index("--port") + 1] == "7100" and argv[argv.index("--model") + 1] == "/models/bielik"
    assert argv[argv.index("--served-model-name") + 1] == MODEL and "8192" in argv
    assert argv[-3:] == ["--dtype", "bfloat16", "--enforce-eager"]


def test_the_shared_vllm_script_alone_says_what_it_needs():
    result = subprocess.run([str(QUICKSTART / "vllm-serve.sh")], env=clean_env(), capture_output=True, text=True)
    assert result.returncode != 0 and "CUDA_DEVICE" in result.stderr


def test_the_gateway_script_stops_with_one_line_without_the_audit_key(tmp_path):
    env = clean_env(LLM_ROUTER_SERVER_PORT=str(free_port()), LLM_ROUTER_SERVER_HOST="127.0.0.1")
    result = subprocess.run([str(QUICKSTART / "run-rest-api-gunicorn.sh")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and "LLM_ROUTER_AUDIT_PUBLIC_KEY" in lines[-1] and "Traceback" not in result.stderr


def test_the_gateway_script_runs_the_seeds_settings(tmp_path, redis_space):
    keys = subprocess.run(["llm-router", "audit", "keygen", "--out", "audit-keys"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert keys.returncode == 0, keys.stderr
    port = free_port()
    env = clean_env(LLM_ROUTER_SERVER_PORT=str(port), LLM_ROUTER_SERVER_HOST="127.0.0.1",
                    LLM_ROUTER_SERVER_WORKERS_COUNT="1", LLM_ROUTER_RESULTS_DB=str(tmp_path / "results.sqlite"),
                    LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS="0", **redis_space.env())
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(QUICKSTART / "run-rest-api-gunicorn.sh")], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log_path, timeout=60)
        health = requests.get(url + "/health", timeout=5).json()
        assert health["strategy"] == "first_available" and health["leases"]["backend"] == "redis"
        assert health["guardrails"]["request"] == ["sojka_guard"] and not health["guardrails"]["fail_open"]
        (model,) = health["models"]
        assert model["name"] == MODEL and len(model["providers"]) == 8
        # Masking is forced: the masking route answers with the pipeline the script chose.
        masked = requests.post(url + "/api/fast_text_mask", json={"text": "PESEL 44051401458"}, timeout=5).json()
        assert masked["text"] == "PESEL [PESEL_1]"
        assert (tmp_path / "audit-logs").is_dir(), "the audit log directory is relative to where the script ran"
    finally:
        stop_process(process, 30, group=True)
