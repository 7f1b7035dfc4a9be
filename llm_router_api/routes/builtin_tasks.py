"""``POST {PREFIX}/<task>``: llm-router's built-in task routes (translate, simplify_text, ...).

Each call of a task goes through ``Exchange.complete``: the key's model check, masking (also
``"anonymize": true``), guardrails, balancing and failover, as a client's own chat would. Tasks
that ask the model once per text ask concurrently. Answers are llm-router's
``{"status": true, "body": {"response": ..., "generation_time": seconds}}``; errors are OpenAI
error objects with the status of the first call that failed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, copy_current_request_context

from ..builtin.prompts import PromptLibrary
from ..builtin.tasks import TASKS, Task, generation_options
from ..observability.hooks import current_record
from .exchange import Exchange
from .json_body import json_response, read_json_object

MAX_CONCURRENT_CALLS = 8  # per request: a long list of texts must not take every slot of a model at once


def create_builtin_tasks_blueprint(exchange: Exchange, prompts: PromptLibrary, prefix: str,
                                   max_body_size: int) -> Blueprint:
    bp = Blueprint("builtin_tasks", __name__)

    def route(task: Task):
        def view():
            started = time.monotonic()
            body, _ = read_json_object(max_body_size)
            options = generation_options(body)
            language = prompts.language(body.get("language"))
            chats = task.build(body, prompts, language)
            record = current_record()

            def ask(messages: list[dict]) -> str:
                payload = {**options, "messages": messages, "stream": False}
                answer = exchange.complete(payload, record, client_body=body)
                choices = answer.get("choices") or [{}]
                return (choices[0].get("message") or {}).get("content") or ""

            if len(chats) == 1:
                answers = [ask(chats[0])]
            else:
                # Each call runs in a copy of this request's context (the key, the record) of its own.
                calls = [(copy_current_request_context(ask), messages) for messages in chats]
                with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CALLS, len(chats))) as pool:
                    answers = list(pool.map(lambda call: call[0](call[1]), calls))  # a failure is raised as is
            return json_response({"status": True, "body": {"response": task.respond(body, answers),
                                                           "generation_time": round(time.monotonic() - started, 3)}})

        view.__name__ = task.name
        return view

    for task in TASKS.values():
        bp.add_url_rule(f"{prefix}/{task.name}", task.name, route(task), methods=["POST"])
    return bp

