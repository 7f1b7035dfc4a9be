"""FakeAnthropic must speak the Messages API as Anthropic does: proven with the official ``anthropic`` SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
import requests

from tests.upstreams import FakeAnthropic

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
STRING_INPUT = [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}]  # OpenAI's JSON string, not an object
HELLO: list[Any] = [{"role": "user", "content": "hello there world"}]
TOOLS: list[Any] = [
    {"name": "lookup", "description": "d", "input_schema": {"type": "object"}},
    {"name": "other", "input_schema": {"type": "object"}},
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(n_tokens=3) as up:
        yield up


def sdk(up: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=up.url, api_key="k", max_retries=0)


def post(up: FakeAnthropic, headers: dict[str, str] = HEADERS, **body: Any) -> requests.Response:
    payload = {"model": "m", "max_tokens": 5, "messages": HELLO, **body}
    return requests.post(up.url + "v1/messages", json=payload, headers=headers, stream=bool(body.get("stream")))


def events(response: requests.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) per HTTP chunk; checks that each chunk is one complete named event."""
    out = []
    for chunk in response.raw.read_chunked():
        name, data, blank, end = chunk.decode().split("\n")
        assert name.startswith("event: ") and data.startswith("data: ") and blank == end == ""
        payload = json.loads(data.removeprefix("data: "))
        assert payload["type"] == name.removeprefix("event: ")
        out.append((payload["type"], payload))
    return out


def test_message(fake: FakeAnthropic) -> None:
    message = sdk(fake).messages.create(model="m", max_tokens=2, messages=HELLO, system="be brief")
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == "m"
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "tok0 tok1")]
    assert (message.stop_reason, message.stop_sequence) == ("max_tokens", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 2)
    raw = post(fake).json()
    assert set(raw) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert raw["usage"] == {"input_tokens": 3, "output_tokens": 5}


def test_headers_are_recorded(fake: FakeAnthropic) -> None:
    post(fake)
    sdk(fake).messages.create(model="m", max_tokens=1, messages=HELLO)
    raw, through_sdk = (r.headers for r in fake.requests)
    assert raw["x-api-key"] == "k" and raw["anthropic-version"] == "2023-06-01"
    assert through_sdk["authorization"] == "Bearer k" and "anthropic-version" in through_sdk  # the SDK 2.x way


