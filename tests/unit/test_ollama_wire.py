"""The Ollama upstream wire: canonical requests to /api/chat, /api/generate, /api/embed and answers back."""

from __future__ import annotations

import json

import pytest

from llm_router_api.config.models import ProviderConfig
from llm_router_api.dialects import ollama as dialect
from llm_router_api.dialects.base import EncodeContext
from llm_router_api.errors import InvalidRequest
from llm_router_api.upstream.errors import StreamFailed
from llm_router_api.upstream.ollama_wire import OllamaWire
from llm_router_api.upstream.wire import USER_AGENT

WIRE = OllamaWire()
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


def provider(**kw):
    return ProviderConfig(id="box", api_host=kw.pop("api_host", "http://box:11434"), api_type="ollama", **kw)


def out(endpoint, payload, stream=False, model="llama3:8b", **kw):
    sent = WIRE.outgoing(endpoint, payload, model, provider(**kw), stream)
    return sent, json.loads(sent.body)


def ndjson(*objs) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


# ---------------------------------------------------------------- outgoing: chat


def test_chat_minimal_stream_always_explicit():
    sent, body = out("chat", {"model": "public", "messages": [{"role": "user", "content": "hi"}]})
    assert sent.path == "/api/chat"
    assert body == {"model": "llama3:8b", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    _, body = out("chat", {"model": "public", "messages": [], "stream": True}, stream=True)
    assert body["stream"] is True


def test_chat_headers():
    sent, _ = out("chat", {"messages": []}, stream=True)
    assert sent.headers == {"Content-Type": "application/json", "Accept": "application/x-ndjson",
                            "User-Agent": USER_AGENT}
    sent, _ = out("chat", {"messages": []}, api_token="secret")
    assert sent.headers["Authorization"] == "Bearer secret" and sent.headers["Accept"] == "application/json"
    assert WIRE.request_headers(provider(), stream=True)["Accept"] == "application/x-ndjson"
    assert WIRE.probe_headers(provider(api_token="t")) == {"Accept": "application/json", "User-Agent": USER_AGENT,
                                                           "Authorization": "Bearer t"}
    assert WIRE.family == "ollama"


def test_chat_options_format_think_and_provider_settings():
    payload = {"model": "p", "messages": [], "max_tokens": 64, "temperature": 0.1, "top_p": 0.8, "top_k": 20,
               "seed": 1, "stop": "###", "presence_penalty": 0.3, "frequency_penalty": 0.4,
               "repetition_penalty": 1.2, "min_p": 0.02, "response_format": {"type": "json_object"},
               "chat_template_kwargs": {"enable_thinking": True}, "stream_options": {"include_usage": True},
               "user": "u1", "logit_bias": {}}
    _, body = out("chat", payload, input_size=16384, keep_alive="10m")
    assert body["options"] == {"temperature": 0.1, "top_p": 0.8, "top_k": 20, "seed": 1, "min_p": 0.02,
                               "presence_penalty": 0.3, "frequency_penalty": 0.4, "num_predict": 64,
                               "repeat_penalty": 1.2, "stop": ["###"], "num_ctx": 16384}
    assert body["format"] == "json" and body["think"] is True and body["keep_alive"] == "10m"
    for dropped in ("stream_options", "user", "logit_bias", "max_tokens", "response_format"):
        assert dropped not in body


def test_chat_max_completion_tokens_wins_and_no_options_when_none():
    _, body = out("chat", {"messages": [], "max_tokens": 5, "max_completion_tokens": 9, "stop": ["a", "b"]})
    assert body["options"] == {"num_predict": 9, "stop": ["a", "b"]}
    _, body = out("chat", {"messages": []})
    assert "options" not in body and "format" not in body and "think" not in body and "keep_alive" not in body


def test_chat_json_schema_format():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    _, body = out("chat", {"messages": [], "response_format": {"type": "json_schema",
                                                                "json_schema": {"name": "x", "schema": schema}}})
    assert body["format"] == schema
    _, body = out("chat", {"messages": [], "response_format": {"type": "text"}})
    assert "format" not in body


@pytest.mark.parametrize("payload,think", [
    ({"chat_template_kwargs": {"enable_thinking": False}}, False),
    ({"reasoning_effort": "high"}, "high"),
    ({"reasoning_effort": "minimal"}, "low"),
    ({"reasoning_effort": "none"}, False),
    ({"reasoning_effort": "medium", "chat_template_kwargs": {"enable_thinking": True}}, "medium"),
    ({"reasoning_effort": "high", "chat_template_kwargs": {"enable_thinking": False}}, False),
])
def test_chat_think(payload, think):
    _, body = out("chat", {"messages": [], **payload})
    assert body["think"] == think


def test_chat_messages_parts_images_tools():
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    payload = {"messages": [
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "text", "text": "here"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": None, "reasoning_content": "plan", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": "bad json"}}]},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "cold"}]},
        {"role": "tool", "tool_call_id": "unknown", "content": "?"},
    ], "tools": tools}
    _, body = out("chat", payload)
    assert body["tools"] == tools
    assert body["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "look\nhere", "images": [PNG]},
        {"role": "assistant", "content": "", "thinking": "plan", "tool_calls": [
            {"id": "call_1", "function": {"name": "weather", "arguments": {"city": "Oslo"}}},
            {"id": "call_2", "function": {"name": "clock", "arguments": {}}}]},
        {"role": "tool", "content": "noon", "tool_name": "clock", "tool_call_id": "call_2"},
        {"role": "tool", "content": "cold", "tool_name": "weather", "tool_call_id": "call_1"},
        {"role": "tool", "content": "?", "tool_call_id": "unknown"},
    ]


