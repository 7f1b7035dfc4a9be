"""The service's API through HTTP, with the tiny classifier loaded by the real loading code (CPU)."""

from __future__ import annotations

import logging
import re

import pytest
import requests

from llm_router_services.classifier import window_bounds
from llm_router_services.settings import GuardSettings
from tests.fixtures.tiny_guard.phrases import LABELS, SAFE, UNSAFE
from tests.services.conftest import settings

INSULT = UNSAFE["VULGAR"][0]
CRIME = UNSAFE["CRIME"][1]
NEUTRAL = SAFE[0]
ENTRY_FIELDS = {"chunk_index": int, "chunk_text": str, "label": str, "score": float, "safe": bool,
                "text_index": int, "scores": dict}


def long_neutral(min_chars: int = 2000) -> str:
    text = ""
    while len(text) < min_chars:
        text += " ".join(SAFE) + " "
    return text.strip()


def assert_error(response: requests.Response, status: int, *phrases: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    for phrase in phrases:
        assert phrase in body["error"]
    assert "Traceback" not in response.text and "File \"" not in response.text


def test_ping(service):
    r = requests.get(service.url + "/api/ping", timeout=5)
    assert r.status_code == 200 and r.json() == {"response": "pong"}


def test_health_shows_device_dtype_labels_and_batching(service):
    body = requests.get(service.url + "/health", timeout=5).json()
    assert body["status"] == "ok"
    assert list(body["guards"]) == ["sojka_guard"]  # NASK's guard is off by default
    g = body["guards"]["sojka_guard"]
    assert g["device"] == "cpu" and g["dtype"] == "float32"
    assert g["labels"] == list(LABELS)
    assert g["thresholds"] == {label: 0.7 for label in LABELS}
    assert g["max_window_tokens"] == 126  # 130 positions - 2 (XLM-R offset) - 2 special tokens
    assert g["overlap_tokens"] == 64
    assert g["model"] == "model"  # the folder's last name, never its path
    assert "/" not in repr(body).replace("/health", "")
    batching = g["batching"]
    assert batching["max_batch_size"] == 64 and batching["batch_wait_ms"] == 2.0
    for key in ("batches", "forward_passes", "items_scored", "largest_batch", "batch_sizes", "timeouts", "failed_batches"):
        assert key in batching


def test_response_shape(service):
    r = service.classify([INSULT, NEUTRAL])
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"results"} and set(body["results"]) == {"safe", "detailed"}
    assert body["results"]["safe"] is False
    detailed = body["results"]["detailed"]
    assert len(detailed) == 2
    for i, entry in enumerate(detailed):
        assert set(entry) == set(ENTRY_FIELDS)
        for field, kind in ENTRY_FIELDS.items():
            assert type(entry[field]) is kind, (field, entry[field])
        assert entry["chunk_index"] == i and entry["text_index"] == i
        assert list(entry["scores"]) == list(LABELS)
        assert all(type(s) is float and 0.0 <= s <= 1.0 for s in entry["scores"].values())
        assert entry["label"] == max(entry["scores"], key=entry["scores"].get)
        assert entry["score"] == entry["scores"][entry["label"]]


@pytest.mark.parametrize("label", LABELS)
def test_flagged_phrases_are_unsafe_with_their_label(service, label):
    body = service.classify(UNSAFE[label]).json()["results"]
    assert body["safe"] is False
    for entry, phrase in zip(body["detailed"], UNSAFE[label]):
        assert entry["chunk_text"] == phrase
        assert entry["label"] == label and entry["score"] > 0.9 and entry["safe"] is False


def test_neutral_texts_are_safe(service):
    body = service.classify(SAFE).json()["results"]
    assert body["safe"] is True
    assert len(body["detailed"]) == len(SAFE)
    assert all(entry["safe"] and max(entry["scores"].values()) < 0.1 for entry in body["detailed"])


def test_one_unsafe_text_makes_the_payload_unsafe(service):
    body = service.classify({"greeting": NEUTRAL, "question": CRIME}).json()["results"]
    assert body["safe"] is False
    assert [(e["text_index"], e["safe"]) for e in body["detailed"]] == [(0, True), (1, False)]


def test_empty_payloads(service):
    assert service.classify([]).json() == {"results": {"safe": True, "detailed": []}}
    assert service.classify("").json() == {"results": {"safe": True, "detailed": []}}
    assert service.classify({}).json() == {"results": {"safe": True, "detailed": []}}
    # an empty text has no chunk; its neighbours keep their own text_index
    body = service.classify(["", INSULT, "   "]).json()["results"]
    assert [(e["text_index"], e["chunk_text"]) for e in body["detailed"]] == [(1, INSULT)]


def test_single_string_payload(service):
    body = service.classify(INSULT).json()["results"]
    assert body["safe"] is False and body["detailed"][0]["text_index"] == 0


# --- long texts: token windows ------------------------------------------------------------------


