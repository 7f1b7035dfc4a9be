"""Guardrail pieces on their own: the service client, the verdict cache, the pipeline, the stream guard.

Guards here are either the scripted HTTP guard (``tests/upstreams/fake_guard.py``) reached through
the gateway's real transport, or a small in-process guard that judges by keyword (an implementation
of the ``Guardrail`` protocol, not a mock: the code under test calls it as it calls any guard).
"""

from __future__ import annotations

import pytest

from llm_router_api.errors import GuardrailUnavailable
from llm_router_api.guardrails import Guarding
from llm_router_api.guardrails.stream import StreamGuard, Windows
from llm_router_api.guardrails.transport import post_json_with
from llm_router_api.settings import Settings, SettingsError
from llm_router_api.streaming import StageFailed
from llm_router_api.upstream.client import UpstreamClient
from llm_router_plugins.guardrails import GuardrailPipeline, GuardUnavailable, Verdict
from llm_router_plugins.guardrails.cache import VerdictCache
from llm_router_plugins.guardrails.registry import build_pipeline, endpoint_url
from tests.conftest import ManualClock
from tests.upstreams.fake_guard import FakeGuard


class KeywordGuard:
    """Flags texts containing ``word``; remembers what it was asked."""

    def __init__(self, word: str, name: str = "kw", label: str = "HATE"):
        self.name, self.word, self.label = name, word, label
        self.calls: list[list[str]] = []
        self.failing = False

    def check(self, texts):
        self.calls.append(list(texts))
        if self.failing:
            raise GuardUnavailable(self.name, "answered HTTP 503")
        return [Verdict(safe=self.word not in text, label=self.label, score=0.9 if self.word in text else 0.1)
                for text in texts]


def _transport():
    return post_json_with(UpstreamClient(pool_size=4, connect_timeout=1.0))


# -- the service client ----------------------------------------------------------------------------

def test_the_client_reads_one_verdict_per_text_with_the_highest_score_of_each_category_over_chunks():
    with FakeGuard() as guard:
        guard.answer = lambda payload: {"results": {"safe": False, "detailed": [
            {"chunk_index": 0, "chunk_text": "a", "label": "HATE", "score": 0.2, "safe": True, "text_index": 0,
             "scores": {"HATE": 0.2, "CRIME": 0.1}},
            {"chunk_index": 1, "chunk_text": "b", "label": "CRIME", "score": 0.8, "safe": False, "text_index": 0,
             "scores": {"HATE": 0.1, "CRIME": 0.8}},
            {"chunk_index": 0, "chunk_text": "c", "label": "SEX", "score": 0.3, "safe": True, "text_index": 1,
             "scores": {"SEX": 0.3}}]}}
        pipeline = build_pipeline(["sojka_guard"], {"sojka_guard": guard.url}, _transport(), timeout=2)
        verdicts = pipeline.guards[0].check(["long text", "short"])
    assert verdicts == [Verdict(False, "CRIME", 0.8, {"HATE": 0.2, "CRIME": 0.8}),
                        Verdict(True, "SEX", 0.3, {"SEX": 0.3})]
    assert guard.paths == ["/api/guardrails/sojka_guard"]


@pytest.mark.parametrize("answer", [{"results": {"safe": True, "detailed": [
    {"chunk_index": 0, "chunk_text": "a", "label": "HATE", "score": 0.1, "safe": True, "text_index": 7}]}},
    {"results": "nope"}, {"no": "results"}])
def test_an_answer_that_cannot_be_read_is_a_guard_failure(answer):
    with FakeGuard() as guard:
        guard.answer = lambda payload: answer
        pipeline = build_pipeline(["sojka_guard"], {"sojka_guard": guard.url}, _transport(), timeout=2)
        with pytest.raises(GuardUnavailable, match="could not be read"):
            pipeline.check(["one", "two"])


def test_many_texts_go_in_calls_of_bounded_size(monkeypatch):
    from llm_router_plugins.guardrails import service_guard

    monkeypatch.setattr(service_guard, "MAX_CALL_CHARS", 10)
    monkeypatch.setattr(service_guard, "MAX_CALL_TEXTS", 3)
    with FakeGuard({"zle": "HATE"}) as guard:
        pipeline = build_pipeline(["sojka_guard"], {"sojka_guard": guard.url}, _transport(), timeout=2)
        flags = pipeline.check(["aaaa", "bbbb", "cccc", "zle!", "a", "b", "c", "d"])
    assert guard.payloads == [["aaaa", "bbbb"], ["cccc", "zle!", "a"], ["b", "c", "d"]]
    assert [(flag.text_index, flag.verdict.label) for flag in flags] == [(3, "HATE")]


