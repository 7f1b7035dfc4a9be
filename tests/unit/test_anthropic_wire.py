"""The Anthropic upstream wire: canonical requests out, Messages answers and SSE events back."""

from __future__ import annotations

import json

import pytest

from llm_router_api.config.models import ProviderConfig
from llm_router_api.dialects.anthropic import MessageStreamEncoder, decode_messages
from llm_router_api.dialects.base import EncodeContext
from llm_router_api.errors import InvalidRequest
from llm_router_api.upstream.anthropic_wire import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    THINKING_BUDGET_TOKENS,
    AnthropicWire,
)
from llm_router_api.upstream.errors import StreamFailed
from llm_router_api.upstream.wire import USER_AGENT

WIRE = AnthropicWire()
PROVIDER = ProviderConfig(id="claude", api_host="https://api.example.test", api_type="anthropic",
                          api_token="sk-ant-secret")


def send(payload, stream=False, provider=PROVIDER, upstream_model="claude-real"):
    outgoing = WIRE.outgoing("chat", {"model": "public", **payload}, upstream_model, provider, stream)
    return outgoing, json.loads(outgoing.body)


def hi(**extra):
    return {"messages": [{"role": "user", "content": "Hi"}], **extra}


# ---------------------------------------------------------------------------------------------
# outgoing


def test_minimal_request_path_headers():
    outgoing, body = send(hi())
    assert outgoing.path == "/v1/messages"
    assert body == {"model": "claude-real", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                    "max_tokens": DEFAULT_MAX_TOKENS}
    assert outgoing.headers == {"Content-Type": "application/json", "Accept": "application/json",
                                "User-Agent": USER_AGENT, "anthropic-version": ANTHROPIC_VERSION,
                                "x-api-key": "sk-ant-secret"}
    assert "Authorization" not in outgoing.headers


def test_stream_and_no_token_and_v1_base():
    provider = ProviderConfig(id="p", api_host="http://10.0.0.1:8000/v1", api_type="anthropic")
    outgoing, body = send(hi(), stream=True, provider=provider)
    assert outgoing.path == "/messages"
    assert body["stream"] is True
    assert outgoing.headers["Accept"] == "text/event-stream"
    assert "x-api-key" not in outgoing.headers and outgoing.headers["anthropic-version"] == ANTHROPIC_VERSION
    provider = ProviderConfig(id="p", api_host="http://10.0.0.1:8000/proxy", api_type="anthropic")
    assert send(hi(), provider=provider)[0].path == "/v1/messages"


@pytest.mark.parametrize("endpoint, words", [("completions", "/completions"), ("embeddings", "/embeddings"),
                                             ("responses", "/responses")])
def test_only_chat(endpoint, words):
    with pytest.raises(InvalidRequest) as caught:
        WIRE.outgoing(endpoint, {"model": "m", "input": "x"}, "m", PROVIDER, False)
    assert "Anthropic upstreams serve chat only" in caught.value.message and words in caught.value.message


def test_system_messages_join_into_system():
    _, body = send({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use Polish."}]},
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": ""}]})
    assert body["system"] == "Be brief.\n\nUse Polish."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_user_parts_and_images():
    _, body = send({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
        {"type": "text", "text": ""}]}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
    {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
    {"type": "image_url", "image_url": None},
    {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
    {"type": "text", "text": 5},
    "just a string",
])
def test_bad_user_parts(part):
    with pytest.raises(InvalidRequest) as caught:
        send({"messages": [{"role": "user", "content": [part]}]})
    assert caught.value.param.startswith("messages[0].content[0]")


def test_tool_conversation():
    _, body = send({"messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "reasoning_content": "plan", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "functions.weather:1", "type": "function", "function": {"name": "weather", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "functions.weather:1", "content": [{"type": "text", "text": "20C"}]},
        {"role": "user", "content": "Which is warmer?"}]})
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "functions_weather_1", "name": "weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "functions_weather_1", "content": "20C"},
            {"type": "text", "text": "Which is warmer?"}]}]


