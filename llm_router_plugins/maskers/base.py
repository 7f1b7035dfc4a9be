"""What a masker is: a detector of spans a person should not send out of the organisation.

A masker only *finds*; it never replaces. Replacing (numbered placeholders, the per-request
mapping, unmasking answers) is the pipeline's job (``pipeline.py``, ``session.py``), so every
masker gets the same reversible behaviour and none of them keeps state between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, order=True)
class Finding:
    """``text[start:end]`` is a value of ``entity`` (e.g. ``PESEL``), found by ``rule``.

    ``entity`` names the placeholder (``[PESEL_1]``); ``rule`` is the rule's own name, used as
    a bounded metrics label (several rules may find one entity type, e.g. two phone formats).
    """

    start: int
    end: int
    entity: str
    rule: str


class Masker(Protocol):
    """One named detector; ``find`` returns sorted, non-overlapping findings."""

    name: str

    def find(self, text: str) -> list[Finding]: ...
