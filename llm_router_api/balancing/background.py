"""Periodic work of one worker (health checks, lease renewal, keep-alive pings, wake-ups).

Threads start on first use, never at import or in ``create_app``'s caller: under gunicorn that is
after fork, in the worker, and with the gevent worker they are greenlets. A thread found dead
in a forked child (its parent started it) is started again.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

log = logging.getLogger(__name__)


class BackgroundThread:
    """Runs ``body(stop_event)`` in a daemon thread, started at most once per process."""

    def __init__(self, name: str, body: Callable[[threading.Event], None]):
        self.name = name
        self._body = body
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()

    def ensure_started(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._body(self._stop)
        except Exception:  # a bug here must be seen, and must not take the worker down
            log.exception("background task %s stopped", self.name)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None


def every(interval: float, task: Callable[[], None], *, first_at_once: bool = True) -> Callable[[threading.Event], None]:
    """A body that runs ``task`` every ``interval`` seconds until stopped; errors are logged, not fatal."""

    def body(stop: threading.Event) -> None:
        if not first_at_once and stop.wait(interval):
            return
        while not stop.is_set():
            try:
                task()
            except Exception:
                log.exception("periodic task failed")
            if stop.wait(interval):
                return

    return body
