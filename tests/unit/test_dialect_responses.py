"""The OpenAI Responses API codec: request decoding, answers, SSE events, checked against the SDK.

Shapes are validated with the installed ``openai`` package's pydantic models, and the stream is
fed through the SDK's own ``client.responses.stream()`` accumulation (over an in-memory HTTP
transport), so a change that breaks real clients breaks these tests.
"""

from __future__ import annotations

import json

import pytest

from llm_router_api.dialects.base import EncodeContext
from llm_router_api.dialects.responses import ResponseStreamEncoder, decode_responses, encode_response
from llm_router_api.errors import InvalidRequest
from llm_router_api.upstream.sse import EventParser

import httpx  # noqa: E402  (the dev extras install the official clients: these tests always run)
import openai  # noqa: E402
import pydantic  # noqa: E402
from openai.types.responses import Response, ResponseStreamEvent  # noqa: E402

STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


# --- helpers ------------------------------------------------------------------------------------

def chunk(delta: dict | None = None, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def usage_chunk(prompt: int = 7, completion: int = 5, **extra) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion, **extra}}


def answer(message: dict, finish: str | None = "stop", usage: dict | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": usage if usage is not None else {"prompt_tokens": 7, "completion_tokens": 5,
                                                      "total_tokens": 12}}


def ctx(request: dict | None = None) -> EncodeContext:
    return EncodeContext(model="public-model", request=request or {"model": "public-model", "input": "hi"},
                         created=1700000000)


def events(data: bytes) -> list[dict]:
    """Parse SSE bytes; check the event name matches the type and sequence numbers count up."""
    parsed = EventParser().feed(data)
    out = []
    for event in parsed:
        body = json.loads(event.data)
        assert event.event == body["type"]
        out.append(body)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    for body in out:
        STREAM_EVENT.validate_python(body)  # strict pydantic validation, every event
    return out


def run_stream(chunks: list, request: dict | None = None) -> tuple[list[dict], bytes]:
    encoder = ResponseStreamEncoder(ctx(request))
    assert encoder.content_type == "text/event-stream"
    data = b"".join(encoder.encode(c) for c in chunks) + encoder.finish()
    return events(data), data


def sdk_client(handler) -> "openai.OpenAI":
    transport = httpx.MockTransport(handler)
    return openai.OpenAI(api_key="test", base_url="http://gateway.test/v1",
                         http_client=httpx.Client(transport=transport))


def strip_volatile(response: dict) -> dict:
    """A response without the random ids and the clock, to compare two encodings."""
    out = dict(response, id=None, completed_at=None)
    out["output"] = [dict(item, id=None) for item in response["output"]]
    return out


# --- decode: mapping ----------------------------------------------------------------------------

def test_string_input_is_one_user_message():
    body = {"model": "m", "input": "Hello"}
    canonical = decode_responses(body)
    assert canonical.endpoint == "chat"
    assert canonical.stream is False
    assert canonical.native is body
    assert canonical.payload == {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}


def test_instructions_first_and_roles_and_parts():
    body = {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Dev rule."},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Sys."}]},
            {"role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "weird"},
            ]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "A cat.", "annotations": []}]},
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
            {"role": "user", "content": []},
        ],
    }
    messages = decode_responses(body).payload["messages"]
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Dev rule."},
        {"role": "system", "content": "Sys."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        ]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": ""},
    ]


def test_assistant_refusal_part_becomes_text():
    body = {"model": "m", "input": [{"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                                    {"role": "user", "content": "why"}]}
    assert decode_responses(body).payload["messages"][0] == {"role": "assistant", "content": "No."}


def test_function_calls_merge_into_one_assistant_message_and_outputs_become_tool_messages():
    body = {"model": "m", "input": [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "x"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather",
         "arguments": "{\"city\": \"Paris\"}", "status": "completed"},
        {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": {"city": "Rome"}},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "21"}, {"type": "input_text", "text": "C"}]},
        {"type": "function_call", "call_id": "call_3", "name": "noargs"},
    ]}
    messages = decode_responses(body).payload["messages"]
    assert messages == [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "noargs", "arguments": "{}"}}]},
    ]


