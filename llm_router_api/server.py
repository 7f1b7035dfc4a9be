"""Run the app under gunicorn, configured from settings; workers build the app after fork.

Imports here stay light (no Flask app, no sockets or ssl): with the gevent worker, gunicorn patches
the standard library in each worker, and that must happen before the app's modules load.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from .settings import Settings


class GatewayServer(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.server_host}:{s.server_port}",
            "workers": s.server_workers_count,
            "worker_class": s.server_worker_class,
            "threads": s.server_threads_count,
            "worker_connections": s.server_worker_connections,
            "timeout": s.timeout,
            "graceful_timeout": 30,
            # Idle keep-alive connections hold a gevent worker at shutdown until they time out,
            # so a short keep-alive (as uvicorn/vLLM use) keeps restarts quick.
            "keepalive": 5,
            "preload_app": False,
            "loglevel": s.log_level.lower(),
            # gunicorn >= 27 opens a control socket at one fixed path per user; replicas on one
            # host would fight over it, and nothing here uses it.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self.settings)
