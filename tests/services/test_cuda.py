"""The service on ``cuda:0``: marked ``cuda``, left out of the default run; on a machine without a GPU
these fail (the service refuses the device), they never skip, so ``-m cuda`` cannot pass silently.

Run with ``python -m pytest tests/services -m cuda`` (or ``tests/services/run_cuda_checks.sh``).
"""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.tiny_guard.phrases import LABELS, SAFE, UNSAFE
from tests.services.conftest import script_service, settings
from tests.services.test_batching import CLIENTS, check_own_results, fire_together, texts_for_clients

pytestmark = pytest.mark.cuda

PHRASES = [phrase for label in LABELS for phrase in UNSAFE[label]] + SAFE


def test_cuda_is_there():
    import torch

    assert torch.cuda.is_available(), "no CUDA device here: the cuda tests need one (they are not skipped)"


@pytest.fixture(scope="module")
def gpu(serve):
    return serve(settings(device=0, batch_wait_ms=200))


@pytest.fixture(scope="module")
def cpu_scores(serve):
    served = serve(settings())
    return [e["scores"] for e in served.classify(PHRASES).json()["results"]["detailed"]]


def test_health_shows_the_gpu_and_half_precision(gpu):
    import torch

    g = requests.get(gpu.url + "/health", timeout=5).json()["guards"]["sojka_guard"]
    assert g["device"] == "cuda:0"
    assert g["dtype"] == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    assert g["labels"] == list(LABELS)


def test_verdicts_and_scores_match_the_cpu(gpu, cpu_scores):
    body = gpu.classify(PHRASES).json()["results"]
    assert len(body["detailed"]) == len(PHRASES)
    for entry, phrase, reference in zip(body["detailed"], PHRASES, cpu_scores):
        assert entry["chunk_text"] == phrase
        assert all(type(s) is float for s in entry["scores"].values())  # float32 values, as Python floats
        for label in LABELS:  # half precision: close to float32, not equal
            assert abs(entry["scores"][label] - reference[label]) < 0.03, (phrase, label)
        expected = next((label for label in LABELS if phrase in UNSAFE[label]), None)
        if expected:
            assert entry["label"] == expected and entry["safe"] is False
        else:
            assert entry["safe"] is True


def test_float32_on_the_gpu_matches_the_cpu_closely(serve, cpu_scores):
    served = serve(settings(device=0, dtype="float32"))
    body = served.classify(PHRASES).json()["results"]
    assert requests.get(served.url + "/health", timeout=5).json()["guards"]["sojka_guard"]["dtype"] == "float32"
    for entry, reference in zip(body["detailed"], cpu_scores):
        for label in LABELS:
            assert abs(entry["scores"][label] - reference[label]) < 1e-3


def test_long_text_windows_on_the_gpu(gpu):
    text = " ".join(SAFE * 6) + " " + UNSAFE["CRIME"][0]
    entries = gpu.classify(text).json()["results"]["detailed"]
    assert len(entries) >= 4 and all(e["chunk_text"] in text for e in entries)
    assert entries[-1]["label"] == "CRIME" and entries[-1]["safe"] is False


def test_concurrent_requests_are_batched_on_the_gpu(gpu):
    texts = texts_for_clients()
    before = gpu.stats()
    bodies = fire_together(gpu.url + "/api/guardrails/sojka_guard", texts)
    check_own_results(texts, bodies)
    after = gpu.stats()
    assert after["batches"] - before["batches"] <= CLIENTS // 4
    # on a GPU a batch is one forward pass, whatever the lengths in it
    assert after["forward_passes"] - before["forward_passes"] == after["batches"] - before["batches"]


def test_script_serves_on_the_gpu(tmp_path):
    with script_service(tmp_path, timeout=120, LLM_ROUTER_SOJKA_GUARD_DEVICE="0") as (url, _):
        r = requests.post(url + "/api/guardrails/sojka_guard", json={"payload": [UNSAFE["SEX"][0]]}, timeout=30)
        assert r.json()["results"]["detailed"][0]["label"] == "SEX"
        assert requests.get(url + "/health", timeout=5).json()["guards"]["sojka_guard"]["device"] == "cuda:0"