def test_tools_tool_choice_and_sampling_fields():
    body = {
        "model": "m", "input": "hi",
        "tools": [
            {"type": "function", "name": "f", "description": "does f", "strict": True,
             "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            {"type": "function", "name": "g"},
        ],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
        "max_output_tokens": 100, "temperature": 0.2, "top_p": 1,
        "user": "u-1", "metadata": {"k": "v"}, "store": True, "include": ["reasoning.encrypted_content"],
        "truncation": "auto", "service_tier": "auto",
    }
    payload = decode_responses(body).payload
    assert payload == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "does f", "strict": True,
                                              "parameters": {"type": "object",
                                                             "properties": {"a": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "g"}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "max_tokens": 100, "temperature": 0.2, "top_p": 1,
    }


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_strings_pass(choice):
    body = {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice}
    assert decode_responses(body).payload["tool_choice"] == choice


def test_tool_fields_without_tools_are_dropped():
    payload = decode_responses({"model": "m", "input": "hi", "tools": [], "tool_choice": "auto",
                                "parallel_tool_calls": True}).payload
    assert "tools" not in payload and "tool_choice" not in payload and "parallel_tool_calls" not in payload


@pytest.mark.parametrize("fmt, expected", [
    ({"type": "text"}, None),
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema", "name": "person", "strict": True, "description": "a person",
      "schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
     {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "description": "a person",
                                             "schema": {"type": "object",
                                                        "properties": {"name": {"type": "string"}}}}}),
])
def test_text_format(fmt, expected):
    payload = decode_responses({"model": "m", "input": "hi", "text": {"format": fmt, "verbosity": "low"}}).payload
    assert payload.get("response_format") == expected


def test_reasoning_effort_and_stream_options():
    canonical = decode_responses({"model": "m", "input": "hi", "stream": True,
                                  "reasoning": {"effort": "high", "summary": "auto"}})
    assert canonical.stream is True
    assert canonical.payload["reasoning_effort"] == "high"
    assert canonical.payload["stream"] is True
    assert canonical.payload["stream_options"] == {"include_usage": True}
    plain = decode_responses({"model": "m", "input": "hi", "stream": False, "reasoning": {}}).payload
    assert "stream" not in plain and "stream_options" not in plain and "reasoning_effort" not in plain


# --- decode: refusals and bad input -------------------------------------------------------------

@pytest.mark.parametrize("field, value, fragment", [
    ("previous_response_id", "resp_1", "previous_response_id is not supported: this gateway stores no responses"),
    ("conversation", "conv_1", "conversation is not supported: this gateway stores no responses"),
    ("background", True, "background is not supported"),
    ("prompt", {"id": "pmpt_1"}, "prompt"),
])
def test_stateful_features_are_refused(field, value, fragment):
    with pytest.raises(InvalidRequest) as info:
        decode_responses({"model": "m", "input": "hi", field: value})
    assert fragment in info.value.message
    assert info.value.param == field


@pytest.mark.parametrize("tool_type", ["web_search", "file_search", "computer_use_preview", "mcp", "custom"])
def test_hosted_tools_are_refused(tool_type):
    with pytest.raises(InvalidRequest) as info:
        decode_responses({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"},
                                                                 {"type": tool_type}]})
    assert f"tool type '{tool_type}' is not supported by this gateway" in info.value.message
    assert info.value.param == "tools[1].type"


