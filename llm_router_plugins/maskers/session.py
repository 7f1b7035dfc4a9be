"""One request's masking: numbered placeholders out, the originals back in, nothing kept after.

A value becomes ``[ENTITY_N]`` (``[PESEL_1]``, ``[EMAIL_2]``): upper-case ASCII in square
brackets, which tokenizers keep whole, chat templates leave alone, Markdown renders as written
and models copy verbatim. Numbers count per entity within the request, and the same value gets
the same placeholder everywhere in it, so a conversation stays coherent for the model. The
mapping lives on this object only; the request drops it when it ends.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from .pipeline import MaskingPipeline

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*_[0-9]+\]")


class MaskingSession:
    def __init__(self, pipeline: MaskingPipeline):
        self._pipeline = pipeline
        self._placeholder_of: dict[str, str] = {}
        self.originals: dict[str, str] = {}  # placeholder -> the value it stands for
        self._numbers: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()  # values masked, by the rule that found them

    def mask(self, text: str) -> str:
        findings = self._pipeline.find(text)
        if not findings:
            return text
        parts, position = [], 0
        for finding in findings:
            parts.append(text[position:finding.start])
            parts.append(self._placeholder(text[finding.start:finding.end], finding.entity))
            self.rules[finding.rule] += 1
            position = finding.end
        parts.append(text[position:])
        return "".join(parts)

    def _placeholder(self, value: str, entity: str) -> str:
        placeholder = self._placeholder_of.get(value)
        if placeholder is None:
            self._numbers[entity] += 1
            placeholder = f"[{entity}_{self._numbers[entity]}]"
            self._placeholder_of[value] = placeholder
            self.originals[placeholder] = value
        return placeholder

    @property
    def masked_anything(self) -> bool:
        return bool(self.originals)

    def unmask(self, text: str, *, json_string: bool = False) -> str:
        """``text`` with this request's placeholders replaced by their values.

        ``json_string``: the text sits inside a JSON string (tool-call arguments), so a value
        is written escaped.
        """
        if "[" not in text or not self.originals:
            return text
        originals = self.originals

        def original(match: re.Match) -> str:
            placeholder = match.group(0)
            value = originals.get(placeholder)
            if value is None:
                return placeholder
            return json.dumps(value, ensure_ascii=False)[1:-1] if json_string else value

        return PLACEHOLDER.sub(original, text)

    def stream_unmasker(self, *, json_string: bool = False) -> "StreamUnmasker":
        return StreamUnmasker(self, json_string)


class StreamUnmasker:
    """Unmasks text that arrives in pieces, holding back only a tail that may be a placeholder cut.

    A placeholder has exactly one ``[``, at its start, so only text from the last ``[`` can be
    an unfinished one; it is held back only while it is a proper prefix of a placeholder this
    request issued. Everything else goes out as soon as it arrives.
    """

    def __init__(self, session: MaskingSession, json_string: bool):
        self._session = session
        self._json_string = json_string
        self._held = ""
        self._prefixes = {placeholder[:k] for placeholder in session.originals for k in range(1, len(placeholder))}

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        cut = text.rfind("[")
        if cut != -1 and text[cut:] in self._prefixes:
            text, self._held = text[:cut], text[cut:]
        return self._session.unmask(text, json_string=self._json_string)

    def flush(self) -> str:
        """What is still held back: at the end it was not a placeholder after all."""
        held, self._held = self._held, ""
        return held

    @property
    def holding(self) -> bool:
        return bool(self._held)
