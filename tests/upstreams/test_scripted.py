"""The scripted brain: every fake upstream answers by these rules, so tests can assert content end to end."""

from __future__ import annotations

import json

from tests.upstreams.scripted import Message, answer, content_text, json_pieces, pieces, stop_list


def test_tokens_by_default_and_up_to_max_tokens() -> None:
    out = answer([("user", "hello there")], n_tokens=3)
    assert (out.text, out.finish, out.reasoning, out.tool_calls) == ("tok0 tok1 tok2", "stop", None, [])
    assert (out.prompt_tokens, out.completion_tokens) == (2, 3)
    limited = answer([("user", "hi")], max_tokens=2, n_tokens=3)
    assert (limited.text, limited.finish) == ("tok0 tok1", "length")
    assert answer([], n_tokens=1).text == "tok0"


def test_echo_is_exact() -> None:
    out = answer([Message("user", "echo:  a  b ")], max_tokens=1)
    assert (out.text, out.finish, out.completion_tokens) == ("  a  b ", "stop", 2)


def test_tool_call_of_the_first_tool_offered() -> None:
    out = answer([("system", "s"), ("user", "weather in Paris")], tools=["lookup", "other"])
    (call,) = out.tool_calls
    assert call.name == "lookup" and call.arguments == {"query": "weather in Paris"}
    assert call.id.startswith("call_") and len(call.id) > 5
    assert (out.text, out.finish, out.completion_tokens) == ("", "tool_calls", 1)
    assert answer([("user", "x")], tools=["lookup"]).tool_calls[0].id != call.id


def test_tool_result_wins_over_tools() -> None:
    out = answer([("user", "q"), ("assistant", ""), ("tool", "sunny, 20C")], tools=["lookup"])
    assert (out.text, out.finish, out.tool_calls) == ("result: sunny, 20C", "stop", [])


def test_system_prompt_question() -> None:
    convo = [("system", "be brief"), ("user", "a"), ("system", "be kind"), ("user", "sys? please")]
    assert answer(convo).text == "be brief | be kind"
    assert answer([("user", "sys?")]).text == "no system prompt"


def test_think_gives_reasoning() -> None:
    out = answer([("user", "think:  why not ")])
    assert (out.reasoning, out.text, out.completion_tokens) == ("pondering why not", "why not", 5)


def test_stop_strings_cut_at_the_earliest() -> None:
    out = answer([("user", "hi")], stop=["", "tok3", "tok1"], max_tokens=6)
    assert (out.text, out.finish, out.matched_stop) == ("tok0 ", "stop", "tok1")
    assert answer([("user", "echo:a.b")], stop=["."]).text == "a"
    assert answer([("user", "hi")], stop=["nowhere"], n_tokens=1).matched_stop is None


def test_pieces_and_json_pieces_join_back() -> None:
    assert pieces("tok0 tok1  tok2") == ["tok0 ", "tok1  ", "tok2"]
    assert pieces("") == []
    for arguments in ("{}", json.dumps({"query": "a longer question"})):
        parts = json_pieces(arguments)
        assert len(parts) >= 2 and "".join(parts) == arguments


def test_content_text_and_stop_list() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, {"type": "input_text", "text": "b"}]
    assert content_text(parts) == "a\nb"
    assert content_text("s") == "s" and content_text(None) == "" and content_text(3) == ""
    assert stop_list("x") == ["x"] and stop_list(["x", 1]) == ["x"] and stop_list(None) == []