@pytest.mark.parametrize("item, param, fragment", [
    ({"type": "computer_call_output", "call_id": "c"}, "input[0].type", "'computer_call_output'"),
    ({"type": "item_reference", "id": "msg_1"}, "input[0]", "item_reference"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}, "input[0].content[0].file_id",
     "file_id"),
    ({"role": "user", "content": [{"type": "input_image"}]}, "input[0].content[0].image_url", "image_url"),
    ({"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}, "input[0].content[0]",
     "input_file"),
    ({"role": "user", "content": [{"type": "input_audio"}]}, "input[0].content[0].type", "'input_audio'"),
    ({"role": "system", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]},
     "input[0].content[0]", "only accepted in user messages"),
    ({"role": "tool", "content": "x"}, "input[0].role", "role"),
    ({"role": ["user"], "content": "x"}, "input[0].role", "role"),
    ({"role": "user", "content": 5}, "input[0].content", "content"),
    ({"role": "user", "content": [5]}, "input[0].content[0]", "object"),
    ({"role": "user", "content": [{"type": "input_text", "text": None}]}, "input[0].content[0].text", "text"),
    ({"type": "function_call", "name": "f", "arguments": "{}"}, "input[0].call_id", "call_id"),
    ({"type": "function_call", "call_id": "c"}, "input[0].name", "name"),
    ({"type": "function_call", "call_id": "c", "name": "f", "arguments": [1]}, "input[0].arguments", "arguments"),
    ({"type": "function_call_output", "output": "x"}, "input[0].call_id", "call_id"),
    ({"type": "function_call_output", "call_id": "c", "output": {"a": 1}}, "input[0].output", "output"),
    ({"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image", "image_url": "u"}]},
     "input[0].output[0]", "text parts"),
    ("just a string", "input[0]", "object"),
    ({"type": None}, "input[0].type", "None"),
])
def test_bad_input_items(item, param, fragment):
    with pytest.raises(InvalidRequest) as info:
        decode_responses({"model": "m", "input": [item]})
    assert info.value.param == param
    assert fragment in info.value.message


@pytest.mark.parametrize("body, param", [
    ({"input": "hi"}, "model"),
    ({"model": 5, "input": "hi"}, "model"),
    ({"model": "", "input": "hi"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": None}, "input"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": [{"type": "reasoning"}]}, "input"),
    ({"model": "m", "input": "hi", "instructions": 5}, "instructions"),
    ({"model": "m", "input": "hi", "stream": "yes"}, "stream"),
    ({"model": "m", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "hi", "max_output_tokens": "5"}, "max_output_tokens"),
    ({"model": "m", "input": "hi", "max_output_tokens": True}, "max_output_tokens"),
    ({"model": "m", "input": "hi", "temperature": "hot"}, "temperature"),
    ({"model": "m", "input": "hi", "top_p": [1]}, "top_p"),
    ({"model": "m", "input": "hi", "tools": {"type": "function"}}, "tools"),
    ({"model": "m", "input": "hi", "tools": [5]}, "tools[0]"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": []}]},
     "tools[0].parameters"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": "any"},
     "tool_choice"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}],
      "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}],
      "tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": [1]},
     "tool_choice"),
    ({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}], "parallel_tool_calls": "no"},
     "parallel_tool_calls"),
    ({"model": "m", "input": "hi", "text": "json"}, "text"),
    ({"model": "m", "input": "hi", "text": {"format": "json"}}, "text.format"),
    ({"model": "m", "input": "hi", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
     "text.format.schema"),
    ({"model": "m", "input": "hi", "reasoning": "high"}, "reasoning"),
    ({"model": "m", "input": "hi", "reasoning": {"effort": 3}}, "reasoning.effort"),
])
def test_bad_fields_name_the_field(body, param):
    with pytest.raises(InvalidRequest) as info:
        decode_responses(body)
    assert info.value.param == param


@pytest.mark.parametrize("body", [None, [], "text", 5])
def test_body_must_be_an_object(body):
    with pytest.raises(InvalidRequest):
        decode_responses(body)


# --- encode_response ----------------------------------------------------------------------------