def test_long_text_is_split_into_overlapping_windows_that_cover_it(service):
    text = long_neutral() + " " + CRIME
    body = service.classify([NEUTRAL, text]).json()["results"]
    entries = [e for e in body["detailed"] if e["text_index"] == 1]
    assert len(entries) >= 4
    assert [e["chunk_index"] for e in body["detailed"]] == list(range(len(body["detailed"])))
    position = 0
    spans = []
    for entry in entries:
        start = text.find(entry["chunk_text"], position)
        assert start >= 0, "chunk_text is not a substring of its text, in order"
        spans.append((start, start + len(entry["chunk_text"])))
        position = start + 1
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s2 < e1, "consecutive windows overlap"
        assert s2 > s1 and e2 > e1
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    assert all(i in covered for i, c in enumerate(text) if not c.isspace()), "windows cover the whole text"
    # the unsafe phrase at the very end of a long neutral text is still caught, in the last window only
    assert body["safe"] is False
    assert entries[-1]["chunk_text"].endswith(CRIME) and entries[-1]["label"] == "CRIME"
    assert entries[-1]["safe"] is False
    # windows that hold none of the phrase are safe (one holding a part of it may be flagged)
    phrase_start = len(text) - len(CRIME)
    assert all(e["safe"] for e, (_, end) in zip(entries, spans) if end <= phrase_start)


def test_window_bounds_reach_the_last_token_whatever_the_lengths():
    # The cutting is ours, not the tokenizer's overflow: tokenizers 0.23.2 gave only two windows of a
    # long text (found on the GPU machine), so the end of the text went unjudged.
    assert window_bounds(5, 8, 2) == [(0, 5)]
    assert window_bounds(8, 8, 2) == [(0, 8)]
    assert window_bounds(9, 8, 2) == [(0, 8), (6, 9)]
    assert window_bounds(20, 8, 2) == [(0, 8), (6, 14), (12, 20)]
    for tokens in range(1, 300):
        bounds = window_bounds(tokens, 24, 8)
        assert bounds[0][0] == 0 and bounds[-1][1] == tokens
        assert all(end - start <= 24 for start, end in bounds)
        assert all(b[0] == a[1] - 8 for a, b in zip(bounds, bounds[1:]))


def test_window_size_and_overlap_come_from_settings(serve):
    served = serve(settings(max_tokens=24, overlap_tokens=8))
    text = long_neutral(600)
    tokenizer = served.guard().classifier.tokenizer
    n_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    entries = served.classify(text).json()["results"]["detailed"]
    expected = 1 + -(-(n_tokens - 24) // (24 - 8))  # first window, then one per 16 new tokens
    assert len(entries) == expected
    for entry in entries:
        assert len(tokenizer(entry["chunk_text"], add_special_tokens=False)["input_ids"]) <= 24 + 2
    health = requests.get(served.url + "/health", timeout=5).json()["guards"]["sojka_guard"]
    assert health["max_window_tokens"] == 24 and health["overlap_tokens"] == 8


def test_text_index_follows_list_and_object_order(service):
    long_text = long_neutral(800)
    payload = {"z": INSULT, "a": long_text, "m": NEUTRAL}
    body = service.classify(payload).json()["results"]
    indexes = [e["text_index"] for e in body["detailed"]]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1, 2}
    assert body["detailed"][0]["chunk_text"] == INSULT
    assert body["detailed"][-1]["chunk_text"] == NEUTRAL
    assert all(e["chunk_text"] in long_text for e in body["detailed"] if e["text_index"] == 1)
    as_list = service.classify(list(payload.values())).json()["results"]
    assert [e["text_index"] for e in as_list["detailed"]] == indexes


# --- thresholds ----------------------------------------------------------------------------------


def test_per_category_threshold_lets_one_label_through_only(serve):
    served = serve(settings(sojka_thresholds=(("VULGAR", 0.999),)))
    body = served.classify([INSULT, CRIME]).json()["results"]
    insult, crime = body["detailed"]
    assert insult["label"] == "VULGAR" and 0.9 < insult["score"] < 0.999
    assert insult["safe"] is True  # below its raised threshold
    assert crime["safe"] is False  # CRIME keeps the default
    assert body["safe"] is False
    assert served.classify([INSULT]).json()["results"]["safe"] is True
    thresholds = requests.get(served.url + "/health", timeout=5).json()["guards"]["sojka_guard"]["thresholds"]
    assert thresholds == {**{label: 0.7 for label in LABELS}, "VULGAR": 0.999}


def test_threshold_is_inclusive(serve, service):
    score = service.classify([INSULT]).json()["results"]["detailed"][0]["score"]
    at = serve(settings(sojka_threshold=score))  # float64 of a float32 score: "at" must count as flagged
    assert at.classify([INSULT]).json()["results"]["safe"] is False
    above = serve(settings(sojka_threshold=min(1.0, score + 1e-6)))
    assert above.classify([INSULT]).json()["results"]["safe"] is True