def test_chat_tool_choice_none_drops_tools():
    _, body = out("chat", {"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}],
                           "tool_choice": "none"})
    assert "tools" not in body


@pytest.mark.parametrize("payload,param", [
    ({"messages": "hi"}, "messages"),
    ({"messages": [1]}, "messages[0]"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "assistant", "tool_calls": 5}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]}, "messages[0].tool_calls"),
    ({"messages": [], "n": 2}, "n"),
])
def test_chat_what_ollama_cannot_take(payload, param):
    with pytest.raises(InvalidRequest) as exc:
        out("chat", payload)
    assert exc.value.param == param


def test_remote_image_message_is_actionable():
    with pytest.raises(InvalidRequest, match="only inline base64 images"):
        out("chat", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]})


# ---------------------------------------------------------------- outgoing: completions, embeddings, paths


def test_completions_go_raw_to_generate():
    sent, body = out("completions", {"model": "p", "prompt": ["Once upon"], "max_tokens": 16, "temperature": 0,
                                     "response_format": {"type": "json_object"}}, stream=True)
    assert sent.path == "/api/generate" and sent.headers["Accept"] == "application/x-ndjson"
    assert body == {"model": "llama3:8b", "prompt": "Once upon", "stream": True, "raw": True,
                    "options": {"temperature": 0, "num_predict": 16}, "format": "json"}


def test_completions_with_suffix_are_not_raw():
    _, body = out("completions", {"prompt": "def f(", "suffix": "return 1"})
    assert body["suffix"] == "return 1" and "raw" not in body


@pytest.mark.parametrize("prompt", [None, ["a", "b"], [1, 2, 3], [[1, 2]], 5])
def test_completions_need_one_text_prompt(prompt):
    with pytest.raises(InvalidRequest) as exc:
        out("completions", {"prompt": prompt})
    assert exc.value.param == "prompt"


def test_embeddings_go_to_embed():
    sent, body = out("embeddings", {"model": "p", "input": ["a", "b"], "dimensions": 64,
                                    "encoding_format": "float"}, stream=True, keep_alive=300, input_size=512)
    assert sent.path == "/api/embed" and sent.headers["Accept"] == "application/json"
    assert body == {"model": "llama3:8b", "input": ["a", "b"], "dimensions": 64, "keep_alive": 300}


@pytest.mark.parametrize("value", [None, [], [1, 2], [[1]], 3])
def test_embeddings_text_only(value):
    with pytest.raises(InvalidRequest) as exc:
        out("embeddings", {"input": value})
    assert exc.value.param == "input"


def test_unknown_endpoint():
    with pytest.raises(InvalidRequest):
        out("audio", {})


# ---------------------------------------------------------------- decode


