"""Every client dialect against every upstream protocol, through the gateway, with the official clients.

The matrix: client (openai chat, openai responses, LM Studio, ollama, anthropic) x provider
api_type (vllm = OpenAI wire, ollama, anthropic) x stream mode. Each fake upstream answers from
the same script (``tests/upstreams/scripted.py``), so one expectation holds for every cell:
content, roles, tool calls with their arguments, reasoning, stop reasons and token counts.
Every provider has a private ``model_path``; every answer must name the public model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import anthropic
import ollama
import openai
import pytest
import requests


from tests.integration.conftest import PROVIDERS, TOOL

@dataclass
class Result:
    """What a client saw, the same fields whatever its dialect."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, str, dict]] = field(default_factory=list)  # (id, name, arguments)
    finish: str = ""  # stop | length | tool | stop_sequence
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


# Client adapters: ``chat(url, model, messages, stream, tools=, max_tokens=, stop=) -> Result``.
# ``messages`` in a neutral form: (role, text) for system/user, ("call", id, name, arguments),
# ("result", id, name, text).

def _openai_messages(messages) -> list[dict]:
    out = []
    for m in messages:
        if m[0] == "call":
            out.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": m[1], "type": "function", "function": {"name": m[2], "arguments": json.dumps(m[3])}}]})
        elif m[0] == "result":
            out.append({"role": "tool", "tool_call_id": m[1], "content": m[3]})
        else:
            out.append({"role": m[0], "content": m[1]})
    return out


def _openai_finish(reason: str | None) -> str:
    return {"tool_calls": "tool"}.get(reason or "", reason or "")


def openai_chat(url, model, messages, stream, tools=False, max_tokens=None, stop=None, root="/v1") -> Result:
    client = openai.OpenAI(base_url=url + root, api_key="k", max_retries=0)
    kwargs = {"model": model, "messages": _openai_messages(messages)}
    if tools:
        kwargs["tools"] = [{"type": "function", "function": TOOL}]
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    if stop:
        kwargs["stop"] = stop
    result = Result()
    if not stream:
        answer = client.chat.completions.create(**kwargs)
        choice = answer.choices[0]
        assert choice.message.role == "assistant"
        result.text = choice.message.content or ""
        result.reasoning = (choice.message.model_extra or {}).get("reasoning_content") or ""
        result.tool_calls = [(c.id, c.function.name, json.loads(c.function.arguments))
                             for c in choice.message.tool_calls or ()]
        result.finish = _openai_finish(choice.finish_reason)
        result.prompt_tokens, result.completion_tokens = answer.usage.prompt_tokens, answer.usage.completion_tokens
        result.model = answer.model
        return result
    calls: dict[int, list] = {}
    for chunk in client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}):
        result.model = chunk.model
        if chunk.usage:
            result.prompt_tokens, result.completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
        for choice in chunk.choices:
            delta = choice.delta
            result.text += delta.content or ""
            result.reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or ():
                entry = calls.setdefault(call.index, ["", "", ""])
                entry[0] = call.id or entry[0]
                entry[1] = (call.function.name if call.function else None) or entry[1]
                entry[2] += (call.function.arguments if call.function else None) or ""
            if choice.finish_reason:
                result.finish = _openai_finish(choice.finish_reason)
    result.tool_calls = [(i, n, json.loads(a)) for i, n, a in calls.values()]
    return result


