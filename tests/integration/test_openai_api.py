"""The OpenAI routes, driven by the official openai SDK against real test upstreams."""

import json

import openai
import pytest
import requests

from tests.conftest import provider


def client(gw, **kw):
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0, **kw)


@pytest.fixture
def one(upstreams, gateway):
    up = upstreams(n_tokens=5)
    gw = gateway({"m": {"providers": [provider(up, "p1")], "aliases": ["gpt-3.5-turbo"]}})
    return up, gw


def test_chat_non_stream(one):
    up, gw = one
    answer = client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 5
    assert answer.model == "m"


def test_chat_stream_is_relayed_chunk_by_chunk(one):
    up, gw = one
    stream = client(gw).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) == 5
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5


def test_stream_headers_and_done(one):
    up, gw = one
    response = requests.post(gw.v1 + "/chat/completions", stream=True, json={
        "model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.content
    assert body.endswith(b"data: [DONE]\n\n") and body.count(b"data: [DONE]") == 1


def test_stream_defaults_to_false(one):
    up, gw = one
    response = requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []})
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["object"] == "chat.completion"


def test_completions_stream_and_not(one):
    up, gw = one
    c = client(gw)
    assert c.completions.create(model="m", prompt="Ala ma").choices[0].text
    streamed = list(c.completions.create(model="m", prompt="Ala ma", stream=True))
    assert any(ch.choices and ch.choices[0].text for ch in streamed)


def test_embeddings(one):
    up, gw = one
    result = client(gw).embeddings.create(model="m", input=["a", "b"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8


def test_models_list_and_retrieve(one):
    up, gw = one
    c = client(gw)
    assert [m.id for m in c.models.list()] == ["m", "gpt-3.5-turbo"]
    assert c.models.retrieve("gpt-3.5-turbo").id == "gpt-3.5-turbo"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nope")


def test_every_field_passes_through_untouched(one):
    up, gw = one
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Kraków\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]},
    ]
    request = {
        "model": "m", "messages": messages, "temperature": 0, "max_tokens": 3, "seed": 7, "logprobs": True,
        "top_logprobs": 2, "response_format": {"type": "json_object"}, "tool_choice": "auto",
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "stream": True, "stream_options": {"include_usage": True}, "x_vendor_field": {"keep": [1, 2]},
    }
    requests.post(gw.v1 + "/chat/completions", json=request).close()
    assert up.requests[-1].json == request  # nothing added, dropped, reordered or changed


def test_original_bytes_go_upstream_when_the_name_is_unchanged(one):
    up, gw = one
    raw = b'{"model":"m",  "messages":[{"role":"user","content":"za\\u017c\\u00f3\\u0142\\u0107"}]}'
    requests.post(gw.v1 + "/chat/completions", data=raw, headers={"Content-Type": "application/json"})
    assert up.requests[-1].body == raw


def test_model_path_and_token_go_upstream_but_never_back(upstreams, gateway):
    up = upstreams()
    gw = gateway({"m": {"providers": [provider(up, "p1", model_path="/mnt/models/bielik", api_token="sk-up")],
                        "aliases": ["gpt-3.5-turbo"]}})
    c = client(gw)
    answer = c.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    sent = up.requests[-1]
    assert sent.json["model"] == "/mnt/models/bielik"
    assert sent.headers["authorization"] == "Bearer sk-up"
    assert answer.model == "gpt-3.5-turbo"
    raw_stream = requests.post(gw.v1 + "/chat/completions", json={
        "model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).content
    assert b"/mnt/models" not in raw_stream and b'"model":"m"' in raw_stream
    up.behaviour = "fail400"
    error = requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []})
    assert error.status_code == 400
    assert b"/mnt/models" not in error.content and "`m`" in error.json()["error"]["message"]


def test_no_token_no_authorization_header(one):
    up, gw = one
    client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert "authorization" not in up.requests[-1].headers


@pytest.mark.parametrize("path", [
    "/v1/chat/completions", "/api/v1/chat/completions", "/api/chat/completions", "/chat/completions"])
