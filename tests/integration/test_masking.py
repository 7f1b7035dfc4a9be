"""Masking end to end: every dialect, every upstream protocol, streamed and not, through the gateway.

The test upstreams record what they received: no original value may be in any byte of it. The
scripted model echoes what it got (placeholders), so the answer proves the gateway put the
originals back, also when a placeholder arrives cut across stream chunks (the fakes cut words
before ``_``, as a tokenizer cuts ``[PESEL_1]``).
"""

from __future__ import annotations

import json
import threading

import anthropic
import ollama
import openai
import pytest
import requests

from tests.integration.conftest import TOKEN, TOOL

PESEL, NIP, EMAIL = "44051401359", "526-104-08-28", "jan.kowalski@example.pl"
ORIGINALS = (PESEL, NIP, EMAIL, "5261040828")
TEXT = f"Mój PESEL to {PESEL}, NIP firmy {NIP}, pisz na {EMAIL}."
PROVIDERS = ("vllm", "ollama", "anthropic")


def _models(fakes) -> dict:
    return {f"m-{kind}": {"providers": [{"id": f"{kind}-1", "api_host": fakes[kind].url, "api_type": kind,
                                         "model_path": f"private-{kind}", "api_token": TOKEN, "input_size": 4096}]}
            for kind in PROVIDERS}


@pytest.fixture(scope="module")
def masked_gw(fakes, module_gateway):
    return module_gateway(_models(fakes), force_masking=True, use_prometheus=True,
                          circuit_breaker_failures=1_000_000)


@pytest.fixture(scope="module")
def plain_gw(fakes, module_gateway):
    return module_gateway(_models(fakes), circuit_breaker_failures=1_000_000)


def _sent(up) -> bytes:
    """Everything the upstream received, every request's body."""
    return b"".join(request.body for request in up.requests)


def _assert_nothing_leaked(up) -> None:
    sent = _sent(up)
    assert sent, "the upstream received nothing"
    for original in ORIGINALS:
        assert original.encode() not in sent, f"{original} reached the upstream"
    assert b"[PESEL_1]" in sent and b"[EMAIL_1]" in sent


def _openai_chat(gw, model, stream, text):
    client = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0)
    messages = [{"role": "user", "content": text}]
    if not stream:
        return client.chat.completions.create(model=model, messages=messages).choices[0].message.content
    chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _responses(gw, model, stream, text):
    client = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0)
    if not stream:
        return client.responses.create(model=model, input=text).output_text
    events = client.responses.create(model=model, input=text, stream=True)
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def _anthropic(gw, model, stream, text):
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    messages = [{"role": "user", "content": text}]
    if not stream:
        return client.messages.create(model=model, max_tokens=200, messages=messages).content[0].text
    with client.messages.stream(model=model, max_tokens=200, messages=messages) as events:
        return "".join(events.text_stream)


def _ollama(gw, model, stream, text):
    client = ollama.Client(host=gw.url)
    parts = client.chat(model=model, messages=[{"role": "user", "content": text}], stream=stream)
    return "".join(p.message.content for p in parts) if stream else parts.message.content


CLIENTS = {"openai": _openai_chat, "responses": _responses, "anthropic": _anthropic, "ollama": _ollama}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_no_original_reaches_the_upstream_and_the_answer_has_them_back(masked_gw, fakes, client, provider, stream):
    up = fakes[provider]
    up.reset()
    answer = CLIENTS[client](masked_gw, f"m-{provider}", stream, "echo:" + TEXT)
    assert answer == TEXT
    _assert_nothing_leaked(up)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_calls_history_and_tool_results_are_masked_and_arguments_unmasked(masked_gw, fakes, provider, stream):
    up = fakes[provider]
    up.reset()
    client = openai.OpenAI(base_url=masked_gw.v1, api_key="k", max_retries=0)
    tools = [{"type": "function", "function": TOOL}]
    messages = [{"role": "user", "content": TEXT}]
    if stream:
        arguments = "".join(call.function.arguments or "" for chunk in client.chat.completions.create(
            model=f"m-{provider}", messages=messages, tools=tools, stream=True)
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices)
    else:
        message = client.chat.completions.create(model=f"m-{provider}", messages=messages, tools=tools).choices[0].message
        arguments = message.tool_calls[0].function.arguments
    assert json.loads(arguments) == {"query": TEXT}  # the model called the tool with placeholders
    _assert_nothing_leaked(up)

    up.reset()
    history = [*messages,
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function", "function": {"name": TOOL["name"], "arguments": arguments}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": f"sent to {EMAIL}"}]
    answer = client.chat.completions.create(model=f"m-{provider}", messages=history, tools=tools)
    assert answer.choices[0].message.content == f"result: sent to {EMAIL}"
    _assert_nothing_leaked(up)