def test_text_answer_is_a_completed_response_with_echoed_settings():
    request = {"model": "public-model", "input": "hi", "instructions": "Be brief.", "temperature": 0.3,
               "top_p": 0.9, "max_output_tokens": 50, "parallel_tool_calls": False,
               "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
               "tool_choice": "required", "metadata": {"k": "v"},
               "text": {"format": {"type": "json_object"}}, "reasoning": {"effort": "low"}}
    usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12,
             "prompt_tokens_details": {"cached_tokens": 3}, "completion_tokens_details": {"reasoning_tokens": 2}}
    out = encode_response(answer({"content": "Hello there."}, usage=usage), ctx(request))
    Response.model_validate(out)  # strict validation against the SDK's model
    assert out["id"].startswith("resp_")
    assert out["object"] == "response"
    assert out["created_at"] == 1700000000
    assert out["status"] == "completed"
    assert out["model"] == "public-model"
    assert out["error"] is None and out["incomplete_details"] is None and out["previous_response_id"] is None
    assert out["instructions"] == "Be brief."
    assert (out["temperature"], out["top_p"], out["max_output_tokens"]) == (0.3, 0.9, 50)
    assert out["parallel_tool_calls"] is False
    assert out["tools"] == request["tools"] and out["tool_choice"] == "required"
    assert out["metadata"] == {"k": "v"} and out["store"] is False
    assert out["text"] == {"format": {"type": "json_object"}}
    assert out["reasoning"]["effort"] == "low"
    [message] = out["output"]
    assert message["id"].startswith("msg_")
    assert message == {"type": "message", "id": message["id"], "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Hello there.", "annotations": [],
                                    "logprobs": []}]}
    assert out["usage"] == {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
                            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
                            "total_tokens": 12}
    parsed = Response.model_validate(out)
    assert parsed.output_text == "Hello there."


def test_defaults_when_the_request_set_nothing():
    out = encode_response(answer({"content": "x"}), ctx())
    assert out["tools"] == [] and out["tool_choice"] == "auto" and out["parallel_tool_calls"] is True
    assert out["text"] == {"format": {"type": "text"}} and out["metadata"] == {}
    assert out["instructions"] is None and out["temperature"] is None


def test_reasoning_text_and_tool_calls_in_order():
    message = {"content": "Let me check.", "reasoning_content": "The user wants weather.", "tool_calls": [
        {"id": "call_abc", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"type": "function", "function": {"name": "noargs", "arguments": ""}},
        "garbage",
    ]}
    out = encode_response(answer(message, "tool_calls"), ctx())
    Response.model_validate(out)
    reasoning, text, call, bare = out["output"]
    assert reasoning["id"].startswith("rs_")
    assert reasoning == {"type": "reasoning", "id": reasoning["id"], "summary": [],
                         "content": [{"type": "reasoning_text", "text": "The user wants weather."}]}
    assert text["content"][0]["text"] == "Let me check."
    assert call["id"].startswith("fc_")
    assert call == {"type": "function_call", "id": call["id"], "call_id": "call_abc", "name": "weather",
                    "arguments": "{\"city\":\"Paris\"}", "status": "completed"}
    assert bare["call_id"].startswith("call_") and bare["arguments"] == "{}"
    assert out["status"] == "completed"


def test_tool_calls_only_has_no_message_item_and_reasoning_alias_is_read():
    out = encode_response(answer({"content": None, "reasoning": "hmm", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}, "tool_calls"), ctx())
    assert [item["type"] for item in out["output"]] == ["reasoning", "function_call"]
    assert out["output"][0]["content"][0]["text"] == "hmm"
    assert json.loads(out["output"][1]["arguments"]) == {"a": 1}


