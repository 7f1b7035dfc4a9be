"""The summary chunker: virtual turns, progressive summaries within the prompt budget, degradation, limits."""

from __future__ import annotations

import random
import re

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from llm_router_api.services.chunker import (ChunkerError, Limits, SummaryResult, estimate_tokens,
                                             load_token_counter, split_turn, summarize, virtual_turns)

WORDS = ("spotkanie projekt budżet termin zespół wdrożenie klient umowa faktura ryzyko harmonogram "
         "źródło żółty gęś łódź przyszły tydzień decyzja zadanie the meeting budget deadline team "
         "release customer contract invoice risk schedule decision action item agree review quarter "
         "we should will need to and or but because however also next last").split()
SPEAKERS = ("Anna Kowalska", "Bartosz", "Chris", "Dorota Nowak")


def words(text: str) -> int:
    """A counter whose arithmetic the degradation tests can do by hand: one token per word."""
    return len(text.split())


def no_space(text: str) -> str:
    return "".join(text.split())


def render(summaries: list[str], turns: list[str], header: str = "Summarise the meeting.") -> str:
    return "\n".join([header, *(f"<summary>{s}</summary>" for s in summaries), *(f"<turn>{t}</turn>" for t in turns)])


def parsed(prompt: str) -> tuple[list[str], list[str]]:
    return re.findall(r"<summary>(.*?)</summary>", prompt, re.S), re.findall(r"<turn>(.*?)</turn>", prompt, re.S)


def sentence(rng: random.Random, count: int | None = None) -> str:
    chosen = [rng.choice(WORDS) for _ in range(count or rng.randint(3, 15))]
    return " ".join(chosen).capitalize() + rng.choice(".?!.")


