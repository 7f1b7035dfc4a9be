"""The per-request masking mapping, unmasking of answers and streams, and the request fields masked.

A small regex detector stands in for fast_masker here, so these tests pin the replacement and
unmasking machinery on its own; fast_masker's rules have their own tests.
"""

from __future__ import annotations

import json
import re

import pytest

from llm_router_api.masking.answers import StreamUnmasking, unmask_answer
from llm_router_api.masking.request_fields import mask_payload
from llm_router_plugins.maskers.base import Finding
from llm_router_plugins.maskers.pipeline import MaskingPipeline
from llm_router_plugins.maskers.session import MaskingSession


class _Detector:
    """Finds e-mail-like words and ``SECRET<digits>``."""

    def __init__(self, name: str = "test", pattern: str = r"\S+@\S+\.\w+|SECRET\d+"):
        self.name = name
        self._pattern = re.compile(pattern)

    def find(self, text: str) -> list[Finding]:
        return [Finding(m.start(), m.end(), "EMAIL" if "@" in m.group() else "SECRET", self.name)
                for m in self._pattern.finditer(text)]


def _session() -> MaskingSession:
    return MaskingSession(MaskingPipeline([_Detector()]))


def test_values_get_numbered_placeholders_per_entity_and_the_same_value_the_same_one():
    session = _session()
    masked = session.mask("a@b.pl wrote SECRET1 to c@d.pl and a@b.pl again")
    assert masked == "[EMAIL_1] wrote [SECRET_1] to [EMAIL_2] and [EMAIL_1] again"
    assert session.originals == {"[EMAIL_1]": "a@b.pl", "[SECRET_1]": "SECRET1", "[EMAIL_2]": "c@d.pl"}
    assert session.rules == {"test": 4}
    assert session.unmask(masked) == "a@b.pl wrote SECRET1 to c@d.pl and a@b.pl again"


def test_two_sessions_never_share_a_mapping():
    first, second = _session(), _session()
    assert first.mask("x@y.pl") == second.mask("z@w.pl") == "[EMAIL_1]"
    assert first.unmask("[EMAIL_1]") == "x@y.pl"
    assert second.unmask("[EMAIL_1]") == "z@w.pl"
    assert second.unmask("[EMAIL_2] [SECRET_1]") == "[EMAIL_2] [SECRET_1]"  # not issued: left alone


def test_an_earlier_masker_wins_an_overlap_in_a_pipeline():
    pipeline = MaskingPipeline([_Detector("first", r"SECRET\d"), _Detector("second", r"SECRET\d+")])
    session = MaskingSession(pipeline)
    assert session.mask("SECRET12") == "[SECRET_1]2"
    assert session.rules == {"first": 1}


def test_values_inside_json_strings_are_written_escaped():
    session = MaskingSession(MaskingPipeline([_Detector(pattern=r'SECRET"\\x')]))
    masked = session.mask('SECRET"\\x')
    arguments = json.dumps({"q": masked})
    assert json.loads(session.unmask(arguments, json_string=True)) == {"q": 'SECRET"\\x'}


@pytest.mark.parametrize("text", [
    "mail [EMAIL_1], key [SECRET_1]!", "[EMAIL_1][EMAIL_1]", "[[EMAIL_1]]", "[EMAIL_", "a [ b [EMAIL_1",
    "[EMAIL_12] is not issued", "ends with [", "x [SECRET_1] [EMAIL_2] y",
])
def test_a_stream_cut_anywhere_unmasks_like_the_whole_text(text):
    session = _session()
    session.mask("a@b.pl SECRET7 c@d.pl")
    expected = session.unmask(text)
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            unmasker = session.stream_unmasker()
            out = unmasker.feed(text[:i]) + unmasker.feed(text[i:j]) + unmasker.feed(text[j:]) + unmasker.flush()
            assert out == expected, (i, j)


def test_a_stream_holds_back_only_a_tail_that_may_still_become_a_placeholder():
    session = _session()
    session.mask("a@b.pl")
    unmasker = session.stream_unmasker()
    assert unmasker.feed("write to [EM") == "write to "
    assert unmasker.holding
    assert unmasker.feed("AIL_1] now [") == "a@b.pl now "
    assert unmasker.feed("x") == "[x"  # "[x" can no longer be a placeholder
    assert unmasker.feed(" [SECRET") == " [SECRET"  # no SECRET placeholder was issued
    assert not unmasker.holding


def _chunk(delta: dict, finish: str | None = None, index: int = 0) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def _content(chunks: list[dict], field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c.get("choices"))


