"""Dialects beyond the chat matrix: embeddings, generate, model listings, passthrough of what the
gateway does not know, the Responses API's passthrough and fallback, and errors in each dialect."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anthropic
import ollama
import openai
import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.integration.conftest import TOKEN
from tests.upstreams.fake_anthropic import FakeAnthropic
from tests.upstreams.fake_openai import _embedding

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def approx(vector):
    return pytest.approx(vector, abs=1e-6)  # float32 on the base64 path


# ---------------------------------------------------------------- embeddings and generate

@pytest.mark.parametrize("provider", ["vllm", "ollama"])
def test_embeddings_in_every_dialect(gw, provider):
    model = f"m-{provider}"
    oa = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).embeddings.create(model=model,
                                                                                    input=["hello world", "x"])
    assert [d.embedding for d in oa.data] == [approx(_embedding("hello world")), approx(_embedding("x"))]
    assert oa.model == model
    client = ollama.Client(host=gw.url)
    embedded = client.embed(model=model, input=["hello world", "x"])
    assert embedded.embeddings == [approx(_embedding("hello world")), approx(_embedding("x"))]
    assert embedded.model == model
    assert client.embeddings(model=model, prompt="hello world").embedding == approx(_embedding("hello world"))


def test_embeddings_on_an_anthropic_provider_are_a_clear_400_in_each_dialect(gw):
    response = requests.post(gw.v1 + "/embeddings", json={"model": "m-anthropic", "input": "x"}, timeout=10)
    assert response.status_code == 400
    assert "embeddings" in response.json()["error"]["message"]
    response = requests.post(gw.url + "/api/embed", json={"model": "m-anthropic", "input": "x"}, timeout=10)
    assert response.status_code == 400 and "embeddings" in response.json()["error"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", ["vllm", "ollama", "anthropic"])
def test_ollama_generate(gw, provider, stream):
    client = ollama.Client(host=gw.url)
    parts = client.generate(model=f"m-{provider}", prompt="sys?", system="Be exact", stream=stream)
    parts = list(parts) if stream else [parts]
    assert "".join(p.response for p in parts) == "Be exact"
    assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].model == f"m-{provider}"
    assert parts[-1].prompt_eval_count == 3 and parts[-1].eval_count == 2


@pytest.mark.parametrize("provider", ["vllm", "ollama"])
def test_ollama_raw_generate_is_a_plain_completion(gw, provider):
    answer = ollama.Client(host=gw.url).generate(model=f"m-{provider}", prompt="echo:as it is", raw=True,
                                                 stream=False)
    assert answer.response == "as it is"


def test_ollama_raw_generate_on_an_anthropic_provider_is_refused_clearly(gw):
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=gw.url).generate(model="m-anthropic", prompt="x", raw=True, stream=False)
    assert caught.value.status_code == 400 and "chat" in caught.value.error


def test_ollama_load_requests_answer_without_generating(gw, fakes):
    fakes["vllm"].reset()
    answer = ollama.Client(host=gw.url).generate(model="m-vllm")
    assert answer.done and answer.done_reason == "load"
    assert fakes["vllm"].requests == []


# ---------------------------------------------------------------- model listings

def test_ollama_listings(gw):
    client = ollama.Client(host=gw.url)
    names = {m.model for m in client.list().models}
    assert {"m-vllm", "m-ollama", "m-anthropic"} <= names
    assert {m.model for m in client.ps().models} == names
    shown = client.show("m-ollama:latest")  # Ollama's default tag names the same model
    assert "completion" in shown.capabilities
    assert shown.modelinfo["llm-router.context_length"] == 4096
    assert requests.get(gw.url + "/api/version", timeout=5).json()["version"]
    root = requests.get(gw.url + "/", timeout=5)
    assert root.text == "Ollama is running"


def test_lmstudio_models(gw):
    listed = requests.get(gw.url + "/api/v0/models", timeout=5).json()
    entry = next(m for m in listed["data"] if m["id"] == "m-vllm")
    assert entry["type"] == "llm" and entry["state"] == "loaded" and entry["max_context_length"] == 4096
    assert requests.get(gw.url + "/api/v0/models/m-vllm", timeout=5).json()["id"] == "m-vllm"


# ---------------------------------------------------------------- passthrough keeps what it does not know

def test_an_ollama_client_to_an_ollama_provider_passes_through(gw, fakes):
    up = fakes["ollama"]
    up.reset()
    body = {"model": "m-ollama", "messages": [{"role": "user", "content": "echo:hi"}], "stream": False,
            "options": {"num_ctx": 1234, "mirostat": 2}, "keep_alive": "7m", "future_field": {"x": 1}}
    answer = requests.post(gw.url + "/api/chat", json=body, timeout=10).json()
    assert answer["message"]["content"] == "hi" and answer["model"] == "m-ollama"
    sent = up.requests[-1]
    assert sent.path == "/api/chat"
    assert sent.json == {**body, "model": "private-ollama"}


def test_an_anthropic_client_to_an_anthropic_provider_passes_through(gw, fakes):
    up = fakes["anthropic"]
    up.reset()
    body = {"model": "m-anthropic", "max_tokens": 50, "messages": [{"role": "user", "content": "echo:hi"}],
            "service_tier": "auto", "metadata": {"user_id": "u-1"}}
    response = requests.post(gw.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["content"] == [{"type": "text", "text": "hi"}]
    assert response.json()["model"] == "m-anthropic"
    sent = up.requests[-1]
    assert sent.json == {**body, "model": "private-anthropic"}
    assert sent.headers["x-api-key"] == TOKEN  # the provider's token, never the client's
    assert sent.headers["anthropic-version"] == "2023-06-01"


def test_claude_codes_beta_headers_reach_an_anthropic_provider_and_keys_do_not(gw, fakes):
    up = fakes["anthropic"]
    up.reset()
    headers = {**ANTHROPIC_HEADERS, "anthropic-beta": "interleaved-thinking-2025-05-14", "x-api-key": "client-key",
               "authorization": "Bearer client-key"}
    body = {"model": "m-anthropic", "max_tokens": 50, "messages": [{"role": "user", "content": "echo:hi"}]}
    assert requests.post(gw.url + "/v1/messages", json=body, headers=headers, timeout=10).status_code == 200
    sent = up.requests[-1].headers
    assert sent["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent["x-api-key"] == TOKEN and "authorization" not in sent
    up.reset()
    requests.post(gw.url + "/v1/messages", json={**body, "model": "m-vllm"}, headers=headers, timeout=10)
    assert fakes["vllm"].requests[-1].headers.get("anthropic-beta") is None  # converted: nothing to carry


def test_a_converted_request_carries_the_providers_credentials(gw, fakes):
    up = fakes["anthropic"]
    up.reset()
    answer = openai.OpenAI(base_url=gw.v1, api_key="client-key", max_retries=0).chat.completions.create(
        model="m-anthropic", messages=[{"role": "user", "content": "echo:ok"}])
    assert answer.choices[0].message.content == "ok"
    assert up.requests[-1].headers["x-api-key"] == TOKEN
    assert "client-key" not in json.dumps(up.requests[-1].headers)


def test_ollama_streams_by_default(gw):
    response = requests.post(gw.url + "/api/chat", timeout=10,
                             json={"model": "m-vllm", "messages": [{"role": "user", "content": "echo:a b c"}]})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "a b c"
    assert [line["done"] for line in lines][-1] is True and len(lines) >= 4


def test_openai_embeddings_body_on_the_shared_api_embeddings_path(gw):
    """With PREFIX /api, OpenAI's {PREFIX}/embeddings is Ollama's /api/embeddings: the body tells them apart."""
    answer = requests.post(gw.url + "/api/embeddings", json={"model": "m-vllm", "input": "x"}, timeout=10).json()
    assert answer["object"] == "list" and answer["data"][0]["embedding"] == approx(_embedding("x"))
    missing = requests.post(gw.url + "/api/embeddings", json={"input": "x"}, timeout=10)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"


# ---------------------------------------------------------------- the Responses API

@pytest.mark.parametrize("stream", [False, True])
def test_responses_pass_through_to_a_server_that_serves_them(gw, fakes, stream):
    up = fakes["responses"]
    up.reset()
    client = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0)
    if stream:
        events = list(client.responses.create(model="m-responses", input="echo:straight through", stream=True))
        final = events[-1].response
    else:
        final = client.responses.create(model="m-responses", input="echo:straight through")
    assert final.output_text == "straight through" and final.model == "m-responses"
    assert [r.path for r in up.requests] == ["/v1/responses"]
    assert up.requests[0].json["model"] == "private-responses"


def test_responses_fall_back_to_chat_once_and_remember(gateway, upstreams):
    up = upstreams(model="plain")
    gw = gateway({"m": {"providers": [{"id": "p", "api_host": up.url, "api_type": "vllm"}]}})
    client = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0)
    assert client.responses.create(model="m", input="echo:first").output_text == "first"
    assert [r.path for r in up.requests] == ["/v1/responses", "/v1/chat/completions"]
    up.reset()
    assert client.responses.create(model="m", input="echo:second").output_text == "second"
    assert [r.path for r in up.requests] == ["/v1/chat/completions"]


def test_previous_response_id_is_refused_with_a_reason(gw):
    with pytest.raises(openai.BadRequestError) as caught:
        openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).responses.create(
            model="m-vllm", input="x", previous_response_id="resp_1")
    assert "previous_response_id" in caught.value.message


def test_anthropic_count_tokens_is_an_estimate(gw):
    counted = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.count_tokens(
        model="m-vllm", messages=[{"role": "user", "content": "How many tokens is this sentence, roughly?"}])
    assert 5 <= counted.input_tokens <= 30


# ---------------------------------------------------------------- errors in the client's dialect

def test_unknown_model_in_each_dialect(gw):
    with pytest.raises(openai.NotFoundError) as oa:
        openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}])
    assert oa.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).responses.create(model="nope", input="x")
    with pytest.raises(ollama.ResponseError) as ol:
        ollama.Client(host=gw.url).chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert ol.value.status_code == 404 and ol.value.error == "model 'nope' not found"
    with pytest.raises(anthropic.NotFoundError) as an:
        anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.create(
            model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert an.value.body["error"]["type"] == "not_found_error"


@pytest.mark.parametrize("provider", ["vllm", "ollama", "anthropic"])
def test_an_upstream_refusal_reaches_each_client_in_its_dialect(gw, fake, provider):
    fake.behaviour = "fail400"
    model = f"m-{provider}"
    with pytest.raises(openai.BadRequestError) as oa:
        openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ollama.ResponseError) as ol:
        ollama.Client(host=gw.url).chat(model=model, messages=[{"role": "user", "content": "x"}], stream=False)
    with pytest.raises(anthropic.BadRequestError) as an:
        anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.create(
            model=model, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert ol.value.status_code == 400 and an.value.body["error"]["type"] == "invalid_request_error"
    for message in (str(oa.value), ol.value.error, an.value.body["error"]["message"]):
        assert f"`{model}` does not exist" in message  # the upstream's words, with the public name
        assert "private-" not in message


@pytest.mark.parametrize("provider", ["vllm", "ollama", "anthropic"])
def test_a_failed_upstream_is_a_502_in_each_dialect(gw, fake, provider):
    fake.behaviour = "fail500"
    model = f"m-{provider}"
    ollama_answer = requests.post(gw.url + "/api/chat", json={"model": model, "stream": False,
                                                              "messages": [{"role": "user", "content": "x"}]})
    assert ollama_answer.status_code == 502 and set(ollama_answer.json()) == {"error"}
    anthropic_answer = requests.post(gw.url + "/v1/messages", headers=ANTHROPIC_HEADERS, json={
        "model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert anthropic_answer.status_code == 502
    assert anthropic_answer.json()["type"] == "error" and anthropic_answer.json()["error"]["type"] == "api_error"
    openai_answer = requests.post(gw.v1 + "/chat/completions", json={"model": model, "messages": [
        {"role": "user", "content": "x"}]})
    assert openai_answer.status_code == 502 and openai_answer.json()["error"]["code"] == "upstream_failed"


@pytest.mark.parametrize("provider", ["vllm", "ollama", "anthropic"])
def test_a_stream_broken_midway_ends_with_an_error_in_each_dialect(gw, fake, provider):
    fake.behaviour = "drop_mid_stream"
    model = f"m-{provider}"
    with pytest.raises(ollama.ResponseError):
        list(ollama.Client(host=gw.url).chat(model=model, messages=[{"role": "user", "content": "echo:a b c d e"}],
                                             stream=True))
    with pytest.raises(anthropic.APIStatusError):
        with anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.stream(
                model=model, max_tokens=50, messages=[{"role": "user", "content": "echo:a b c d e"}]) as events:
            events.get_final_message()
    with pytest.raises(openai.APIError):
        list(openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "echo:a b c d e"}], stream=True))


def test_bad_requests_get_each_dialects_error_shape(gw):
    ol = requests.post(gw.url + "/api/chat", data=b"{not json", timeout=5)
    assert ol.status_code == 400 and set(ol.json()) == {"error"}
    wrong_method = requests.get(gw.url + "/api/chat", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json().keys() == {"error"}
    assert wrong_method.headers["Allow"] == "OPTIONS, POST"
    an = requests.post(gw.url + "/v1/messages", data=b"{not json", headers=ANTHROPIC_HEADERS, timeout=5)
    assert an.status_code == 400 and an.json()["error"]["type"] == "invalid_request_error"
    no_max = requests.post(gw.url + "/v1/messages", headers=ANTHROPIC_HEADERS, timeout=5,
                           json={"model": "m-vllm", "messages": [{"role": "user", "content": "x"}]})
    assert no_max.status_code == 400 and "max_tokens" in no_max.json()["error"]["message"]
    assert requests.get(gw.url + "/v1/messages", timeout=5).json()["type"] == "error"  # 405


# ---------------------------------------------------------------- the README's client examples run as written

@pytest.mark.parametrize("script", ["openai_sdk.py", "ollama_client.py", "anthropic_sdk.py"])
def test_client_examples_run(gw, script):
    env = {**os.environ, "LLM_ROUTER_URL": gw.url, "LLM_ROUTER_MODEL": "m-vllm"}
    done = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "clients" / script)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tok0" in done.stdout  # the fake's answer came back through the client


def test_a_provider_whose_protocol_cannot_take_the_request_is_passed_over(gateway, upstreams):
    """Embeddings on a model whose first provider speaks Anthropic (chat only): the next one serves them."""
    chat_only = FakeAnthropic(model="claude-like").start()
    try:
        embedder = upstreams(model="embedder")
        gw = gateway({"m": {"providers": [
            {"id": "anthropic-first", "api_host": chat_only.url, "api_type": "anthropic"},
            {"id": "vllm-second", "api_host": embedder.url, "api_type": "vllm"}]}},
            balance_strategy="first_available")
        answer = requests.post(gw.v1 + "/embeddings", json={"model": "m", "input": "x"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["data"][0]["embedding"] == approx(_embedding("x"))
        assert chat_only.requests == [] and len(embedder.requests) == 1
        chat = requests.post(gw.v1 + "/chat/completions", timeout=10,
                             json={"model": "m", "messages": [{"role": "user", "content": "echo:first"}]})
        assert chat.json()["choices"][0]["message"]["content"] == "first"
        assert len(chat_only.requests) == 1  # chat still goes to the first provider
    finally:
        chat_only.stop()


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_converted_streams_through_gunicorn(fakes, gateway_process, worker_class):
    """The real server: an Ollama client on a vLLM provider and an Anthropic client on an Ollama one."""
    gw = gateway_process({f"m-{kind}": {"providers": [{"id": kind, "api_host": fakes[kind].url, "api_type": kind}]}
                          for kind in ("vllm", "ollama")}, LLM_ROUTER_SERVER_WORKER_CLASS=worker_class)
    parts = list(ollama.Client(host=gw.url).chat(model="m-vllm", stream=True,
                                                 messages=[{"role": "user", "content": "echo:one two three"}]))
    assert "".join(p.message.content for p in parts) == "one two three" and parts[-1].done
    with anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.stream(
            model="m-ollama", max_tokens=20, messages=[{"role": "user", "content": "echo:four five"}]) as events:
        assert "".join(events.text_stream) == "four five"
        assert events.get_final_message().stop_reason == "end_turn"
