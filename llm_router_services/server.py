"""Serve the app under gunicorn: gthread workers, each building the app (and its models) after fork."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from .settings import ServiceSettings, SettingsError


class GuardServer(BaseApplication):
    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            # Threads, not processes or greenlets: request threads wait on the batcher's future while
            # its one thread runs the model (torch releases the GIL in its kernels).
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": s.timeout,
            "graceful_timeout": 30,
            "keepalive": 5,
            "preload_app": False,  # models are loaded in each worker, never in the master
            "loglevel": s.log_level.lower(),
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        try:
            return create_app(self.settings)
        except SettingsError as exc:
            # gunicorn prints an AppImportError's message alone (no traceback) and stops the master.
            raise AppImportError(f"llm-router-guard: cannot start: {exc}") from None