@pytest.mark.parametrize("endpoint", ["completions", "embeddings"])
def test_prompts_and_embedding_inputs_are_masked(masked_gw, fakes, endpoint):
    up = fakes["vllm"]
    up.reset()
    client = openai.OpenAI(base_url=masked_gw.v1, api_key="k", max_retries=0)
    if endpoint == "completions":
        text = client.completions.create(model="m-vllm", prompt="echo:" + TEXT, max_tokens=64).choices[0].text
        assert PESEL in text or text.startswith("tok")  # the fake completes with tokens; nothing to unmask
    else:
        client.embeddings.create(model="m-vllm", input=[TEXT, "plain"])
    _assert_nothing_leaked(up)


def test_concurrent_requests_never_see_each_others_values(masked_gw, fakes):
    pesels = ["44051401359", "02070803628", "85121513590", "90090515836"]
    answers: dict[str, str] = {}
    start = threading.Barrier(len(pesels))

    def ask(pesel):
        start.wait()
        answers[pesel] = _openai_chat(masked_gw, "m-vllm", True, f"echo:PESEL {pesel} i {pesel}")

    fakes["vllm"].reset()
    threads = [threading.Thread(target=ask, args=(p,)) for p in pesels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == {p: f"PESEL {p} i {p}" for p in pesels}
    sent = [request.json["messages"][0]["content"] for request in fakes["vllm"].requests]
    assert sent == ["echo:PESEL [PESEL_1] i [PESEL_1]"] * len(pesels)


def test_anonymize_in_a_request_turns_masking_on_and_never_goes_upstream(plain_gw, fakes):
    up = fakes["vllm"]
    up.reset()
    body = {"model": "m-vllm", "messages": [{"role": "user", "content": "echo:" + TEXT}], "anonymize": True}
    answer = requests.post(plain_gw.v1 + "/chat/completions", json=body, timeout=10).json()
    assert answer["choices"][0]["message"]["content"] == TEXT
    _assert_nothing_leaked(up)
    assert all("anonymize" not in request.json for request in up.requests)

    up.reset()
    body["anonymize"] = False
    requests.post(plain_gw.v1 + "/chat/completions", json=body, timeout=10).raise_for_status()
    (request,) = up.requests
    assert PESEL in request.json["messages"][0]["content"] and "anonymize" not in request.json

    ollama_up = fakes["ollama"]
    ollama_up.reset()
    body = {"model": "m-ollama", "messages": [{"role": "user", "content": "echo:" + TEXT}], "stream": False,
            "anonymize": True, "keep_alive": "5m"}
    answer = requests.post(plain_gw.url + "/api/chat", json=body, timeout=10).json()
    assert answer["message"]["content"] == TEXT
    _assert_nothing_leaked(ollama_up)


def test_a_request_with_nothing_to_mask_passes_through_as_it_came_and_one_with_values_is_converted(masked_gw, fakes):
    up = fakes["ollama"]
    clean = {"model": "m-ollama", "messages": [{"role": "user", "content": "echo:nic tu nie ma"}], "stream": False,
             "keep_alive": "7m", "x_private_field": 1}
    up.reset()
    assert requests.post(masked_gw.url + "/api/chat", json=clean, timeout=10).json()["message"]["content"] == \
        "nic tu nie ma"
    (request,) = up.requests
    assert request.json["keep_alive"] == "7m" and request.json["x_private_field"] == 1  # the client's own body

    up.reset()
    personal = {**clean, "messages": [{"role": "user", "content": "echo:" + TEXT}]}
    assert requests.post(masked_gw.url + "/api/chat", json=personal, timeout=10).json()["message"]["content"] == TEXT
    (request,) = up.requests
    assert "x_private_field" not in request.json  # converted: only what the canonical request carries
    _assert_nothing_leaked(up)


def test_without_masking_the_request_passes_through_as_it_was(plain_gw, fakes):
    up = fakes["vllm"]
    up.reset()
    assert _openai_chat(plain_gw, "m-vllm", False, "echo:" + TEXT) == TEXT
    assert PESEL.encode() in _sent(up)


def test_unmasking_can_be_turned_off(fakes, gateway):
    gw = gateway(_models(fakes), force_masking=True, unmask_responses=False)
    answer = _openai_chat(gw, "m-vllm", True, "echo:" + TEXT)
    assert "[PESEL_1]" in answer and PESEL not in answer


def test_masking_metrics_count_values_by_rule(masked_gw):
    _openai_chat(masked_gw, "m-vllm", False, "echo:" + TEXT)
    metrics = requests.get(masked_gw.url + "/metrics", timeout=10).text
    counted = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
               for line in metrics.splitlines() if line.startswith("llm_router_masking_incidents_total{")}
    assert counted and all(value >= 1 for value in counted.values())
    assert any("pesel" in labels for labels in counted)


def test_fast_text_mask(plain_gw):
    response = requests.post(plain_gw.url + "/api/fast_text_mask", json={"text": TEXT}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    for original in ORIGINALS:
        assert original not in response.text
    assert body["text"].startswith("Mój PESEL to [PESEL_1], NIP firmy [NIP_1]")
    assert {"placeholder": "[PESEL_1]", "entity": "PESEL"} in body["entities"]
    bad = requests.post(plain_gw.url + "/api/fast_text_mask", json={"txt": TEXT}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "text"