def test_refusal_is_a_refusal_part():
    out = encode_response(answer({"content": None, "refusal": "I can't help."}), ctx())
    Response.model_validate(out)
    assert out["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


@pytest.mark.parametrize("finish, status, reason", [
    ("stop", "completed", None),
    ("tool_calls", "completed", None),
    (None, "completed", None),
    ("something_new", "completed", None),
    ("length", "incomplete", "max_output_tokens"),
    ("content_filter", "incomplete", "content_filter"),
])
def test_finish_reasons(finish, status, reason):
    out = encode_response(answer({"content": "partial"}, finish), ctx())
    Response.model_validate(out)
    assert out["status"] == status
    assert out["incomplete_details"] == ({"reason": reason} if reason else None)
    assert out["output"][0]["status"] == ("incomplete" if reason else "completed")
    assert (out["completed_at"] is None) == (status == "incomplete")


@pytest.mark.parametrize("odd", [
    {},
    {"choices": None},
    {"choices": [None]},
    {"choices": [{"message": None, "finish_reason": 5}], "usage": "lots"},
    {"choices": [{"message": {"content": 5, "tool_calls": "x", "reasoning_content": 3}}],
     "usage": {"prompt_tokens": "7", "completion_tokens": None, "prompt_tokens_details": 1}},
    {"usage": {"prompt_tokens": float("inf"), "completion_tokens": float("nan"), "total_tokens": -3}},
])
def test_odd_answers_do_not_crash(odd):
    out = encode_response(odd, ctx({"tools": "x", "text": 5, "reasoning": [], "metadata": "m"}))
    Response.model_validate(out)
    assert out["output"] == [] and out["status"] == "completed"
    assert out["usage"]["total_tokens"] == 0


def test_non_stream_answer_through_the_sdk():
    def handler(request):
        body = json.loads(request.content)
        canonical = decode_responses(body)
        assert canonical.stream is False
        assert canonical.payload["messages"][-1] == {"role": "user", "content": "Say hi"}
        return httpx.Response(200, json=encode_response(answer({"content": "hi!"}), ctx(body)))

    response = sdk_client(handler).responses.create(model="public-model", input="Say hi")
    assert response.output_text == "hi!"
    assert response.status == "completed"
    assert response.usage.input_tokens == 7 and response.usage.output_tokens == 5


# --- stream -------------------------------------------------------------------------------------

TOOL = {"type": "function", "name": "weather", "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False}}


def mixed_chunks() -> list[dict]:
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Need "}),
        chunk({"reasoning_content": "weather."}),
        chunk({"content": "Check"}),
        chunk({"content": "ing."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_p", "type": "function",
                               "function": {"name": "weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_r", "type": "function",
                               "function": {"name": "weather", "arguments": "{\"city\""}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": \"Rome\"}"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]


def test_stream_event_sequence():
    out, _ = run_stream(mixed_chunks())
    types = [e["type"] for e in out]
    assert types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.reasoning_text.delta", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]
    created = out[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert out[1]["response"]["id"] == created["id"] == out[-1]["response"]["id"]
    assert out[2]["item"]["type"] == "reasoning" and out[2]["output_index"] == 0
    assert out[3]["part"] == {"type": "reasoning_text", "text": ""}
    assert out[6]["text"] == "Need weather."
    assert out[9]["item"] == {"type": "message", "id": out[9]["item"]["id"], "status": "in_progress",
                              "role": "assistant", "content": []}
    assert out[10]["part"] == {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    assert out[11] == {"type": "response.output_text.delta", "sequence_number": 11, "item_id": out[9]["item"]["id"],
                       "output_index": 1, "content_index": 0, "delta": "Check", "logprobs": []}
    assert out[13]["text"] == "Checking."
    assert out[15]["item"]["status"] == "completed"
    assert out[15]["item"]["content"][0]["text"] == "Checking."
    first_call = out[16]["item"]
    assert first_call == {"type": "function_call", "id": first_call["id"], "call_id": "call_p", "name": "weather",
                          "arguments": "", "status": "in_progress"}
    assert [e["delta"] for e in out[17:19]] == ["{\"ci", "ty\": \"Paris\"}"]
    assert out[19]["item"]["call_id"] == "call_r" and out[19]["output_index"] == 3
    assert out[22]["arguments"] == "{\"city\": \"Paris\"}" and out[22]["output_index"] == 2
    assert out[23]["item"]["status"] == "completed"
    assert out[24]["arguments"] == "{\"city\": \"Rome\"}"
    final = out[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert final["usage"]["input_tokens"] == 7 and final["usage"]["total_tokens"] == 12


def test_stream_final_response_matches_the_non_stream_encoding():
    request = {"model": "public-model", "input": "hi", "tools": [TOOL], "max_output_tokens": 99}
    out, _ = run_stream(mixed_chunks(), request)
    streamed = out[-1]["response"]
    plain = encode_response(answer({
        "content": "Checking.", "reasoning_content": "Need weather.",
        "tool_calls": [
            {"id": "call_p", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_r", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Rome\"}"}},
        ]}, "tool_calls"), ctx(request))
    assert strip_volatile(streamed) == strip_volatile(plain)


def test_stream_through_the_sdk_helper():
    """The SDK's ``responses.stream()`` accumulates our events into the final Response."""
    seen = {}

    def handler(request):
        body = json.loads(request.content)
        canonical = decode_responses(body)
        seen["payload"] = canonical.payload
        encoder = ResponseStreamEncoder(ctx(body))
        data = b"".join(encoder.encode(c) for c in mixed_chunks()) + encoder.finish()
        return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})

    client = sdk_client(handler)
    with client.responses.stream(model="public-model", input="weather?", tools=[TOOL]) as stream:
        texts = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert seen["payload"]["stream_options"] == {"include_usage": True}
    assert texts == ["Check", "ing."]
    assert final.output_text == "Checking."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name) for c in calls] == [("call_p", "weather"), ("call_r", "weather")]
    assert [c.parsed_arguments for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]  # strict tool: parsed
    assert final.output[0].type == "reasoning" and final.output[0].content[0].text == "Need weather."
    assert final.usage.output_tokens == 5


def test_stream_sdk_create_iteration_validates_events():
    def handler(request):
        encoder = ResponseStreamEncoder(ctx(json.loads(request.content)))
        data = encoder.encode(chunk({"content": "a"})) + encoder.encode(chunk({"content": "b"}, "stop"))
        data += encoder.encode(usage_chunk()) + encoder.finish()
        return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})

    stream = sdk_client(handler).responses.create(model="public-model", input="x", stream=True)
    received = list(stream)
    assert received[-1].type == "response.completed"
    assert received[-1].response.output_text == "ab"


