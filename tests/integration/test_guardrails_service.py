"""The gateway against the real guard service: the tiny Bielik-Guard-shaped classifier of
``tests/fixtures/tiny_guard`` loaded by ``llm_router_services`` through its real loading code and
served over HTTP, so the gateway's client and the service's API are checked against each other.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import provider
from tests.fixtures.tiny_guard.phrases import SAFE, UNSAFE
from tests.upstreams.fake_openai import FakeUpstream

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_guard" / "model"


@pytest.fixture(scope="module")
def guard_service():
    from llm_router_services.app import create_app
    from llm_router_services.settings import GuardSettings, ServiceSettings

    settings = ServiceSettings(sojka=GuardSettings("sojka_guard", "LLM_ROUTER_SOJKA_GUARD", enabled=True,
                                                   model_path=str(MODEL)), log_level="WARNING")
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def guarded(guard_service, module_gateway):
    up = FakeUpstream(model="private").start()
    gw = module_gateway({"m": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                        force_guardrail_request=True, force_masking=True, sojka_guard_host=guard_service)
    yield gw, up
    up.stop()


@pytest.mark.parametrize("label", sorted(UNSAFE))
def test_a_request_the_classifier_flags_is_refused_with_its_category(guarded, label):
    gw, up = guarded
    up.reset()
    answer = requests.post(gw.v1 + "/chat/completions", timeout=30, json={
        "model": "m", "messages": [{"role": "user", "content": UNSAFE[label][0]}]})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "content_policy_violation" and label in answer.json()["error"]["message"]
    assert up.requests == []


def test_safe_requests_pass(guarded):
    # Only the phrases the tiny classifier was trained on: on any other text its verdicts are noise.
    gw, up = guarded
    for text in SAFE:
        answer = requests.post(gw.v1 + "/chat/completions", timeout=30, json={
            "model": "m", "messages": [{"role": "user", "content": text}], "max_tokens": 3})
        assert answer.status_code == 200, answer.text
    assert len(up.requests) == len(SAFE)


def test_a_stream_the_classifier_flags_ends_with_content_filter(guarded, guard_service, gateway):
    _, up = guarded
    gw = gateway({"m": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                 force_guardrail_response=True, sojka_guard_host=guard_service,
                 guardrail_stream_first_window_chars=4000, guardrail_stream_window_chars=4000)  # one window
    text = " ".join(SAFE[:4]) + " " + UNSAFE["VULGAR"][1] + " " + " ".join(SAFE[4:])
    with requests.post(gw.v1 + "/chat/completions", timeout=30, stream=True, json={
            "model": "m", "messages": [{"role": "user", "content": "echo:" + text}], "stream": True}) as answer:
        events = [json.loads(line[6:]) for line in answer.iter_lines()
                  if line.startswith(b"data: ") and line != b"data: [DONE]"]
    content = "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices") or ())
    finishes = [c["finish_reason"] for e in events for c in e.get("choices") or () if c.get("finish_reason")]
    assert finishes == ["content_filter"]
    assert "fucking" not in content and SAFE[5] not in content
