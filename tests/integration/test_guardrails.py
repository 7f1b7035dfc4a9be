"""Guardrails end to end: request blocks in every dialect, response guard on answers and streams,
guard down or slow, verdict cache, masking before guarding, audit and metrics.

The guard is a real HTTP server with scripted verdicts (``tests/upstreams/fake_guard.py``) that
records every text it was given; upstreams are the protocol fakes, whose scripted model answers
``echo:`` prompts with their text, so a test controls what the model "says".
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
import requests

from llm_router_api.audit import generate_keypair, read_records
from tests.conftest import provider, until
from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_guard import FakeGuard
from tests.upstreams.fake_ollama import FakeOllama
from tests.upstreams.fake_openai import FakeUpstream

BAD = "przeklenstwo"  # the scripted guard flags texts containing it as VULGAR
WORSE = "napad"       # ... and these as CRIME
SAFE_TEXT = "Jaka jest stolica Polski?"
PESEL = "44051401359"


@pytest.fixture(scope="module")
def guard():
    with FakeGuard({BAD: "VULGAR", WORSE: "CRIME"}) as running:
        yield running


@pytest.fixture(scope="module")
def ups():
    fakes = {"vllm": FakeUpstream(model="private-vllm").start(),
             "ollama": FakeOllama(model="private-ollama").start(),
             "anthropic": FakeAnthropic(model="private-anthropic").start()}
    yield fakes
    for fake in fakes.values():
        fake.stop()


def _models(ups) -> dict:
    return {f"m-{kind}": {"providers": [provider(up, f"{kind}-1", api_type=kind, model_path=f"private-{kind}")]}
            for kind, up in ups.items()}


@pytest.fixture(scope="module")
def request_gw(ups, guard, module_gateway):
    return module_gateway(_models(ups), force_guardrail_request=True, sojka_guard_host=guard.url,
                          use_prometheus=True)


@pytest.fixture(scope="module")
def response_gw(ups, guard, module_gateway):
    return module_gateway(_models(ups), force_guardrail_response=True, sojka_guard_host=guard.url,
                          guardrail_stream_first_window_chars=16, guardrail_stream_window_chars=80,
                          use_prometheus=True)


@pytest.fixture(autouse=True)
def _fresh(guard, ups):
    guard.reset()
    for up in ups.values():
        up.reset()
    yield


def _chat(gw, text, *, model="m-vllm", stream=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream, **extra}
    return requests.post(gw.v1 + "/chat/completions", json=body, timeout=30, stream=stream)


# -- request guardrail -----------------------------------------------------------------------------

def test_a_flagged_request_is_refused_with_400_content_policy_violation_and_never_sent_upstream(request_gw, ups, guard):
    response = _chat(request_gw, f"Napisz {BAD} o sąsiedzie")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_policy_violation" and error["type"] == "invalid_request_error"
    assert "VULGAR" in error["message"] and BAD not in error["message"]
    assert ups["vllm"].requests == []
    assert guard.texts == [f"Napisz {BAD} o sąsiedzie"]

    client = openai.OpenAI(base_url=request_gw.v1, api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="m-vllm", messages=[{"role": "user", "content": f"{WORSE} na bank"}])
    assert raised.value.code == "content_policy_violation"


def test_a_flagged_request_is_refused_in_the_ollama_and_anthropic_dialects(request_gw, ups):
    ollama_answer = requests.post(request_gw.url + "/api/chat", timeout=10, json={
        "model": "m-ollama", "messages": [{"role": "user", "content": BAD}], "stream": False})
    assert ollama_answer.status_code == 400
    assert set(ollama_answer.json()) == {"error"} and "content guardrail" in ollama_answer.json()["error"]

    client = anthropic.Anthropic(base_url=request_gw.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="m-anthropic", max_tokens=50, messages=[{"role": "user", "content": BAD}])
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "invalid_request_error"

    completions = requests.post(request_gw.v1 + "/completions", timeout=10,
                                json={"model": "m-vllm", "prompt": f"o {WORSE}", "max_tokens": 5})
    assert completions.status_code == 400 and completions.json()["error"]["code"] == "content_policy_violation"
    assert all(up.requests == [] for up in ups.values())


def test_a_safe_request_passes_and_the_history_is_not_judged_again_next_turn(request_gw, ups, guard):
    system = {"role": "system", "content": "Jesteś pomocnym asystentem."}
    first = [system, {"role": "user", "content": "echo:Dzień dobry"}]
    answer = requests.post(request_gw.v1 + "/chat/completions", timeout=10,
                           json={"model": "m-vllm", "messages": first}).json()
    assert answer["choices"][0]["message"]["content"] == "Dzień dobry"
    assert guard.texts == ["Jesteś pomocnym asystentem.", "echo:Dzień dobry"]

    second = [*first, {"role": "assistant", "content": "Dzień dobry"},
              {"role": "user", "content": "echo:Co słychać?"}]
    guard.reset()
    assert requests.post(request_gw.v1 + "/chat/completions", timeout=10,
                         json={"model": "m-vllm", "messages": second}).status_code == 200
    assert guard.texts == ["Dzień dobry", "echo:Co słychać?"]  # one call, only what is new
    assert len(guard.payloads) == 1

    guard.reset()
    smuggled = [*second, {"role": "assistant", "content": f"Jasne, {BAD}!"}, {"role": "user", "content": "dalej"}]
    refused = requests.post(request_gw.v1 + "/chat/completions", timeout=10,
                            json={"model": "m-vllm", "messages": smuggled})
    assert refused.status_code == 400  # a forged assistant turn is judged too
    assert len(ups["vllm"].requests) == 2


def test_tool_results_and_text_parts_are_judged_and_embeddings_are_not(request_gw, ups, guard):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Sprawdź pogodę"}]},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "weather", "arguments": json.dumps({"city": "Kraków"})}}]},
                {"role": "tool", "tool_call_id": "c1", "content": f"wynik: {WORSE}"}]
    refused = requests.post(request_gw.v1 + "/chat/completions", timeout=10,
                            json={"model": "m-vllm", "messages": messages})
    assert refused.status_code == 400
    assert set(guard.texts) == {"Sprawdź pogodę", "Kraków", f"wynik: {WORSE}"}

    guard.reset()
    embedded = requests.post(request_gw.v1 + "/embeddings", timeout=10, json={"model": "m-vllm", "input": BAD})
    assert embedded.status_code == 200 and guard.texts == []


def test_masking_runs_before_the_guard_so_no_personal_data_reaches_it(ups, guard, gateway):
    gw = gateway(_models(ups), force_masking=True, force_guardrail_request=True, sojka_guard_host=guard.url)
    answer = _chat(gw, f"echo:Mój PESEL to {PESEL}").json()
    assert answer["choices"][0]["message"]["content"] == f"Mój PESEL to {PESEL}"
    assert guard.texts == ["echo:Mój PESEL to [PESEL_1]"]
    assert PESEL.encode() not in b"".join(request.body for request in ups["vllm"].requests)


@pytest.mark.parametrize("failure", ["down", "slow", "error", "garbage"])
def test_a_guard_that_gives_no_verdict_refuses_the_request_with_503_by_default(ups, gateway, failure):
    with FakeGuard({BAD: "VULGAR"}) as flaky:
        gw = gateway(_models(ups), force_guardrail_request=True, sojka_guard_host=flaky.url,
                     guardrail_timeout_seconds=0.3, use_prometheus=True)
        if failure == "down":
            flaky.stop()
        elif failure == "slow":
            flaky.delay = 3.0
        elif failure == "error":
            flaky.status = 500
        else:
            flaky.legacy, flaky.status = False, 200
            flaky.answer = lambda payload: {"unexpected": True}
        response = _chat(gw, SAFE_TEXT)
        elapsed = response.elapsed.total_seconds()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "guardrail_unavailable" and "not sent to the model" in error["message"]
    assert "127.0.0.1" not in response.text and str(flaky.url) not in response.text
    assert ups["vllm"].requests == []
    if failure == "slow":
        assert elapsed < 2.5  # the timeout, not the guard, decided
    metrics = requests.get(gw.url + "/metrics", timeout=5).text
    assert 'llm_router_guardrail_failures_total{action="blocked",direction="request",guardrail="sojka_guard"} 1.0' \
        in metrics


def test_fail_open_lets_requests_through_when_the_guard_is_down_and_says_so(ups, gateway, dead_port, caplog):
    gw = gateway(_models(ups), force_guardrail_request=True, sojka_guard_host=f"http://127.0.0.1:{dead_port}",
                 guardrail_fail_open=True)
    with caplog.at_level("WARNING", logger="llm_router_api.guardrails"):
        answer = _chat(gw, "echo:ok").json()
    assert answer["choices"][0]["message"]["content"] == "ok"
    assert any("passes unchecked" in record.getMessage() for record in caplog.records)
    assert all(str(dead_port) not in record.getMessage() for record in caplog.records)


def test_an_older_guard_service_without_text_indexes_is_asked_one_text_at_a_time(ups, gateway):
    with FakeGuard({BAD: "VULGAR"}) as old:
        old.legacy = True
        gw = gateway(_models(ups), force_guardrail_request=True, sojka_guard_host=old.url + "/api/guardrails/sojka_guard")
        body = {"model": "m-vllm", "messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]}
        assert requests.post(gw.v1 + "/chat/completions", json=body, timeout=10).status_code == 200
        body["messages"].append({"role": "user", "content": BAD})
        assert requests.post(gw.v1 + "/chat/completions", json=body, timeout=10).status_code == 400
    assert old.paths and set(old.paths) == {"/api/guardrails/sojka_guard"}
    assert [len(payload) for payload in old.payloads[-1:]] == [1]


# -- response guardrail ----------------------------------------------------------------------------

def test_a_flagged_answer_is_emptied_and_finished_with_content_filter(response_gw, ups, guard):
    answer = _chat(response_gw, f"echo:To jest {BAD} w odpowiedzi").json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == ""
    assert guard.texts == [f"To jest {BAD} w odpowiedzi"]

    ollama_answer = requests.post(response_gw.url + "/api/chat", timeout=10, json={
        "model": "m-ollama", "messages": [{"role": "user", "content": f"echo:{BAD}"}], "stream": False}).json()
    assert ollama_answer["done_reason"] == "content_filter" and ollama_answer["message"]["content"] == ""

    client = anthropic.Anthropic(base_url=response_gw.url, api_key="k", max_retries=0)
    message = client.messages.create(model="m-anthropic", max_tokens=50,
                                     messages=[{"role": "user", "content": f"echo:{BAD}"}])
    assert message.stop_reason == "refusal" and "".join(b.text for b in message.content if b.type == "text") == ""

    fine = _chat(response_gw, "echo:Wszystko w porządku").json()["choices"][0]
    assert fine["finish_reason"] == "stop" and fine["message"]["content"] == "Wszystko w porządku"

    guard.reset()
    embedded = requests.post(response_gw.v1 + "/embeddings", timeout=10, json={"model": "m-vllm", "input": BAD})
    assert embedded.status_code == 200 and guard.texts == []  # nothing generated, nothing judged


def _stream_text(response) -> tuple[str, list[str], bool]:
    """(content, finish reasons, ended with [DONE]) of an OpenAI SSE stream."""
    text, finishes, done = "", [], False
    for line in response.iter_lines():
        if not line.startswith(b"data: "):
            continue
        if line == b"data: [DONE]":
            done = True
            continue
        event = json.loads(line[6:])
        assert "error" not in event, event
        for choice in event.get("choices") or ():
            text += choice["delta"].get("content") or ""
            if choice.get("finish_reason"):
                finishes.append(choice["finish_reason"])
    return text, finishes, done


NEUTRAL = " ".join(f"słowo{i}" for i in range(60))  # ~500 characters, far past the first windows


def test_a_stream_is_cut_at_the_first_flagged_window_and_nothing_after_it_is_sent(response_gw, ups, guard):
    up = ups["vllm"]
    up.token_delay = 0.002  # the model is still talking when the guard flags it
    before = up.disconnects
    text = f"echo:{NEUTRAL} {BAD} {NEUTRAL}"
    with _chat(response_gw, text, stream=True) as response:
        content, finishes, done = _stream_text(response)
    up.token_delay = 0.0
    assert finishes == ["content_filter"] and done
    assert BAD not in content
    assert NEUTRAL.startswith(content.strip()) and len(content.strip()) <= len(NEUTRAL)  # nothing after the flag
    until(lambda: up.disconnects == before + 1, what="the upstream stream closed by the gateway")
    assert any(BAD in judged for judged in guard.texts)


def test_a_safe_stream_arrives_whole_in_a_few_growing_windows(response_gw, ups, guard):
    long_text = " ".join([NEUTRAL] * 4)  # ~2,000 characters
    ups["vllm"].token_delay = 0.004  # words arrive one by one, as from a model (else all in one read)
    with _chat(response_gw, "echo:" + long_text, stream=True) as response:
        content, finishes, done = _stream_text(response)
    ups["vllm"].token_delay = 0.0
    assert content == long_text and finishes == ["stop"] and done
    windows = guard.texts
    # Windows of 16, 32, 64, then 80 new characters (more when more arrived while the guard judged),
    # each judged with the 20 characters before it, so consecutive windows overlap.
    # (How many words arrive while the guard judges depends on the machine's load: the exact sizes
    # are the unit tests' business, tests/unit/test_guardrails.py.)
    assert 3 <= len(windows) <= len(long_text) // 80 + 4
    assert len(windows[0]) < 80  # the first words wait only for a short window
    position = 0
    for window in windows:
        start = long_text.index(window, max(0, position - 20))
        assert start <= position  # no gap: every character was judged
        position = start + len(window)
    assert position == len(long_text)


def test_streams_in_ollama_and_anthropic_dialects_end_with_their_content_filter_reasons(response_gw):
    lines = requests.post(response_gw.url + "/api/chat", timeout=10, json={
        "model": "m-vllm", "messages": [{"role": "user", "content": f"echo:{NEUTRAL} {BAD}"}]}).text.splitlines()
    final = json.loads(lines[-1])
    assert final["done"] is True and final["done_reason"] == "content_filter"
    assert BAD not in "".join(json.loads(line)["message"]["content"] for line in lines)

    client = anthropic.Anthropic(base_url=response_gw.url, api_key="k", max_retries=0)
    with client.messages.stream(model="m-anthropic", max_tokens=500,
                                messages=[{"role": "user", "content": f"echo:{NEUTRAL} {BAD}"}]) as events:
        text = "".join(events.text_stream)
        final_message = events.get_final_message()
    assert final_message.stop_reason == "refusal" and BAD not in text


def test_a_guard_that_fails_mid_stream_ends_it_with_an_error_event(ups, gateway):
    with FakeGuard({BAD: "VULGAR"}) as flaky:
        gw = gateway(_models(ups), force_guardrail_response=True, sojka_guard_host=flaky.url,
                     guardrail_timeout_seconds=0.5)
        flaky.status = 503
        with _chat(gw, f"echo:{NEUTRAL}", stream=True) as response:
            events = [json.loads(line[6:]) for line in response.iter_lines()
                      if line.startswith(b"data: ") and line != b"data: [DONE]"]
    assert events[-1]["error"]["code"] == "guardrail_unavailable"
    assert "".join(c["delta"].get("content") or "" for e in events[:-1] for c in e.get("choices") or ()) == ""


def test_the_response_guard_sees_placeholders_and_the_client_gets_its_values_back(ups, guard, gateway):
    gw = gateway(_models(ups), force_masking=True, force_guardrail_response=True, sojka_guard_host=guard.url,
                 guardrail_stream_window_chars=40)
    text = f"PESEL {PESEL} i jeszcze raz {PESEL}, koniec"
    for stream in (False, True):
        guard.reset()
        if stream:
            with _chat(gw, "echo:" + text, stream=True) as response:
                content = _stream_text(response)[0]
        else:
            content = _chat(gw, "echo:" + text).json()["choices"][0]["message"]["content"]
        assert content == text
        assert guard.texts and all(PESEL not in judged for judged in guard.texts)
        assert any("[PESEL_1]" in judged for judged in guard.texts)


# -- audit and metrics -----------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["request", "response"])
def test_blocks_are_audited_with_scores_and_the_text_only_inside_the_encrypted_record(ups, guard, gateway, tmp_path,
                                                                                        caplog, direction):
    private_key, public_key = generate_keypair(tmp_path / "keys")
    audit_dir = tmp_path / "audit"
    gw = gateway(_models(ups), sojka_guard_host=guard.url, audit_dir=str(audit_dir),
                 audit_public_key=str(public_key), use_prometheus=True,
                 **{f"force_guardrail_{direction}": True, f"guardrail_with_audit_{direction}": True})
    text = f"{WORSE} w banku"
    with caplog.at_level("INFO"):
        answer = requests.post(gw.v1 + "/chat/completions", timeout=10, headers={"X-Request-ID": "req-block-1"},
                               json={"model": "m-vllm", "messages": [{"role": "user", "content": "echo:" + text}]})
    if direction == "request":
        assert answer.status_code == 400
    else:
        assert answer.json()["choices"][0]["finish_reason"] == "content_filter"
    gw.app.extensions["llm_router"].audit.flush()
    records = [r["data"] for r in read_records(audit_dir, private_key) if r["kind"] == "guardrail"]
    judged = "echo:" + text if direction == "request" else text
    assert records == [{"request_id": "req-block-1", "direction": direction, "guardrail": "sojka_guard",
                        "model": "m-vllm" if direction == "request" else "m-vllm",
                        "flagged": [{"text": judged, "label": "CRIME", "score": 0.95,
                                     "scores": {"HATE": 0.01, "VULGAR": 0.01, "SEX": 0.01, "CRIME": 0.95,
                                                "SELF-HARM": 0.01}}]}]
    stored = b"".join(path.read_bytes() for path in audit_dir.iterdir())
    assert WORSE.encode() not in stored
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"{direction} blocked by guardrail sojka_guard (label=CRIME score=0.950" in logged
    assert WORSE not in logged

    metrics = requests.get(gw.url + "/metrics", timeout=5).text
    assert f'llm_router_guardrail_incidents_total{{direction="{direction}",guardrail="sojka_guard"}} 1.0' in metrics
    assert 'llm_router_guardrail_latency_seconds_count{guardrail="sojka_guard"} 1.0' in metrics


def test_under_gunicorn_with_gevent_workers_requests_are_blocked_and_streams_cut(guard, ups, gateway_process):
    gw = gateway_process(_models(ups), LLM_ROUTER_FORCE_GUARDRAIL_REQUEST="1", LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE="1",
                         LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST=guard.url, LLM_ROUTER_SERVER_WORKER_CLASS="gevent")
    refused = _chat(gw, f"{WORSE} w banku")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_policy_violation"
    guard.unsafe_words["tok3"] = "HATE"  # the fake model's own words: the answer is flagged, the request is not
    try:
        with _chat(gw, "opowiedz coś", stream=True) as response:
            content, finishes, done = _stream_text(response)
    finally:
        del guard.unsafe_words["tok3"]
    assert finishes == ["content_filter"] and done and "tok3" not in content
    ok = _chat(gw, "echo:Dzień dobry").json()["choices"][0]
    assert ok["message"]["content"] == "Dzień dobry" and ok["finish_reason"] == "stop"
    assert "Traceback" not in gw.log_text() and BAD not in gw.log_text() and WORSE not in gw.log_text()


def test_a_guard_failing_three_times_rests_answers_at_once_and_shows_in_health(ups, gateway, request_gw):
    healthy = requests.get(request_gw.url + "/health", timeout=5).json()
    assert healthy["guardrails"] == {"request": ["sojka_guard"], "response": [], "fail_open": False,
                                     "guards": {"sojka_guard": {"state": "ok", "consecutive_failures": 0}}}
    with FakeGuard() as hanging:
        hanging.delay = 2.0
        gw = gateway(_models(ups), force_guardrail_request=True, sojka_guard_host=hanging.url,
                     guardrail_timeout_seconds=0.2, services_monitor_interval_seconds=60)
        for _ in range(3):
            assert _chat(gw, SAFE_TEXT).status_code == 503
        calls = len(hanging.payloads)
        refused = _chat(gw, SAFE_TEXT)
        assert refused.status_code == 503 and refused.elapsed.total_seconds() < 0.2  # not waiting for the guard
        assert "resting" in refused.json()["error"]["message"] and len(hanging.payloads) == calls
        health = requests.get(gw.url + "/health", timeout=5)
    assert health.json()["status"] == "degraded"
    assert health.json()["guardrails"]["guards"]["sojka_guard"] == {"state": "resting", "consecutive_failures": 3}
    assert "127.0.0.1" not in json.dumps(health.json()["guardrails"])
