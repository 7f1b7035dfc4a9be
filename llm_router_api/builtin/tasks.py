"""What each built-in route asks a model, and how its answers come back (llm-router's formats).

A task turns the caller's body into one chat per model call (a list of ``messages``) and the
answers into the ``response`` of ``{"status": true, "body": {"response", "generation_time"}}``.
Bodies carry ``model_name`` and llm-router's generation options; multi-text tasks ask the model
once per text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InvalidRequest
from .prompts import PromptLibrary

Messages = list[dict[str, str]]

#: llm-router's defaults for its generation options
DEFAULTS = {"temperature": 0.75, "max_new_tokens": 256, "top_p": 0.99}
#: options sent only when the caller gives them (vLLM's sampling extras)
EXTRAS = ("top_k", "typical_p", "repetition_penalty")


@dataclass(frozen=True)
class Task:
    name: str
    build: Callable[[dict, PromptLibrary, str], list[Messages]]  # (body, prompts, language) -> one chat per call
    respond: Callable[[dict, list[str]], Any]  # (body, answers in call order) -> the body's "response"


def generation_options(body: dict) -> dict[str, Any]:
    """The chat parameters of a built-in call: ``model`` and llm-router's sampling options."""
    options: dict[str, Any] = {"model": text_field(body, "model_name")}
    for name, default in DEFAULTS.items():
        options[name] = _number(body, name, default)
    options["max_tokens"] = int(options.pop("max_new_tokens"))
    for name in EXTRAS:
        if body.get(name) is not None:
            options[name] = _number(body, name, None)
    return options


# -- body fields (the manifest services read theirs with these too) -----------------------------------------------------------------------------------

def missing(name: str, kind: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{name}' ({kind}).", param=name,
                          code="missing_required_parameter")


def wrong(name: str, kind: str) -> InvalidRequest:
    return InvalidRequest(f"'{name}' must be {kind}.", param=name, code="invalid_type")


def text_field(body: dict, name: str, *, allow_empty: bool = False) -> str:
    """A required string field of a task's body (also the manifest services' fields)."""
    value = body.get(name)
    if value is None:
        raise missing(name, "a string")
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise wrong(name, "a string" if allow_empty else "a non-empty string")
    return value


def _texts(body: dict, name: str = "texts") -> list[str]:
    value = body.get(name)
    if value is None:
        raise missing(name, "a list of strings")
    if not isinstance(value, list) or not value or not all(isinstance(t, str) and t.strip() for t in value):
        raise wrong(name, "a non-empty list of non-empty strings")
    return value


def _number(body: dict, name: str, default):
    value = body.get(name, default)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong(name, "a number")
    return value


def _history(body: dict) -> Messages:
    """``historical_messages`` oldest first: ``{"user", "assistant"}`` pairs (llm-router's form) or
    ``{"role", "content"}`` messages."""
    value = body.get("historical_messages") or []
    if not isinstance(value, list):
        raise wrong("historical_messages", "a list")
    history: Messages = []
    for turn in value:
        if isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str):
            if turn["role"] not in ("user", "assistant"):
                raise wrong("historical_messages", "a list of user and assistant turns")
            history.append({"role": turn["role"], "content": turn["content"]})
        elif isinstance(turn, dict) and ("user" in turn or "assistant" in turn):
            for role in ("user", "assistant"):
                if role in turn:
                    if not isinstance(turn[role], str):
                        raise wrong("historical_messages", "turns of strings")
                    history.append({"role": role, "content": turn[role]})
        else:
            raise wrong("historical_messages", 'a list of {"user": ..., "assistant": ...} turns')
    return history


def _chat(system: str, user: str) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# -- the tasks -------------------------------------------------------------------------------------

def _conversation(body, prompts, language):
    return [[{"role": "system", "content": prompts.system("conversation", language)}, *_history(body),
             {"role": "user", "content": text_field(body, "user_last_statement")}]]