def test_single_label_model_uses_softmax_and_safe_labels(serve, single_label_model):
    nask = GuardSettings("nask_guard", "LLM_ROUTER_NASK_PIB_GUARD", enabled=True, model_path=str(single_label_model),
                         threshold=0.5, safe_labels=("SAFE",))
    served = serve(settings(nask=nask))
    body = served.classify([INSULT, CRIME], name="nask_guard").json()["results"]
    for entry in body["detailed"]:
        assert abs(sum(entry["scores"].values()) - 1.0) < 1e-4  # softmax
        assert list(entry["scores"]) == ["safe", "VULGAR", "SEX", "CRIME", "SELF-HARM"]
    assert [e["label"] for e in body["detailed"]] == ["VULGAR", "CRIME"]
    assert [e["safe"] for e in body["detailed"]] == [e["score"] < 0.5 for e in body["detailed"]]
    health = requests.get(served.url + "/health", timeout=5).json()["guards"]
    assert set(health) == {"sojka_guard", "nask_guard"}
    assert health["nask_guard"]["problem_type"] == "single_label_classification"
    assert health["nask_guard"]["safe_labels"] == ["safe"]  # matched case-insensitively
    # a top label that is a safe label never makes a window unsafe, whatever its score
    relaxed = serve(settings(nask=GuardSettings("nask_guard", "LLM_ROUTER_NASK_PIB_GUARD", enabled=True,
                                                model_path=str(single_label_model), threshold=0.0,
                                                safe_labels=("safe", "vulgar"))))
    entries = relaxed.classify([INSULT, CRIME], name="nask_guard").json()["results"]["detailed"]
    assert [e["safe"] for e in entries] == [True, False]


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, status, phrase", [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "JSON object"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"text": "hello"}', 400, "'payload' is missing"),
    (b'{"payload": 42}', 400, "not a number"),
    (b'{"payload": null}', 400, "not null"),
    (b'{"payload": ["ok", 3]}', 400, "payload[1] must be a string"),
    (b'{"payload": ["ok", ["nested"]]}', 400, "payload[1] must be a string, not a list"),
    (b'{"payload": {"a": "ok", "b": true}}', 400, "payload['b'] must be a string, not a boolean"),
    (b'\xff\xfe\x00garbage', 400, "not valid JSON"),
])
def test_malformed_requests(service, data, status, phrase):
    r = requests.post(service.url + "/api/guardrails/sojka_guard", data=data,
                      headers={"content-type": "application/json"}, timeout=5)
    assert_error(r, status, phrase)


def test_limits_on_body_size_and_number_of_texts(serve):
    served = serve(settings(max_request_body_size=2048, max_texts=3))
    assert_error(served.classify("x" * 4096), 413, "2048", "LLM_ROUTER_GUARD_MAX_REQUEST_BODY_SIZE")
    assert_error(served.classify(["a", "b", "c", "d"]), 400, "at most 3", "LLM_ROUTER_GUARD_MAX_TEXTS")
    assert served.classify(["a", "b", "c"]).status_code == 200


def test_unknown_route_wrong_method_and_disabled_guard(service):
    assert_error(requests.get(service.url + "/nope", timeout=5), 404, "no such route")
    assert_error(requests.get(service.url + "/api/guardrails/sojka_guard", timeout=5), 405, "GET")
    assert_error(requests.post(service.url + "/api/ping", timeout=5), 405)
    assert_error(service.classify([NEUTRAL], name="nask_guard"), 404, "nask_guard is not enabled",
                 "LLM_ROUTER_NASK_PIB_GUARD_ENABLED")


def test_only_enabled_guards_have_routes(serve, single_label_model):
    nask = GuardSettings("nask_guard", "LLM_ROUTER_NASK_PIB_GUARD", enabled=True, model_path=str(single_label_model))
    base = settings(nask=nask)
    from dataclasses import replace

    served = serve(replace(base, sojka=replace(base.sojka, enabled=False)))
    assert_error(served.classify([NEUTRAL]), 404, "sojka_guard is not enabled", "LLM_ROUTER_SOJKA_GUARD_ENABLED")
    assert served.classify([NEUTRAL], name="nask_guard").status_code == 200


def test_request_timeout_is_a_503(serve):
    # Hundreds of windows cannot be scored within the shortest timeout the settings allow (1 ms).
    served = serve(settings(request_timeout=0.001))
    assert_error(served.classify([long_neutral(3000)] * 20), 503, "LLM_ROUTER_GUARD_REQUEST_TIMEOUT")
    assert served.stats()["timeouts"] == 1
    assert served.classify([NEUTRAL]).status_code in (200, 503)  # the service goes on either way


def test_a_failed_batch_is_a_500_without_a_traceback(serve):
    served = serve(settings())
    served.guard().batcher.close()  # from now on every request's items fail in the batcher
    assert_error(served.classify([NEUTRAL]), 500, "classification failed")
    assert requests.get(served.url + "/api/ping", timeout=5).status_code == 200


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_texts_are_not_in_the_log(serve):
    served = serve(settings(log_level="INFO"))
    lines = _Lines()
    logger = logging.getLogger("llm_router_services")
    logger.addHandler(lines)
    try:
        secret = "Mój sekretny tekst numer 81723"
        assert served.classify([secret, INSULT]).status_code == 200
    finally:
        logger.removeHandler(lines)
    text = "\n".join(lines.lines)
    assert re.search(r"sojka_guard: 2 texts, \d+ chars, 2 windows -> unsafe", text), text
    assert secret not in text and INSULT not in text
