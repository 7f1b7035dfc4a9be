"""The summary service's progressive chunker: a long transcript summarised by a model with a short context.

A transcript (speaker turns) is cut into *virtual turns* of at most ``createNewTurnAfter`` tokens, and
the model is called once per group of at most ``maxNewTurns`` of them, seeing the latest
``summaryTurns`` summaries made so far; each answer is the next summary and the last one is the
result. The caller gives the model call, the prompt template and the token counter, so this module
is pure logic: it decides what goes into each call, and it never sends a prompt over
``totalContextLength - maxGenerationLength`` tokens. When a call does not fit it gives up, in this
order, the oldest injected summaries, then new turns, then the end of the one turn left (see
:func:`summarize`), and says so in :attr:`SummaryResult.degraded`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

Counter = Callable[[str], int]  # text -> tokens
Render = Callable[[list[str], list[str]], str]  # (summaries, new virtual turns) -> prompt
Complete = Callable[[str], str]  # prompt -> summary

#: characters per token assumed by :func:`estimate_tokens` (see there why 3)
CHARS_PER_TOKEN = 3.0

#: where a turn too long for one virtual turn is cut, coarsest first: sentence ends (or line
#: breaks), then any whitespace; the separator is captured so that no character is lost
_SENTENCE_BREAK = re.compile(r"((?<=[.!?…])\s+|\s*\n\s*)")
_WHITESPACE = re.compile(r"(\s+)")


class ChunkerError(ValueError):
    """Limits or a transcript the chunker cannot work with; the message is one line naming the cause."""


# -- limits ----------------------------------------------------------------------------------------

#: the manifest (seed) name of each limit, used in error messages so that they point at the flavor
_SEED_NAMES = {
    "total_context_length": "totalContextLength",
    "max_generation_length": "maxGenerationLength",
    "create_new_turn_after": "createNewTurnAfter",
    "summary_turns": "summaryTurns",
    "max_new_turns": "maxNewTurns",
}


@dataclass(frozen=True)
class Limits:
    """A summary flavor's token limits, checked when made so that a bad manifest fails at load time."""

    total_context_length: int  # tokens the model takes, prompt and answer together
    max_generation_length: int  # tokens kept for the answer
    create_new_turn_after: int  # most tokens in one virtual turn
    summary_turns: int  # latest summaries injected into each call (0: none)
    max_new_turns: int  # most new virtual turns per call

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            least = 0 if item.name == "summary_turns" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                bound = ">= 0" if least == 0 else "> 0"
                raise ChunkerError(f"{_SEED_NAMES[item.name]} must be an integer {bound}, got {value!r}")
        if self.max_generation_length >= self.total_context_length:
            raise ChunkerError(f"maxGenerationLength ({self.max_generation_length}) must be less than "
                               f"totalContextLength ({self.total_context_length})")
        if self.create_new_turn_after >= self.prompt_budget:
            raise ChunkerError(f"createNewTurnAfter ({self.create_new_turn_after}) must be less than "
                               f"totalContextLength - maxGenerationLength ({self.prompt_budget})")

    @property
    def prompt_budget(self) -> int:
        """Most tokens one prompt may take: the context less the room kept for the answer."""
        return self.total_context_length - self.max_generation_length

    @classmethod
    def from_flavor(cls, flavor: dict[str, Any]) -> Limits:
        """The limits under their manifest names; all five are required, nothing is guessed."""
        if not isinstance(flavor, dict):
            raise ChunkerError(f"a summary flavor must be an object, got {type(flavor).__name__}")
        values = {}
        for name, seed in _SEED_NAMES.items():
            if seed not in flavor:
                raise ChunkerError(f"the summary flavor is missing {seed!r}")
            values[name] = flavor[seed]
        return cls(**values)


# -- token counting --------------------------------------------------------------------------------

