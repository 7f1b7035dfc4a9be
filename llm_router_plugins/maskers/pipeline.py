"""Several maskers run as one: their findings merged, the earlier masker winning an overlap."""

from __future__ import annotations

from typing import Sequence

from .base import Finding, Masker


class MaskingPipeline:
    def __init__(self, maskers: Sequence[Masker]):
        if not maskers:
            raise ValueError("a masking pipeline needs at least one masker")
        self.maskers = tuple(maskers)
        self.names = tuple(masker.name for masker in self.maskers)

    def find(self, text: str) -> list[Finding]:
        if len(self.maskers) == 1:
            return self.maskers[0].find(text)
        taken: list[Finding] = []
        for masker in self.maskers:
            for finding in masker.find(text):
                if not any(finding.start < kept.end and kept.start < finding.end for kept in taken):
                    taken.append(finding)
        taken.sort()
        return taken