def lmstudio_chat(url, model, messages, stream, **options) -> Result:
    """LM Studio's /api/v0 speaks OpenAI's protocol; its non-streamed answers carry ``stats``."""
    if stream:
        return openai_chat(url, model, messages, stream, root="/api/v0", **options)
    body = {"model": model, "messages": _openai_messages(messages)}
    if options.get("tools"):
        body["tools"] = [{"type": "function", "function": TOOL}]
    if options.get("max_tokens"):
        body["max_tokens"] = options["max_tokens"]
    if options.get("stop"):
        body["stop"] = options["stop"]
    response = requests.post(url + "/api/v0/chat/completions", json=body, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["stats"]["generation_time"] >= 0 and answer["model_info"]["context_length"] == 4096
    choice = answer["choices"][0]
    message = choice["message"]
    return Result(text=message.get("content") or "", reasoning=message.get("reasoning_content") or "",
                  tool_calls=[(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                              for c in message.get("tool_calls") or ()],
                  finish=_openai_finish(choice["finish_reason"]), prompt_tokens=answer["usage"]["prompt_tokens"],
                  completion_tokens=answer["usage"]["completion_tokens"], model=answer["model"])


def _responses_input(messages) -> list[dict]:
    items = []
    for m in messages:
        if m[0] == "call":
            items.append({"type": "function_call", "call_id": m[1], "name": m[2], "arguments": json.dumps(m[3])})
        elif m[0] == "result":
            items.append({"type": "function_call_output", "call_id": m[1], "output": m[3]})
        else:
            items.append({"role": m[0], "content": m[1]})
    return items


def _from_response(response) -> Result:
    result = Result(text=response.output_text, model=response.model)
    for item in response.output:
        if item.type == "reasoning":
            result.reasoning += "".join(part.text for part in item.content or ())
        elif item.type == "function_call":
            result.tool_calls.append((item.call_id, item.name, json.loads(item.arguments)))
    if response.status == "incomplete":
        result.finish = {"max_output_tokens": "length"}.get(response.incomplete_details.reason, "incomplete")
    else:
        result.finish = "tool" if result.tool_calls else "stop"
    result.prompt_tokens, result.completion_tokens = response.usage.input_tokens, response.usage.output_tokens
    return result


def responses_chat(url, model, messages, stream, tools=False, max_tokens=None, stop=None) -> Result:
    assert stop is None, "the Responses API has no stop sequences"
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    kwargs = {"model": model, "input": _responses_input(messages)}
    if tools:
        kwargs["tools"] = [{"type": "function", **TOOL}]
    if max_tokens:
        kwargs["max_output_tokens"] = max_tokens
    if not stream:
        return _from_response(client.responses.create(**kwargs))
    streamed, final = "", None
    for event in client.responses.create(**kwargs, stream=True):
        if event.type == "response.output_text.delta":
            streamed += event.delta
        if event.type in ("response.completed", "response.incomplete"):
            final = event.response
    result = _from_response(final)
    assert streamed == result.text
    return result


def ollama_chat(url, model, messages, stream, tools=False, max_tokens=None, stop=None) -> Result:
    client = ollama.Client(host=url)
    wire = []
    for m in messages:
        if m[0] == "call":
            wire.append({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": m[2],
                                                                                        "arguments": m[3]}}]})
        elif m[0] == "result":
            wire.append({"role": "tool", "content": m[3], "tool_name": m[2]})
        else:
            wire.append({"role": m[0], "content": m[1]})
    options = {k: v for k, v in (("num_predict", max_tokens), ("stop", stop)) if v}
    kwargs = {"model": model, "messages": wire, "options": options or None,
              "tools": [{"type": "function", "function": TOOL}] if tools else None}
    parts = client.chat(**kwargs, stream=True) if stream else [client.chat(**kwargs, stream=False)]
    result = Result()
    for part in parts:
        result.model = part.model
        result.text += part.message.content or ""
        result.reasoning += part.message.thinking or ""
        result.tool_calls += [("", c.function.name, dict(c.function.arguments)) for c in part.message.tool_calls or ()]
        if part.done:
            result.finish = "tool" if result.tool_calls else part.done_reason
            result.prompt_tokens, result.completion_tokens = part.prompt_eval_count, part.eval_count
    return result


