"""The Ollama client dialect: requests to canonical, canonical answers and chunks back to Ollama's shapes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time

import pytest

from llm_router_api.dialects import ollama
from llm_router_api.dialects.base import EncodeContext
from llm_router_api.errors import InvalidRequest, ModelNotFound, UpstreamFailed

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def ctx(model="llama", started=None):
    return EncodeContext(model=model, started=time.monotonic() - 0.5 if started is None else started)


def lines(data: bytes) -> list[dict]:
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def answer(message=None, finish="stop", usage=(7, 3)):
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "x",
            "choices": [{"index": 0, "message": message or {"role": "assistant", "content": "hi"},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def chunk(delta=None, finish=None, usage=None, choices=True):
    out = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "x",
           "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []}
    if usage is not None:
        out["usage"] = usage
    return out


# ---------------------------------------------------------------- decode_chat


def test_chat_minimal_streams_by_default_and_asks_for_usage():
    body = {"model": "llama", "messages": [{"role": "user", "content": "hi"}]}
    req = ollama.decode_chat(body)
    assert req.endpoint == "chat" and req.stream is True and req.native is body
    assert req.payload == {"model": "llama", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                           "stream_options": {"include_usage": True}}


def test_chat_stream_false_has_no_stream_options():
    req = ollama.decode_chat({"model": "m", "messages": [], "stream": False})
    assert req.stream is False and req.payload["stream"] is False and "stream_options" not in req.payload


def test_chat_stream_null_means_default_true():
    assert ollama.decode_chat({"model": "m", "stream": None}).stream is True


def test_chat_options_map_to_openai_fields():
    req = ollama.decode_chat({"model": "m", "messages": [], "options": {
        "temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": "END", "num_predict": 128,
        "repeat_penalty": 1.1, "presence_penalty": 0.5, "frequency_penalty": 0.25, "min_p": 0.05,
        "num_ctx": 8192, "mirostat": 1, "num_gpu": 2}})
    p = req.payload
    assert p["temperature"] == 0.2 and p["top_p"] == 0.9 and p["top_k"] == 40 and p["seed"] == 7
    assert p["stop"] == ["END"] and p["max_tokens"] == 128 and p["repetition_penalty"] == 1.1
    assert p["presence_penalty"] == 0.5 and p["frequency_penalty"] == 0.25 and p["min_p"] == 0.05
    for dropped in ("num_ctx", "mirostat", "num_gpu", "num_predict", "repeat_penalty", "options"):
        assert dropped not in p


@pytest.mark.parametrize("limit", [-1, -2, 0])
def test_num_predict_without_limit_is_omitted(limit):
    assert "max_tokens" not in ollama.decode_chat({"model": "m", "options": {"num_predict": limit}}).payload


def test_stop_list_and_integral_float_ints():
    p = ollama.decode_chat({"model": "m", "options": {"stop": ["a", "b"], "seed": 3.0}}).payload
    assert p["stop"] == ["a", "b"] and p["seed"] == 3 and isinstance(p["seed"], int)


@pytest.mark.parametrize("options,param", [
    ({"temperature": "hot"}, "options.temperature"),
    ({"temperature": True}, "options.temperature"),
    ({"top_k": 1.5}, "options.top_k"),
    ({"num_predict": "x"}, "options.num_predict"),
    ({"stop": [1]}, "options.stop"),
    ({"stop": 5}, "options.stop"),
    ({"seed": float("inf")}, "options.seed"),
])
def test_bad_options_name_the_field(options, param):
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_chat({"model": "m", "options": options})
    assert exc.value.param == param and param in exc.value.message


def test_options_must_be_an_object():
    with pytest.raises(InvalidRequest, match="options"):
        ollama.decode_chat({"model": "m", "options": [1]})


def test_format_json_and_schema():
    assert ollama.decode_chat({"model": "m", "format": "json"}).payload["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert ollama.decode_chat({"model": "m", "format": schema}).payload["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    assert "response_format" not in ollama.decode_chat({"model": "m", "format": ""}).payload
    with pytest.raises(InvalidRequest, match="format"):
        ollama.decode_chat({"model": "m", "format": "yaml"})


def test_think_maps_to_chat_template_kwargs():
    assert ollama.decode_chat({"model": "m", "think": True}).payload["chat_template_kwargs"] == {
        "enable_thinking": True}
    assert ollama.decode_chat({"model": "m", "think": False}).payload["chat_template_kwargs"] == {
        "enable_thinking": False}
    p = ollama.decode_chat({"model": "m", "think": "high"}).payload
    assert p["chat_template_kwargs"] == {"enable_thinking": True} and p["reasoning_effort"] == "high"
    assert "chat_template_kwargs" not in ollama.decode_chat({"model": "m"}).payload
    with pytest.raises(InvalidRequest, match="think"):
        ollama.decode_chat({"model": "m", "think": "very"})


def test_keep_alive_and_unknown_fields_ignored_but_kept_native():
    body = {"model": "m", "keep_alive": "5m", "whatever": 1}
    req = ollama.decode_chat(body)
    assert "keep_alive" not in req.payload and "whatever" not in req.payload and req.native == body


def test_images_become_image_url_parts_after_the_text():
    req = ollama.decode_chat({"model": "m", "messages": [
        {"role": "user", "content": "what is this?", "images": [PNG, JPEG, "AAAA"]}]})
    content = req.payload["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert content[2]["image_url"]["url"] == f"data:image/jpeg;base64,{JPEG}"
    assert content[3] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def test_bad_images():
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_chat({"model": "m", "messages": [{"role": "user", "content": "x", "images": [3]}]})
    assert exc.value.param == "messages[0].images[0]"
    with pytest.raises(InvalidRequest):
        ollama.decode_chat({"model": "m", "messages": [{"role": "user", "content": "x", "images": "AAAA"}]})


def test_tool_round_trip_ids_and_matching():
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    req = ollama.decode_chat({"model": "m", "tools": tools, "messages": [
        {"role": "user", "content": "weather in Paris and Rome, and time?"},
        {"role": "assistant", "content": "", "thinking": "let me call tools", "tool_calls": [
            {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "weather", "arguments": {"city": "Rome"}}},
            {"id": "abc", "function": {"name": "clock", "arguments": {}}}]},
        {"role": "tool", "tool_name": "clock", "content": "noon"},
        {"role": "tool", "tool_name": "weather", "content": "sunny"},
        {"role": "tool", "content": "rainy"},
    ]})
    msgs = req.payload["messages"]
    assert req.payload["tools"] == tools
    assert msgs[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}},
        {"id": "abc", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]}
    assert msgs[2] == {"role": "tool", "tool_call_id": "abc", "content": "noon"}
    assert msgs[3] == {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}
    assert msgs[4] == {"role": "tool", "tool_call_id": "call_1", "content": "rainy"}


def test_tool_message_with_given_id_and_without_any_call():
    req = ollama.decode_chat({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "x1", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "x1", "tool_name": "f", "content": "1"},
        {"role": "tool", "tool_name": "f", "content": "orphan"}]})
    msgs = req.payload["messages"]
    assert msgs[0]["tool_calls"][0]["function"]["arguments"] == '{"a":1}'
    assert msgs[1]["tool_call_id"] == "x1"
    assert msgs[2]["tool_call_id"] == "call_1"  # nothing open: a fresh, distinct id


@pytest.mark.parametrize("calls,param", [
    ({"function": {}}, "messages[0].tool_calls"),
    ([{"function": {"arguments": {}}}], "messages[0].tool_calls[0].function.name"),
    (["x"], "messages[0].tool_calls[0].function.name"),
    ([{"function": {"name": "f", "arguments": 3}}], "messages[0].tool_calls[0].function.arguments"),
])
def test_bad_tool_calls(calls, param):
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_chat({"model": "m", "messages": [{"role": "assistant", "tool_calls": calls}]})
    assert exc.value.param == param


@pytest.mark.parametrize("body,param", [
    ({}, "model"),
    ({"model": ""}, "model"),
    ({"model": 3}, "model"),
    ({"model": "m", "messages": "hi"}, "messages"),
    ({"model": "m", "messages": ["hi"]}, "messages[0]"),
    ({"model": "m", "messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "m", "tools": {"a": 1}}, "tools"),
    ({"model": "m", "stream": "yes"}, "stream"),
])
def test_chat_bad_input(body, param):
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_chat(body)
    assert exc.value.param == param


def test_chat_body_not_an_object():
    with pytest.raises(InvalidRequest):
        ollama.decode_chat(["model"])
    with pytest.raises(InvalidRequest):
        ollama.decode_chat(None)


def test_chat_null_content_roles_case_and_system():
    req = ollama.decode_chat({"model": "m", "messages": [{"role": "SYSTEM", "content": "be brief"},
                                                          {"role": "user", "content": None}]})
    assert req.payload["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": ""}]


def test_chat_load_request_helpers():
    assert ollama.is_chat_load_request({"model": "m"}) and ollama.is_chat_load_request({"model": "m", "messages": []})
    assert not ollama.is_chat_load_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    out = ollama.chat_load_answer("m")
    assert out["done"] is True and out["done_reason"] == "load" and out["message"] == {"role": "assistant",
                                                                                      "content": ""}


# ---------------------------------------------------------------- decode_generate


def test_generate_becomes_chat_with_system_and_images():
    req = ollama.decode_generate({"model": "m", "prompt": "describe", "system": "be brief", "images": [PNG],
                                  "think": False, "options": {"num_predict": 5}, "format": "json",
                                  "template": "{{ .Prompt }}", "context": [1, 2, 3]})
    assert req.endpoint == "chat" and req.stream is True
    p = req.payload
    assert p["messages"][0] == {"role": "system", "content": "be brief"}
    assert p["messages"][1]["content"][0] == {"type": "text", "text": "describe"}
    assert p["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert p["max_tokens"] == 5 and p["response_format"] == {"type": "json_object"}
    assert p["chat_template_kwargs"] == {"enable_thinking": False}
    assert "template" not in p and "context" not in p


def test_generate_raw_is_a_completion():
    req = ollama.decode_generate({"model": "m", "prompt": "<s>[INST] hi [/INST]", "raw": True, "stream": False,
                                  "think": True})
    assert req.endpoint == "completions" and req.stream is False
    assert req.payload == {"model": "m", "prompt": "<s>[INST] hi [/INST]", "stream": False}


def test_generate_suffix_is_fill_in_the_middle_completion():
    req = ollama.decode_generate({"model": "m", "prompt": "def f(", "suffix": "    return x"})
    assert req.endpoint == "completions"
    assert req.payload["prompt"] == "def f(" and req.payload["suffix"] == "    return x"
    assert req.payload["stream_options"] == {"include_usage": True}


def test_generate_raw_with_images_is_refused():
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_generate({"model": "m", "prompt": "x", "raw": True, "images": [PNG]})
    assert exc.value.param == "images"


@pytest.mark.parametrize("body,param", [
    ({"prompt": "x"}, "model"),
    ({"model": "m", "prompt": 1}, "prompt"),
    ({"model": "m", "prompt": "x", "system": ["a"]}, "system"),
    ({"model": "m", "prompt": "x", "suffix": 2}, "suffix"),
    ({"model": "m", "prompt": "x", "raw": "yes"}, "raw"),
    ({"model": "m", "prompt": "x", "options": {"top_p": "high"}}, "options.top_p"),
])
def test_generate_bad_input(body, param):
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_generate(body)
    assert exc.value.param == param


def test_load_request_and_answer():
    assert ollama.is_load_request({"model": "m"})
    assert ollama.is_load_request({"model": "m", "prompt": ""})
    assert not ollama.is_load_request({"model": "m", "prompt": "hi"})
    assert not ollama.is_load_request({"model": "m", "images": [PNG]})
    assert not ollama.is_load_request("nonsense")
    out = ollama.load_answer("m")
    assert set(out) == {"model", "created_at", "response", "done", "done_reason"}
    assert out["model"] == "m" and out["response"] == "" and out["done"] is True and out["done_reason"] == "load"
    assert STAMP.match(out["created_at"])
    assert ollama.load_reason({"model": "m", "keep_alive": 0}) == "unload"
    assert ollama.load_reason({"model": "m"}) == "load"


# ---------------------------------------------------------------- embeddings


def test_embed_single_and_list_with_dimensions():
    req = ollama.decode_embed({"model": "e", "input": "hello", "truncate": True, "options": {"num_ctx": 1},
                               "keep_alive": "1m"})
    assert req.endpoint == "embeddings" and req.stream is False
    assert req.payload == {"model": "e", "input": "hello", "encoding_format": "float"}
    req = ollama.decode_embed({"model": "e", "input": ["a", "b"], "dimensions": 256})
    assert req.payload == {"model": "e", "input": ["a", "b"], "encoding_format": "float", "dimensions": 256}


@pytest.mark.parametrize("body,param", [
    ({"model": "e"}, "input"),
    ({"model": "e", "input": []}, "input"),
    ({"model": "e", "input": [1, 2]}, "input"),
    ({"model": "e", "input": None}, "input"),
    ({"model": "e", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "e", "input": "x", "dimensions": "8"}, "dimensions"),
    ({"model": "e", "input": "x", "truncate": "no"}, "truncate"),
    ({"input": "x"}, "model"),
])
def test_embed_bad_input(body, param):
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_embed(body)
    assert exc.value.param == param


def test_legacy_embeddings():
    req = ollama.decode_embeddings({"model": "e", "prompt": "hello"})
    assert req.endpoint == "embeddings" and req.payload == {"model": "e", "input": "hello", "encoding_format": "float"}
    with pytest.raises(InvalidRequest) as exc:
        ollama.decode_embeddings({"model": "e"})
    assert exc.value.param == "prompt"


# ---------------------------------------------------------------- non-streamed encoders


def test_encode_chat_plain():
    out = ollama.encode_chat(answer(), ctx("pub"))
    assert out["model"] == "pub" and STAMP.match(out["created_at"])
    assert out["message"] == {"role": "assistant", "content": "hi"}
    assert out["done"] is True and out["done_reason"] == "stop"
    assert out["prompt_eval_count"] == 7 and out["eval_count"] == 3 and out["load_duration"] == 0
    assert out["total_duration"] >= 500_000_000 and out["eval_duration"] > 0 and out["prompt_eval_duration"] > 0
    assert list(out)[:4] == ["model", "created_at", "message", "done"]


def test_encode_chat_thinking_and_tool_calls():
    message = {"role": "assistant", "content": None, "reasoning_content": "hmm", "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, 2]}'}},
        {"id": "call_10", "type": "function", "function": {"name": "g", "arguments": "not json"}}]}
    out = ollama.encode_chat(answer(message, "tool_calls"), ctx())
    assert out["message"] == {"role": "assistant", "content": "", "thinking": "hmm", "tool_calls": [
        {"id": "call_9", "function": {"name": "f", "arguments": {"x": [1, 2]}}},
        {"id": "call_10", "function": {"name": "g", "arguments": {}}}]}
    assert out["done_reason"] == "stop"


def test_encode_chat_accepts_reasoning_name():
    out = ollama.encode_chat(answer({"role": "assistant", "content": "a", "reasoning": "r"}), ctx())
    assert out["message"]["thinking"] == "r"


@pytest.mark.parametrize("finish,reason", [("stop", "stop"), ("length", "length"), ("tool_calls", "stop"),
                                           ("content_filter", "content_filter"), (None, "stop"), ("odd", "stop")])
def test_done_reason_table(finish, reason):
    assert ollama.encode_chat(answer(finish=finish), ctx())["done_reason"] == reason
    assert ollama.done_reason(finish) == reason


def test_encode_chat_survives_an_empty_answer():
    out = ollama.encode_chat({}, ctx())
    assert out["message"] == {"role": "assistant", "content": ""} and out["eval_count"] == 0


def test_encode_generate_from_chat_and_text_completion():
    out = ollama.encode_generate(answer({"role": "assistant", "content": "yes", "reasoning_content": "t"}), ctx("g"))
    assert out["response"] == "yes" and out["thinking"] == "t" and out["model"] == "g"
    assert out["done_reason"] == "stop" and out["prompt_eval_count"] == 7
    text = {"object": "text_completion", "choices": [{"index": 0, "text": "abc", "finish_reason": "length"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 16}}
    out = ollama.encode_generate(text, ctx())
    assert out["response"] == "abc" and "thinking" not in out and out["done_reason"] == "length"
    assert out["eval_count"] == 16


def test_encode_embed_and_legacy():
    data = {"object": "list", "data": [{"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
                                       {"object": "embedding", "index": 0, "embedding": [1.0, 2.0]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}}
    out = ollama.encode_embed(data, ctx("e"))
    assert out["model"] == "e" and out["embeddings"] == [[1.0, 2.0], [0.5, 0.25]]
    assert out["prompt_eval_count"] == 4 and out["load_duration"] == 0 and out["total_duration"] > 0
    assert ollama.encode_embeddings(data, ctx()) == {"embedding": [1.0, 2.0]}
    assert ollama.encode_embeddings({}, ctx()) == {"embedding": []}


def test_encode_embed_unpacks_base64():
    packed = base64.b64encode(struct.pack("<2f", 1.5, -2.0)).decode()
    out = ollama.encode_embed({"data": [{"index": 0, "embedding": packed}]}, ctx())
    assert out["embeddings"] == [[1.5, -2.0]]


def test_error_body():
    assert ollama.error_body(ModelNotFound("model 'x' not found")) == {"error": "model 'x' not found"}
    assert ollama.error_body(UpstreamFailed("all providers failed")) == {"error": "all providers failed"}


# ---------------------------------------------------------------- stream encoders


def test_chat_stream_content_thinking_and_final_line():
    enc = ollama.ChatStreamEncoder(ctx("pub"))
    assert enc.content_type == "application/x-ndjson"
    out = enc.encode(chunk({"role": "assistant", "content": ""}))
    assert out == b""
    out = enc.encode(chunk({"reasoning_content": "think"})) + enc.encode(chunk({"content": "Hel"}))
    out += enc.encode(chunk({"content": "lo"}))
    out += enc.encode(chunk({}, finish="stop"))  # the finish chunk does not end the stream
    out += enc.encode(chunk(usage={"prompt_tokens": 5, "completion_tokens": 2}, choices=False))
    out += enc.finish()
    parsed = lines(out)
    assert parsed[0]["message"] == {"role": "assistant", "content": "", "thinking": "think"}
    assert parsed[1]["message"] == {"role": "assistant", "content": "Hel"} and parsed[1]["done"] is False
    assert parsed[2]["message"]["content"] == "lo"
    final = parsed[3]
    assert final["done"] is True and final["done_reason"] == "stop" and final["message"] == {
        "role": "assistant", "content": ""}
    assert final["prompt_eval_count"] == 5 and final["eval_count"] == 2 and final["model"] == "pub"
    assert final["total_duration"] >= final["eval_duration"] > 0 and final["prompt_eval_duration"] > 0
    assert all(STAMP.match(p["created_at"]) for p in parsed)
    assert len(parsed) == 4 and enc.finish() == b"" and enc.encode(chunk({"content": "late"})) == b""


def test_chat_stream_tool_calls_accumulate_and_come_whole_before_the_end():
    enc = ollama.ChatStreamEncoder(ctx())
    out = enc.encode(chunk({"role": "assistant", "content": None}))
    out += enc.encode(chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                             "function": {"name": "weather", "arguments": ""}}]}))
    out += enc.encode(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}))
    out += enc.encode(chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                             "function": {"name": "clock", "arguments": "{}"}}]}))
    out += enc.encode(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}))
    out += enc.encode(chunk({}, finish="tool_calls"))
    assert out == b""  # nothing until the end
    parsed = lines(enc.finish())
    assert parsed[0]["done"] is False and parsed[0]["message"] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_a", "function": {"name": "weather", "arguments": {"city": "Paris"}}},
        {"id": "call_b", "function": {"name": "clock", "arguments": {}}}]}
    assert parsed[1]["done"] is True and parsed[1]["done_reason"] == "stop"


def test_chat_stream_bad_tool_arguments_become_empty_object():
    enc = ollama.ChatStreamEncoder(ctx())
    enc.encode(chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{oops"}}]}))
    assert lines(enc.finish())[0]["message"]["tool_calls"][0]["function"]["arguments"] == {}


def test_chat_stream_finish_without_any_chunk():
    enc = ollama.ChatStreamEncoder(ctx())
    parsed = lines(enc.finish())
    assert len(parsed) == 1 and parsed[0]["done"] is True and parsed[0]["done_reason"] == "stop"
    assert parsed[0]["prompt_eval_count"] == 0 and parsed[0]["eval_count"] == 0


@pytest.mark.parametrize("finish,reason", [("length", "length"), ("content_filter", "content_filter")])
def test_chat_stream_done_reasons(finish, reason):
    enc = ollama.ChatStreamEncoder(ctx())
    enc.encode(chunk({"content": "x"}, finish=finish))
    assert lines(enc.finish())[-1]["done_reason"] == reason


def test_stream_fail_is_an_error_line_and_ends():
    enc = ollama.ChatStreamEncoder(ctx())
    out = enc.encode(chunk({"content": "partial"})) + enc.fail("upstream broke", "upstream_stream_interrupted")
    parsed = lines(out)
    assert parsed[-1] == {"error": "upstream broke"}
    assert enc.finish() == b"" and enc.fail("again") == b""


def test_stream_encoders_ignore_odd_chunks():
    enc = ollama.ChatStreamEncoder(ctx())
    for odd in ({}, {"choices": None}, {"choices": ["x"]}, {"choices": [{"delta": None}]},
                {"choices": [{"delta": {"tool_calls": "x"}}]}, {"choices": [{"delta": {"tool_calls": [None, 1]}}]},
                "not a dict"):
        assert enc.encode(odd) == b""
    assert lines(enc.finish())[-1]["done"] is True


def test_generate_stream_from_chat_chunks():
    enc = ollama.GenerateStreamEncoder(ctx("g"))
    out = enc.encode(chunk({"role": "assistant", "content": ""}))
    out += enc.encode(chunk({"reasoning_content": "hm"})) + enc.encode(chunk({"content": "ok"}))
    out += enc.encode(chunk({}, finish="length"))
    out += enc.encode(chunk(usage={"prompt_tokens": 1, "completion_tokens": 1}, choices=False))
    parsed = lines(out + enc.finish())
    assert parsed[0] == {"model": "g", "created_at": parsed[0]["created_at"], "response": "", "thinking": "hm",
                         "done": False}
    assert parsed[1]["response"] == "ok" and parsed[1]["done"] is False
    assert parsed[2]["response"] == "" and parsed[2]["done"] is True and parsed[2]["done_reason"] == "length"
    assert parsed[2]["eval_count"] == 1


def test_generate_stream_from_text_completion_chunks():
    enc = ollama.GenerateStreamEncoder(ctx())
    out = enc.encode({"object": "text_completion", "choices": [{"index": 0, "text": "ab", "finish_reason": None}]})
    out += enc.encode({"object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    parsed = lines(out + enc.finish())
    assert parsed[0]["response"] == "ab" and parsed[1]["done"] is True and parsed[1]["done_reason"] == "stop"


# ---------------------------------------------------------------- listings


def test_listing_helpers_shapes():
    entry = ollama.tag_entry("bielik", "2024-05-01T10:00:00.000000000Z", 32768)
    assert entry["name"] == entry["model"] == "bielik" and entry["size"] == 0
    assert entry["digest"] == hashlib.sha256(b"bielik").hexdigest()
    assert entry["details"] == {"parent_model": "", "format": "", "family": "", "families": [],
                                "parameter_size": "", "quantization_level": ""}
    ps = ollama.ps_entry("bielik", "2099-01-01T00:00:00Z", 32768)
    assert ps["expires_at"] == "2099-01-01T00:00:00Z" and ps["size_vram"] == 0 and ps["context_length"] == 32768
    assert "context_length" not in ollama.ps_entry("x", "2099-01-01T00:00:00Z", None)
    show = ollama.show_body("bielik", 32768, "2024-05-01T10:00:00Z")
    assert show["model_info"] == {"general.architecture": "llm-router", "llm-router.context_length": 32768}
    assert show["capabilities"] == ["completion", "tools"]
    assert ollama.show_body("x", None, "2024-05-01T10:00:00Z")["model_info"] == {"general.architecture": "llm-router"}


def test_rfc3339_formats_nanoseconds():
    assert ollama.rfc3339(0) == "1970-01-01T00:00:00.000000000Z"
    assert ollama.rfc3339(1.5) == "1970-01-01T00:00:01.500000000Z"
    assert STAMP.match(ollama.rfc3339())


# ---------------------------------------------------------------- the official client parses what we send

from ollama import _types as types  # noqa: E402  (installed by the dev extras)


def test_the_ollama_client_models_parse_listings():
    listed = types.ListResponse(models=[ollama.tag_entry("m", ollama.rfc3339(), None)])
    assert listed.models[0].model == "m" and listed.models[0].size == 0
    ps = types.ProcessResponse(models=[ollama.ps_entry("m", ollama.rfc3339(), 4096)])
    assert ps.models[0].context_length == 4096 and ps.models[0].name == "m"
    show = types.ShowResponse(**ollama.show_body("m", 4096, ollama.rfc3339()))
    assert show.modelinfo["llm-router.context_length"] == 4096 and show.capabilities == ["completion", "tools"]


def test_the_ollama_client_models_parse_answers_and_stream_lines():
    message = {"role": "assistant", "content": "", "reasoning_content": "r",
               "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    parsed = types.ChatResponse(**ollama.encode_chat(answer(message, "tool_calls"), ctx()))
    assert parsed.message.tool_calls[0].function.arguments == {"a": 1} and parsed.message.thinking == "r"
    assert parsed.done and parsed.eval_count == 3
    assert types.GenerateResponse(**ollama.encode_generate(answer(), ctx())).response == "hi"
    enc = ollama.ChatStreamEncoder(ctx())
    data = enc.encode(chunk({"content": "a"})) + enc.encode(
        chunk({"tool_calls": [{"index": 0, "id": "x", "function": {"name": "f", "arguments": "{}"}}]})) + enc.finish()
    for line in lines(data):
        types.ChatResponse(**line)
    gen = ollama.GenerateStreamEncoder(ctx())
    for line in lines(gen.encode(chunk({"content": "a"})) + gen.finish()):
        types.GenerateResponse(**line)
    embed = types.EmbedResponse(**ollama.encode_embed({"data": [{"index": 0, "embedding": [0.1]}]}, ctx()))
    assert list(embed.embeddings[0]) == [0.1]
    assert list(types.EmbeddingsResponse(**ollama.encode_embeddings(
        {"data": [{"index": 0, "embedding": [0.1]}]}, ctx())).embedding) == [0.1]
    types.GenerateResponse(**ollama.load_answer("m"))
    types.ChatResponse(**ollama.chat_load_answer("m"))
