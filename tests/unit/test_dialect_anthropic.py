"""The Anthropic Messages client dialect: request decoding, answer and stream encoding, errors.

Where the ``anthropic`` SDK is installed, its own parser reads what the encoders produce
(``messages.create`` and ``messages.stream`` over an httpx mock transport).
"""

from __future__ import annotations

import json

import pytest

from llm_router_api.dialects.anthropic import (
    MessageStreamEncoder,
    decode_messages,
    encode_message,
    error_body,
    estimate_input_tokens,
)
from llm_router_api.dialects.base import EncodeContext
from llm_router_api.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    NoProviderAvailable,
    RequestTooLarge,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
)
from llm_router_api.upstream.sse import EventParser


def body(**extra):
    return {"model": "claude-local", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}], **extra}


# ---------------------------------------------------------------------------------------------
# decode_messages


def test_minimal_request():
    request = decode_messages(body())
    assert request.endpoint == "chat"
    assert request.stream is False
    assert request.payload == {"model": "claude-local", "max_tokens": 64,
                               "messages": [{"role": "user", "content": "Hi"}]}
    assert request.native == body()


def test_stream_sets_include_usage():
    request = decode_messages(body(stream=True))
    assert request.stream is True
    assert request.payload["stream"] is True
    assert request.payload["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("bad, param, words", [
    ({"max_tokens": None}, "max_tokens", "max_tokens: Field required"),
    ({"max_tokens": 0}, "max_tokens", "max_tokens"),
    ({"max_tokens": "10"}, "max_tokens", "max_tokens"),
    ({"max_tokens": True}, "max_tokens", "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens", "max_tokens"),
    ({"model": None}, "model", "model"),
    ({"model": 3}, "model", "model"),
    ({"messages": None}, "messages", "messages"),
    ({"messages": []}, "messages", "messages"),
    ({"messages": "hi"}, "messages", "messages"),
    ({"messages": [None]}, "messages[0]", "messages[0]"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role", "role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "content"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "content"),
    ({"messages": [{"role": "user", "content": [5]}]}, "messages[0].content[0]", "content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text", "text"),
    ({"stream": "yes"}, "stream", "stream"),
    ({"system": 5}, "system", "system"),
    ({"system": [{"type": "image"}]}, "system", "system"),
    ({"temperature": "hot"}, "temperature", "temperature"),
    ({"top_p": [1]}, "top_p", "top_p"),
    ({"top_k": 2.5}, "top_k", "top_k"),
    ({"stop_sequences": "END"}, "stop_sequences", "stop_sequences"),
    ({"stop_sequences": [1]}, "stop_sequences", "stop_sequences"),
    ({"metadata": "u"}, "metadata", "metadata"),
    ({"thinking": {"type": "sometimes"}}, "thinking", "thinking"),
    ({"thinking": "on"}, "thinking", "thinking"),
])
def test_bad_requests_name_the_field(bad, param, words):
    raw = body()
    raw.update(bad)
    if bad.get("max_tokens", 1) is None:
        del raw["max_tokens"]
    with pytest.raises(InvalidRequest) as caught:
        decode_messages(raw)
    assert caught.value.param == param
    assert words in caught.value.message


def test_body_not_an_object():
    for raw in (None, [], "x", 3):
        with pytest.raises(InvalidRequest):
            decode_messages(raw)


def test_system_string_and_blocks():
    assert decode_messages(body(system="Be brief.")).payload["messages"][0] == \
        {"role": "system", "content": "Be brief."}
    blocks = [{"type": "text", "text": "One.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Two."}]
    messages = decode_messages(body(system=blocks)).payload["messages"]
    assert messages[0] == {"role": "system", "content": "One.\n\nTwo."}
    assert messages[1] == {"role": "user", "content": "Hi"}
    assert decode_messages(body(system="")).payload["messages"][0]["role"] == "user"


def test_user_text_blocks_become_plain_string():
    raw = body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "<reminder>", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "hello"}]}])
    assert decode_messages(raw).payload["messages"] == [{"role": "user", "content": "<reminder>\nhello"}]