def test_final_event_waits_for_finish_and_takes_late_usage():
    encoder = ResponseStreamEncoder(ctx())
    data = encoder.encode(chunk({"content": "Hi"}, "stop"))
    assert b"response.completed" not in data and b"output_text.done" not in data
    data += encoder.encode(usage_chunk(prompt=11, completion=2))
    assert b"response.completed" not in data
    data += encoder.finish()
    out = events(data)
    assert out[-1]["type"] == "response.completed"
    assert out[-1]["response"]["usage"]["input_tokens"] == 11
    assert out[-1]["response"]["usage"]["output_tokens"] == 2
    assert encoder.finish() == b"" and encoder.encode(chunk({"content": "late"})) == b""


def test_finish_without_any_chunk_is_a_valid_empty_response():
    encoder = ResponseStreamEncoder(ctx())
    out = events(encoder.finish())
    assert [e["type"] for e in out] == ["response.created", "response.in_progress", "response.completed"]
    final = out[-1]["response"]
    assert final["output"] == [] and final["usage"]["total_tokens"] == 0
    Response.model_validate(final)


@pytest.mark.parametrize("finish, reason", [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_stream_incomplete(finish, reason):
    out, _ = run_stream([chunk({"content": "cut"}), chunk({}, finish), usage_chunk()])
    assert out[-1]["type"] == "response.incomplete"
    final = out[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": reason}
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "cut"
    item_done = [e for e in out if e["type"] == "response.output_item.done"][0]
    assert item_done["item"]["status"] == "incomplete"


def test_text_after_tool_call_opens_a_new_message():
    out, _ = run_stream([
        chunk({"content": "a"}),
        chunk({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({"content": "b"}),
        chunk({}, "stop"),
    ])
    final = out[-1]["response"]
    assert [(item["type"], item.get("call_id")) for item in final["output"]] == [
        ("message", None), ("function_call", "c0"), ("message", None)]
    added = [e["output_index"] for e in out if e["type"] == "response.output_item.added"]
    done = [e["output_index"] for e in out if e["type"] == "response.output_item.done"]
    assert added == done == [0, 1, 2]


def test_interleaved_tool_call_pieces_and_whole_calls():
    out, _ = run_stream([
        chunk({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "f", "arguments": "{\"a\":"}},
                              {"index": 1, "id": "c1", "function": {"name": "g", "arguments": "{\"b\":"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "2}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        # a whole call with no index (taken as index 0) and a new id: a new call, not more of c0
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "h", "arguments": {"c": 3}}}]}),
        chunk({"tool_calls": [{"index": 3, "function": {}}]}),  # no id, no name yet
        chunk({"tool_calls": [{"index": 3, "function": {"name": "late_name"}}]}),
        chunk({}, "tool_calls"),
    ])
    final = out[-1]["response"]["output"]
    assert [(c["call_id"], c["name"], c["arguments"]) for c in final[:2]] == [
        ("c0", "f", "{\"a\":1}"), ("c1", "g", "{\"b\":2}")]
    assert final[2]["call_id"] == "c2" and json.loads(final[2]["arguments"]) == {"c": 3}
    assert final[3]["call_id"].startswith("call_") and final[3]["name"] == "late_name"
    assert final[3]["arguments"] == "{}"


def test_reasoning_alias_in_stream_deltas():
    out, _ = run_stream([chunk({"reasoning": "r1"}), chunk({"content": "t"}), chunk({}, "stop")])
    assert out[-1]["response"]["output"][0]["content"] == [{"type": "reasoning_text", "text": "r1"}]


@pytest.mark.parametrize("odd", [
    None, "data", {}, {"choices": None}, {"choices": [None]}, {"choices": [{"delta": None}]},
    {"choices": [{"delta": {"content": 5, "tool_calls": "x", "reasoning_content": []}}]},
    {"choices": [{"delta": {"tool_calls": [None, {"function": None}]}}]},
    {"choices": [], "usage": None},
])
def test_odd_chunks_do_not_crash(odd):
    out, _ = run_stream([odd, chunk({"content": "ok"}), chunk({}, "stop")])
    assert out[-1]["type"] == "response.completed"
    Response.model_validate(out[-1]["response"])


def test_fail_mid_answer():
    encoder = ResponseStreamEncoder(ctx())
    data = encoder.encode(chunk({"content": "Hal"}))
    data += encoder.fail("The upstream stream broke before the answer was complete.", "upstream_stream_interrupted")
    out = events(data)
    assert [e["type"] for e in out][-2:] == ["error", "response.failed"]
    assert out[-2] == {"type": "error", "sequence_number": out[-2]["sequence_number"],
                       "code": "upstream_stream_interrupted", "param": None,
                       "message": "The upstream stream broke before the answer was complete."}
    failed = out[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error",
                               "message": "The upstream stream broke before the answer was complete."}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "Hal"
    assert encoder.encode(chunk({"content": "more"})) == b"" and encoder.finish() == b""
    assert encoder.fail("again", "x") == b""


def test_fail_before_anything_starts_the_response_first():
    encoder = ResponseStreamEncoder(ctx())
    out = events(encoder.fail("boom", "rate_limit_exceeded"))
    assert [e["type"] for e in out] == ["response.created", "response.in_progress", "error", "response.failed"]
    assert out[-1]["response"]["error"]["code"] == "rate_limit_exceeded"


def test_fail_is_seen_by_the_sdk():
    def handler(request):
        encoder = ResponseStreamEncoder(ctx(json.loads(request.content)))
        data = encoder.encode(chunk({"content": "Hal"})) + encoder.fail("broke", "upstream_stream_error")
        return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})

    with sdk_client(handler).responses.stream(model="public-model", input="x") as stream:
        received = list(stream)
    error = [e for e in received if e.type == "error"][0]
    assert error.code == "upstream_stream_error" and error.message == "broke"
    failed = received[-1]
    assert failed.type == "response.failed" and failed.response.error.message == "broke"
    assert failed.response.output[0].content[0].text == "Hal"
