"""A client of the guard service's API (``POST /api/guardrails/<name>``, llm-router-services').

Sends ``{"payload": [text, ...]}`` and reads one verdict per text from the chunk results: a
text is unsafe when any of its chunks is, and its scores are each category's highest over its
chunks. Chunks carry ``text_index`` (our service adds it); an answer without it (an older
service) can only be read as one verdict for everything sent, so texts then go one per call.
Many texts are sent in several calls of bounded size, so no call hits the service's body limit.

A guard that failed ``FAILURES_TO_REST`` times in a row is not called for ``rest_seconds``: the
requests in between fail (or pass, with fail-open) at once instead of each waiting out the
timeout of a guard that hangs. The first call after the rest tries it again.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Sequence

from .base import GuardUnavailable, PostJson, Verdict

MAX_CALL_CHARS = 200_000  # characters of text per call (the service takes 1 MiB bodies by default)
MAX_CALL_TEXTS = 256  # texts per call (the service takes 512 by default)
FAILURES_TO_REST = 3


class ServiceGuard:
    def __init__(self, name: str, url: str, post_json: PostJson, *, timeout: float, rest_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.url = url  # never shown in messages: the guard's address stays in the gateway
        self._post_json = post_json
        self._timeout = timeout
        self._indexed = True  # until the service shows it does not tell chunks' texts apart
        self._rest_seconds = rest_seconds
        self._clock = clock
        self._failures = 0
        self._resting_until = 0.0

    def check(self, texts: Sequence[str]) -> list[Verdict]:
        if self._resting_until and self._clock() < self._resting_until:
            raise GuardUnavailable(self.name, f"failed {FAILURES_TO_REST} times in a row; resting")
        try:
            verdicts = self._check(texts)
        except GuardUnavailable:
            self._failures += 1
            if self._rest_seconds and self._failures >= FAILURES_TO_REST:
                self._resting_until = self._clock() + self._rest_seconds
            raise
        self._failures, self._resting_until = 0, 0.0
        return verdicts

    def state(self) -> dict[str, Any]:
        """For ``/health``: ok, failing (its last call failed) or resting; never its address."""
        resting = bool(self._resting_until) and self._clock() < self._resting_until
        state = "resting" if resting else "failing" if self._failures else "ok"
        return {"state": state, "consecutive_failures": self._failures}

    def _check(self, texts: Sequence[str]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for batch in _batches(texts, MAX_CALL_CHARS if self._indexed else 0, MAX_CALL_TEXTS):
            try:
                verdicts.extend(self._call(batch))
            except _Unindexed:
                self._indexed = False  # an older service: from now on one text per call
                for text in batch:
                    verdicts.extend(self._call([text]))
        return verdicts

    def _call(self, texts: list[str]) -> list[Verdict]:
        body = json.dumps({"payload": texts}, ensure_ascii=False).encode("utf-8")
        try:
            status, answer = self._post_json(self.url, body, self._timeout)
        except TimeoutError:
            raise GuardUnavailable(self.name, "no answer in time") from None
        except OSError as exc:
            raise GuardUnavailable(self.name, f"unreachable ({type(exc).__name__})") from None
        if status != 200:
            raise GuardUnavailable(self.name, f"answered HTTP {status}")
        try:
            return self._verdicts(json.loads(answer), len(texts))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise GuardUnavailable(self.name, "answer could not be read") from None

    def _verdicts(self, answer: dict[str, Any], count: int) -> list[Verdict]:
        results = answer["results"]
        chunks = results.get("detailed") or []
        if count > 1 and chunks and any("text_index" not in chunk for chunk in chunks):
            raise _Unindexed()
        per_text: list[list[dict]] = [[] for _ in range(count)]
        for chunk in chunks:
            index = int(chunk.get("text_index", 0))
            if not 0 <= index < count:
                raise ValueError("text_index out of range")
            per_text[index].append(chunk)
        if count == 1 and not chunks:
            return [Verdict(safe=bool(results["safe"]))]
        return [_verdict(text_chunks) for text_chunks in per_text]


class _Unindexed(Exception):
    """The service's chunks do not say which text they belong to."""


def _verdict(chunks: list[dict]) -> Verdict:
    if not chunks:
        return Verdict(safe=True)
    scores: dict[str, float] = {}
    for chunk in chunks:
        for label, score in (chunk.get("scores") or {chunk["label"]: chunk["score"]}).items():
            scores[label] = max(float(score), scores.get(label, 0.0))
    unsafe = [chunk for chunk in chunks if not chunk["safe"]]
    worst = max(unsafe or chunks, key=lambda chunk: float(chunk["score"]))
    return Verdict(safe=not unsafe, label=str(worst["label"]), score=float(worst["score"]), scores=scores)


def _batches(texts: Sequence[str], max_chars: int, max_texts: int) -> list[list[str]]:
    """``texts`` in consecutive groups of at most ``max_chars`` characters and ``max_texts`` texts
    (``max_chars`` 0: one text per group)."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for text in texts:
        if current and (max_chars == 0 or size + len(text) > max_chars or len(current) >= max_texts):
            batches.append(current)
            current, size = [], 0
        current.append(text)
        size += len(text)
    if current:
        batches.append(current)
    return batches