def test_same_role_turns_merge_and_tool_results_come_first():
    _, body = send({"messages": [
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "assistant", "content": "more"},
        {"role": "user", "content": "interjection"},
        {"role": "tool", "tool_call_id": "c", "content": ""},
        {"role": "user", "content": ""}]})
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {"x": 1}},
                                              {"type": "text", "text": "more"}]
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c"},
                                              {"type": "text", "text": "interjection"}]


def test_trailing_assistant_prefill_is_right_stripped():
    _, body = send({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "The answer: "}]})
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "The answer:"}]}
    _, body = send({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "  "}]})
    assert [turn["role"] for turn in body["messages"]] == ["user"]


@pytest.mark.parametrize("call, param", [
    ({"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}},
     "messages[1].tool_calls[0].function.arguments"),
    ({"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}},
     "messages[1].tool_calls[0].function.arguments"),
    ({"id": "c", "type": "function", "function": {"name": "f", "arguments": 7}},
     "messages[1].tool_calls[0].function.arguments"),
    ({"type": "function", "function": {"name": "f", "arguments": "{}"}}, "messages[1].tool_calls[0].id"),
    ({"id": "c", "type": "function", "function": {"arguments": "{}"}}, "messages[1].tool_calls[0]"),
    (None, "messages[1].tool_calls[0]"),
])
def test_bad_tool_calls_name_the_call(call, param):
    with pytest.raises(InvalidRequest) as caught:
        send({"messages": [{"role": "user", "content": "x"},
                           {"role": "assistant", "content": None, "tool_calls": [call]}]})
    assert caught.value.param == param
    if param.endswith("arguments"):
        assert "'c'" in caught.value.message and "(f)" in caught.value.message


@pytest.mark.parametrize("payload, param", [
    ({"messages": None}, "messages"),
    ({"messages": [None]}, "messages[0]"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "system", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
    ({"messages": [{"role": "system", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "assistant", "content": "x", "tool_calls": "no"}]}, "messages[0].tool_calls"),
    (hi(tools={"x": 1}), "tools"),
    (hi(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools[0]"),
    (hi(tools=[{"type": "function", "function": {}}]), "tools[0]"),
    (hi(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="sometimes"), "tool_choice"),
    (hi(n=2), "n"),
])
def test_bad_payloads(payload, param):
    with pytest.raises(InvalidRequest) as caught:
        send(payload)
    assert caught.value.param == param


def test_sampling_and_options():
    _, body = send(hi(max_completion_tokens=300, max_tokens=10, stop="END", temperature=1.7, top_p=0.9, top_k=20,
                      user="u-1", n=1, seed=5, presence_penalty=0.1))
    assert body["max_tokens"] == 300
    assert body["stop_sequences"] == ["END"]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (1.0, 0.9, 20)
    assert body["metadata"] == {"user_id": "u-1"}
    assert "seed" not in body and "presence_penalty" not in body and "n" not in body
    _, body = send(hi(max_tokens=10, stop=["a", "", 3, "b"], temperature=-1, top_k=0))
    assert body["max_tokens"] == 10 and body["stop_sequences"] == ["a", "b"]
    assert body["temperature"] == 0.0 and "top_k" not in body
    _, body = send(hi(max_tokens=0, stop=None, temperature="hot"))
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS and "stop_sequences" not in body and "temperature" not in body


def test_thinking():
    _, body = send(hi(chat_template_kwargs={"enable_thinking": True}, temperature=0.2, top_k=5))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": THINKING_BUDGET_TOKENS}
    assert "temperature" not in body and "top_k" not in body
    _, body = send(hi(chat_template_kwargs={"enable_thinking": True}, max_tokens=THINKING_BUDGET_TOKENS))
    assert "thinking" not in body
    _, body = send(hi(chat_template_kwargs={"enable_thinking": False}, temperature=0.2))
    assert "thinking" not in body and body["temperature"] == 0.2


def test_tools_and_tool_choice():
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather",
                                               "parameters": {"type": "object", "properties": {"c": {}}}}},
             {"type": "function", "function": {"name": "now"}}]
    _, body = send(hi(tools=tools))
    assert body["tools"] == [{"name": "weather", "description": "Weather",
                              "input_schema": {"type": "object", "properties": {"c": {}}}},
                             {"name": "now", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in body
    for choice, expected in (("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
                             ({"type": "function", "function": {"name": "now"}}, {"type": "tool", "name": "now"})):
        assert send(hi(tools=tools, tool_choice=choice))[1]["tool_choice"] == expected
    assert send(hi(tools=tools, parallel_tool_calls=False))[1]["tool_choice"] == \
        {"type": "auto", "disable_parallel_tool_use": True}
    assert send(hi(tools=tools, tool_choice="required", parallel_tool_calls=False))[1]["tool_choice"] == \
        {"type": "any", "disable_parallel_tool_use": True}
    assert send(hi(tools=tools, tool_choice="none", parallel_tool_calls=False))[1]["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in send(hi(tool_choice="auto"))[1]


def test_outgoing_body_is_a_valid_messages_request():
    """What we send is what our own strict Messages decoder accepts (shapes, roles, blocks)."""
    _, body = send({"messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "x"},
                                     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "stop": ["Z"], "user": "u"}, stream=True)
    payload = decode_messages(body).payload
    assert payload["messages"][0] == {"role": "system", "content": "S"}
    assert payload["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{\"a\": 1}"}
    assert payload["messages"][3] == {"role": "tool", "tool_call_id": "c", "content": "r"}
    assert payload["stop"] == ["Z"] and payload["user"] == "u" and payload["tool_choice"] == "auto"


def test_request_headers_for_passthrough():
    assert WIRE.request_headers(PROVIDER, stream=True) == send(hi(), stream=True)[0].headers
    assert WIRE.request_headers(PROVIDER, False)["Accept"] == "application/json"


def test_probe_headers():
    assert WIRE.probe_headers(PROVIDER) == {"Accept": "application/json", "User-Agent": USER_AGENT,
                                            "x-api-key": "sk-ant-secret", "anthropic-version": ANTHROPIC_VERSION}
    assert WIRE.probe_headers(ProviderConfig(id="p", api_host="http://h")) == \
        {"Accept": "application/json", "User-Agent": USER_AGENT, "anthropic-version": ANTHROPIC_VERSION}


# ---------------------------------------------------------------------------------------------
# decode


def message(content, stop_reason="end_turn", stop_sequence=None, usage=None):
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-real", "content": content,
            "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": usage if usage is not None else {"input_tokens": 12, "output_tokens": 5}}


def test_decode_text():
    answer = WIRE.decode("chat", json.dumps(message([{"type": "text", "text": "Hel"},
                                                     {"type": "text", "text": "lo"}])).encode(), "public")
    assert answer["id"] == "chatcmpl-msg_01" and answer["object"] == "chat.completion"
    assert answer["model"] == "public"
    assert answer["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                  "logprobs": None, "finish_reason": "stop"}]
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def test_decode_thinking_and_tools():
    answer = WIRE.decode("chat", message([
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xx"},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": None}], stop_reason="tool_use"), "public")
    reply = answer["choices"][0]["message"]
    assert reply["content"] is None and reply["reasoning_content"] == "hmm"
    assert reply["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("stop_reason, finish", [
    ("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    ("pause_turn", "stop"), ("model_context_window_exceeded", "length"), (None, "stop"), ("new_reason", "stop"),
])
def test_decode_stop_reasons(stop_reason, finish):
    choice = WIRE.decode("chat", message([{"type": "text", "text": "x"}], stop_reason), "p")["choices"][0]
    assert choice["finish_reason"] == finish and "stop_reason" not in choice


def test_decode_stop_sequence():
    choice = WIRE.decode("chat", message([{"type": "text", "text": "x"}], "stop_sequence", "END"), "p")["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == "END"


def test_decode_odd_answers():
    answer = WIRE.decode("chat", {"content": [None, {"type": "text"}, {"type": "tool_use"}], "usage": "x"}, "p")
    assert answer["id"].startswith("chatcmpl-")
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "", "arguments": "{}"}
    assert answer["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert WIRE.decode("chat", b"{}", "p")["choices"][0]["message"] == {"role": "assistant", "content": ""}
    for bad in (b"[]", b"nope", b'"s"'):
        with pytest.raises(ValueError):
            WIRE.decode("chat", bad, "p")


def test_error_message():
    assert WIRE.error_message(json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                                     "message": "max_tokens: Field required"}})
                              .encode()) == "max_tokens: Field required"
    assert WIRE.error_message(b'{"error": "plain"}') == "plain"
    assert WIRE.error_message(b"Bad Gateway") == "Bad Gateway"
    assert WIRE.error_message(b"x" * 2000) == "x" * 500
    assert WIRE.error_message(b"") == "upstream error"
    assert WIRE.error_message(b'{"error": {"message": 5}}') == '{"error": {"message": 5}}'
    assert WIRE.error_message("text body") == "text body"


# ---------------------------------------------------------------------------------------------
# stream_decoder


def sse(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


# What Anthropic sends for a thinking + text + tool call answer (shapes from its streaming docs).
STREAM = b"".join([
    sse("message_start", {"type": "message_start", "message": {
        "id": "msg_S", "type": "message", "role": "assistant", "model": "claude-real", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 1}}}),
    sse("ping", {"type": "ping"}),
    sse("content_block_start", {"type": "content_block_start", "index": 0,
                                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                "delta": {"type": "signature_delta", "signature": "EqQB"}}),
    sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    sse("content_block_start", {"type": "content_block_start", "index": 1,
                                "content_block": {"type": "text", "text": ""}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                "delta": {"type": "text_delta", "text": "Checking."}}),
    sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
    sse("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {
        "type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 2,
                                "delta": {"type": "input_json_delta", "partial_json": ""}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 2,
                                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}}),
    sse("content_block_delta", {"type": "content_block_delta", "index": 2,
                                "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}}),
    sse("content_block_stop", {"type": "content_block_stop", "index": 2}),
    sse("content_block_start", {"type": "content_block_start", "index": 3, "content_block": {
        "type": "tool_use", "id": "toolu_B", "name": "now", "input": {}}}),
    sse("content_block_stop", {"type": "content_block_stop", "index": 3}),
    sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                          "usage": {"output_tokens": 42}}),
    sse("message_stop", {"type": "message_stop"}),
])


def deltas(chunks):
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def test_stream_decoder_full_answer_in_odd_pieces():
    decoder = WIRE.stream_decoder("chat", "public")
    chunks = []
    for i in range(0, len(STREAM), 7):
        chunks += decoder.feed(STREAM[i:i + 7])
    chunks += decoder.close()
    assert all(c["model"] == "public" and c["id"] == "chatcmpl-msg_S" and c["object"] == "chat.completion.chunk"
               for c in chunks)
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me think."},
        {"content": "Checking."},
        {"tool_calls": [{"index": 0, "id": "toolu_A", "type": "function",
                         "function": {"name": "weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]},
        {"tool_calls": [{"index": 1, "id": "toolu_B", "type": "function", "function": {"name": "now",
                                                                                       "arguments": ""}}]},
        {}]
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 25, "completion_tokens": 42, "total_tokens": 67}


def test_stream_decoder_stop_sequence_and_input_tokens_in_delta():
    decoder = WIRE.stream_decoder("chat", "p")
    chunks = decoder.feed(
        sse("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}})
        + sse("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": "pre"}})
        + sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "stop_sequence",
                                                                   "stop_sequence": "END"},
                                "usage": {"input_tokens": 30, "output_tokens": 3}})
        + sse("message_stop", {"type": "message_stop"}))
    assert decoder.close() == []
    assert deltas(chunks)[1] == {"content": "pre"}
    assert chunks[2]["choices"][0]["finish_reason"] == "stop" and chunks[2]["choices"][0]["stop_reason"] == "END"
    assert chunks[3]["usage"] == {"prompt_tokens": 30, "completion_tokens": 3, "total_tokens": 33}


