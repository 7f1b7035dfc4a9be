"""FakeOllama must speak Ollama's native API as a real server does: proven with the official ``ollama`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest
import requests

from tests.upstreams import FakeOllama
from tests.upstreams.fake_openai import _embedding

TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}}}
]
HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}]


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(n_tokens=3) as up:
        yield up


def client(up: FakeOllama) -> ollama.Client:
    return ollama.Client(host=up.url)


def post(up: FakeOllama, path: str, **body: Any) -> requests.Response:
    return requests.post(up.url + path, json={"model": "m", **body})


def test_root_version_and_tags(fake: FakeOllama) -> None:
    root = requests.get(fake.url)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert root.headers["content-type"].startswith("text/plain")
    assert requests.get(fake.url + "api/version").json() == {"version": "0.12.0"}
    (model,) = client(fake).list().models
    assert model.model == "test-model" and model.details is not None and model.details.format == "gguf"


def test_errors_are_ollama_shaped(fake: FakeOllama) -> None:
    missing = requests.post(fake.url + "api/nope", json={})
    assert missing.status_code == 404 and set(missing.json()) == {"error"}
    not_json = requests.post(fake.url + "api/chat", data=b"{nope")
    assert not_json.status_code == 400 and "error" in not_json.json()
    no_model = requests.post(fake.url + "api/chat", json={"messages": HELLO})
    assert no_model.status_code == 400 and no_model.json() == {"error": "model is required"}
    with pytest.raises(ollama.ResponseError) as raised:
        client(fake).chat(model="m", messages=HELLO, options={"num_predict": "2"})
    assert raised.value.status_code == 400 and raised.value.error == 'option "num_predict" must be of type integer'


def test_chat(fake: FakeOllama) -> None:
    answer = client(fake).chat(model="m", messages=HELLO)
    assert answer.model == "m" and answer.done and answer.done_reason == "stop"
    assert answer.message.role == "assistant" and answer.message.content == "tok0 tok1 tok2"
    assert (answer.prompt_eval_count, answer.eval_count) == (5, 3)
    assert answer.created_at is not None and answer.created_at.endswith("Z")
    assert all(isinstance(getattr(answer, k), int) for k in ("total_duration", "load_duration", "eval_duration"))


def test_chat_streams_ndjson_by_default(fake: FakeOllama) -> None:
    response = post(fake, "api/chat", messages=HELLO)  # no "stream": Ollama streams
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["message"]["content"] for line in lines] == ["tok0 ", "tok1 ", "tok2", ""]
    assert [line["done"] for line in lines] == [False, False, False, True]
    assert set(lines[0]) == {"model", "created_at", "message", "done"}
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] == 3
    assert post(fake, "api/chat", messages=HELLO, stream=False).json()["message"]["content"] == "tok0 tok1 tok2"


def test_chat_stream_through_the_client(fake: FakeOllama) -> None:
    parts = list(client(fake).chat(model="m", messages=[{"role": "user", "content": "think: a b"}], stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == "pondering a b"
    assert "".join(p.message.content or "" for p in parts) == "a b"
    assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].eval_count == 5
    answer = client(fake).chat(model="m", messages=[{"role": "user", "content": "think: a b"}])
    assert (answer.message.thinking, answer.message.content) == ("pondering a b", "a b")


def test_tool_calls_with_object_arguments(fake: FakeOllama) -> None:
    answer = client(fake).chat(model="m", messages=HELLO, tools=TOOLS)
    (call,) = answer.message.tool_calls or []
    assert call.function.name == "lookup" and call.function.arguments == {"query": "hello there world"}
    assert answer.done_reason == "stop" and answer.message.content == ""
    parts = list(client(fake).chat(model="m", messages=HELLO, tools=TOOLS, stream=True))
    with_calls = [p for p in parts if p.message.tool_calls]
    assert len(with_calls) == 1 and with_calls[0].message.tool_calls == answer.message.tool_calls  # whole, one line
    call = {"function": {"name": "lookup", "arguments": {"query": "x"}}}  # arguments an object
    followup = HELLO + [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "sunny", "tool_name": "lookup"},
    ]
    assert client(fake).chat(model="m", messages=followup, tools=TOOLS).message.content == "result: sunny"


def test_what_ollama_refuses(fake: FakeOllama) -> None:
    call = {"function": {"name": "lookup", "arguments": '{"query": "x"}'}}  # OpenAI's string form
    messages = [{"role": "assistant", "content": "", "tool_calls": [call]}]
    assert post(fake, "api/chat", messages=messages, stream=False).status_code == 400
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert post(fake, "api/chat", messages=parts, stream=False).status_code == 400
    refused = post(fake, "api/chat", messages=HELLO, options={"stop": "tok1"}, stream=False)
    assert refused.status_code == 400 and refused.json() == {"error": 'option "stop" must be of type array'}


def test_options_num_predict_and_stop(fake: FakeOllama) -> None:
    limited = client(fake).chat(model="m", messages=HELLO, options={"num_predict": 2})
    assert (limited.message.content, limited.done_reason) == ("tok0 tok1", "length")
    stopped = client(fake).chat(model="m", messages=HELLO, options={"num_predict": 5, "stop": ["tok3"]})
    assert (stopped.message.content, stopped.done_reason) == ("tok0 tok1 tok2 ", "stop")


def test_generate(fake: FakeOllama) -> None:
    answer = client(fake).generate(model="m", prompt="sys?", system="be brief")
    assert (answer.response, answer.done, answer.done_reason) == ("be brief", True, "stop")
    parts = list(client(fake).generate(model="m", prompt="echo:x y", stream=True))
    assert [p.response for p in parts] == ["x ", "y", ""] and parts[-1].done
    lines = post(fake, "api/generate", prompt="think: hm").text.splitlines()  # streams by default
    assert "".join(json.loads(line).get("thinking", "") for line in lines) == "pondering hm"
    assert "message" not in json.loads(lines[0]) and json.loads(lines[-1])["done"] is True


def test_empty_prompt_or_messages_only_load(fake: FakeOllama) -> None:
    loaded = client(fake).generate(model="m")
    assert (loaded.done, loaded.done_reason, loaded.response) == (True, "load", "")
    assert post(fake, "api/chat", messages=[]).json()["done_reason"] == "load"


def test_embed_and_legacy_embeddings(fake: FakeOllama) -> None:
    answer = client(fake).embed(model="e", input=["a b", "c"])
    assert answer.model == "e" and answer.prompt_eval_count == 3
    assert [list(v) for v in answer.embeddings] == [_embedding("a b"), _embedding("c")]
    assert client(fake).embed(model="e", input="c").embeddings == [_embedding("c")]
    assert client(fake).embeddings(model="e", prompt="a b").embedding == _embedding("a b")
    assert post(fake, "api/embed", input=3).status_code == 400


@pytest.mark.parametrize(("behaviour", "status"), [("fail500", 500), ("fail429", 429), ("fail400", 400)])
def test_failures(fake: FakeOllama, behaviour: str, status: int) -> None:
    fake.behaviour = behaviour
    with pytest.raises(ollama.ResponseError) as raised:
        client(fake).chat(model="gpt-x", messages=HELLO)
    assert raised.value.status_code == status and isinstance(raised.value.error, str)
    response = post(fake, "api/chat", messages=HELLO)
    assert set(response.json()) == {"error"}


def test_drop_mid_stream_and_close_before_headers(fake: FakeOllama) -> None:
    fake.behaviour = "drop_mid_stream"
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for part in client(fake).chat(model="m", messages=HELLO, stream=True):
            received.append(part.message.content)
    assert received == ["tok0 ", "tok1 "]
    fake.behaviour = "close_before_headers"
    with pytest.raises(requests.exceptions.ConnectionError):
        post(fake, "api/chat", messages=HELLO)
    assert fake.in_flight == 0 and fake.disconnects == 0