def transcript(seed: int = 7, size: int = 300) -> list[dict[str, str]]:
    """A meeting with ordinary turns and, now and then, one much longer than a virtual turn:
    many sentences, one sentence without an end, one word without spaces."""
    rng = random.Random(seed)
    turns = []
    for index in range(size):
        if index % 37 == 5:
            text = " ".join(sentence(rng) for _ in range(40))
        elif index % 53 == 11:
            text = " ".join(rng.choice(WORDS) for _ in range(150))
        elif index % 97 == 13:
            text = "https://example.org/" + "".join(rng.choice("abcdefghijkłóż0123456789") for _ in range(900))
        else:
            text = " ".join(sentence(rng) for _ in range(rng.randint(1, 5)))
        turns.append({"speaker": rng.choice(SPEAKERS), "text": text})
    return turns


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    """A byte-level BPE tokenizer trained here on the kind of text the tests send."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator([turn["text"] for turn in transcript(seed=1, size=200)], trainer=trainer)
    return tokenizer


class FakeModel:
    """``complete`` that records prompts, fails on one over the budget, and answers with a summary
    of up to ``max_generation_length`` tokens."""

    def __init__(self, count, limits: Limits, seed: int = 3, summary_words: int | None = None):
        self.count, self.limits, self.rng = count, limits, random.Random(seed)
        self.summary_words = summary_words
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        tokens = self.count(prompt)
        assert tokens <= self.limits.prompt_budget, f"prompt of {tokens} tokens sent, budget {self.limits.prompt_budget}"
        self.prompts.append(prompt)
        number = len(self.prompts)
        if self.summary_words is not None:
            return " ".join(f"s{number}.{i}" for i in range(self.summary_words))
        target = self.rng.randint(self.limits.max_generation_length // 2, self.limits.max_generation_length)
        summary = f"S{number}"
        while True:
            longer = f"{summary} {self.rng.choice(WORDS)}"
            if self.count(longer) > target:
                return summary
            summary = longer


# -- virtual turns ---------------------------------------------------------------------------------

def test_short_turns_are_packed_in_order_within_the_limit():
    turns = [{"speaker": "A", "text": "one two three"}, {"role": "B", "content": "four five"}, "six seven eight",
             {"speaker": "C", "text": "   "}, {"speaker": None, "text": "nine"}, {"speaker": "D", "text": "ten eleven twelve"}]
    packed = virtual_turns(turns, words, 7)
    assert packed == ["A: one two three\nB: four five", "six seven eight\nnine", "D: ten eleven twelve"]
    assert all(words(turn) <= 7 for turn in packed)


def test_a_long_turn_is_cut_on_sentence_ends_each_piece_with_the_speaker():
    text = " ".join(f"Sentence {i} has five words." for i in range(12))
    pieces = virtual_turns([{"speaker": "Anna", "text": text}], words, 12)
    assert len(pieces) == 6  # two sentences (10 words) and the speaker in each
    assert all(piece.startswith("Anna: ") and piece.endswith(".") and words(piece) <= 12 for piece in pieces)
    assert " ".join(piece.removeprefix("Anna: ") for piece in pieces) == text


def test_a_sentence_longer_than_a_turn_is_cut_on_whitespace():
    text = " ".join(f"w{i}" for i in range(30)) + ". Short one."
    pieces = split_turn("Bo: ", text, words, 8)
    assert [words(piece) for piece in pieces] == [8, 8, 8, 8, 5]  # the last piece of the long sentence takes the next one
    assert all(piece.startswith("Bo: ") for piece in pieces)
    assert " ".join(piece.removeprefix("Bo: ") for piece in pieces).split() == text.split()


def test_a_word_longer_than_a_turn_is_cut_by_characters_and_nothing_is_lost():
    text = "start " + "x" * 100 + "y" * 7 + " end."
    pieces = split_turn("", text, estimate_tokens, 10)
    assert all(estimate_tokens(piece) <= 10 for piece in pieces)
    assert no_space("".join(pieces)) == no_space(text)  # no piece overlaps another, none is missing
    assert len(pieces) == 5


def test_generated_transcript_virtual_turns_keep_every_character_in_order(bpe):
    count = lambda text: len(bpe.encode(text).ids)  # noqa: E731
    turns = transcript()
    packed = virtual_turns(turns, count, 80)
    assert all(count(turn) <= 80 for turn in packed)
    units = [unit for turn in packed for unit in turn.split("\n")]
    assert all(unit.split(": ", 1)[0] in SPEAKERS for unit in units)
    assert "".join(no_space(unit.split(": ", 1)[1]) for unit in units) == "".join(no_space(t["text"]) for t in turns)
    assert len(units) > len(turns)  # the long turns were cut
    assert len(packed) < len(units)  # and short ones packed


@pytest.mark.parametrize("turns, message", [
    ("just a string", "list of turns"),
    ([{"speaker": "A", "text": "x"}, 5], "transcript[1]"),
    ([{"speaker": "A"}], 'transcript[0] needs a string "text"'),
    ([{"role": "user", "content": ["x"]}], 'needs a string "content"'),
    ([{"speaker": 3, "text": "x"}], "transcript[0].speaker"),
])
def test_a_malformed_transcript_is_refused(turns, message):
    with pytest.raises(ChunkerError, match=re.escape(message)):
        virtual_turns(turns, words, 10)


def test_a_speaker_longer_than_a_virtual_turn_is_refused():
    with pytest.raises(ChunkerError, match="createNewTurnAfter"):
        virtual_turns([{"speaker": "a b c d e f", "text": "one two three four five six"}], words, 5)


# -- progressive summary of long transcripts ------------------------------------------------------

def check_run(result: SummaryResult, model: FakeModel, expected_turns: list[str], limits: Limits) -> None:
    """Every virtual turn in exactly one prompt, in order; each prompt with the latest summaries."""
    assert result.calls == len(model.prompts) == len(result.summaries)
    assert result.final == result.summaries[-1]
    sent = []
    full_injections = 0
    for number, prompt in enumerate(model.prompts, 1):
        injected, turns = parsed(prompt)
        assert 1 <= len(turns) <= limits.max_new_turns
        sent.extend(turns)
        latest = result.summaries[:number - 1][-limits.summary_turns:] if limits.summary_turns else []
        dropped = any(note.startswith(f"call {number}: dropped") for note in result.degraded)
        assert injected == (latest[len(latest) - len(injected):] if dropped else latest)
        full_injections += len(injected) == limits.summary_turns
    assert sent == expected_turns
    assert full_injections > 1


@pytest.mark.parametrize("counter, context", [("bpe", 640), ("estimate", 512)])  # contexts where some calls
def test_a_long_transcript_is_summarised_within_the_budget(counter, context, bpe):  # must drop summaries
    count = (lambda text: len(bpe.encode(text).ids)) if counter == "bpe" else estimate_tokens
    limits = Limits.from_flavor({"totalContextLength": context, "maxGenerationLength": 64, "createNewTurnAfter": 96,
                                 "summaryTurns": 3, "maxNewTurns": 4})
    turns = transcript(seed=11)
    model = FakeModel(count, limits)
    result = summarize(turns, limits, count, render, model)
    expected = virtual_turns(turns, count, limits.create_new_turn_after)
    check_run(result, model, expected, limits)
    assert any(" dropped the " in note for note in result.degraded)  # summaries made room for turns
    assert all("cut virtual turn" not in note for note in result.degraded)
    assert max(count(prompt) for prompt in model.prompts) > limits.prompt_budget * 0.8  # the budget is used


def test_without_summary_turns_no_summary_is_injected():
    limits = Limits(total_context_length=100, max_generation_length=10, create_new_turn_after=20, summary_turns=0,
                    max_new_turns=3)
    model = FakeModel(words, limits, summary_words=5)
    result = summarize([" ".join(f"t{i}w{j}" for j in range(6)) for i in range(20)], limits, words, render, model)
    assert all(parsed(prompt)[0] == [] for prompt in model.prompts)
    assert result.calls == 3 and result.degraded == []  # 7 virtual turns of 3 turns


# -- degradation -----------------------------------------------------------------------------------

def ten_word_turns(count: int) -> list[str]:
    return [" ".join(f"t{i}w{j}" for j in range(10)) for i in range(count)]


def test_the_oldest_summaries_are_dropped_first():
    # budget 50: header 3 + two turns 20 + two summaries of 15 = 53
    limits = Limits(total_context_length=60, max_generation_length=10, create_new_turn_after=10, summary_turns=2,
                    max_new_turns=2)
    model = FakeModel(words, limits, summary_words=15)
    result = summarize(ten_word_turns(6), limits, words, render, model)
    assert result.calls == 3
    assert parsed(model.prompts[1])[0] == [result.summaries[0]]
    assert parsed(model.prompts[2])[0] == [result.summaries[1]]  # summary 1 dropped, the newer one kept
    assert parsed(model.prompts[2])[1] == ten_word_turns(6)[4:]
    assert result.degraded == ["call 3: dropped the 1 oldest of 2 injected summaries to fit the prompt budget "
                               "of 50 tokens"]


def test_fewer_turns_are_taken_only_once_no_summary_is_left():
    # budget 35: header 3 + four turns 40 = 43; three turns fit, and never with the 12-word summary
    limits = Limits(total_context_length=40, max_generation_length=5, create_new_turn_after=10, summary_turns=1,
                    max_new_turns=4)
    model = FakeModel(words, limits, summary_words=12)
    turns = ten_word_turns(8)
    result = summarize(turns, limits, words, render, model)
    assert [parsed(prompt) for prompt in model.prompts] == [
        ([], turns[0:3]), ([], turns[3:6]), ([result.summaries[1]], turns[6:8])]
    assert result.degraded == [
        "call 1: took 3 of 4 new virtual turns to fit the prompt budget of 35 tokens; the rest go to the next call",
        "call 2: dropped the 1 oldest of 1 injected summaries to fit the prompt budget of 35 tokens",
        "call 2: took 3 of 4 new virtual turns to fit the prompt budget of 35 tokens; the rest go to the next call",
    ]


def test_a_turn_is_cut_when_the_template_leaves_too_little_room():
    # budget 40, the header takes 30: a 15-word turn is cut to 10 words
    header = " ".join(f"h{i}" for i in range(30))
    limits = Limits(total_context_length=50, max_generation_length=10, create_new_turn_after=15, summary_turns=1,
                    max_new_turns=2)
    turns = [" ".join(f"a{i}" for i in range(15)), " ".join(f"b{i}" for i in range(15))]
    model = FakeModel(words, limits, summary_words=5)
    result = summarize(turns, limits, words, lambda s, t: render(s, t, header), model)
    assert [parsed(prompt) for prompt in model.prompts] == [
        ([], [" ".join(f"a{i}" for i in range(10))]), ([], [" ".join(f"b{i}" for i in range(10))])]
    assert result.degraded == [
        "call 1: took 1 of 2 new virtual turns to fit the prompt budget of 40 tokens; the rest go to the next call",
        "call 1: cut virtual turn 1 from 15 to 10 tokens (20 characters dropped) to fit the prompt budget of 40 tokens",
        "call 2: dropped the 1 oldest of 1 injected summaries to fit the prompt budget of 40 tokens",
        "call 2: cut virtual turn 2 from 15 to 10 tokens (20 characters dropped) to fit the prompt budget of 40 tokens",
    ]


def test_a_template_bigger_than_the_context_is_an_error_before_any_call():
    header = " ".join(f"h{i}" for i in range(60))
    limits = Limits(total_context_length=60, max_generation_length=10, create_new_turn_after=10, summary_turns=1,
                    max_new_turns=2)
    model = FakeModel(words, limits)
    with pytest.raises(ChunkerError) as error:
        summarize(ten_word_turns(3), limits, words, lambda s, t: render(s, t, header), model)
    message = str(error.value)
    assert "60 tokens" in message and "totalContextLength" in message and "maxGenerationLength" in message
    assert "\n" not in message and model.prompts == []


def test_a_template_leaving_no_room_for_turn_text_is_an_error():
    header = " ".join(f"h{i}" for i in range(50))  # exactly the budget: any turn text is over it
    limits = Limits(total_context_length=60, max_generation_length=10, create_new_turn_after=10, summary_turns=1,
                    max_new_turns=2)
    model = FakeModel(words, limits)
    with pytest.raises(ChunkerError, match="no room for any turn text"):
        summarize(ten_word_turns(3), limits, words, lambda s, t: render(s, t, header), model)
    assert model.prompts == []


def test_an_empty_transcript_is_an_error():
    limits = Limits(total_context_length=60, max_generation_length=10, create_new_turn_after=10, summary_turns=1,
                    max_new_turns=2)
    with pytest.raises(ChunkerError, match="no text"):
        summarize([{"speaker": "A", "text": " "}], limits, words, render, FakeModel(words, limits))


# -- limits ----------------------------------------------------------------------------------------

FLAVOR = {"totalContextLength": 4096, "maxGenerationLength": 512, "createNewTurnAfter": 1024, "summaryTurns": 2,
          "maxNewTurns": 3}


def test_limits_from_a_flavor():
    limits = Limits.from_flavor({**FLAVOR, "summaryTurns": 0, "other": "ignored"})
    assert limits == Limits(4096, 512, 1024, 0, 3)
    assert limits.prompt_budget == 3584


@pytest.mark.parametrize("change, field", [
    ({"totalContextLength": None}, "totalContextLength"),
    ({"maxGenerationLength": 0}, "maxGenerationLength"),
    ({"createNewTurnAfter": "1024"}, "createNewTurnAfter"),
    ({"summaryTurns": -1}, "summaryTurns"),
    ({"maxNewTurns": True}, "maxNewTurns"),
    ({"maxNewTurns": 2.0}, "maxNewTurns"),
    ({"maxGenerationLength": 4096}, "maxGenerationLength"),
    ({"createNewTurnAfter": 3584}, "createNewTurnAfter"),
])
def test_bad_limits_name_the_field(change, field):
    with pytest.raises(ChunkerError) as error:
        Limits.from_flavor({**FLAVOR, **change})
    assert field in str(error.value) and "\n" not in str(error.value)


def test_a_missing_limit_is_named():
    flavor = dict(FLAVOR)
    del flavor["maxNewTurns"]
    with pytest.raises(ChunkerError, match="missing 'maxNewTurns'"):
        Limits.from_flavor(flavor)


# -- token counting --------------------------------------------------------------------------------

def test_estimate_is_characters_over_three():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("Zażółć gęślą jaźń, the meeting is over.") == 13


def test_without_a_tokenizer_the_estimate_is_used():
    count, description = load_token_counter(None)
    assert count is estimate_tokens and "no tokenizer configured" in description


def test_a_tokenizer_not_on_disk_falls_back_to_the_estimate(tmp_path):
    missing = str(tmp_path / "no-such-tokenizer")
    count, description = load_token_counter(missing)
    assert count is estimate_tokens
    assert description.startswith("estimate") and f"tokenizer '{missing}' not available offline" in description


def test_a_saved_tokenizer_counts_exactly(tmp_path, bpe):
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=bpe).save_pretrained(str(tmp_path))
    count, description = load_token_counter(str(tmp_path))
    assert description == f"tokenizer '{tmp_path}'" and count is not estimate_tokens
    for turn in transcript(seed=5, size=20):
        assert count(turn["text"]) == len(bpe.encode(turn["text"]).ids)
