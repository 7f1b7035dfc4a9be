"""Run the app under gunicorn, configured from settings; workers build the app after fork.

Imports here stay light (no Flask app, no sockets or ssl): with the gevent worker, gunicorn patches
the standard library in each worker, and that must happen before the app's modules load.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

from gunicorn.app.base import BaseApplication

from .settings import Settings

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
OWN_DIR_PREFIX = "llm-router-metrics-"


def prepare_metrics_dir(server=None) -> str:
    """In the master, before any worker starts: an empty directory for the workers' samples.

    Without ``PROMETHEUS_MULTIPROC_DIR`` a private temporary one is made; a given one is emptied
    of the previous run's files (a restart must not add old counts to new ones). Workers inherit
    the variable when they fork.
    """
    directory = os.environ.get(METRICS_DIR_VARIABLE)
    if not directory:
        directory = tempfile.mkdtemp(prefix=OWN_DIR_PREFIX)
        os.environ[METRICS_DIR_VARIABLE] = directory
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    return directory


def remove_own_metrics_dir(server=None) -> None:
    """At the master's exit: the temporary directory it made itself goes (a given one stays)."""
    directory = os.environ.get(METRICS_DIR_VARIABLE, "")
    if os.path.basename(directory).startswith(OWN_DIR_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


def worker_exited(server, worker) -> None:
    """A dead worker's live gauges (in flight, queue length) must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


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
        if s.use_prometheus:  # every worker writes its samples where /metrics in any worker reads them all
            options["on_starting"] = prepare_metrics_dir
            options["child_exit"] = worker_exited
            options["on_exit"] = remove_own_metrics_dir
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app(self.settings)