def test_decode_chat_answer():
    body = json.dumps({"model": "llama3:8b", "created_at": "2024-01-01T00:00:00.1Z",
                       "message": {"role": "assistant", "content": "Hello", "thinking": "greet"},
                       "done": True, "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 4}).encode()
    ans = WIRE.decode("chat", body, "public")
    assert ans["object"] == "chat.completion" and ans["id"].startswith("chatcmpl-") and ans["model"] == "public"
    assert isinstance(ans["created"], int)
    assert ans["choices"][0]["message"] == {"role": "assistant", "content": "Hello", "reasoning_content": "greet"}
    assert ans["choices"][0]["finish_reason"] == "stop"
    assert ans["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def test_decode_chat_tool_calls_and_length():
    body = json.dumps({"message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
        {"id": "given", "function": {"index": 1, "name": "clock", "arguments": {}}},
        {"function": {"arguments": {}}}]}, "done": True, "done_reason": "stop"}).encode()
    ans = WIRE.decode("chat", body, "p")
    calls = ans["choices"][0]["message"]["tool_calls"]
    assert ans["choices"][0]["finish_reason"] == "tool_calls" and len(calls) == 2
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
    assert calls[1]["id"] == "given" and calls[1]["function"]["arguments"] == "{}"
    assert "index" not in calls[0]
    length = WIRE.decode("chat", json.dumps({"message": {"content": "abc"}, "done_reason": "length"}).encode(), "p")
    assert length["choices"][0]["finish_reason"] == "length"
    assert length["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_decode_generate_and_embed():
    ans = WIRE.decode("completions", json.dumps({"response": "abc", "done": True, "done_reason": "length",
                                                 "prompt_eval_count": 2, "eval_count": 3,
                                                 "context": [1, 2]}).encode(), "p")
    assert ans["object"] == "text_completion" and ans["id"].startswith("cmpl-")
    assert ans["choices"] == [{"index": 0, "text": "abc", "logprobs": None, "finish_reason": "length"}]
    assert ans["usage"]["total_tokens"] == 5
    emb = WIRE.decode("embeddings", json.dumps({"model": "x", "embeddings": [[0.1, 0.2], [0.3, 0.4]],
                                                "prompt_eval_count": 6}).encode(), "p")
    assert emb == {"object": "list", "model": "p",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}],
                   "usage": {"prompt_tokens": 6, "total_tokens": 6}}


def test_decode_odd_bodies():
    with pytest.raises(ValueError):
        WIRE.decode("chat", b"[1, 2]", "p")
    with pytest.raises(ValueError):
        WIRE.decode("chat", b"not json", "p")
    ans = WIRE.decode("chat", b"{}", "p")
    assert ans["choices"][0]["message"] == {"role": "assistant", "content": ""}
    assert WIRE.decode("embeddings", b'{"embeddings": null}', "p")["data"] == []


def test_error_message():
    assert WIRE.error_message(b'{"error": "model \\"x\\" not found, try pulling it first"}') == \
        'model "x" not found, try pulling it first'
    assert WIRE.error_message(b'{"error": {"message": "proxy says no"}}') == "proxy says no"
    assert WIRE.error_message(b"404 page not found") == "404 page not found"
    assert WIRE.error_message(b"") == "upstream error"
    assert len(WIRE.error_message(b'{"error": "' + b"x" * 2000 + b'"}')) == 500
    assert len(WIRE.error_message(b"y" * 2000)) == 500


# ---------------------------------------------------------------- stream decoder


def feed_all(decoder, data: bytes, step: int = 7) -> list[dict]:
    chunks = []
    for i in range(0, len(data), step):
        chunks += decoder.feed(data[i:i + step])
    return chunks + decoder.close()


def test_chat_stream_content_thinking_done_and_usage():
    data = ndjson({"model": "m", "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
                  {"model": "m", "message": {"role": "assistant", "content": "Hel"}, "done": False},
                  {"model": "m", "message": {"role": "assistant", "content": ""}, "done": False},
                  {"model": "m", "message": {"role": "assistant", "content": "lo"}, "done": False},
                  {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                   "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 2})
    chunks = feed_all(WIRE.stream_decoder("chat", "pub"), data)
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "pub" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "", "reasoning_content": "hm"}
    assert deltas[1] == {"content": "Hel"} and deltas[2] == {"content": "lo"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2,
                                                                   "total_tokens": 5}


def test_chat_stream_tool_calls_are_indexed_deltas():
    data = ndjson({"message": {"role": "assistant", "content": "", "tool_calls": [
                      {"function": {"name": "a", "arguments": {"x": 1}}}]}, "done": False},
                  {"message": {"role": "assistant", "content": "", "tool_calls": [
                      {"id": "b-id", "function": {"name": "b", "arguments": {}}}]}, "done": False},
                  {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
    chunks = feed_all(WIRE.stream_decoder("chat", "p"), data, step=3)
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["index"] == 0 and calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "a", "arguments": '{"x": 1}'}
    assert calls[1] == {"index": 1, "id": "b-id", "type": "function", "function": {"name": "b", "arguments": "{}"}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_stream_length_and_last_line_without_newline():
    data = ndjson({"message": {"content": "a"}, "done": False}) + \
        json.dumps({"message": {"content": ""}, "done": True, "done_reason": "length"}).encode()
    decoder = WIRE.stream_decoder("chat", "p")
    chunks = decoder.feed(data)
    assert not any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)
    chunks += decoder.close()
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_generate_stream_text_completion_chunks():
    data = ndjson({"response": "Once", "done": False}, {"response": "", "thinking": "t", "done": False},
                  {"response": " upon", "done": False},
                  {"response": "", "done": True, "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 2,
                   "context": [1]})
    chunks = feed_all(WIRE.stream_decoder("completions", "p"), data)
    assert all(c["object"] == "text_completion" and c["id"].startswith("cmpl-") for c in chunks)
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] is None]
    assert texts == ["Once", "", " upon"]
    assert chunks[1]["choices"][0]["reasoning_content"] == "t"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] == 3


