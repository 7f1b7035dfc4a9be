"""The current models config, re-read when the file changes on disk.

A request takes one snapshot (``current()``) and keeps it to the end, so a reload never changes
a request half-way. The file is checked on use, at most once per interval: no background thread,
so nothing runs in the gunicorn master before fork. A file that fails validation is reported
once and the last good config keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

from .loader import ConfigError, load_models_config
from .models import ModelsConfig

log = logging.getLogger(__name__)


def _file_signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ConfigStore:
    def __init__(self, path: str, *, reload_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = path
        self._interval = reload_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = _file_signature(path)
        self._config = load_models_config(path)  # a bad file at start-up is fatal: ConfigError
        self._next_check = clock() + reload_interval
        self._last_error: str | None = None
        self.generation = 1

    def current(self) -> ModelsConfig:
        if self._interval > 0 and self._clock() >= self._next_check:
            self._maybe_reload()
        return self._config

    def _maybe_reload(self) -> None:
        # One caller reloads; the others keep serving the snapshot they have.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = self._clock() + self._interval
            signature = _file_signature(self.path)
            if signature is None or signature == self._signature:
                return
            try:
                config = load_models_config(self.path)
            except ConfigError as exc:
                message = str(exc)
                if message != self._last_error:
                    log.error("models config not reloaded, still serving the previous one: %s", message)
                    self._last_error = message
                return  # signature not recorded: a file caught mid-write is read again next time
            self._config = config
            self._signature = signature
            self._last_error = None
            self.generation += 1
            log.info("models config reloaded from %s: %d active model(s)", self.path, len(config.models))
        finally:
            self._lock.release()
