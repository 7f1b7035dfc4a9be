"""How a task route answers: at once, or (``"async": true``) with a task id while it runs in the
background (``tasks/runner.py``). Shared by the built-in tasks and the manifest services."""

from __future__ import annotations

from typing import Callable

from flask import Response, copy_current_request_context

from ..errors import InvalidRequest
from ..tasks.runner import TaskRunner
from .json_body import json_response


def wants_async(body: dict) -> bool:
    value = body.get("async", False)
    if not isinstance(value, bool):
        raise InvalidRequest("'async' must be a boolean.", param="async", code="invalid_type")
    return value


def answer_task(runner: TaskRunner, route: str, asynchronous: bool, run: Callable[[], dict]) -> Response:
    """``run`` gives the task's body; the body is checked before this is called."""
    if asynchronous:
        task_id = runner.submit(route, copy_current_request_context(run))
        return json_response({"status": True, "body": {"task_id": task_id, "state": "queued"}}, 202)
    return json_response({"status": True, "body": run()})
