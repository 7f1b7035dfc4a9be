"""Settings, start-up errors (one line naming the variable), and the real script under gunicorn."""

from __future__ import annotations

import json
import shutil

import pytest
import requests

from llm_router_services.app import create_app
from llm_router_services.model_folder import check_startup
from llm_router_services.settings import ServiceSettings, SettingsError
from tests.conftest import free_port
from tests.fixtures.tiny_guard import MODEL_DIR
from tests.fixtures.tiny_guard.phrases import SAFE, UNSAFE
from tests.services.conftest import run_script, script_service, service_env, settings

MODEL = str(MODEL_DIR)


def from_env(**variables: str) -> ServiceSettings:
    return ServiceSettings.from_environ({"LLM_ROUTER_SOJKA_GUARD_MODEL_PATH": MODEL, **variables})


def test_defaults():
    s = from_env()
    assert (s.host, s.port, s.workers, s.threads) == ("0.0.0.0", 5000, 1, 32)
    assert s.sojka.enabled and not s.nask.enabled
    assert s.sojka.device == -1 and s.sojka.threshold == 0.7 and s.sojka.thresholds == ()
    assert s.nask.threshold == 0.5 and s.nask.safe_labels == ("safe",)
    assert (s.dtype, s.max_tokens, s.overlap_tokens) == ("auto", None, 64)
    assert (s.max_batch_size, s.batch_wait_ms, s.request_timeout) == (64, 2.0, 30.0)
    assert s.max_request_body_size == 1024 * 1024


def test_values_are_parsed():
    s = from_env(LLM_ROUTER_API_PORT="5099", LLM_ROUTER_SOJKA_GUARD_DEVICE="cuda:1",
                 LLM_ROUTER_SOJKA_GUARD_THRESHOLDS="HATE=0.5, SELF-HARM=0.4", LLM_ROUTER_GUARD_DTYPE="BFloat16",
                 LLM_ROUTER_NASK_PIB_GUARD_SAFE_LABELS="safe, neutral", LLM_ROUTER_GUARD_MAX_TOKENS="256")
    assert s.port == 5099 and s.sojka.device == 1 and s.sojka.device_name == "cuda:1"
    assert s.sojka.thresholds == (("HATE", 0.5), ("SELF-HARM", 0.4))
    assert s.dtype == "bfloat16" and s.max_tokens == 256
    assert s.nask.safe_labels == ("safe", "neutral")
    assert from_env(LLM_ROUTER_SOJKA_GUARD_DEVICE="-1").sojka.device == -1


@pytest.mark.parametrize("variables, named", [
    ({"LLM_ROUTER_SOJKA_GUARD_THRESHOLD": "high"}, "LLM_ROUTER_SOJKA_GUARD_THRESHOLD"),
    ({"LLM_ROUTER_SOJKA_GUARD_THRESHOLD": "1.5"}, "LLM_ROUTER_SOJKA_GUARD_THRESHOLD"),
    ({"LLM_ROUTER_SOJKA_GUARD_THRESHOLDS": "HATE:0.5"}, "LLM_ROUTER_SOJKA_GUARD_THRESHOLDS"),
    ({"LLM_ROUTER_SOJKA_GUARD_THRESHOLDS": "HATE=2"}, "LLM_ROUTER_SOJKA_GUARD_THRESHOLDS"),
    ({"LLM_ROUTER_SOJKA_GUARD_DEVICE": "gpu"}, "LLM_ROUTER_SOJKA_GUARD_DEVICE"),
    ({"LLM_ROUTER_SOJKA_GUARD_DEVICE": "-2"}, "LLM_ROUTER_SOJKA_GUARD_DEVICE"),
    ({"LLM_ROUTER_SOJKA_GUARD_ENABLED": "maybe"}, "LLM_ROUTER_SOJKA_GUARD_ENABLED"),
    ({"LLM_ROUTER_SOJKA_GUARD_MODEL_PATH": ""}, "LLM_ROUTER_SOJKA_GUARD_MODEL_PATH"),
    ({"LLM_ROUTER_NASK_PIB_GUARD_ENABLED": "1"}, "LLM_ROUTER_NASK_PIB_GUARD_MODEL_PATH"),
    ({"LLM_ROUTER_GUARD_DTYPE": "int8"}, "LLM_ROUTER_GUARD_DTYPE"),
    ({"LLM_ROUTER_GUARD_MAX_BATCH_SIZE": "0"}, "LLM_ROUTER_GUARD_MAX_BATCH_SIZE"),
    ({"LLM_ROUTER_GUARD_BATCH_WAIT_MS": "-1"}, "LLM_ROUTER_GUARD_BATCH_WAIT_MS"),
    ({"LLM_ROUTER_GUARD_REQUEST_TIMEOUT": "0"}, "LLM_ROUTER_GUARD_REQUEST_TIMEOUT"),
    ({"LLM_ROUTER_GUARD_MAX_TOKENS": "32", "LLM_ROUTER_GUARD_OVERLAP_TOKENS": "32"},
     "LLM_ROUTER_GUARD_OVERLAP_TOKENS"),
    ({"LLM_ROUTER_API_PORT": "70000"}, "LLM_ROUTER_API_PORT"),
])
def test_malformed_values_are_one_line_naming_the_variable(variables, named):
    with pytest.raises(SettingsError) as raised:
        from_env(**variables)
    message = str(raised.value)
    assert named in message and "\n" not in message