def test_stream_unmasking_of_canonical_chunks_flushes_before_the_finish():
    session = _session()
    session.mask("a@b.pl SECRET1")
    stage = StreamUnmasking(session)
    out = stage([_chunk({"role": "assistant", "content": ""}), _chunk({"content": "to [EMA"})])
    out += stage([_chunk({"content": "IL_1] and [SECR"}), _chunk({"reasoning_content": "r [SECRET_1]"})])
    out += stage([_chunk({}, "stop")])
    out += stage([{"id": "c1", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}])
    out += stage.close()
    assert _content(out) == "to a@b.pl and [SECR"
    assert _content(out, "reasoning_content") == "r SECRET1"
    finish_at = next(i for i, c in enumerate(out) if c.get("choices") and c["choices"][0]["finish_reason"])
    assert _content(out[finish_at:]) == ""  # the held "[SECR" came out before the finishing chunk
    assert out[-1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 2}


def test_held_text_stays_after_the_text_of_a_finishing_chunk_that_carries_some():
    session = _session()
    session.mask("a@b.pl")
    stage = StreamUnmasking(session)
    out = stage([_chunk({"content": "x [EMAIL_1] y"}), _chunk({"content": "abc [EMA"}, "stop")]) + stage.close()
    assert _content(out) == "x a@b.pl yabc [EMA"
    assert out[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_unmasking_of_tool_call_arguments_and_completions_text():
    session = _session()
    session.mask("a@b.pl")
    stage = StreamUnmasking(session)
    calls = [_chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"to": "[EM'}}]}),
             _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'AIL_1]"}'}}]}), _chunk({}, "tool_calls")]
    out = stage(calls) + stage.close()
    arguments = "".join(call["function"]["arguments"] for c in out for call in c["choices"][0]["delta"].get("tool_calls", []))
    assert json.loads(arguments) == {"to": "a@b.pl"}

    stage = StreamUnmasking(session)
    texts = [{"id": "x", "choices": [{"index": 0, "text": piece, "finish_reason": None}]} for piece in ("a [EMA", "IL_")]
    out = stage(texts) + stage.close()
    assert "".join(c["choices"][0]["text"] for c in out) == "a [EMAIL_"  # the upstream ended mid-placeholder


def test_answers_are_unmasked_in_content_reasoning_tool_arguments_and_completion_text():
    session = _session()
    session.mask("a@b.pl SECRET1")
    answer = {"choices": [{"index": 0, "message": {
        "role": "assistant", "content": "hi [EMAIL_1]", "reasoning_content": "[SECRET_1]",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": "[EMAIL_1]"}'}}]}},
        {"index": 1, "text": "[SECRET_1]"}]}
    unmask_answer(answer, session)
    message = answer["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("hi a@b.pl", "SECRET1")
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"a": "a@b.pl"}
    assert answer["choices"][1]["text"] == "SECRET1"


def test_what_a_person_wrote_is_masked_and_nothing_else():
    session = _session()
    tools = [{"type": "function", "function": {"name": "send", "description": "to x@y.pl",
                                               "parameters": {"type": "object", "properties": {}}}}]
    payload = {"model": "a@b.pl-model", "temperature": 0.5, "tools": tools, "messages": [
        {"role": "system", "content": "admin is x@y.pl"},
        {"role": "user", "content": [{"type": "text", "text": "I am a@b.pl"}, {"type": "image_url", "image_url": {"url": "u"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "send", "arguments": '{"to": "a@b.pl", "n": 5}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": "sent SECRET9"},
    ]}
    original = json.loads(json.dumps(payload))
    masked = mask_payload("chat", payload, session.mask)
    assert payload == original  # the client's body is never changed
    assert masked["model"] == "a@b.pl-model" and masked["tools"] == tools and masked["temperature"] == 0.5
    messages = masked["messages"]
    assert messages[0]["content"] == "admin is [EMAIL_1]"
    assert messages[1]["content"][0]["text"] == "I am [EMAIL_2]"
    assert messages[1]["content"][1] == payload["messages"][1]["content"][1]
    assert json.loads(messages[2]["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_2]", "n": 5}
    assert messages[3]["content"] == "sent [SECRET_1]"

    assert mask_payload("completions", {"prompt": ["x@y.pl", [1, 2]]}, session.mask)["prompt"] == ["[EMAIL_1]", [1, 2]]
    assert mask_payload("embeddings", {"input": "SECRET9"}, session.mask)["input"] == "[SECRET_1]"
