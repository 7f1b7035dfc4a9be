"""The results database: one SQLite file (``LLM_ROUTER_RESULTS_DB``) shared by every worker.

SQLite in WAL mode with a busy timeout: many workers write it safely (SQLite serialises writers;
WAL lets readers go on meanwhile). A connection per operation keeps it correct across threads,
greenlets and forks. A task records its owner (host and process id): a task still queued or
running whose owner process is gone (a restart, a killed worker) is reported ``lost`` instead of
staying "running" forever.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    state TEXT NOT NULL,            -- queued, running, done, failed, lost
    created REAL NOT NULL,
    finished REAL,
    owner TEXT NOT NULL,            -- host:pid of the process that runs it
    result TEXT,                    -- JSON: the task's "body" when done, the error object when failed
    status INTEGER                  -- the HTTP status of a failure
)
"""
UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class TaskRow:
    id: str
    route: str
    state: str
    created: float
    finished: float | None
    result: Any
    status: int | None


class ResultsStore:
    def __init__(self, path: str | Path, *, timeout: float = 10.0):
        self.path = Path(path)
        self._timeout = timeout
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self._timeout)

    def create(self, route: str) -> str:
        task_id = uuid.uuid4().hex
        self.owner = f"{socket.gethostname()}:{os.getpid()}"  # a forked worker is its own owner
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO tasks (id, route, state, created, owner) VALUES (?, ?, 'queued', ?, ?)",
                       (task_id, route, time.time(), self.owner))
        return task_id

    def start(self, task_id: str) -> None:
        self._set(task_id, "running")

    def finish(self, task_id: str, body: Any) -> None:
        self._set(task_id, "done", json.dumps(body, ensure_ascii=False), None, time.time())

    def fail(self, task_id: str, status: int, error: Any) -> None:
        self._set(task_id, "failed", json.dumps(error, ensure_ascii=False), status, time.time())

    def _set(self, task_id: str, state: str, result: str | None = None, status: int | None = None,
             finished: float | None = None) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE tasks SET state = ?, result = ?, status = ?, finished = ? WHERE id = ?",
                       (state, result, status, finished, task_id))

    def get(self, task_id: str) -> TaskRow | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT id, route, state, created, finished, owner, result, status FROM tasks "
                             "WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        task_id, route, state, created, finished, owner, result, status = row
        if state in UNFINISHED and _gone(owner):
            state = "lost"
            with closing(self._connect()) as db, db:  # only if nobody finished it meanwhile
                db.execute("UPDATE tasks SET state = 'lost' WHERE id = ? AND state IN ('queued', 'running')",
                           (task_id,))
        return TaskRow(task_id, route, state, created, finished, json.loads(result) if result else None, status)


def _gone(owner: str) -> bool:
    """Whether the owning process has ended (only knowable for a process on this host)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False