def estimate_tokens(text: str) -> int:
    """A conservative token count for when no tokenizer is available: ``ceil(len(text) / 3)``.

    BPE tokenizers of current models take about 4 characters per token of English and about 3 of
    Polish (inflection and diacritics split words more). Dividing by 3 therefore overestimates
    English by about a third and meets Polish roughly, on purpose: a count that is too high only
    makes chunks smaller, one that is too low sends prompts over the model's context. It is still a
    guess (digits, emoji and rare scripts can take more tokens per character); configure a
    tokenizer to count exactly.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def load_token_counter(tokenizer_name_or_path: str | None) -> tuple[Counter, str]:
    """A token counter and a description of it (for logs and the service's info).

    A tokenizer given by name or path is loaded only from local files (the gateway may have no
    network, and loading must not hang a request); when none is given, or it cannot be loaded or
    used, the counter is :func:`estimate_tokens` and the description says why.
    """
    estimate = f"estimate, ceil(characters / {CHARS_PER_TOKEN:g})"
    if not tokenizer_name_or_path:
        return estimate_tokens, f"{estimate} (no tokenizer configured)"
    try:
        from transformers import AutoTokenizer  # heavy, and only needed here

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_name_or_path, local_files_only=True)

        def count(text: str) -> int:
            # verbose=False: a long transcript over the tokenizer's model_max_length is expected here
            return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

        count("Tokenizer check.")  # fail here, not in the middle of a request
    except Exception:  # whatever goes wrong, counting still works
        return estimate_tokens, f"{estimate} (tokenizer {tokenizer_name_or_path!r} not available offline)"
    return count, f"tokenizer {tokenizer_name_or_path!r}"


# -- virtual turns ---------------------------------------------------------------------------------

def virtual_turns(turns: list[Any], count_tokens: Counter, max_tokens: int) -> list[str]:
    """The transcript as virtual turns of at most ``max_tokens`` tokens each, in order.

    Each turn is ``"speaker: text"`` (just the text without a speaker). Consecutive turns share a
    virtual turn, one per line, while it stays within ``max_tokens``, so that a call carries as much
    conversation as it can; a turn longer than that is cut into pieces that each keep the speaker,
    so that the model still knows who said it. Turns without text are left out.
    """
    units: list[str] = []
    for speaker, text in parse_transcript(turns):
        prefix = f"{speaker}: " if speaker else ""
        if count_tokens(prefix + text) <= max_tokens:
            units.append(prefix + text)
        else:
            units.extend(split_turn(prefix, text, count_tokens, max_tokens))
    return _pack(units, count_tokens, max_tokens)


def split_turn(prefix: str, text: str, count_tokens: Counter, max_tokens: int) -> list[str]:
    """``prefix + piece`` for pieces of ``text`` that each fit in ``max_tokens`` tokens.

    Cut on sentence ends where the sentences fit, else on whitespace, else inside a word; the
    pieces joined with spaces give the text back (only the whitespace at the cuts may differ).
    """
    def fits(piece: str) -> bool:
        return count_tokens(prefix + piece.strip()) <= max_tokens

    if not fits(""):
        raise ChunkerError(f"createNewTurnAfter ({max_tokens}) is too small for the speaker prefix {prefix!r}")
    pieces = _cut(text, fits, (_SENTENCE_BREAK, _WHITESPACE))
    return [prefix + piece.strip() for piece in pieces if piece.strip()]


def parse_transcript(turns: list[Any]) -> list[tuple[str, str]]:
    """(speaker, text) per turn with text; a speaker is ``""`` when the turn has none."""
    if not isinstance(turns, (list, tuple)):
        raise ChunkerError(f"the transcript must be a list of turns, got {type(turns).__name__}")
    parsed = []
    for index, turn in enumerate(turns):
        speaker, text = _speaker_and_text(turn, index)
        if text.strip():
            parsed.append((speaker.strip(), text.strip()))
    return parsed


def _speaker_and_text(turn: Any, index: int) -> tuple[str, str]:
    """One turn: ``{"speaker", "text"}``, ``{"role", "content"}`` (the role is the speaker) or a string."""
    if isinstance(turn, str):
        return "", turn
    if not isinstance(turn, dict):
        raise ChunkerError(f"transcript[{index}] must be an object or a string, got {type(turn).__name__}")
    if "text" in turn or "speaker" in turn:
        speaker, text, names = turn.get("speaker"), turn.get("text"), ("speaker", "text")
    else:
        speaker, text, names = turn.get("role"), turn.get("content"), ("role", "content")
    if speaker is not None and not isinstance(speaker, str):
        raise ChunkerError(f"transcript[{index}].{names[0]} must be a string")
    if not isinstance(text, str):
        raise ChunkerError(f'transcript[{index}] needs a string "{names[1]}"')
    return speaker or "", text


def _pack(units: list[str], count_tokens: Counter, max_tokens: int) -> list[str]:
    """Consecutive units joined by line breaks while each virtual turn stays within ``max_tokens``."""
    packed: list[str] = []
    for unit in units:
        if packed and count_tokens(f"{packed[-1]}\n{unit}") <= max_tokens:
            packed[-1] = f"{packed[-1]}\n{unit}"
        else:
            packed.append(unit)
    return packed


def _cut(text: str, fits: Callable[[str], bool], levels: tuple[re.Pattern[str], ...]) -> list[str]:
    """``text`` in consecutive parts that each fit, concatenating back to ``text`` exactly.

    Parts at the first level (say sentences) are gathered greedily; one that does not fit alone is
    cut at the next level, and the last of its pieces may take the following parts. Past the last
    level the cut is by characters.
    """
    if not levels:
        return _cut_characters(text, fits)
    pieces: list[str] = []
    current = ""
    for segment in _segments(text, levels[0]):
        if fits(current + segment):
            current += segment
            continue
        if current:
            pieces.append(current)
        if fits(segment):
            current = segment
        else:
            *done, current = _cut(segment, fits, levels[1:])
            pieces.extend(done)
    if current:
        pieces.append(current)
    return pieces


def _segments(text: str, separator: re.Pattern[str]) -> list[str]:
    """``text`` split after each ``separator``, which stays with the part before it."""
    parts = separator.split(text)  # [part, separator, part, separator, ..., part]
    joined = [parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]
    return [segment for segment in joined if segment]


def _cut_characters(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` cut by characters (a word longer than a virtual turn: a URL, a hash, no spaces)."""
    pieces = []
    while text and not fits(text):
        length = _longest_fitting(text, fits)
        if length == 0:
            raise ChunkerError(f"a virtual turn (createNewTurnAfter) cannot hold even {text[:1]!r}")
        pieces.append(text[:length])
        text = text[length:]
    if text:
        pieces.append(text)
    return pieces


def _longest_fitting(text: str, fits: Callable[[str], bool]) -> int:
    """The longest prefix length of ``text`` (which does not fit whole) that fits, or 0.

    Binary search on characters, counting tokens of each candidate: token counts are not additive
    (BPE merges across the cut), so only counting the very string sent is safe. Counts need not be
    monotonic either; the answer is always a length that was counted and fits.
    """
    fitting, failing = 0, len(text)
    while failing - fitting > 1:
        middle = (fitting + failing) // 2
        if fits(text[:middle]):
            fitting = middle
        else:
            failing = middle
    return fitting


# -- progressive summary ---------------------------------------------------------------------------

@dataclass
class SummaryResult:
    """What :func:`summarize` made: every summary in order, the last one, and what it had to give up."""

    summaries: list[str] = field(default_factory=list)
    calls: int = 0
    final: str = ""
    degraded: list[str] = field(default_factory=list)  # one line per graceful degradation


@dataclass(frozen=True)
class _Call:
    prompt: str
    taken: int  # virtual turns this call consumes
    notes: tuple[str, ...]


def summarize(turns: list[Any], limits: Limits, count_tokens: Counter, render: Render,
              complete: Complete) -> SummaryResult:
    """Summarise a transcript progressively, one model call per group of virtual turns.

    Each call gets the next ``maxNewTurns`` virtual turns and the last ``summaryTurns`` summaries.
    A prompt over ``totalContextLength - maxGenerationLength`` tokens is made smaller, in this
    order (the newest summary and the conversation itself are worth most): drop the oldest injected
    summaries one by one, down to none; then take fewer new turns, down to one (the rest go to the
    next call); then cut the end off that one turn. Each step taken is a line in ``degraded``.
    Every virtual turn goes into exactly one call, in order, and no prompt is ever over the budget.
    """
    budget = limits.prompt_budget
    template = count_tokens(render([], []))
    if template > budget:
        raise ChunkerError(f"the summary template alone takes {template} tokens, over the prompt budget of {budget} "
                           f"(totalContextLength {limits.total_context_length} - maxGenerationLength "
                           f"{limits.max_generation_length})")
    pending = virtual_turns(turns, count_tokens, limits.create_new_turn_after)
    if not pending:
        raise ChunkerError("the transcript has no text to summarise")
    result = SummaryResult()
    start = 0
    while start < len(pending):
        recent = result.summaries[-limits.summary_turns:] if limits.summary_turns else []
        call = _plan_call(result.calls + 1, start, recent, pending[start:start + limits.max_new_turns],
                          budget, count_tokens, render)
        result.summaries.append(_ask(call.prompt, budget, count_tokens, complete))
        result.degraded.extend(call.notes)
        result.calls += 1
        start += call.taken
    result.final = result.summaries[-1]
    return result


def _plan_call(number: int, start: int, summaries: list[str], turns: list[str], budget: int,
               count_tokens: Counter, render: Render) -> _Call:
    """The prompt of call ``number``: ``summaries`` and ``turns`` (from virtual turn ``start``), cut to fit."""
    def fits(kept: list[str], new: list[str]) -> bool:
        return count_tokens(render(list(kept), list(new))) <= budget

    notes: list[str] = []
    kept = list(summaries)
    while kept and not fits(kept, turns):
        kept.pop(0)
    if len(kept) < len(summaries):
        notes.append(f"call {number}: dropped the {len(summaries) - len(kept)} oldest of {len(summaries)} "
                     f"injected summaries to fit the prompt budget of {budget} tokens")
    taken = len(turns)
    while taken > 1 and not fits(kept, turns[:taken]):
        taken -= 1
    if taken < len(turns):
        notes.append(f"call {number}: took {taken} of {len(turns)} new virtual turns to fit the prompt budget "
                     f"of {budget} tokens; the rest go to the next call")
    new = turns[:taken]
    if not fits(kept, new):  # here kept == [] and one turn is left
        new = [_truncate(new[0], lambda text: fits([], [text]), budget)]
        notes.append(f"call {number}: cut virtual turn {start + 1} from {count_tokens(turns[0])} to "
                     f"{count_tokens(new[0])} tokens ({len(turns[0]) - len(new[0])} characters dropped) "
                     f"to fit the prompt budget of {budget} tokens")
    return _Call(render(kept, new), taken, tuple(notes))


def _truncate(text: str, fits: Callable[[str], bool], budget: int) -> str:
    """The longest start of ``text`` whose prompt fits (the template leaves too little room for it)."""
    length = _longest_fitting(text, lambda piece: fits(piece.rstrip()))
    if length == 0:
        raise ChunkerError(f"the summary template leaves no room for any turn text within the prompt budget of "
                           f"{budget} tokens (totalContextLength - maxGenerationLength)")
    return text[:length].rstrip()


def _ask(prompt: str, budget: int, count_tokens: Counter, complete: Complete) -> str:
    """One model call, with the budget counted once more on the very prompt sent."""
    tokens = count_tokens(prompt)
    if tokens > budget:  # only if render or count_tokens is not deterministic
        raise ChunkerError(f"a prompt of {tokens} tokens is over the prompt budget of {budget}; not sent")
    summary = complete(prompt)
    if not isinstance(summary, str):
        raise ChunkerError(f"the model call returned {type(summary).__name__}, not a summary text")
    return summary.strip()