def test_stream_event_sequence(fake: FakeAnthropic) -> None:
    response = post(fake, stream=True, messages=[{"role": "user", "content": "think: a b"}], max_tokens=50)
    assert response.headers["content-type"] == "text/event-stream"
    seq = events(response)
    names = [name for name, _ in seq]
    assert names == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    start = seq[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"] == {"input_tokens": 3, "output_tokens": 1}
    assert seq[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert [d["delta"] for _, d in seq[3:7]] == [
        {"type": "thinking_delta", "thinking": "pondering "},
        {"type": "thinking_delta", "thinking": "a "},
        {"type": "thinking_delta", "thinking": "b"},
        {"type": "signature_delta", "signature": "sig"},
    ]
    assert seq[8][1] == {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}
    assert [d["delta"]["text"] for _, d in seq[9:11]] == ["a ", "b"]
    assert seq[12][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert seq[12][1]["usage"] == {"output_tokens": 5}


def test_stream_through_the_sdk(fake: FakeAnthropic) -> None:
    with sdk(fake).messages.stream(model="m", max_tokens=3, messages=HELLO) as stream:
        assert "".join(stream.text_stream) == "tok0 tok1 tok2"
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 3
    with sdk(fake).messages.stream(model="m", max_tokens=9, messages=[{"role": "user", "content": "think: hm"}]) as s:
        thinking, text = s.get_final_message().content
    assert thinking.type == "thinking" and (thinking.thinking, thinking.signature) == ("pondering hm", "sig")
    assert text.type == "text" and text.text == "hm"


def test_tool_use(fake: FakeAnthropic) -> None:
    message = sdk(fake).messages.create(model="m", max_tokens=50, messages=HELLO, tools=TOOLS)
    (block,) = message.content
    assert block.type == "tool_use" and block.id.startswith("toolu_") and block.name == "lookup"
    assert block.input == {"query": "hello there world"}
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 1
    followup = HELLO + [
        {"role": "assistant", "content": [block.model_dump(include={"type", "id", "name", "input"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    answer = sdk(fake).messages.create(model="m", max_tokens=50, messages=followup, tools=TOOLS)
    assert [(b.type, getattr(b, "text", None)) for b in answer.content] == [("text", "result: sunny")]
    blocks = [{"type": "tool_result", "tool_use_id": block.id, "content": [{"type": "text", "text": "rainy"}]}]
    answer = sdk(fake).messages.create(model="m", max_tokens=50, messages=[{"role": "user", "content": blocks}])
    assert answer.content[0].type == "text" and answer.content[0].text == "result: rainy"


def test_tool_use_stream(fake: FakeAnthropic) -> None:
    seq = events(post(fake, stream=True, tools=TOOLS))
    block = seq[2][1]["content_block"]
    assert block["type"] == "tool_use" and block["input"] == {} and block["name"] == "lookup"
    partial = [d["delta"]["partial_json"] for name, d in seq if name == "content_block_delta"]
    assert all(d["delta"]["type"] == "input_json_delta" for name, d in seq if name == "content_block_delta")
    assert len(partial) >= 2 and json.loads("".join(partial)) == {"query": "hello there world"}
    assert seq[-2][1]["delta"]["stop_reason"] == "tool_use"
    with sdk(fake).messages.stream(model="m", max_tokens=9, messages=HELLO, tools=TOOLS) as stream:
        (final,) = stream.get_final_message().content
    assert final.type == "tool_use" and final.input == {"query": "hello there world"}
    assert post(fake, tools=TOOLS, tool_choice={"type": "none"}).json()["content"][0]["type"] == "text"


def test_stop_sequences_and_system_blocks(fake: FakeAnthropic) -> None:
    stopped = post(fake, stop_sequences=["tok2"]).json()
    assert stopped["content"][0]["text"] == "tok0 tok1 "
    assert (stopped["stop_reason"], stopped["stop_sequence"]) == ("stop_sequence", "tok2")
    system = [{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}]
    question = [{"role": "user", "content": [{"type": "text", "text": "sys?"}]}]
    answer = post(fake, system=system, messages=question).json()
    assert (answer["content"][0]["text"], answer["stop_reason"]) == ("be brief\nbe kind", "end_turn")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"stream_options": {"include_usage": True}}, "stream_options: Extra inputs are not permitted"),
        ({"messages": [{"role": "system", "content": "s"}]}, "messages.0.role: Input should be 'user' or 'assistant'"),
        (
            {"messages": [{"role": "assistant", "content": STRING_INPUT}]},
            "messages.0.content.0.tool_use.input: Input should be a valid dictionary",
        ),
        (
            {"messages": [{"role": "assistant", "content": "", "tool_calls": []}]},
            "messages.0.tool_calls: Extra inputs are not permitted",
        ),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools.0.name: Field required"),
        ({"stop_sequences": "x"}, "stop_sequences: Input should be a valid list of strings"),
    ],
)
def test_invalid_requests(fake: FakeAnthropic, change: dict[str, Any], message: str) -> None:
    payload = {"model": "m", "max_tokens": 5, "messages": HELLO, **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = requests.post(fake.url + "v1/messages", json=payload, headers=HEADERS)
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def test_version_header_and_api_key() -> None:
    with FakeAnthropic(api_key="secret") as up:
        unversioned = post(up, headers={"x-api-key": "secret"}).json()
        assert unversioned["error"]["message"] == "anthropic-version: header is required"
        assert post(up, headers={**HEADERS, "x-api-key": "wrong"}).status_code == 401
        with pytest.raises(anthropic.AuthenticationError):
            sdk(up).messages.create(model="m", max_tokens=1, messages=HELLO)
        good = anthropic.Anthropic(base_url=up.url, api_key="secret", max_retries=0)
        assert good.messages.create(model="m", max_tokens=1, messages=HELLO).content[0].type == "text"


def test_models_and_not_found(fake: FakeAnthropic) -> None:
    (model,) = sdk(fake).models.list().data
    assert (model.type, model.id, model.display_name) == ("model", "test-model", "test-model")
    with pytest.raises(anthropic.NotFoundError):
        sdk(fake).post("/v1/nope", cast_to=object, body={})
    assert requests.get(fake.url + "v1/nope").json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("behaviour", "error", "kind"),
    [
        ("fail500", anthropic.InternalServerError, "api_error"),
        ("fail429", anthropic.RateLimitError, "rate_limit_error"),
        ("fail400", anthropic.BadRequestError, "invalid_request_error"),
    ],
)
def test_failures(fake: FakeAnthropic, behaviour: str, error: type[Exception], kind: str) -> None:
    fake.behaviour = behaviour
    with pytest.raises(error):
        sdk(fake).messages.create(model="m", max_tokens=1, messages=HELLO)
    response = post(fake)
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == kind
    if behaviour == "fail429":
        assert response.headers["retry-after"] == "1"


def test_drop_mid_stream_and_close_before_headers(fake: FakeAnthropic) -> None:
    fake.behaviour = "drop_mid_stream"
    response = post(fake, stream=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(response.iter_content(None))
    fake.behaviour = "close_before_headers"
    with pytest.raises(requests.exceptions.ConnectionError):
        post(fake)
    assert fake.in_flight == 0 and fake.disconnects == 0
