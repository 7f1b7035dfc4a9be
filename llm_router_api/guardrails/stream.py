"""A stream judged as it passes: text is held until the stretch it belongs to is judged safe.

Each choice's text is judged in windows that grow (``LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS``
first, doubling up to ``LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS``), so the first words wait only
for a short window while later ones cost few guard calls. Each window is judged with the tail of
the text before it (a quarter of the largest window), so words cut across a boundary are seen
whole. Text that arrived while the guard was judging joins the next window. Chunks that carry no
unjudged text (the role, the usage) go on at once; a finishing chunk waits for the judgement of
everything before it.

A flagged choice gets no more text: what was held is dropped and the choice ends with
``finish_reason: "content_filter"``. When no unfinished choice is left, ``cut`` tells the
stream to stop reading the upstream (closing it frees the model server's slot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import GuardrailUnavailable
from ..observability.request_record import RequestRecord
from ..streaming import StageFailed
from .texts import choice_text


@dataclass(frozen=True)
class Windows:
    """Characters of a stream judged at once: the first window, and the largest one windows grow to."""

    first: int = 32
    largest: int = 400

    @property
    def overlap(self) -> int:
        return self.largest // 4


class StreamGuard:
    def __init__(self, guarding, record: RequestRecord | None, windows: Windows):
        self._guarding = guarding
        self._record = record
        self._max_window = windows.largest
        self._first_window = windows.first
        self._overlap = windows.overlap
        self._held: list[dict] = []
        self._unjudged: dict[int, str] = {}
        self._context: dict[int, str] = {}  # the tail of the judged text, judged again with the next window
        self._window: dict[int, int] = {}
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._blocked: set[int] = set()
        self._finishing = False
        self._skeleton: dict[str, Any] = {}
        self.cut = False
        self.judgements = 0

    def __call__(self, chunks: list[dict]) -> list[dict]:
        if self.cut:
            return []
        for chunk in chunks:
            chunk = self._without_blocked(chunk)
            if chunk is None:
                continue
            self._skeleton = {key: value for key, value in chunk.items() if key not in ("choices", "usage")}
            self._held.append(chunk)
            for choice in chunk.get("choices") or ():
                index = choice.get("index", 0)
                self._seen.add(index)
                delta = choice.get("delta")
                text = choice_text(delta if isinstance(delta, dict) else choice)
                if text:
                    self._unjudged[index] = self._unjudged.get(index, "") + text
                if choice.get("finish_reason") is not None:
                    self._finished.add(index)
                    self._finishing = True
        if not self._unjudged:
            return self._release()  # nothing unjudged ahead: the role, an empty delta, the usage
        if self._finishing or any(len(text) >= self._window.get(index, self._first_window)
                                  for index, text in self._unjudged.items()):
            return self._judge()
        return []

    def close(self) -> list[dict]:
        """Judge and release what is still held (the upstream ended)."""
        if self.cut:
            return []
        return self._judge() if self._unjudged else self._release()

    def _judge(self) -> list[dict]:
        indexes = list(self._unjudged)
        texts = [self._context.get(index, "") + self._unjudged[index] for index in indexes]
        self._unjudged.clear()
        self.judgements += 1
        try:
            flags = self._guarding.judge("response", self._guarding.response, texts, self._record, remember=False)
        except GuardrailUnavailable as exc:
            self._held.clear()
            self.cut = True
            raise StageFailed(exc.message, exc.code) from None
        blocked = {indexes[flag.text_index] for flag in flags}
        if flags:
            self._guarding.report("response", flags, texts, self._record, self._skeleton.get("model"))
            self._blocked |= blocked
            self._held = [chunk for chunk in map(self._without_blocked, self._held) if chunk is not None]
            self._held += [{**self._skeleton, "choices": [{"index": index, "delta": {},
                                                            "finish_reason": "content_filter"}]}
                           for index in sorted(blocked)]
            self.cut = self._seen <= self._blocked | self._finished
        for index, text in zip(indexes, texts):
            if index not in blocked:
                self._context[index] = text[-self._overlap:]
                self._window[index] = min(self._max_window, 2 * self._window.get(index, self._first_window))
        return self._release()

    def _release(self) -> list[dict]:
        out, self._held = self._held, []
        self._finishing = False
        return out

    def _without_blocked(self, chunk: dict) -> dict | None:
        """``chunk`` without the choices of blocked indexes (None if nothing else is left in it)."""
        choices = chunk.get("choices")
        if not self._blocked or not choices:
            return chunk
        kept = [choice for choice in choices if choice.get("index", 0) not in self._blocked]
        if len(kept) == len(choices):
            return chunk
        if not kept and not chunk.get("usage"):
            return None
        return {**chunk, "choices": kept}