def test_stream_decoder_error_event():
    decoder = WIRE.stream_decoder("chat", "p")
    decoder.feed(sse("message_start", {"type": "message_start", "message": {"id": "m"}}))
    with pytest.raises(StreamFailed) as caught:
        decoder.feed(sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert caught.value.message == "Overloaded" and caught.value.code == "upstream_stream_error"


def test_stream_decoder_truncated_and_malformed():
    decoder = WIRE.stream_decoder("chat", "p")
    decoder.feed(STREAM[:STREAM.index(b"event: message_stop")])
    with pytest.raises(StreamFailed) as caught:
        decoder.close()
    assert caught.value.code == "upstream_stream_truncated"
    with pytest.raises(StreamFailed):
        WIRE.stream_decoder("chat", "p").feed(b"event: message_start\ndata: {nope\n\n")


def test_stream_decoder_last_event_without_blank_line_and_odd_events():
    decoder = WIRE.stream_decoder("chat", "p")
    chunks = decoder.feed(b"event: ping\ndata: \n\n" + sse("mystery", {"type": "mystery"}) + b"data: [1]\n\n"
                          + sse("content_block_delta", {"type": "content_block_delta", "index": 9,
                                                        "delta": {"type": "input_json_delta", "partial_json": "{"}})
                          + sse("content_block_delta", {"type": "content_block_delta", "delta": None})
                          + sse("content_block_start", {"type": "content_block_start", "content_block": None})
                          + sse("message_delta", {"type": "message_delta"}))
    assert [c["choices"][0]["finish_reason"] if c["choices"] else "usage" for c in chunks] == ["stop", "usage"]
    decoder.feed(b'event: message_stop\ndata: {"type": "message_stop"}')
    assert decoder.close() == []


# ---------------------------------------------------------------------------------------------
# Round trip: our Anthropic dialect encoder feeding this decoder gives the canonical chunks back


def test_round_trip_through_dialect_stream_encoder():
    canonical = [
        {"id": "chatcmpl-r", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}]},
        {"id": "chatcmpl-r", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"id": "chatcmpl-r", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_x", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}]},
            "finish_reason": None}]},
        {"id": "chatcmpl-r", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ": 2}"}}]}, "finish_reason": "tool_calls"}]},
        {"id": "chatcmpl-r", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6}},
    ]
    encoder = MessageStreamEncoder(EncodeContext(model="m"))
    raw = b"".join(encoder.encode(c) for c in canonical) + encoder.finish()
    decoder = WIRE.stream_decoder("chat", "m")
    chunks = decoder.feed(raw) + decoder.close()
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""}, {"content": "Hi"},
        {"tool_calls": [{"index": 0, "id": "call_x", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ": 2}"}}]},
        {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def test_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    _, body = send(hi(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    for fmt in ({"type": "json_object"}, {"type": "text"}, {"type": "json_schema"}, "json"):
        assert "output_config" not in send(hi(response_format=fmt))[1]


def test_tool_message_with_image_and_text_parts():
    _, body = send({"messages": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "shot", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": [
            {"type": "text", "text": "screen"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ"}}]},
        {"role": "tool", "tool_call_id": "d", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})
    assert body["messages"][1]["content"] == [
        {"type": "tool_result", "tool_use_id": "c", "content": [
            {"type": "text", "text": "screen"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QQ"}}]},
        {"type": "tool_result", "tool_use_id": "d", "content": "a\nb"}]
