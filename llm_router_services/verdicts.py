"""From a request's payload to texts, and from per-label scores to verdicts and the response JSON.

Torch-free: the rules are checked against the model's labels before any model is loaded (in
gunicorn's master, from ``config.json``), so a wrong label name stops start-up with one line.

Thresholds are inclusive: a label is flagged when its score is **at or above** its threshold.
Multi-label models (sigmoid, Bielik-Guard): a window is unsafe when any label that is not a safe
label is flagged. Single-label models (softmax, NASK's guard): only the top label counts; the window
is unsafe when that label is not a safe label and its score is at or above its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .settings import GuardSettings, SettingsError


class PayloadError(ValueError):
    """The request body is not what the API takes; the message is shown to the client (400)."""


def texts_from_payload(body: Any, max_texts: int) -> list[str]:
    """``{"payload": str | [str, ...] | {key: str, ...}}`` -> texts in payload order (an object's value order)."""
    if not isinstance(body, dict):
        raise PayloadError('the body must be a JSON object: {"payload": <string | list of strings | '
                           'object of strings>}')
    if "payload" not in body:
        raise PayloadError("'payload' is missing")
    payload = body["payload"]
    if isinstance(payload, str):
        named = [("payload", payload)]
    elif isinstance(payload, list):
        named = [(f"payload[{i}]", text) for i, text in enumerate(payload)]
    elif isinstance(payload, dict):
        named = [(f"payload[{key!r}]", text) for key, text in payload.items()]
    else:
        raise PayloadError(f"'payload' must be a string, a list of strings or an object whose values are "
                           f"strings, not {_json_type(payload)}")
    if len(named) > max_texts:
        raise PayloadError(f"'payload' has {len(named)} texts; at most {max_texts} per request "
                           "(LLM_ROUTER_GUARD_MAX_TEXTS)")
    for name, text in named:
        if not isinstance(text, str):
            raise PayloadError(f"{name} must be a string, not {_json_type(text)}")
    return [text for _, text in named]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True)
class DecisionRules:
    """How one guard turns a window's scores into a verdict."""

    labels: tuple[str, ...]  # the model's id2label, in id order
    multi_label: bool
    thresholds: tuple[float, ...]  # per label, in label order
    safe: tuple[bool, ...]  # per label: a safe label never makes a window unsafe

    @classmethod
    def for_model(cls, guard: GuardSettings, labels: Sequence[str], problem_type: str | None) -> "DecisionRules":
        """Rules from the guard's settings and the model's labels; unknown label names fail with one line."""
        labels = tuple(labels)
        by_folded = {label.casefold(): label for label in labels}
        overrides = {}
        for name, value in guard.thresholds:
            label = by_folded.get(name.casefold())
            if label is None:
                raise SettingsError(f"{guard.variable('THRESHOLDS')}: unknown label {name!r}; the model's labels "
                                    f"are: {', '.join(labels)}")
            overrides[label] = value
        safe_names = {name.casefold() for name in guard.safe_labels}
        return cls(
            labels=labels,
            multi_label=problem_type == "multi_label_classification",
            thresholds=tuple(overrides.get(label, guard.threshold) for label in labels),
            safe=tuple(label.casefold() in safe_names for label in labels),
        )

    def window(self, scores: Sequence[float]) -> tuple[str, float, bool]:
        """(top label, its score, safe) of one window."""
        top = max(range(len(scores)), key=scores.__getitem__)
        if self.multi_label:
            flagged = any(not self.safe[i] and scores[i] >= self.thresholds[i] for i in range(len(scores)))
        else:
            flagged = not self.safe[top] and scores[top] >= self.thresholds[top]
        return self.labels[top], scores[top], not flagged

    def describe(self) -> dict:
        return {
            "labels": list(self.labels),
            "problem_type": "multi_label_classification" if self.multi_label else "single_label_classification",
            "scoring": "sigmoid per label" if self.multi_label else "softmax over labels",
            "thresholds": dict(zip(self.labels, self.thresholds)),
            "threshold_rule": "unsafe when score >= threshold",
            "safe_labels": [label for label, safe in zip(self.labels, self.safe) if safe],
        }


@dataclass(frozen=True)
class Window:
    """One token window of one text: which text, and the exact character span it covers."""

    text_index: int
    start: int
    end: int
    input_ids: tuple[int, ...]  # with the model's special tokens


def response(texts: Sequence[str], windows: Sequence[Window], scores: Sequence[Sequence[float]],
             rules: DecisionRules) -> dict:
    """The API's answer: overall verdict and one entry per window, in text then window order."""
    detailed = []
    for i, (window, window_scores) in enumerate(zip(windows, scores)):
        label, score, safe = rules.window(window_scores)
        detailed.append({
            "chunk_index": i,
            "chunk_text": texts[window.text_index][window.start:window.end],
            "label": label,
            "score": score,
            "safe": safe,
            "text_index": window.text_index,
            "scores": dict(zip(rules.labels, window_scores)),
        })
    return {"results": {"safe": all(entry["safe"] for entry in detailed), "detailed": detailed}}
