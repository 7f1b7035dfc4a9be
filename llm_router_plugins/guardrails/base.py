"""What a guard says about one text, and the one way a guard fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

#: ``post_json(url, body, timeout) -> (status, body)``: the HTTP transport a guard client is given.
PostJson = Callable[[str, bytes, float], "tuple[int, bytes]"]


@dataclass(frozen=True)
class Verdict:
    """One text judged: safe or not, the category that scored highest, and every category's score."""

    safe: bool
    label: str | None = None
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Flag:
    """A text a guard judged unsafe: which guard, which text (index into the texts checked), why."""

    guardrail: str
    text_index: int
    verdict: Verdict


class GuardUnavailable(Exception):
    """A guard gave no usable verdict (down, slow, or an answer that cannot be read).

    The message names the guard and the kind of failure, never the guard's address.
    """

    def __init__(self, guardrail: str, reason: str):
        super().__init__(f"{guardrail}: {reason}")
        self.guardrail = guardrail
        self.reason = reason


class Guardrail(Protocol):
    name: str

    def check(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, in order; raises :class:`GuardUnavailable`."""
        ...

    def state(self) -> dict:
        """How the guard is doing, for ``/health`` (``{"state": "ok" | "failing" | "resting", ...}``)."""
        ...