def test_stream_error_line_raises():
    decoder = WIRE.stream_decoder("chat", "p")
    decoder.feed(ndjson({"message": {"content": "a"}, "done": False}))
    with pytest.raises(StreamFailed) as exc:
        decoder.feed(ndjson({"error": "an error was encountered while running the model: CUDA out of memory"}))
    assert exc.value.code == "upstream_stream_error" and "CUDA" in exc.value.message


def test_stream_error_without_text_and_malformed_line():
    with pytest.raises(StreamFailed) as exc:
        WIRE.stream_decoder("chat", "p").feed(ndjson({"error": None}))
    assert exc.value.message
    with pytest.raises(StreamFailed) as exc:
        WIRE.stream_decoder("chat", "p").feed(b"{not json\n")
    assert exc.value.code == "upstream_stream_error"


def test_stream_truncated():
    decoder = WIRE.stream_decoder("chat", "p")
    decoder.feed(ndjson({"message": {"content": "a"}, "done": False}))
    with pytest.raises(StreamFailed) as exc:
        decoder.close()
    assert exc.value.code == "upstream_stream_truncated"
    with pytest.raises(StreamFailed):
        WIRE.stream_decoder("completions", "p").close()


def test_stream_ignores_non_objects_and_lines_after_done():
    data = ndjson([1], {"message": {"content": "a"}, "done": True}, {"message": {"content": "late"}, "done": False})
    chunks = feed_all(WIRE.stream_decoder("chat", "p"), data)
    assert [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"] and
            c["choices"][0]["finish_reason"] is None] == ["a"]


# ---------------------------------------------------------------- both codecs together


def test_ollama_client_through_ollama_upstream_round_trip():
    """An Ollama client's chat, converted to canonical and out again, keeps its meaning."""
    client_body = {"model": "public", "messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "look", "images": [PNG]},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "tool_name": "f", "content": "42"}],
        "options": {"num_predict": 10, "temperature": 0.5, "stop": ["x"], "repeat_penalty": 1.1, "num_ctx": 4096},
        "format": "json", "think": True}
    req = dialect.decode_chat(client_body)
    _, body = out(req.endpoint, req.payload, stream=req.stream)
    assert body["stream"] is True and body["format"] == "json" and body["think"] is True
    assert body["options"] == {"temperature": 0.5, "num_predict": 10, "repeat_penalty": 1.1, "stop": ["x"]}
    assert body["messages"][1] == {"role": "user", "content": "look", "images": [PNG]}
    assert body["messages"][2]["tool_calls"] == [{"id": "call_0", "function": {"name": "f", "arguments": {"a": 1}}}]
    assert body["messages"][3] == {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "call_0"}


def test_upstream_stream_to_client_stream():
    data = ndjson({"message": {"role": "assistant", "content": "", "thinking": "t"}, "done": False},
                  {"message": {"role": "assistant", "content": "ok"}, "done": False},
                  {"message": {"role": "assistant", "content": "", "tool_calls": [
                      {"function": {"name": "f", "arguments": {"q": "s"}}}]}, "done": False},
                  {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                   "prompt_eval_count": 9, "eval_count": 8})
    decoder = WIRE.stream_decoder("chat", "public")
    encoder = dialect.ChatStreamEncoder(EncodeContext(model="public"))
    stream = b"".join(encoder.encode(c) for c in feed_all(decoder, data)) + encoder.finish()
    parsed = [json.loads(line) for line in stream.decode().splitlines()]
    assert parsed[0]["message"] == {"role": "assistant", "content": "", "thinking": "t"}
    assert parsed[1]["message"] == {"role": "assistant", "content": "ok"}
    assert parsed[2]["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": {"q": "s"}}
    assert parsed[3]["done"] is True and parsed[3]["done_reason"] == "stop"
    assert parsed[3]["prompt_eval_count"] == 9 and parsed[3]["eval_count"] == 8