def test_user_images():
    raw = body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}]}])
    assert decode_messages(raw).payload["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]}]


@pytest.mark.parametrize("source", [None, "x", {"type": "file", "file_id": "f"}, {"type": "base64", "data": "x"},
                                    {"type": "url"}, {"type": "url", "url": 5}])
def test_bad_image_sources(source):
    raw = body(messages=[{"role": "user", "content": [{"type": "image", "source": source}]}])
    with pytest.raises(InvalidRequest) as caught:
        decode_messages(raw)
    assert caught.value.param.startswith("messages[0].content[0].source")


def test_document_and_unknown_blocks_are_refused():
    for kind in ("document", "search_result", "server_tool_use"):
        raw = body(messages=[{"role": "user", "content": [{"type": kind, "source": {}}]}])
        with pytest.raises(InvalidRequest) as caught:
            decode_messages(raw)
        assert kind in caught.value.message and "not supported" in caught.value.message


def test_tool_results_become_tool_messages_before_the_text():
    raw = body(messages=[
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "use the tool", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": [{"type": "text", "text": "no"}, {"type": "text", "text": "data"}], "is_error": True},
            {"type": "text", "text": "Summarise."}]}])
    messages = decode_messages(raw).payload["messages"]
    assert messages[1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}]}
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no\ndata"},
        {"role": "user", "content": "Summarise."}]


def test_tool_result_only_turn_has_no_user_message():
    raw = body(messages=[
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}])
    messages = decode_messages(raw).payload["messages"]
    assert messages[0] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}
    assert messages[1:] == [{"role": "tool", "tool_call_id": "t1", "content": ""}]


def test_tool_result_error_without_text_and_image_in_result():
    raw = body(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True},
        {"type": "tool_result", "tool_use_id": "t2", "content": [
            {"type": "text", "text": "screenshot:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"}}]}]}])
    assert decode_messages(raw).payload["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "Error"},
        {"role": "tool", "tool_call_id": "t2", "content": "screenshot:"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAA"}}]}]


@pytest.mark.parametrize("block, param", [
    ({"type": "tool_result"}, "messages[0].content[0].tool_use_id"),
    ({"type": "tool_result", "tool_use_id": "t", "content": 5}, "messages[0].content[0].content"),
    ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]},
     "messages[0].content[0].content[0]"),
])
def test_bad_tool_results(block, param):
    with pytest.raises(InvalidRequest) as caught:
        decode_messages(body(messages=[{"role": "user", "content": [block]}]))
    assert caught.value.param == param


@pytest.mark.parametrize("block, param", [
    ({"type": "tool_use", "name": "x", "input": {}}, "messages[0].content[0].id"),
    ({"type": "tool_use", "id": "t", "input": {}}, "messages[0].content[0].name"),
    ({"type": "tool_use", "id": "t", "name": "x", "input": [1]}, "messages[0].content[0].input"),
    ({"type": "image", "source": {}}, "messages[0].content[0]"),
])
def test_bad_assistant_blocks(block, param):
    with pytest.raises(InvalidRequest) as caught:
        decode_messages(body(messages=[{"role": "assistant", "content": [block]}]))
    assert caught.value.param == param


def test_assistant_string_and_thinking_only():
    raw = body(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "The answer is ("},
                         {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]}])
    messages = decode_messages(raw).payload["messages"]
    assert messages[1] == {"role": "assistant", "content": "The answer is ("}
    assert messages[2] == {"role": "assistant", "content": ""}