def test_model_folder_problems_are_one_line(tmp_path):
    def problem(**variables) -> str:
        with pytest.raises(SettingsError) as raised:
            check_startup(from_env(**variables))
        assert "\n" not in str(raised.value)
        return str(raised.value)

    assert problem(LLM_ROUTER_SOJKA_GUARD_MODEL_PATH="/x") .startswith("LLM_ROUTER_SOJKA_GUARD_MODEL_PATH='/x'")
    assert problem(LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=str(tmp_path)) == \
        f"LLM_ROUTER_SOJKA_GUARD_MODEL_PATH={str(tmp_path)!r}: no model there (config.json missing)"
    (tmp_path / "config.json").write_text("{broken")
    assert "not readable JSON" in problem(LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "HATE"}}))
    assert "no weights there" in problem(LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=str(tmp_path))
    assert problem(LLM_ROUTER_SOJKA_GUARD_THRESHOLDS="HATE=0.5,GORE=0.2") == (
        "LLM_ROUTER_SOJKA_GUARD_THRESHOLDS: unknown label 'GORE'; the model's labels are: "
        "HATE, VULGAR, SEX, CRIME, SELF-HARM")
    check_startup(from_env(LLM_ROUTER_SOJKA_GUARD_THRESHOLDS="hate=0.5"))  # label names match case-insensitively


def test_unloadable_model_is_one_line(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(MODEL_DIR, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SettingsError) as raised:
        create_app(settings(sojka_model_path=str(broken)))
    message = str(raised.value)
    assert message.startswith(f"LLM_ROUTER_SOJKA_GUARD_MODEL_PATH={str(broken)!r}: cannot load the model (")
    assert "\n" not in message


def test_window_larger_than_the_model_is_one_line():
    with pytest.raises(SettingsError) as raised:
        create_app(settings(max_tokens=600))
    assert str(raised.value).startswith("LLM_ROUTER_GUARD_MAX_TOKENS=600: sojka_guard's model takes at most 126")


def test_cuda_device_without_cuda_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; tests/services/test_cuda.py covers it")
    with pytest.raises(SettingsError) as raised:
        create_app(settings(device=0))
    assert str(raised.value) == ("LLM_ROUTER_SOJKA_GUARD_DEVICE=0: CUDA is not available here (no GPU, or torch "
                                 "without CUDA); use -1 for the CPU")


# --- the real script ----------------------------------------------------------------------------------


def script_fails(tmp_path, **variables: str) -> str:
    """Run the script with a bad setting; it must stop by itself with one line and no traceback."""
    log_path = tmp_path / f"fail-{len(list(tmp_path.iterdir()))}.log"
    process = run_script(free_port(), log_path, **variables)
    try:
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    output = log_path.read_text()
    assert code != 0
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_script_stops_with_one_line_on_a_missing_model(tmp_path):
    line = script_fails(tmp_path, LLM_ROUTER_SOJKA_GUARD_MODEL_PATH="/x")
    assert line.startswith("llm-router-guard: cannot start: LLM_ROUTER_SOJKA_GUARD_MODEL_PATH='/x'")


def test_script_stops_with_one_line_on_a_bad_threshold(tmp_path):
    line = script_fails(tmp_path, LLM_ROUTER_SOJKA_GUARD_THRESHOLDS="VULGAR=0.9,RUDE=0.1")
    assert "LLM_ROUTER_SOJKA_GUARD_THRESHOLDS: unknown label 'RUDE'" in line


def test_script_stops_with_one_line_on_a_device_it_does_not_have(tmp_path):
    line = script_fails(tmp_path, LLM_ROUTER_SOJKA_GUARD_DEVICE="7")
    assert line.startswith("llm-router-guard: cannot start: LLM_ROUTER_SOJKA_GUARD_DEVICE=7: ")


def test_script_serves_under_gunicorn(tmp_path):
    with script_service(tmp_path, LLM_ROUTER_GUARD_THREADS="8") as (url, log_path):
        r = requests.post(url + "/api/guardrails/sojka_guard", json={"payload": [SAFE[0], UNSAFE["HATE"][1]]},
                          timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()["results"]
        assert body["safe"] is False
        assert [(e["text_index"], e["safe"], e["label"]) for e in body["detailed"]][1] == (1, False, "HATE")
        health = requests.get(url + "/health", timeout=5).json()
        assert health["guards"]["sojka_guard"]["device"] == "cpu"
        assert health["guards"]["sojka_guard"]["batching"]["batches"] == 1
        assert_error = requests.post(url + "/api/guardrails/sojka_guard", data=b"{", timeout=5)
        assert assert_error.status_code == 400 and "error" in assert_error.json()
    log = log_path.read_text()
    assert "Using worker: gthread" in log
    assert "sojka_guard: 2 texts" in log  # the request's line: counts only
    assert SAFE[0] not in log and UNSAFE["HATE"][1] not in log
    assert "Traceback" not in log


def test_environment_of_the_script_is_isolated():
    env = service_env(1234)
    assert env["LLM_ROUTER_API_PORT"] == "1234" and env["LLM_ROUTER_SOJKA_GUARD_MODEL_PATH"] == MODEL
