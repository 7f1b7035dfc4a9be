"""``POST {PREFIX}/<task>``: llm-router's built-in task routes (translate, simplify_text, ...).

Each call of a task goes through ``Exchange.complete``: the key's model check, masking (also
``"anonymize": true``), guardrails, balancing and failover, as a client's own chat would. Tasks
that ask the model once per text ask concurrently. Answers are llm-router's
``{"status": true, "body": {"response": ..., "generation_time": seconds}}``; errors are OpenAI
error objects with the status of the first call that failed.

With ``"async": true`` the body is checked at once (a bad one is still a 400), then the task
runs in the background: ``202 {"status": true, "body": {"task_id", "state": "queued"}}``, and
``GET {PREFIX}/tasks/<task_id>`` tells its state and, when done, its body, from the results
database (any worker, also after a restart).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, copy_current_request_context

from ..builtin.prompts import PromptLibrary
from ..builtin.tasks import TASKS, Task, generation_options
from ..errors import TaskNotFound
from ..observability.hooks import current_record
from ..tasks.runner import TaskRunner
from .exchange import Exchange
from .json_body import json_response, read_json_object
from .task_answers import answer_task, wants_async

MAX_CONCURRENT_CALLS = 8  # per request: a long list of texts must not take every slot of a model at once


def create_builtin_tasks_blueprint(exchange: Exchange, prompts: PromptLibrary, runner: TaskRunner, prefix: str,
                                   max_body_size: int) -> Blueprint:
    bp = Blueprint("builtin_tasks", __name__)

    def route(task: Task):
        def view():
            started = time.monotonic()
            body, _ = read_json_object(max_body_size)
            options = generation_options(body)
            language = prompts.language(body.get("language"))
            chats = task.build(body, prompts, language)  # every check before anything runs
            asynchronous = wants_async(body)
            record = None if asynchronous else current_record()

            def ask(messages: list[dict]) -> str:
                return exchange.complete_text({**options, "messages": messages, "stream": False}, record,
                                              client_body=body)

            def run() -> dict:
                if len(chats) == 1:
                    answers = [ask(chats[0])]
                else:
                    # Each call runs in a copy of this request's context (the key, the record) of its own.
                    calls = [(copy_current_request_context(ask), messages) for messages in chats]
                    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CALLS, len(chats))) as pool:
                        answers = list(pool.map(lambda call: call[0](call[1]), calls))  # a failure is raised as is
                return {"response": task.respond(body, answers), "generation_time": round(time.monotonic() - started, 3)}

            return answer_task(runner, task.name, asynchronous, run)

        view.__name__ = task.name
        return view

    for task in TASKS.values():
        bp.add_url_rule(f"{prefix}/{task.name}", task.name, route(task), methods=["POST"])

    @bp.get(f"{prefix}/tasks/<task_id>")
    def task_state(task_id: str):
        row = runner.store.get(task_id) if len(task_id) == 32 and task_id.isalnum() else None
        if row is None:
            raise TaskNotFound(f"No task {task_id!r} in the results database.", param="task_id")
        body = {"task_id": row.id, "route": row.route, "state": row.state, "created": row.created,
                "finished": row.finished}
        if row.state == "done":
            body.update(row.result)
        elif row.state == "failed":
            body.update(row.result, status=row.status)
        elif row.state == "lost":
            body["error"] = {"message": "The gateway process running the task ended before it finished; submit "
                                        "it again.", "type": "server_error", "param": None, "code": "task_lost"}
        return json_response({"status": True, "body": body})

    return bp