def test_the_guard_url_takes_a_server_root_or_the_whole_endpoint():
    assert endpoint_url("sojka_guard", "http://g:5000/") == "http://g:5000/api/guardrails/sojka_guard"
    assert endpoint_url("nask_guard", "http://g:5000/api/guardrails/nask_guard") == \
        "http://g:5000/api/guardrails/nask_guard"
    assert endpoint_url("sojka_guard", "http://g/prefix") == "http://g/prefix/api/guardrails/sojka_guard"


# -- cache and pipeline ----------------------------------------------------------------------------

def test_the_cache_forgets_the_least_recently_used_and_the_old():
    clock = ManualClock()
    cache = VerdictCache(max_entries=2, max_age=60, clock=clock)
    a, b, c = (cache.key("g", text) for text in "abc")
    cache.put(a, Verdict(True))
    cache.put(b, Verdict(False, "HATE", 0.9))
    assert cache.get(a) == Verdict(True)  # a is now the most recent
    cache.put(c, Verdict(True))
    assert cache.get(b) is None and cache.get(a) is not None and len(cache) == 2
    clock.advance(61)
    assert cache.get(a) is None
    assert cache.key("g", "a") != cache.key("other", "a")
    off = VerdictCache(max_entries=0)
    off.put(a, Verdict(True))
    assert off.get(a) is None


def test_the_pipeline_asks_each_guard_only_about_new_non_blank_texts_and_stops_at_the_first_flag():
    first, second = KeywordGuard("zle", "first"), KeywordGuard("gorzej", "second")
    timings = []
    pipeline = GuardrailPipeline([first, second], VerdictCache(), observe=lambda name, s: timings.append(name))
    assert pipeline.check(["hello", "  ", "world"]) == []
    assert first.calls == [["hello", "world"]] and second.calls == [["hello", "world"]]
    assert pipeline.check(["hello", "world", "to zle"])[0].guardrail == "first"
    assert first.calls[-1] == ["to zle"] and len(second.calls) == 1  # the second is not asked after a flag
    assert timings == ["first", "second", "first"]
    pipeline.check(["hello"], remember=False)
    assert first.calls[-1] == ["hello"]


# -- the stream guard ------------------------------------------------------------------------------

