"""The OpenAI wire codec: converted requests, answers, SSE chunks and error messages."""

import json

import pytest

from llm_router_api.config.models import ProviderConfig
from llm_router_api.upstream.errors import StreamFailed
from llm_router_api.upstream.openai_wire import OpenAIWire
from llm_router_api.upstream.wire import error_message

WIRE = OpenAIWire()
CANONICAL = {"model": "public", "messages": [{"role": "user", "content": "hi"}], "top_k": 5,
             "chat_template_kwargs": {"enable_thinking": True}, "temperature": 0.2}


def provider(api_type: str, host: str = "http://h:8000/") -> ProviderConfig:
    return ProviderConfig(id="p", api_host=host, api_type=api_type, api_token="tok")


def test_a_converted_request_carries_the_upstream_name_and_vllm_extensions():
    out = WIRE.outgoing("chat", CANONICAL, "private", provider("vllm"), False)
    assert out.path == "/v1/chat/completions"
    assert json.loads(out.body) == {**CANONICAL, "model": "private"}
    assert out.headers["Authorization"] == "Bearer tok"


def test_openais_own_api_gets_no_fields_it_would_refuse():
    out = WIRE.outgoing("chat", CANONICAL, "gpt-x", provider("openai", "https://api.example/v1"), True)
    assert out.path == "/chat/completions"  # a root given with /v1 is not doubled
    assert json.loads(out.body) == {"model": "gpt-x", "messages": CANONICAL["messages"], "temperature": 0.2}
    assert out.headers["Accept"] == "text/event-stream"


def test_answers_name_the_public_model_and_the_canonical_reasoning_field():
    body = json.dumps({"model": "private", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "x", "reasoning": "because"}, "finish_reason": "stop"}]}).encode()
    answer = WIRE.decode("chat", body, "public")
    assert answer["model"] == "public"
    assert answer["choices"][0]["message"]["reasoning_content"] == "because"


def test_stream_chunks_arrive_whole_from_any_cut_of_the_bytes():
    events = b"".join(b"data: " + json.dumps({"model": "private", "choices": [
        {"index": 0, "delta": {"reasoning": "r"} if i == 0 else {"content": f"t{i}"}}]}).encode() + b"\n\n"
        for i in range(3)) + b"data: [DONE]\n\n"
    decoder = WIRE.stream_decoder("chat", "public")
    chunks = [c for i in range(0, len(events), 7) for c in decoder.feed(events[i:i + 7])] + decoder.close()
    assert [c["model"] for c in chunks] == ["public"] * 3
    assert chunks[0]["choices"][0]["delta"] == {"reasoning_content": "r"}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:]] == ["t1", "t2"]


def test_a_stream_without_done_or_with_an_error_event_fails():
    decoder = WIRE.stream_decoder("chat", "public")
    decoder.feed(b'data: {"choices": []}\n\n')
    with pytest.raises(StreamFailed) as truncated:
        decoder.close()
    assert truncated.value.code == "upstream_stream_truncated"
    with pytest.raises(StreamFailed) as failed:
        WIRE.stream_decoder("chat", "public").feed(b'data: {"error": {"message": "engine died"}}\n\n')
    assert failed.value.message == "engine died"


@pytest.mark.parametrize("body,expected", [
    (b'{"error": {"message": "bad model"}}', "bad model"),  # OpenAI, Anthropic
    (b'{"error": "model not found"}', "model not found"),  # Ollama
    (b'{"message": "plain"}', "plain"),
    (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
    (b"", "upstream error"),
    (b"x" * 2000, "x" * 500),
])
def test_error_messages_in_every_shape(body, expected):
    assert error_message(body) == expected
