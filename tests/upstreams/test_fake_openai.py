"""The fake upstream must speak the wire protocol faithfully, or gateway tests prove nothing."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import openai
import pytest
import requests
from openai.types.chat import ChatCompletionMessageParam

from tests.upstreams import FakeUpstream, closed_port

ROOT = Path(__file__).resolve().parents[2]
CHAT = "v1/chat/completions"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello there world"},
]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(n_tokens=4) as up:
        yield up


def sdk(up: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=up.url + "v1", api_key="x", max_retries=0)


def chat(up: FakeUpstream, *, model: str = "m", stream: bool = False, **body: Any) -> requests.Response:
    """POST a chat completion with ``requests``: no SDK between the test and the wire."""
    payload: dict[str, Any] = {"model": model, "messages": HELLO, **body}
    if stream:
        payload["stream"] = True
    return requests.post(up.url + CHAT, json=payload, stream=stream)


def raw_request(up: FakeUpstream, data: bytes) -> tuple[socket.socket, BinaryIO]:
    sock = socket.create_connection(("127.0.0.1", up.port), timeout=5)
    sock.sendall(data)
    return sock, sock.makefile("rb")


def read_response(f: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """One Content-Length framed response off a raw socket (keeps pipelined bytes buffered in ``f``)."""
    status = int(f.readline().split()[1])
    headers = {}
    while (line := f.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, f.read(int(headers["content-length"]))


def post_bytes(path: str, body: bytes) -> bytes:
    return f"POST /{path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body


def test_models_health_and_not_found(fake: FakeUpstream) -> None:
    models = requests.get(fake.url + "v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "test-model"
    assert models["data"][0]["owned_by"] == "vllm"
    health = requests.get(fake.url + "health")
    assert (health.status_code, health.content) == (200, b"")
    missing = requests.post(fake.url + "v1/nope", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFoundError"
    assert missing.json()["error"]["code"] == 404


def test_body_that_is_not_json_is_a_400(fake: FakeUpstream) -> None:
    response = requests.post(fake.url + CHAT, data=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestError"


def test_chat_completion(fake: FakeUpstream) -> None:
    answer = chat(fake).json()
    assert answer["id"].startswith("chatcmpl-")
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "m"
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "tok0 tok1 tok2 tok3"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert answer["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}


def test_chat_echo_and_max_tokens(fake: FakeUpstream) -> None:
    echoed = requests.post(
        fake.url + CHAT,
        json={"model": "m", "messages": [{"role": "user", "content": "echo:a b"}]},
    )
    assert echoed.json()["choices"][0]["message"]["content"] == "a b"
    limited = chat(fake, max_tokens=2).json()
    assert limited["choices"][0]["message"]["content"] == "tok0 tok1"
    assert limited["choices"][0]["finish_reason"] == "length"


def test_completion(fake: FakeUpstream) -> None:
    answer = sdk(fake).completions.create(model="m", prompt="one two")
    assert answer.object == "text_completion"
    assert answer.id.startswith("cmpl-")
    assert answer.choices[0].text == "tok0 tok1 tok2 tok3"
    assert answer.usage is not None and answer.usage.prompt_tokens == 2


def test_embeddings_are_deterministic(fake: FakeUpstream) -> None:
    body = requests.post(fake.url + "v1/embeddings", json={"model": "e", "input": ["a b", "c", "a b"]}).json()
    assert body["object"] == "list" and body["model"] == "e"
    vectors = [item["embedding"] for item in body["data"]]
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    # The SDK asks for base64 float32 unless told otherwise; it must decode to the same vector.
    decoded = sdk(fake).embeddings.create(model="e", input="a b").data[0].embedding
    assert decoded == pytest.approx(vectors[0], rel=1e-6)


def test_chat_stream_through_the_sdk(fake: FakeUpstream) -> None:
    chunks = list(
        sdk(fake).chat.completions.create(
            model="m", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" and c.model == "m" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:5]] == ["tok0 ", "tok1 ", "tok2 ", "tok3"]
    assert chunks[5].choices[0].finish_reason == "stop"
    assert chunks[6].choices == []
    assert chunks[6].usage is not None and chunks[6].usage.total_tokens == 9
    assert len(chunks) == 7


def test_completion_stream_through_the_sdk(fake: FakeUpstream) -> None:
    chunks = list(sdk(fake).completions.create(model="m", prompt="hi", stream=True, max_tokens=3))
    assert "".join(c.choices[0].text for c in chunks) == "tok0 tok1 tok2"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_stream_sends_one_http_chunk_per_event_and_done(fake: FakeUpstream) -> None:
    response = chat(fake, stream=True)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    chunks = list(response.raw.read_chunked())
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"data:") == 1 for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"
    assert len(chunks) == 1 + 4 + 1 + 1  # role, tokens, finish, [DONE]


@pytest.mark.parametrize(
    ("behaviour", "status", "kind"),
    [("fail500", 500, "InternalServerError"), ("fail429", 429, "RateLimitError"), ("fail400", 400, "BadRequestError")],
)
def test_failures(fake: FakeUpstream, behaviour: str, status: int, kind: str) -> None:
    fake.behaviour = behaviour
    response = chat(fake, model="gpt-x")
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    if behaviour == "fail429":
        assert response.headers["retry-after"] == "1"
    if behaviour == "fail400":
        assert response.json()["error"]["message"] == "The model `gpt-x` does not exist."


def test_unknown_behaviour_is_refused(fake: FakeUpstream) -> None:
    with pytest.raises(ValueError):
        fake.behaviour = "ecco"


def test_drop_mid_stream(fake: FakeUpstream) -> None:
    fake.behaviour = "drop_mid_stream"
    received = []
    # openai 3 wraps the broken stream in APIConnectionError; openai 2 lets httpx's error through.
    with pytest.raises((openai.APIConnectionError, httpx.TransportError)):
        for chunk in sdk(fake).chat.completions.create(model="m", messages=HELLO, stream=True):
            received.append(chunk)
    assert [c.choices[0].delta.content for c in received] == ["", "tok0 ", "tok1 "]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        chat(fake).json()
    assert fake.disconnects == 0 and fake.in_flight == 0


def test_close_before_headers(fake: FakeUpstream) -> None:
    fake.behaviour = "close_before_headers"
    with pytest.raises(requests.exceptions.ConnectionError):
        chat(fake)
    assert len(fake.requests) == 1 and fake.disconnects == 0


def test_peak_concurrency_of_slow_requests(fake: FakeUpstream) -> None:
    fake.behaviour, fake.headers_delay = "slow", 0.2
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda _: requests.get(fake.url + "v1/models").status_code, range(10)))
    assert codes == [200] * 10
    assert fake.peak_concurrency == 10 and fake.in_flight == 0 and fake.disconnects == 0


def test_client_leaving_a_stream_is_detected(fake: FakeUpstream) -> None:
    chat(fake)  # completed: not a disconnect
    fake.token_delay, fake.n_tokens = 0.02, 1000
    body = json.dumps({"model": "m", "messages": HELLO, "stream": True}).encode()
    sock, f = raw_request(fake, post_bytes(CHAT, body))
    events = 0
    while events < 2:
        events += f.readline().startswith(b"data: ")
    f.close()
    sock.close()
    assert fake.wait_for_disconnect(5)
    assert fake.disconnects == 1 and fake.in_flight == 0


@pytest.mark.parametrize("behaviour", ["hang", "slow"])
def test_client_giving_up_on_a_late_answer_is_detected(fake: FakeUpstream, behaviour: str) -> None:
    fake.behaviour, fake.headers_delay = behaviour, 30
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(fake.url + "health", timeout=0.1)
    assert fake.wait_for_disconnect(5)
    assert fake.in_flight == 0


def test_requests_are_recorded_and_reset(fake: FakeUpstream) -> None:
    body = json.dumps({"model": "m", "messages": HELLO}).encode()
    requests.post(fake.url + CHAT + "?x=1", data=body, headers={"X-Trace": "abc", "Content-Type": "application/json"})
    assert fake.wait_for_requests(1, 5)
    (recorded,) = fake.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions?x=1")
    assert recorded.headers["x-trace"] == "abc"
    assert recorded.body == body
    assert recorded.json == json.loads(body)
    fake.reset()
    assert fake.requests == [] and fake.peak_concurrency == 0
    assert not fake.wait_for_requests(1, 0.01)


def test_keep_alive_pipelining_and_connection_close(fake: FakeUpstream) -> None:
    get = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
    sock, f = raw_request(fake, get + post_bytes("v1/embeddings", b'{"input": "a"}') + get)
    assert [read_response(f)[0] for _ in range(3)] == [200, 200, 200]
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    status, headers, _ = read_response(f)
    assert status == 200 and headers["connection"] == "close"
    assert f.read() == b""  # the server closed its end
    sock.close()
    assert [r.path for r in fake.requests] == ["/health", "/v1/embeddings", "/health", "/v1/models"]


def test_chunked_request_body(fake: FakeUpstream) -> None:
    body = b'{"model": "m", "prompt": "echo:chunked"}'
    chunked = (
        b"5;ext=1\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % len(body[5:]) + body[5:] + b"\r\n0\r\ntrailer: t\r\n\r\n"
    )
    head = b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    sock, f = raw_request(fake, head + chunked[:9])
    sock.sendall(chunked[9:])  # a body split across reads
    status, _, answer = read_response(f)
    sock.close()
    assert status == 200 and json.loads(answer)["choices"][0]["text"] == "chunked"
    assert fake.requests[0].body == body


def test_closed_port_refuses_connections() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=5).close()


def test_stop_closes_open_streams_and_restart_reuses_the_port() -> None:
    up = FakeUpstream(token_delay=1).start()
    sock, f = raw_request(up, post_bytes(CHAT, json.dumps({"messages": HELLO, "stream": True}).encode()))
    assert f.readline().startswith(b"HTTP/1.1 200")
    up.stop()
    assert b"[DONE]" not in f.read()  # EOF mid-stream, where a hang would time out
    sock.close()
    assert up.disconnects == 0 and up.in_flight == 0
    with up:
        assert requests.get(up.url + "health").status_code == 200


def test_command_line_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "tests.upstreams.fake_openai", "--port", "0", "--model", "cli-model"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert requests.get(url + "v1/models").json()["data"][0]["id"] == "cli-model"
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0


# The scripted path: tools, tool results, reasoning, stop strings, content parts (see scripted.py).

TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]


def test_tool_call(fake: FakeUpstream) -> None:
    answer = sdk(fake).chat.completions.create(model="m", messages=HELLO, tools=TOOLS)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": "hello there world"}
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 1)


def test_tool_call_stream(fake: FakeUpstream) -> None:
    chunks = list(
        sdk(fake).chat.completions.create(
            model="m", messages=HELLO, tools=TOOLS, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    first = deltas[0][0]
    assert (first.index, first.type, first.function.name, first.function.arguments) == (0, "function", "lookup", "")
    assert first.id is not None and first.id.startswith("call_")
    rest = [d[0] for d in deltas[1:]]
    assert len(rest) >= 2 and all(d.index == 0 and d.id is None and d.function.name is None for d in rest)
    assert json.loads("".join(d.function.arguments for d in rest)) == {"query": "hello there world"}
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 1


def test_tool_result_and_assistant_tool_calls(fake: FakeUpstream) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    answer = chat(fake, messages=messages, tools=TOOLS).json()
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "result: sunny"}
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_reasoning_content(fake: FakeUpstream) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "think: a b"}]
    message = chat(fake, messages=messages).json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "a b", "reasoning_content": "pondering a b"}
    chunks = list(sdk(fake).chat.completions.create(model="m", messages=messages, stream=True))
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "pondering a b"
    assert [d.content for d in deltas if d.content] == ["a ", "b"]


def test_stop_string_and_vllm_stop_reason(fake: FakeUpstream) -> None:
    choice = chat(fake, stop=["tok2"]).json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("tok0 tok1 ", "stop")
    assert choice["stop_reason"] == "tok2"
    assert chat(fake, stop="nope").json()["choices"][0]["stop_reason"] is None
    lines = [line for line in chat(fake, stream=True, stop="tok1").iter_lines() if line.startswith(b"data: {")]
    finish = json.loads(lines[-1][6:])["choices"][0]
    assert (finish["finish_reason"], finish["stop_reason"]) == ("stop", "tok1")


def test_system_question_and_content_parts(fake: FakeUpstream) -> None:
    system = [{"type": "text", "text": "be brief"}]
    messages = [{"role": "developer", "content": system}, {"role": "user", "content": "sys?"}]
    assert chat(fake, messages=messages).json()["choices"][0]["message"]["content"] == "be brief"
    content = [{"type": "text", "text": "echo:a b"}, {"type": "image_url", "image_url": {}}]
    answer = chat(fake, messages=[{"role": "user", "content": content}]).json()
    assert answer["choices"][0]["message"]["content"] == "a b"


def test_responses_route_is_off_by_default(fake: FakeUpstream) -> None:
    assert requests.post(fake.url + "v1/responses", json={"model": "m", "input": "hi"}).status_code == 404


@pytest.fixture
def responses() -> Iterator[FakeUpstream]:
    with FakeUpstream(n_tokens=3, serves_responses=True) as up:
        yield up


def test_responses(responses: FakeUpstream) -> None:
    body = requests.post(responses.url + "v1/responses", json={"model": "m", "input": "echo:a b"}).json()
    assert body["id"].startswith("resp_") and body["object"] == "response" and body["status"] == "completed"
    assert body["model"] == "m" and isinstance(body["created_at"], int)
    (item,) = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "a b", "annotations": []}]
    assert body["usage"] == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    question = [{"type": "input_text", "text": "sys?"}]
    items = [{"role": "developer", "content": "be brief"}, {"role": "user", "content": question}]
    answer = sdk(responses).responses.create(model="m", input=items, instructions="first")  # type: ignore[arg-type]
    assert answer.output_text == "first | be brief"
    limited = sdk(responses).responses.create(model="m", input="hi", max_output_tokens=2)
    assert (limited.output_text, limited.status) == ("tok0 tok1", "incomplete")


def test_responses_stream(responses: FakeUpstream) -> None:
    body = {"model": "m", "input": "hi", "stream": True}
    response = requests.post(responses.url + "v1/responses", json=body, stream=True)
    assert response.headers["content-type"] == "text/event-stream"
    events = [chunk.decode().split("\n") for chunk in response.raw.read_chunked()]
    names = [lines[0].removeprefix("event: ") for lines in events]
    payloads = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    assert [p["type"] for p in payloads] == names
    assert [p["sequence_number"] for p in payloads] == list(range(len(names)))
    assert [p["delta"] for p in payloads if p["type"] == "response.output_text.delta"] == ["tok0 ", "tok1 ", "tok2"]
    assert payloads[-1]["response"]["output"][0]["content"][0]["text"] == "tok0 tok1 tok2"
    with sdk(responses).responses.stream(model="m", input="echo:x y") as stream:
        assert stream.get_final_response().output_text == "x y"


def test_responses_function_call(responses: FakeUpstream) -> None:
    tools: list[Any] = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    answer = sdk(responses).responses.create(model="m", input="where?", tools=tools)
    (call,) = answer.output
    assert call.type == "function_call" and call.name == "lookup" and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"query": "where?"}
    followup: list[Any] = [
        {"role": "user", "content": "where?"},
        {"type": "function_call", "call_id": call.call_id, "name": "lookup", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "here"},
    ]
    assert sdk(responses).responses.create(model="m", input=followup, tools=tools).output_text == "result: here"
    with sdk(responses).responses.stream(model="m", input="where?", tools=tools) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_response()
    assert events.count("response.function_call_arguments.delta") >= 2
    assert final.output[0].type == "function_call"