def _chunk(text=None, index=0, finish=None, role=None):
    delta = {}
    if role:
        delta["role"] = role
    if text is not None:
        delta["content"] = text
    return {"id": "c1", "model": "m", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def _guarding(guard):
    return Guarding(None, GuardrailPipeline([guard]))


def _texts(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def test_text_is_held_until_its_window_is_judged_and_the_role_goes_at_once():
    guard = KeywordGuard("zle")
    stage = StreamGuard(_guarding(guard), None, Windows(16, 80))  # windows of 16, 32, 64, then 80 characters
    assert stage([_chunk(role="assistant", text="")]) == [_chunk(role="assistant", text="")]
    assert stage([_chunk("a" * 10)]) == []
    released = stage([_chunk("b" * 10)])
    assert _texts(released) == "a" * 10 + "b" * 10 and guard.calls == [["a" * 10 + "b" * 10]]
    assert stage([_chunk("c" * 31)]) == []  # the second window is 32
    assert _texts(stage([_chunk("d")])) == "c" * 31 + "d"
    assert guard.calls[-1] == ["a" * 10 + "b" * 10 + "c" * 31 + "d"]  # with the 20 characters before it
    finish = stage([_chunk("end", finish="stop")])
    assert _texts(finish) == "end" and finish[-1]["choices"][0]["finish_reason"] == "stop"
    assert stage.close() == [] and not stage.cut


def test_a_phrase_cut_by_a_window_boundary_is_judged_whole_with_the_tail_before_it():
    guard = KeywordGuard("ukraść samochód")
    stage = StreamGuard(_guarding(guard), None, Windows(16, 80))
    out = stage([_chunk("x" * 9 + " ukraść ")])  # 16 characters: the first window ends here
    assert _texts(out) == "x" * 9 + " ukraść "
    out = stage([_chunk("samochód " + "y" * 30)])
    assert stage.cut and out[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "content_filter"}
    assert "samochód" not in _texts(out)
    assert stage([_chunk("more")]) == [] and stage.close() == []


def test_one_flagged_choice_of_several_ends_alone_and_the_others_go_on():
    guard = KeywordGuard("zle")
    stage = StreamGuard(_guarding(guard), None, Windows(16, 16))
    out = stage([_chunk("dobre " * 3, index=0), _chunk("to zle " * 3, index=1)])
    assert [c["choices"][0] for c in out if c["choices"][0]["index"] == 1] == [
        {"index": 1, "delta": {}, "finish_reason": "content_filter"}]
    assert not stage.cut
    out = stage([_chunk("dalej " * 3, index=0), _chunk("zle zle", index=1)])
    assert {c["choices"][0]["index"] for c in out} == {0}
    out = stage([_chunk(None, index=0, finish="stop"), {"id": "c1", "choices": [], "usage": {"total_tokens": 3}}])
    assert out[-1]["usage"] == {"total_tokens": 3}
    assert not stage.cut  # every choice ended by itself: the upstream is read to its end (usage, [DONE])


def test_a_guard_failure_mid_stream_fails_the_stage_closed_or_passes_open():
    guard = KeywordGuard("zle")
    stage = StreamGuard(_guarding(guard), None, Windows(16, 16))
    guard.failing = True
    with pytest.raises(StageFailed) as raised:
        stage([_chunk("x" * 20)])
    assert raised.value.code == "guardrail_unavailable" and stage.cut

    open_guarding = Guarding(None, GuardrailPipeline([guard]), fail_open=True)
    assert _texts(StreamGuard(open_guarding, None, Windows(16, 16))([_chunk("x" * 20)])) == "x" * 20


def test_request_guarding_fails_closed_with_a_message_naming_no_host():
    guard = KeywordGuard("zle")
    guard.failing = True
    guarding = Guarding(GuardrailPipeline([guard]), None)
    with pytest.raises(GuardrailUnavailable) as raised:
        guarding.check_request("chat", {"model": "m", "messages": [{"role": "user", "content": "hej"}]}, None)
    assert raised.value.status == 503 and "answered HTTP 503" in raised.value.message


# -- settings --------------------------------------------------------------------------------------

def test_guardrail_settings_are_read_and_checked_with_one_line_each():
    settings = Settings.from_environ({"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "1",
                                      "LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "sojka_guard,nask_guard",
                                      "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST_EP": "http://g:5000/api/guardrails/sojka_guard",
                                      "LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST": "http://n:5001",
                                      "LLM_ROUTER_GUARDRAIL_FAIL_OPEN": "yes"})
    assert settings.guardrail_request_pipeline == ("sojka_guard", "nask_guard") and settings.guardrail_fail_open
    assert settings.guardrail_hosts == {"sojka_guard": "http://g:5000/api/guardrails/sojka_guard",
                                        "nask_guard": "http://n:5001"}
    for environ, message in (
            ({"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE": "1"}, "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST must name"),
            ({"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "llama_guard"}, "unknown guardrail 'llama_guard'"),
            ({"LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST": "g:5000"}, "must be an http\\(s\\) URL"),
            ({"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE": "1"}, "LLM_ROUTER_AUDIT_PUBLIC_KEY must name"),
            ({"LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS": "4"}, "LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS"),
            ({"LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS": "500"}, "must not be larger than")):
        with pytest.raises(SettingsError, match=message) as raised:
            Settings.from_environ(environ)
        assert "\n" not in str(raised.value)


def test_a_guard_failing_three_times_in_a_row_rests_so_requests_do_not_each_wait_for_its_timeout():
    from llm_router_plugins.guardrails.service_guard import ServiceGuard

    clock = ManualClock()
    with FakeGuard() as guard:
        guard.status = 500
        client = ServiceGuard("sojka_guard", guard.url + "/api/guardrails/sojka_guard", _transport(), timeout=2,
                              rest_seconds=10, clock=clock)
        for _ in range(3):
            with pytest.raises(GuardUnavailable, match="HTTP 500"):
                client.check(["a"])
        assert len(guard.payloads) == 3
        guard.status = 200
        with pytest.raises(GuardUnavailable, match="resting"):
            client.check(["a"])
        assert len(guard.payloads) == 3  # not called while resting
        clock.advance(10.5)
        assert client.check(["a"]) == [Verdict(True, "HATE", 0.01, {label: 0.01 for label in
                                                                     ("HATE", "VULGAR", "SEX", "CRIME", "SELF-HARM")})]
