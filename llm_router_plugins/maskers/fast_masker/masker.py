"""FastMasker: runs the rules, keeps what their checks accept, and settles overlaps.

Stateless: ``find`` reads only the text and the immutable rules, so one instance serves every
thread and request. Cost control: rules that share a pattern share one pass; rules with anchors
(a context word, ``@``, ``http``, a key word) scan only a window around each anchor; number rules
do not run on text without a digit. (Scanning only around digits was tried: finding the digit
clusters cost as much as the passes it saved.)
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from ..base import Finding
from .rules import RULES, RULES_BY_NAME, Rule

_Window = tuple[int, int]
_DIGIT = re.compile(r"[0-9]")


def _anchor_spots(lowered: str, anchors: tuple[str, ...]) -> list[int]:
    """Every position where one of ``anchors`` occurs, sorted."""
    spots = []
    for anchor in anchors:
        i = lowered.find(anchor)
        while i >= 0:
            spots.append(i)
            i = lowered.find(anchor, i + 1)
    spots.sort()
    return spots


def _windows(spots: list[int], reach: tuple[int, int], size: int) -> list[_Window]:
    """Merged windows ``[spot - reach[0], spot + reach[1])``."""
    merged: list[_Window] = []
    for spot in spots:
        lo, hi = max(0, spot - reach[0]), min(size, spot + reach[1])
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _has_context(rule: Rule, text: str, start: int, end: int) -> bool:
    """A context word before the value (the nearest one) or after it, the text between fitting ``rule.gap``."""
    assert rule.context is not None
    last = None
    for last in rule.context.finditer(text, max(0, start - rule.before), start):
        pass
    if last is not None and rule.gap.fullmatch(text, last.end(), start):
        return True
    if rule.after:
        m = rule.context.search(text, end, min(len(text), end + rule.after))
        if m is not None and rule.gap.fullmatch(text, end, m.start()):
            return True
    return False


def _accepted(rule: Rule, text: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The finding's span if every check of ``rule`` passes, else None."""
    start, end = m.span()
    for group in rule.groups:
        if m.start(group) >= 0:
            start, end = m.span(group)
            break
    if rule.prefix is not None:
        extension = rule.prefix.search(text, max(0, start - 6), start)
        if extension is not None:
            start = extension.start()
    if rule.validator is not None:
        value = text[start:end]
        if not rule.validator(rule.normalize(value) if rule.normalize else value):
            return None
    if rule.accept is not None and not rule.accept(m):
        return None
    if rule.veto is not None and rule.veto.search(text, max(0, start - 40), start):
        return None
    if rule.veto_after is not None and rule.veto_after.match(text, end, min(len(text), end + 40)):
        return None
    if rule.context is not None and not _has_context(rule, text, start, end):
        return None
    return start, end


class FastMasker:
    """Rule-based detector of Polish and international identifiers, secrets, amounts and dates.

    ``FastMasker()`` runs every rule; ``FastMasker(rules=["pesel", "email"])`` only those named
    (an unknown name is a ValueError). Overlaps: the higher priority wins, then the longer span,
    then the earlier one; the result is sorted by start and non-overlapping.
    """

    name = "fast_masker"

    def __init__(self, rules: Iterable[str] | None = None) -> None:
        if rules is None:
            chosen = RULES
        else:
            names = list(rules)
            unknown = [n for n in names if n not in RULES_BY_NAME]
            if unknown:
                raise ValueError(f"unknown fast_masker rule(s): {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(RULES_BY_NAME)}")
            wanted = set(names)
            chosen = tuple(r for r in RULES if r.name in wanted)
        self.rules: tuple[Rule, ...] = chosen
        # One pass per (pattern, where it looks); the rules sharing it are checked on each match.
        passes: dict[tuple, list[Rule]] = {}
        for rule in chosen:
            passes.setdefault((rule.pattern, rule.anchors, rule.reach, rule.digits, rule.gate), []).append(rule)
        self._passes = tuple((key[0], group[0], tuple(group)) for key, group in passes.items())

    def candidates(self, text: str) -> list[tuple[int, int, Rule]]:
        """Every accepted match of every rule, overlaps included (resolved by ``find``)."""
        found: list[tuple[int, int, Rule]] = []
        size = len(text)
        has_digit: bool | None = None
        lowered: str | None = None
        spots: dict[tuple[str, ...], list[int]] = {}
        for pattern, how, rules in self._passes:
            if how.anchors:
                if lowered is None:
                    lowered = text.lower()
                    if len(lowered) != size:  # lower() changed the length ("İ"): positions would not line up
                        lowered = ""
                if not lowered:
                    matches: Iterable[re.Match[str] | None] = pattern.finditer(text)
                else:
                    if how.anchors not in spots:
                        spots[how.anchors] = _anchor_spots(lowered, how.anchors)
                    if how.reach == (0, 0):
                        matches = (pattern.match(text, spot) for spot in spots[how.anchors])
                    else:
                        matches = (m for lo, hi in _windows(spots[how.anchors], how.reach, size)
                                   for m in pattern.finditer(text, lo, hi))
            elif how.digits:
                if has_digit is None:
                    has_digit = _DIGIT.search(text) is not None
                matches = pattern.finditer(text) if has_digit else ()
            else:
                matches = pattern.finditer(text) if how.gate is None or how.gate in text else ()
            for m in matches:
                if m is None:
                    continue
                for rule in rules:
                    span = _accepted(rule, text, m)
                    if span is not None and span[0] < span[1]:
                        found.append((span[0], span[1], rule))
        return found

    def find(self, text: str) -> list[Finding]:
        if not text:
            return []
        found = self.candidates(text)
        found.sort(key=lambda c: (-c[2].priority, c[0] - c[1], c[0]))
        starts: list[int] = []  # the kept spans, sorted by start and disjoint
        ends: list[int] = []
        kept: list[Finding] = []
        for start, end, rule in found:
            i = bisect.bisect_right(starts, start)
            if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                continue
            starts.insert(i, start)
            ends.insert(i, end)
            kept.insert(i, Finding(start, end, rule.entity, rule.name))
        return kept