def test_tools_and_tool_choice():
    tools = [{"name": "weather", "description": "Weather of a city", "cache_control": {"type": "ephemeral"},
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
             {"name": "now", "input_schema": {"type": "object"}, "type": "custom"}]
    payload = decode_messages(body(tools=tools, tool_choice={"type": "auto"})).payload
    assert payload["tools"] == [
        {"type": "function", "function": {"name": "weather", "description": "Weather of a city",
                                          "parameters": tools[0]["input_schema"]}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}]
    assert payload["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in payload
    choices = {"any": "required", "none": "none"}
    for kind, expected in choices.items():
        assert decode_messages(body(tools=tools, tool_choice={"type": kind})).payload["tool_choice"] == expected
    payload = decode_messages(body(tools=tools, tool_choice={"type": "tool", "name": "now",
                                                             "disable_parallel_tool_use": True})).payload
    assert payload["tool_choice"] == {"type": "function", "function": {"name": "now"}}
    assert payload["parallel_tool_calls"] is False


@pytest.mark.parametrize("extra, param", [
    ({"tools": {"name": "x"}}, "tools"),
    ({"tools": [None]}, "tools[0]"),
    ({"tools": [{"input_schema": {}}]}, "tools[0].name"),
    ({"tools": [{"name": "x"}]}, "tools[0].input_schema"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
    ({"tool_choice": "auto"}, "tool_choice"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
])
def test_bad_tools(extra, param):
    with pytest.raises(InvalidRequest) as caught:
        decode_messages(body(**extra))
    assert caught.value.param == param


def test_sampling_metadata_thinking():
    payload = decode_messages(body(stop_sequences=["END", "###"], temperature=0.3, top_p=0.9, top_k=40,
                                   metadata={"user_id": "u-1"}, thinking={"type": "enabled", "budget_tokens": 2048},
                                   service_tier="auto")).payload
    assert payload["stop"] == ["END", "###"]
    assert (payload["temperature"], payload["top_p"], payload["top_k"]) == (0.3, 0.9, 40)
    assert payload["user"] == "u-1"
    assert payload["chat_template_kwargs"] == {"enable_thinking": True}
    assert "service_tier" not in payload
    payload = decode_messages(body(thinking={"type": "disabled"}, stop_sequences=[], metadata={})).payload
    assert payload["chat_template_kwargs"] == {"enable_thinking": False}
    assert "stop" not in payload and "user" not in payload
    assert decode_messages(body(thinking={"type": "adaptive"})).payload["chat_template_kwargs"] == \
        {"enable_thinking": True}


# ---------------------------------------------------------------------------------------------
# encode_message


def answer(message, finish="stop", usage=(11, 7), **choice_extra):
    return {"id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice_extra}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def ctx(**request):
    return EncodeContext(model="claude-local", request=request)


def test_encode_text_answer():
    message = encode_message(answer({"role": "assistant", "content": "Hello!"}), ctx())
    assert message == {"id": "msg_abc", "type": "message", "role": "assistant", "model": "claude-local",
                       "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
                       "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 7}}


def test_encode_reasoning_and_tool_calls():
    message = encode_message(answer({"role": "assistant", "content": None, "reasoning_content": "hmm",
                                     "tool_calls": [
                                         {"id": "call_1", "type": "function",
                                          "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
                                         {"type": "function", "function": {"name": "broken", "arguments": "{oops"}},
                                         {"id": "call_3", "type": "function", "function": {"name": "list",
                                                                                           "arguments": "[1]"}}]},
                                    finish="tool_calls"), ctx())
    assert message["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": ""}
    assert message["content"][1] == {"type": "tool_use", "id": "call_1", "name": "weather",
                                     "input": {"city": "Paris"}}
    assert message["content"][2]["id"].startswith("toolu_") and message["content"][2]["input"] == {}
    assert message["content"][3]["input"] == {}
    assert message["stop_reason"] == "tool_use"


def test_encode_reasoning_alias():
    message = encode_message(answer({"role": "assistant", "content": "x", "reasoning": "r"}), ctx())
    assert message["content"][0]["thinking"] == "r"


@pytest.mark.parametrize("finish, matched, request_stops, expected", [
    ("stop", None, None, ("end_turn", None)),
    ("stop", "END", ["END"], ("stop_sequence", "END")),
    ("stop", "END", ["OTHER"], ("end_turn", None)),
    ("stop", 2, None, ("end_turn", None)),  # vLLM reports a stop token id as an int
    ("length", None, None, ("max_tokens", None)),
    ("tool_calls", None, None, ("tool_use", None)),
    ("content_filter", None, None, ("refusal", None)),
    (None, None, None, ("end_turn", None)),
    ("weird", None, None, ("end_turn", None)),
])
def test_stop_reasons(finish, matched, request_stops, expected):
    request = {"stop_sequences": request_stops} if request_stops else {}
    message = encode_message(answer({"role": "assistant", "content": "x"}, finish=finish, stop_reason=matched),
                             ctx(**request))
    assert (message["stop_reason"], message["stop_sequence"]) == expected


def test_stop_with_tool_calls_is_tool_use():
    message = encode_message(answer({"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}), ctx())
    assert message["stop_reason"] == "tool_use"
    assert [block["type"] for block in message["content"]] == ["tool_use"]


def test_encode_odd_answers_never_crash():
    for odd in ({}, {"choices": None}, {"choices": [None]}, {"choices": [{"message": None}]},
                {"choices": [{"message": {"tool_calls": [None, {"function": None}]}}], "usage": None}):
        message = encode_message(odd, ctx())
        assert message["id"].startswith("msg_")
        assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert encode_message({"id": "msg_keep"}, ctx())["id"] == "msg_keep"


# ---------------------------------------------------------------------------------------------
# MessageStreamEncoder


def chunk(delta=None, finish=None, usage=None, **choice_extra):
    data = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [] if delta is None and finish is None else
            [{"index": 0, "delta": delta or {}, "finish_reason": finish, **choice_extra}]}
    if usage:
        data["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return data


def events(raw: bytes) -> list[tuple[str, dict]]:
    parsed = EventParser().feed(raw)
    out = []
    for event in parsed:
        data = json.loads(event.data)
        assert data["type"] == event.event
        out.append((event.event, data))
    return out


TOOL_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Let me "}),
    chunk({"reasoning": "think."}),
    chunk({"content": "Calling."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                           "function": {"name": "time", "arguments": "{}"}}]}),
    chunk({}, finish="tool_calls"),
    chunk(usage=(20, 9)),
]


def run_stream(chunks, ctx_=None):
    encoder = MessageStreamEncoder(ctx_ or ctx())
    raw = b"".join(encoder.encode(c) for c in chunks) + encoder.finish()
    return raw


def test_stream_sequence_with_thinking_text_and_tools():
    assert MessageStreamEncoder.content_type == "text/event-stream"
    seq = events(run_stream(TOOL_STREAM))
    assert [(name, data.get("index")) for name, data in seq] == [
        ("message_start", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_stop", 1),
        ("content_block_start", 2), ("content_block_delta", 2), ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("content_block_start", 3), ("content_block_delta", 3), ("content_block_stop", 3),
        ("message_delta", None), ("message_stop", None)]
    start = seq[0][1]["message"]
    assert start["id"] == "msg_s1" and start["model"] == "claude-local" and start["content"] == []
    assert start["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert seq[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert seq[2][1]["delta"] == {"type": "thinking_delta", "thinking": "Let me "}
    assert seq[3][1]["delta"] == {"type": "thinking_delta", "thinking": "think."}
    assert seq[5][1]["content_block"] == {"type": "text", "text": ""}
    assert seq[6][1]["delta"] == {"type": "text_delta", "text": "Calling."}
    assert seq[8][1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}
    assert [seq[i][1]["delta"] for i in (9, 10)] == [
        {"type": "input_json_delta", "partial_json": '{"ci'},
        {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'}]
    assert seq[12][1]["content_block"]["name"] == "time"
    assert seq[15][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                          "usage": {"input_tokens": 20, "output_tokens": 9}}


def test_stream_stop_sequence_and_usage_after_finish():
    chunks = [chunk({"role": "assistant", "content": "a"}), chunk({"content": "b"}),
              chunk({}, finish="stop", stop_reason="END"), chunk(usage=(3, 2))]
    seq = events(run_stream(chunks, ctx(stop_sequences=["END"])))
    assert [name for name, _ in seq] == ["message_start", "content_block_start", "content_block_delta",
                                         "content_block_delta", "content_block_stop", "message_delta",
                                         "message_stop"]
    assert seq[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert seq[-2][1]["usage"] == {"input_tokens": 3, "output_tokens": 2}


def test_stream_length_and_filter():
    for finish, reason in (("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")):
        seq = events(run_stream([chunk({"content": "x"}, finish=finish)]))
        assert seq[-2][1]["delta"]["stop_reason"] == reason
        assert seq[-2][1]["usage"] == {"output_tokens": 0}


def test_stream_finish_without_chunks():
    seq = events(MessageStreamEncoder(ctx()).finish())
    assert [name for name, _ in seq] == ["message_start", "message_delta", "message_stop"]
    assert seq[0][1]["message"]["id"].startswith("msg_")


def test_stream_usage_in_first_chunk_goes_to_message_start():
    seq = events(run_stream([chunk({"content": "x"}, usage=(5, 0)), chunk({}, finish="stop")]))
    assert seq[0][1]["message"]["usage"] == {"input_tokens": 5, "output_tokens": 0}


def test_stream_fail_after_content_and_nothing_after():
    encoder = MessageStreamEncoder(ctx())
    raw = encoder.encode(chunk({"content": "partial"}))
    raw += encoder.fail("The upstream broke.", "upstream_stream_error")
    seq = events(raw)
    assert seq[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "The upstream broke."}})
    assert encoder.finish() == b"" and encoder.encode(chunk({"content": "more"})) == b""
    assert encoder.fail("again", "x") == b""


def test_stream_fail_before_anything():
    seq = events(MessageStreamEncoder(ctx()).fail("no provider", "no_provider_available"))
    assert seq == [("error", {"type": "error", "error": {"type": "api_error", "message": "no provider"}})]


def test_stream_tool_calls_without_index_and_odd_chunks():
    encoder = MessageStreamEncoder(ctx())
    raw = b"".join(encoder.encode(c) for c in [
        None, {}, {"choices": [None]}, {"choices": [{"delta": None}]},
        chunk({"tool_calls": [None, {"id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "g"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": None}]}),
    ]) + encoder.finish()
    seq = events(raw)
    starts = [data["content_block"] for name, data in seq if name == "content_block_start"]
    assert [(block["id"], block["name"]) for block in starts] == [("c1", "f"), ("c2", "g"), (starts[2]["id"], "")]
    pieces = [data["delta"]["partial_json"] for name, data in seq if name == "content_block_delta"]
    assert pieces == ['{"a"', ": 1}"]
    assert seq[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_stream_text_after_tool_opens_new_block():
    seq = events(run_stream([
        chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({"content": "done"}), chunk({}, finish="stop")]))
    kinds = [data["content_block"]["type"] for name, data in seq if name == "content_block_start"]
    assert kinds == ["tool_use", "text"]


# ---------------------------------------------------------------------------------------------
# error_body, estimate_input_tokens


@pytest.mark.parametrize("error, kind", [
    (InvalidRequest("bad"), "invalid_request_error"),
    (GatewayError("x"), "api_error"),
    (ModelNotFound("no model"), "not_found_error"),
    (RequestTooLarge("big"), "request_too_large"),
    (UpstreamFailed("down"), "api_error"),
    (NoProviderAvailable("busy"), "overloaded_error"),
    (UpstreamTimeout("slow"), "timeout_error"),
    (UpstreamRejected(401, "who"), "authentication_error"),
    (UpstreamRejected(403, "no"), "permission_error"),
    (UpstreamRejected(429, "slow down"), "rate_limit_error"),
    (UpstreamRejected(422, "unprocessable"), "invalid_request_error"),
    (UpstreamRejected(529, "overloaded"), "overloaded_error"),
])
def test_error_body(error, kind):
    assert error_body(error) == {"type": "error", "error": {"type": kind, "message": error.message}}


def test_estimate_input_tokens():
    assert estimate_input_tokens({}) == 1
    assert estimate_input_tokens(None) == 1
    assert estimate_input_tokens({"messages": [{"role": "user", "content": "a" * 40}]}) == 10
    rich = {"system": [{"type": "text", "text": "b" * 8}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "c" * 4},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x" * 9999}},
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "d" * 4}]}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "e" * 400},
                                                  {"type": "tool_use", "id": "t", "name": "ff", "input": {}}]}],
            "tools": [{"name": "g", "input_schema": {"type": "object"}}, None]}
    tool_chars = len(json.dumps({"name": "g", "description": None, "input_schema": {"type": "object"}}))
    chars = 8 + 4 + 4 + 2 + len("{}") + tool_chars
    assert estimate_input_tokens(rich) == -(-chars // 4) + 1600
    assert estimate_input_tokens({"messages": [None, 5, {"content": {"type": "x"}}], "tools": "no",
                                  "system": 7}) == 1


# ---------------------------------------------------------------------------------------------
# The official SDK reads what we produce


@pytest.fixture
def sdk():
    """The ``anthropic`` SDK (a dev extra) and the HTTP library it is built on (httpx, or httpx2
    in newer releases)."""
    import anthropic
    from anthropic import _base_client

    http = getattr(_base_client, "httpx2", None) or getattr(_base_client, "httpx")
    return anthropic, http


def sdk_client(sdk, reply):
    """An SDK client whose HTTP calls are answered by ``reply(request_json) -> httpx.Response``."""
    anthropic, httpx = sdk
    sent = []

    def handler(request):
        sent.append(json.loads(request.content))
        return reply(sent[-1])

    client = anthropic.Anthropic(api_key="k", base_url="http://gateway.test",
                                 http_client=httpx.Client(transport=httpx.MockTransport(handler)), max_retries=0)
    return client, sent


def test_sdk_request_decodes_and_answer_parses(sdk):
    anthropic, httpx = sdk

    def reply(request_json):
        canonical = decode_messages(request_json)
        assert canonical.payload["tools"][0]["function"]["name"] == "weather"
        encoded = encode_message(answer({"role": "assistant", "content": "Sure.", "reasoning_content": "r",
                                         "tool_calls": [{"id": "call_1", "type": "function",
                                                         "function": {"name": "weather",
                                                                      "arguments": '{"city": "Oslo"}'}}]},
                                        finish="tool_calls"), ctx(**request_json))
        return httpx.Response(200, json=encoded)

    client, sent = sdk_client(sdk, reply)
    message = client.messages.create(
        model="claude-local", max_tokens=100, system="sys",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}],
        tools=[{"name": "weather", "description": "d", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto"}, metadata={"user_id": "u"}, stop_sequences=["END"])
    assert isinstance(message, anthropic.types.Message)
    anthropic.types.Message.model_validate(message.to_dict())  # strict, not just constructed
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"city": "Oslo"}
    assert message.usage.input_tokens == 11
    assert sent[0]["max_tokens"] == 100 and sent[0]["stop_sequences"] == ["END"]


def test_sdk_stream_accumulates_our_events(sdk):
    anthropic, httpx = sdk

    def reply(request_json):
        assert decode_messages(request_json).stream is True
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=run_stream(TOOL_STREAM))

    client, _ = sdk_client(sdk, reply)
    with client.messages.stream(model="claude-local", max_tokens=50,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["Calling."]
    anthropic.types.Message.model_validate(final.to_dict())
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[0].thinking == "Let me think."
    assert final.content[2].input == {"city": "Paris"} and final.content[2].id == "call_a"
    assert final.content[3].input == {}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 9)


def test_sdk_raises_our_stream_error_event(sdk):
    anthropic, httpx = sdk

    def reply(request_json):
        encoder = MessageStreamEncoder(ctx())
        content = encoder.encode(chunk({"content": "par"})) + encoder.fail("The upstream broke.", "x")
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)

    client, _ = sdk_client(sdk, reply)
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as stream:
            stream.get_final_message()
    assert "The upstream broke." in str(caught.value)


def test_sdk_reads_our_error_body(sdk):
    anthropic, httpx = sdk

    def reply(request_json):
        return httpx.Response(404, json=error_body(ModelNotFound("The model 'x' does not exist.")))

    client, _ = sdk_client(sdk, reply)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_every_stream_event_validates_strictly(sdk):
    anthropic, _ = sdk
    import pydantic
    adapter = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
    raw = run_stream(TOOL_STREAM) + run_stream([]) + run_stream([chunk({"content": "x"}, finish="length")])
    for event in EventParser().feed(raw):
        parsed = adapter.validate_json(event.data)
        assert parsed.type == event.event
    error = MessageStreamEncoder(ctx()).fail("boom", "x")
    anthropic.types.ErrorResponse.model_validate(json.loads(EventParser().feed(error)[0].data))


def test_structured_output_config():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    payload = decode_messages(body(output_config={"format": {"type": "json_schema", "schema": schema},
                                                  "effort": "low"})).payload
    assert payload["response_format"] == {"type": "json_schema",
                                          "json_schema": {"name": "output", "schema": schema, "strict": True}}
    assert "response_format" not in decode_messages(body(output_config={"effort": "low"})).payload
    for bad in ({"type": "json_schema"}, {"type": "text"}, "json"):
        with pytest.raises(InvalidRequest) as caught:
            decode_messages(body(output_config={"format": bad}))
        assert caught.value.param == "output_config.format"


def test_estimate_survives_absurd_nesting():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert estimate_input_tokens({"system": "abcd", "messages": nested}) == 1


def test_encode_content_parts_and_odd_values():
    odd = answer({"role": "assistant", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": 5}, None, {"type": "output_text", "text": "b"}]})
    odd["usage"] = {"prompt_tokens": float("inf"), "completion_tokens": "x"}
    message = encode_message(odd, ctx())
    assert message["content"] == [{"type": "text", "text": "ab"}]
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert encode_message(None, ctx())["stop_reason"] == "end_turn"
    assert encode_message(answer({"role": "assistant", "content": "x", "tool_calls": 5}), ctx())["content"] == \
        [{"type": "text", "text": "x"}]