def _extended_conversation(body, prompts, language):
    # The caller's system prompt first, then the history, then the last statement (the reference
    # put the history after the statement).
    return [[{"role": "system", "content": text_field(body, "system_prompt")}, *_history(body),
             {"role": "user", "content": text_field(body, "user_last_statement")}]]


def _generative_answer(body, prompts, language):
    question = text_field(body, "question_str")
    texts = body.get("texts")
    if isinstance(texts, dict) and texts and all(isinstance(k, str) and isinstance(v, list)
                                                 and all(isinstance(t, str) for t in v) for k, v in texts.items()):
        cite = body.get("doc_name_in_answer") is True
        passages = [f"[{name}] {text}" if cite else text for name, items in texts.items() for text in items]
    elif texts is None:
        raise missing("texts", "a list of passages or an object of document name -> passages")
    else:
        passages = _texts(body)
        cite = False
    system = body.get("system_prompt")
    if system is not None and not isinstance(system, str):
        raise wrong("system_prompt", "a string")
    doc_names = {"pl": " Podaj nazwę dokumentu, z którego pochodzi odpowiedź.",
                 "en": " Name the document the answer comes from."}.get(language, "") if cite else ""
    system = system or prompts.system("generative-answer", language, DOC_NAMES=doc_names)
    question_prompt = body.get("question_prompt")
    if question_prompt is not None and not isinstance(question_prompt, str):
        raise wrong("question_prompt", "a string")
    context = "\n\n".join(passages)
    return [_chat(system, f"{context}\n\n{question_prompt or ''}{question}".strip())]


def _per_text(prompt: str, **fields: Callable[[dict, str], str]):
    def build(body, prompts, language):
        values = {name: make(body, language) for name, make in fields.items()}
        system = prompts.system(prompt, language, **values)
        return [_chat(system, text) for text in _texts(body)]
    return build


def _question_count(body: dict, language: str) -> str:
    count = body.get("number_of_questions", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
        raise wrong("number_of_questions", "an integer from 1 to 100")
    if language == "pl":
        return f"{count} pytanie" if count == 1 else f"{count} pytania" if 2 <= count % 10 <= 4 and count // 10 % 10 != 1 \
            else f"{count} pytań"
    return f"{count} question" + ("s" if count != 1 else "")


def _questions(body, answers):
    out = []
    for text, answer in zip(_texts(body), answers):
        lines = [line.strip() for line in answer.strip().split("\n\n")[-1].split("\n")]
        questions = [_without_number(line) for line in lines if line.strip()]
        out.append({"text": text, "questions": [q for q in questions if q]})
    return out


def _without_number(line: str) -> str:
    head, dot, rest = line.partition(".")
    return rest.strip() if dot and head.strip().isdigit() else line.strip()


def _article(body, prompts, language):
    return [_chat(prompts.system("generate-article", language), text_field(body, "text"))]


def _full_article(body, prompts, language):
    query = text_field(body, "user_query")
    texts = _texts(body)
    article_type = body.get("article_type")
    if article_type is not None and not isinstance(article_type, str):
        raise wrong("article_type", "a string")
    kind = f" ({article_type})" if article_type else ""
    sources = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(texts, 1))
    return [_chat(prompts.system("create-full-article", language, ARTICLE_TYPE=kind), f"{query}\n\n{sources}")]


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("conversation_with_model", _conversation, lambda body, answers: answers[0]),
    Task("extended_conversation_with_model", _extended_conversation, lambda body, answers: answers[0]),
    Task("generative_answer", _generative_answer, lambda body, answers: answers[0]),
    Task("generate_questions", _per_text("generate-questions", QUESTION_NUM_STR=_question_count), _questions),
    Task("translate", _per_text("translate"),
         lambda body, answers: [{"original": t, "translated": a} for t, a in zip(_texts(body), answers)]),
    Task("simplify_text", _per_text("simplify-text"), lambda body, answers: list(answers)),
    Task("generate_article_from_text", _article, lambda body, answers: answers[0]),
    Task("create_full_article_from_texts", _full_article, lambda body, answers: answers[0]),
)}
