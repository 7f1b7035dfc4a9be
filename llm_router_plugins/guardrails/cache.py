"""Verdicts remembered per text, so a conversation's history is not classified again every turn.

Keyed by guard name and a SHA-256 of the text (the cache holds no text), bounded in entries
(least recently used go first) and in age, per worker process. Thread-safe: many requests of
one worker share it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Callable

from .base import Verdict


class VerdictCache:
    def __init__(self, max_entries: int = 10_000, max_age: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Verdict]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(guardrail: str, text: str) -> bytes:
        return hashlib.sha256(f"{guardrail}\0{text}".encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> Verdict | None:
        if self._max_entries == 0:
            return None
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or now - entry[0] > self._max_age:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: bytes, verdict: Verdict) -> None:
        if self._max_entries == 0:
            return
        now = self._clock()
        with self._lock:
            self._entries[key] = (now, verdict)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