def anthropic_chat(url, model, messages, stream, tools=False, max_tokens=None, stop=None) -> Result:
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    system = " ".join(m[1] for m in messages if m[0] == "system")
    wire = []
    for m in messages:
        if m[0] == "call":
            wire.append({"role": "assistant", "content": [{"type": "tool_use", "id": m[1], "name": m[2],
                                                           "input": m[3]}]})
        elif m[0] == "result":
            wire.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": m[1], "content": m[3]}]})
        elif m[0] == "user":
            wire.append({"role": "user", "content": m[1]})
    kwargs = {"model": model, "messages": wire, "max_tokens": max_tokens or 1024}
    if system:
        kwargs["system"] = system
    if tools:
        kwargs["tools"] = [{"name": TOOL["name"], "description": TOOL["description"],
                            "input_schema": TOOL["parameters"]}]
    if stop:
        kwargs["stop_sequences"] = stop
    if stream:
        with client.messages.stream(**kwargs) as events:
            streamed = "".join(events.text_stream)
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    result = Result(model=message.model, prompt_tokens=message.usage.input_tokens,
                    completion_tokens=message.usage.output_tokens)
    assert message.role == "assistant"
    for block in message.content:
        if block.type == "text":
            result.text += block.text
        elif block.type == "thinking":
            result.reasoning += block.thinking
        elif block.type == "tool_use":
            result.tool_calls.append((block.id, block.name, block.input))
    if stream:
        assert streamed == result.text
    result.finish = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool"}.get(message.stop_reason,
                                                                                          message.stop_reason)
    return result


CLIENTS = {"openai": openai_chat, "responses": responses_chat, "lmstudio": lmstudio_chat, "ollama": ollama_chat,
           "anthropic": anthropic_chat}
matrix = pytest.mark.parametrize("client,provider,stream", [
    (c, p, s) for c in CLIENTS for p in PROVIDERS for s in (False, True)],
    ids=lambda v: {False: "json", True: "stream"}.get(v, v) if isinstance(v, bool) else v)


@matrix
def test_text_roles_and_usage(gw, client, provider, stream):
    result = CLIENTS[client](gw.url, f"m-{provider}", [("system", "Be brief"), ("user", "echo:hello there world")],
                             stream)
    assert result.text == "hello there world"
    assert result.finish == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (5, 3)
    assert result.model == f"m-{provider}"


@matrix
def test_system_prompt_reaches_the_model(gw, client, provider, stream):
    result = CLIENTS[client](gw.url, f"m-{provider}", [("system", "Answer in Polish"), ("user", "sys?")], stream)
    assert result.text == "Answer in Polish"


@matrix
def test_tool_call_and_tool_result_round_trip(gw, client, provider, stream):
    chat = CLIENTS[client]
    first = chat(gw.url, f"m-{provider}", [("user", "Warsaw")], stream, tools=True)
    assert [(name, args) for _, name, args in first.tool_calls] == [("get_weather", {"query": "Warsaw"})]
    assert first.finish == "tool" and first.text == ""
    call_id = first.tool_calls[0][0] or "call_1"  # Ollama's protocol has no call ids
    second = chat(gw.url, f"m-{provider}", [("user", "Warsaw"), ("call", call_id, "get_weather", {"query": "Warsaw"}),
                                            ("result", call_id, "get_weather", "sunny")], stream, tools=True)
    assert second.text == "result: sunny" and not second.tool_calls and second.finish == "stop"


@matrix
def test_max_tokens_ends_with_length(gw, client, provider, stream):
    result = CLIENTS[client](gw.url, f"m-{provider}", [("user", "count")], stream, max_tokens=3)
    assert result.text == "tok0 tok1 tok2"
    assert result.finish == "length"
    assert result.completion_tokens == 3


@pytest.mark.parametrize("client,provider,stream", [
    (c, p, s) for c in CLIENTS if c != "responses" for p in PROVIDERS for s in (False, True)])
def test_stop_sequences(gw, client, provider, stream):
    """The Responses API has no stop sequences, so it has no cell here."""
    result = CLIENTS[client](gw.url, f"m-{provider}", [("user", "echo:one two STOP three")], stream, stop=["STOP"])
    assert result.text == "one two "
    # Anthropic names the sequence that stopped; an Ollama upstream does not say which one did.
    expected = "stop_sequence" if client == "anthropic" and provider != "ollama" else "stop"
    assert result.finish == expected


@matrix
def test_reasoning_content(gw, client, provider, stream):
    result = CLIENTS[client](gw.url, f"m-{provider}", [("user", "think: deep")], stream)
    assert result.reasoning == "pondering deep"
    assert result.text == "deep"
