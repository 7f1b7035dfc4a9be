"""llm-router's built-in task routes end to end, against a vLLM-protocol upstream that records what
it was asked. The scripted model answers ``echo:`` prompts with their text, so each test controls
the model's answer and reads the exact prompt, language, history order and parameters sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from llm_router_api.auth.groups import endpoint_groups
from tests.conftest import provider

PROMPTS = Path(__file__).resolve().parents[2] / "resources" / "prompts"
PESEL = "44051401359"


def _prompt(language: str, name: str) -> str:
    return (PROMPTS / language / "builtin" / f"{name}.txt").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def tasks_gw(module_gateway):
    from tests.upstreams.fake_openai import FakeUpstream

    up = FakeUpstream(model="private").start()
    gw = module_gateway({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                        default_ep_language="pl")
    yield gw, up
    up.stop()


@pytest.fixture
def gw(tasks_gw):
    gw, up = tasks_gw
    up.reset()
    up.behaviour, up.headers_delay = "echo", 0.0
    return gw, up


def _post(gw, route: str, **body):
    return requests.post(f"{gw.url}/api/{route}", json={"model_name": "bielik", **body}, timeout=30)


def test_translate_asks_once_per_text_with_the_library_prompt_and_llm_router_defaults(gw):
    gw, up = gw
    answer = _post(gw, "translate", texts=["echo:Dzień dobry", "echo:Do widzenia"], language="en")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] is True and body["body"]["generation_time"] >= 0
    assert body["body"]["response"] == [{"original": "echo:Dzień dobry", "translated": "Dzień dobry"},
                                        {"original": "echo:Do widzenia", "translated": "Do widzenia"}]
    sent = sorted((r.json for r in up.requests), key=lambda p: p["messages"][1]["content"])
    assert [p["messages"] for p in sent] == [
        [{"role": "system", "content": _prompt("en", "translate")}, {"role": "user", "content": "echo:Do widzenia"}],
        [{"role": "system", "content": _prompt("en", "translate")}, {"role": "user", "content": "echo:Dzień dobry"}]]
    assert all(p["model"] == "private" and p["temperature"] == 0.75 and p["top_p"] == 0.99 and p["max_tokens"] == 256
               and "top_k" not in p and not p.get("stream") for p in sent)


def test_the_default_language_and_explicit_options(gw):
    gw, up = gw
    answer = _post(gw, "simplify_text", texts=["echo:Prościej"], temperature=0.1, max_new_tokens=32, top_k=5,
                   repetition_penalty=1.05)
    assert answer.json()["body"]["response"] == ["Prościej"]
    (request,) = up.requests
    assert request.json["messages"][0]["content"] == _prompt("pl", "simplify-text")  # LLM_ROUTER_DEFAULT_EP_LANGUAGE
    assert (request.json["temperature"], request.json["max_tokens"], request.json["top_k"],
            request.json["repetition_penalty"]) == (0.1, 32, 5, 1.05)


def test_many_texts_are_asked_concurrently(gw):
    gw, up = gw
    up.behaviour, up.headers_delay = "slow", 0.3  # each answer takes a while: one after another would take 1.2 s
    answer = _post(gw, "simplify_text", texts=[f"echo:tekst {i}" for i in range(4)])
    assert answer.json()["body"]["response"] == [f"tekst {i}" for i in range(4)]  # in the order of the texts
    assert up.peak_concurrency >= 2


def test_conversation_sends_system_then_history_in_order_then_the_last_statement(gw):
    gw, up = gw
    history = [{"user": "Pierwsze pytanie", "assistant": "Pierwsza odpowiedź"},
               {"role": "user", "content": "Drugie pytanie"}, {"role": "assistant", "content": "Druga odpowiedź"}]
    answer = _post(gw, "conversation_with_model", user_last_statement="echo:Trzecie", historical_messages=history)
    assert answer.json()["body"]["response"] == "Trzecie"
    assert up.requests[0].json["messages"] == [
        {"role": "system", "content": _prompt("pl", "conversation")},
        {"role": "user", "content": "Pierwsze pytanie"}, {"role": "assistant", "content": "Pierwsza odpowiedź"},
        {"role": "user", "content": "Drugie pytanie"}, {"role": "assistant", "content": "Druga odpowiedź"},
        {"role": "user", "content": "echo:Trzecie"}]

    up.reset()
    extended = _post(gw, "extended_conversation_with_model", system_prompt="Mów krótko.",
                     user_last_statement="echo:Ostatnie", historical_messages=history[:1])
    assert extended.json()["body"]["response"] == "Ostatnie"
    assert [m["content"] for m in up.requests[0].json["messages"]] == [
        "Mów krótko.", "Pierwsze pytanie", "Pierwsza odpowiedź", "echo:Ostatnie"]  # history before the statement


def test_generate_questions_parses_one_question_per_line(gw):
    gw, up = gw
    answer = _post(gw, "generate_questions", texts=["echo:1. Kto?\n2. Gdzie?", "echo:Kiedy?"], number_of_questions=2)
    assert answer.json()["body"]["response"] == [
        {"text": "echo:1. Kto?\n2. Gdzie?", "questions": ["Kto?", "Gdzie?"]},
        {"text": "echo:Kiedy?", "questions": ["Kiedy?"]}]
    assert all(r.json["messages"][0]["content"] == _prompt("pl", "generate-questions").replace(
        "##QUESTION_NUM_STR##", "2 pytania") for r in up.requests)


def test_generative_answer_and_articles_put_the_sources_in_the_user_message(gw):
    gw, up = gw
    answer = _post(gw, "generative_answer", question_str="Kiedy?", texts={"a.txt": ["Biuro otwarto w 2019."]},
                   doc_name_in_answer=True, language="en")
    assert answer.status_code == 200
    messages = up.requests[0].json["messages"]
    assert messages[0]["content"] == _prompt("en", "generative-answer").replace(
        "##DOC_NAMES##", " Name the document the answer comes from.")
    assert messages[1]["content"] == "[a.txt] Biuro otwarto w 2019.\n\nKiedy?"

    up.reset()
    assert _post(gw, "generate_article_from_text", text="echo:Artykuł").json()["body"]["response"] == "Artykuł"
    up.reset()
    full = _post(gw, "create_full_article_from_texts", user_query="Podsumuj", texts=["Most", "Dworzec"],
                 article_type="news")
    assert full.status_code == 200
    messages = up.requests[0].json["messages"]
    assert messages[0]["content"] == _prompt("pl", "create-full-article").replace("##ARTICLE_TYPE##", " (news)")
    assert messages[1]["content"] == "Podsumuj\n\n[1] Most\n\n[2] Dworzec"


@pytest.mark.parametrize("body,status,code", [
    ({"texts": ["a"], "language": "de"}, 400, "invalid_language"),
    ({"texts": []}, 400, "invalid_type"),
    ({}, 400, "missing_required_parameter"),
    ({"texts": ["a"], "model_name": "nope"}, 404, "model_not_found"),
    ({"texts": ["a"], "temperature": "hot"}, 400, "invalid_type"),
])
def test_bad_requests_get_openai_errors_and_nothing_goes_upstream(gw, body, status, code):
    gw, up = gw
    answer = requests.post(f"{gw.url}/api/translate", json={"model_name": "bielik", **body}, timeout=10)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert up.requests == []
    missing_model = requests.post(f"{gw.url}/api/translate", json={"texts": ["a"]}, timeout=10)
    assert missing_model.status_code == 400 and missing_model.json()["error"]["param"] == "model_name"


def test_anonymize_masks_what_goes_upstream_and_the_answer_has_the_values_back(gw):
    gw, up = gw
    answer = _post(gw, "simplify_text", texts=[f"echo:PESEL {PESEL}"], anonymize=True)
    assert answer.json()["body"]["response"] == [f"PESEL {PESEL}"]
    assert PESEL.encode() not in up.requests[0].body and b"[PESEL_1]" in up.requests[0].body


def test_task_routes_are_the_builtin_endpoint_group():
    assert endpoint_groups("builtin_tasks.translate") == frozenset({"builtin"})


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_under_gunicorn_concurrent_calls_keep_the_request_context(worker_class, upstreams, gateway_process):
    up = upstreams(model="private")
    gw = gateway_process({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                         LLM_ROUTER_SERVER_WORKER_CLASS=worker_class, LLM_ROUTER_SERVER_WORKERS_COUNT="1")
    answer = _post(gw, "translate", texts=["echo:a", "echo:b", "echo:c"])
    assert answer.status_code == 200, answer.text
    assert [t["translated"] for t in answer.json()["body"]["response"]] == ["a", "b", "c"]
    assert "Traceback" not in gw.log_text()
