"""Runs submitted tasks on a small thread pool of the worker that took them, recording each in the
results database: queued, running, then done (its body) or failed (its error object and status).

The pool and the database are opened on first use in the process that serves (never in
gunicorn's master): a gateway that never gets an asynchronous task creates no file.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..dialects import openai
from ..errors import GatewayError
from .store import ResultsStore

log = logging.getLogger(__name__)


class TaskRunner:
    def __init__(self, db_path: str, threads: int):
        self._db_path = db_path
        self._threads = threads
        self._lock = threading.Lock()
        self._store: ResultsStore | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    @property
    def store(self) -> ResultsStore:
        self._ensure()
        return self._store

    def submit(self, route: str, work: Callable[[], dict]) -> str:
        """Record a task and start ``work`` (which returns the task's body) in the background."""
        self._ensure()
        task_id = self._store.create(route)
        self._pool.submit(self._run, task_id, route, work)
        return task_id

    def _run(self, task_id: str, route: str, work: Callable[[], dict]) -> None:
        store = self._store
        store.start(task_id)
        try:
            body = work()
        except GatewayError as error:
            store.fail(task_id, error.status, openai.error_body(error))
        except Exception as exc:  # a task's failure is its result, never the runner's end
            log.exception("task %s (%s) failed", task_id, route)
            store.fail(task_id, 500, openai.error_body(GatewayError(
                f"The task failed ({type(exc).__name__}); see the gateway's log.")))
        else:
            store.finish(task_id, body)

    def _ensure(self) -> None:
        with self._lock:
            if self._pid == os.getpid() and self._store is not None:
                return
            self._store = ResultsStore(self._db_path)
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="llm-router-task")
            self._pid = os.getpid()
