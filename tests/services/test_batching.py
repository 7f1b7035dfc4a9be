"""Concurrent requests through the real app share forward passes, and each gets its own results."""

from __future__ import annotations

import threading

import requests

from tests.fixtures.tiny_guard.phrases import LABELS, SAFE, UNSAFE
from tests.services.conftest import settings

CLIENTS = 32


def texts_for_clients() -> list[str]:
    """A distinct text per client: every fourth an unsafe phrase (a known label), the rest two SAFE sentences."""
    unsafe = [(label, phrase) for label in LABELS for phrase in UNSAFE[label]]
    out = []
    for i in range(CLIENTS):
        if i % 4 == 0:
            out.append(unsafe[(i // 4) % len(unsafe)][1])
        else:
            a, b = divmod(i, len(SAFE))
            out.append(f"{SAFE[a % len(SAFE)]} {SAFE[(a + b + 1) % len(SAFE)]}")
    return out


def fire_together(url: str, texts: list[str]) -> list[dict]:
    """One thread per text, all released at once by a barrier; returns the bodies in text order."""
    barrier = threading.Barrier(len(texts))
    bodies: list = [None] * len(texts)

    def client(i: int) -> None:
        session = requests.Session()
        barrier.wait(10)
        r = session.post(url, json={"payload": [texts[i]]}, timeout=30)
        bodies[i] = (r.status_code, r.json())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(b is not None for b in bodies), "a client did not finish"
    return bodies


def check_own_results(texts: list[str], bodies: list) -> None:
    label_of = {phrase: label for label, phrases in UNSAFE.items() for phrase in phrases}
    for text, (status, body) in zip(texts, bodies):
        assert status == 200, body
        (entry,) = body["results"]["detailed"]
        assert entry["chunk_text"] == text, "a response carries another request's text"
        assert entry["text_index"] == 0
        if text in label_of:
            assert entry["label"] == label_of[text] and body["results"]["safe"] is False
        else:
            assert body["results"]["safe"] is True


def test_concurrent_requests_are_batched_and_get_their_own_results(serve):
    # A generous wait so that all 32 requests, sent at once, meet in few batches even on 2 busy cores.
    served = serve(settings(batch_wait_ms=200, max_batch_size=64))
    texts = texts_for_clients()
    before = served.stats()
    bodies = fire_together(served.url + "/api/guardrails/sojka_guard", texts)
    after = served.stats()
    check_own_results(texts, bodies)
    batches = after["batches"] - before["batches"]
    passes = after["forward_passes"] - before["forward_passes"]
    assert after["items_scored"] - before["items_scored"] == CLIENTS
    assert batches <= CLIENTS // 4, f"{CLIENTS} concurrent requests took {batches} batches"
    # on CPU a batch is cut into a few passes by length (see Classifier.score), still far fewer than 32
    assert passes <= CLIENTS // 2, f"{CLIENTS} concurrent requests took {passes} forward passes"
    assert after["largest_batch"] >= 8


def test_max_batch_size_bounds_every_pass(serve):
    served = serve(settings(batch_wait_ms=200, max_batch_size=5))
    texts = texts_for_clients()
    bodies = fire_together(served.url + "/api/guardrails/sojka_guard", texts)
    check_own_results(texts, bodies)
    stats = served.stats()
    assert stats["largest_batch"] <= 5
    assert stats["batches"] >= CLIENTS // 5
    assert max(int(size) for size in stats["batch_sizes"]) <= 5


def test_batch_size_one_is_one_pass_per_request(serve):
    served = serve(settings(batch_wait_ms=0, max_batch_size=1))
    texts = texts_for_clients()
    bodies = fire_together(served.url + "/api/guardrails/sojka_guard", texts)
    check_own_results(texts, bodies)
    stats = served.stats()
    assert stats["batches"] == CLIENTS and stats["batch_sizes"] == {"1": CLIENTS}
    assert stats["forward_passes"] == CLIENTS


def test_one_long_request_spans_batches_and_comes_back_whole(serve):
    served = serve(settings(batch_wait_ms=0, max_batch_size=3, max_tokens=16, overlap_tokens=4))
    text = " ".join(SAFE) + " " + UNSAFE["SELF-HARM"][0]
    body = served.classify([text, "Dzień dobry."]).json()["results"]
    windows = [e for e in body["detailed"] if e["text_index"] == 0]
    assert len(windows) > 3  # more windows than one batch takes
    assert body["safe"] is False and windows[-1]["label"] == "SELF-HARM"
    assert [(e["text_index"], e["chunk_text"]) for e in body["detailed"][-1:]] == [(1, "Dzień dobry.")]
    assert served.stats()["largest_batch"] <= 3


def test_cpu_batch_is_cut_by_length_and_keeps_its_order(service):
    classifier = service.guard().classifier
    short = [f"{SAFE[i]}" for i in range(4)]
    long_text = " ".join(SAFE[:5])
    windows = classifier.windows(short + [long_text])
    assert len(windows) == 5 and len(windows[-1].input_ids) > 3 * max(len(w.input_ids) for w in windows[:4])
    before = classifier.forward_passes
    together = classifier.score(windows)
    assert classifier.forward_passes - before == 2  # the short ones, then the long one: not all padded to it
    before = classifier.forward_passes
    alone = [classifier.score([w])[0] for w in windows]
    assert classifier.forward_passes - before == 5
    for a, b in zip(together, alone):  # same scores, same order, whatever the grouping
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
    before = classifier.forward_passes
    classifier.score(windows[:4])  # similar lengths: one pass
    assert classifier.forward_passes - before == 1