def test_compatibility_paths(one, path):
    up, gw = one
    response = requests.post(gw.url + path, json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 200
    assert up.requests[-1].path == "/v1/chat/completions"


@pytest.mark.parametrize("path", ["/embeddings", "/api/embeddings", "/api/v1/embeddings"])
def test_embedding_compatibility_paths(one, path):
    up, gw = one
    assert requests.post(gw.url + path, json={"model": "m", "input": "x"}).status_code == 200


@pytest.mark.parametrize("path", ["/models", "/api/models", "/api/v1/models", "/ping", "/api/ping", "/version"])
def test_get_compatibility_paths(one, path):
    up, gw = one
    assert requests.get(gw.url + path).status_code == 200


def test_custom_prefix(upstreams, gateway):
    up = upstreams()
    gw = gateway({"m": {"providers": [provider(up, "p1")]}}, ep_prefix="/llm")
    assert requests.post(gw.url + "/llm/chat/completions", json={"model": "m", "messages": []}).status_code == 200
    assert requests.post(gw.url + "/api/chat/completions", json={"model": "m", "messages": []}).status_code == 404


class TestErrors:
    """Each failure is an OpenAI error object with the status the SDK maps to the right class."""

    def test_unknown_model_is_404(self, one):
        up, gw = one
        with pytest.raises(openai.NotFoundError) as caught:
            client(gw).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"
        assert up.requests == []

    def test_missing_model_is_400(self, one):
        up, gw = one
        response = requests.post(gw.v1 + "/chat/completions", json={"messages": []})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "model"

    @pytest.mark.parametrize("body,param", [
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [], "stream": "yes"}, "stream"),
    ])
    def test_bad_fields_are_400_naming_the_field(self, one, body, param):
        up, gw = one
        response = requests.post(gw.v1 + "/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
    def test_malformed_body_is_400(self, one, raw):
        up, gw = one
        response = requests.post(gw.v1 + "/chat/completions", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and "Traceback" not in response.text

    def test_bad_request_through_sdk(self, one):
        up, gw = one
        with pytest.raises(openai.BadRequestError):
            client(gw).chat.completions.create(model="m", messages="not a list")

    def test_body_too_large_is_413(self, upstreams, gateway):
        up = upstreams()
        gw = gateway({"m": {"providers": [provider(up, "p1")]}}, max_request_body_size=1000)
        response = requests.post(gw.v1 + "/chat/completions",
                                 json={"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
        with pytest.raises(openai.APIStatusError) as caught:
            client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 2000}])
        assert caught.value.status_code == 413 and caught.value.body["code"] == "request_too_large"
        assert up.requests == []

    def test_a_chunked_body_too_large_is_413_not_cut(self, upstreams, gateway):
        up = upstreams()
        gw = gateway({"m": {"providers": [provider(up, "p1")]}}, max_request_body_size=1000)
        response = requests.post(gw.v1 + "/chat/completions", data=chunked_body(3000),
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and up.requests == []
        small = requests.post(gw.v1 + "/chat/completions", data=chunked_body(200),
                              headers={"Content-Type": "application/json"})
        assert small.status_code == 200

    def test_unknown_route_and_method(self, one):
        up, gw = one
        assert requests.get(gw.url + "/v1/nothing").json()["error"]["code"] == "unknown_url"
        wrong = requests.get(gw.v1 + "/chat/completions")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"

    def test_upstream_failure_is_502_without_internal_details(self, upstreams, gateway, dead_port):
        up = upstreams(behaviour="fail500")
        gw = gateway({"m": {"providers": [provider(up, "p1"), provider(dead_port, "p2")]}})
        with pytest.raises(openai.InternalServerError) as caught:
            client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 502
        text = json.dumps(caught.value.body)
        assert "127.0.0.1" not in text and str(up.port) not in text and str(dead_port) not in text

    def test_timeout_is_504(self, upstreams, gateway):
        up = upstreams(behaviour="hang")
        gw = gateway({"m": {"providers": [provider(up, "p1")]}}, external_timeout=0.3)
        response = requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []})
        assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
        with pytest.raises(openai.InternalServerError) as caught:
            client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 504

    def test_no_provider_available_is_503_with_retry_after(self, upstreams, gateway):
        up = upstreams(behaviour="fail429")
        gw = gateway({"m": {"providers": [provider(up, "p1")]}})
        response = requests.post(gw.v1 + "/chat/completions", json={"model": "m", "messages": []})
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        with pytest.raises(openai.InternalServerError):
            client(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def chunked_body(content_size: int):
    """A chat request sent with Transfer-Encoding: chunked (requests does so for generators)."""
    yield b'{"model":"m","messages":[{"role":"user","content":"'
    for _ in range(content_size // 100):
        yield b"x" * 100
    yield b'"}]}'
