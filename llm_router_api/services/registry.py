"""The services of a manifest directory (``LLM_ROUTER_SERVICES_DIR``), re-read when it changes.

Checked on use, at most once per interval, like the models config: adding, editing or deleting a
manifest changes ``GET /services`` and what ``POST {PREFIX}/services/<name>`` serves without a
restart. A manifest with a problem is left out and its problem reported (log line, ``/services``);
the others keep serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .manifests import Manifest, ManifestError, load_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    by_name: dict[str, Manifest]
    problems: tuple[str, ...]


def _signature(directory: Path) -> tuple:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries
                 if e.name.endswith((".json", ".txt")) and e.is_file())


class ServiceRegistry:
    def __init__(self, directory: str | Path, *, reload_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.directory = Path(directory)
        self._interval = reload_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._services = Services({}, ())
        self._next_check = 0.0

    def current(self) -> Services:
        if self._signature is None or (self._interval > 0 and self._clock() >= self._next_check):
            self._maybe_reload()
        return self._services

    def _maybe_reload(self) -> None:
        with self._lock:
            self._next_check = self._clock() + self._interval
            signature = _signature(self.directory)
            if signature == self._signature:
                return
            self._signature = signature
            by_name: dict[str, Manifest] = {}
            problems: list[str] = []
            for path in sorted(self.directory.glob("*.json")):
                try:
                    manifest = load_manifest(path)
                except ManifestError as exc:
                    problems.append(str(exc))
                    continue
                if manifest.name in by_name:
                    problems.append(f"{path.name}: name: '{manifest.name}' is also {by_name[manifest.name].source.name}")
                    continue
                by_name[manifest.name] = manifest
            for problem in problems:
                log.error("service manifest left out: %s", problem)
            if by_name or problems:
                log.info("services: %s", ", ".join(sorted(by_name)) or "(none)")
            self._services = Services(by_name, tuple(problems))
