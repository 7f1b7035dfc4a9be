"""The app factory: settings in, a Flask app with its guards loaded out.

Nothing is created at import time. Under gunicorn each worker calls ``create_app`` after fork
(preload is off), so every worker loads its own models; each batcher starts its thread on the
first request in the process that serves it.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from .settings import ServiceSettings

log = logging.getLogger("llm_router_services")
_HANDLER_NAME = "llm_router_services"


def create_app(settings: ServiceSettings | None = None, *, guards: dict | None = None) -> Flask:
    """Build the app; ``guards`` ({name: Guard}) lets tests share loaded models between apps.

    Raises :class:`SettingsError` (one line) when an enabled guard's model cannot be loaded.
    """
    settings = settings or ServiceSettings.from_environ()
    configure_logging(settings.log_level)
    if guards is None:
        from .guard import Guard  # brings torch and transformers: only where a model is loaded

        guards = {g.name: Guard.build(g, settings) for g in settings.enabled_guards}

    app = Flask("llm_router_services", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_body_size
    app.json.sort_keys = False  # entries keep the API's field order
    app.extensions["llm_router_guards"] = guards
    register_error_handlers(app, settings)

    from .routes import create_guard_blueprint

    app.register_blueprint(create_guard_blueprint(guards, settings.max_texts))
    return app


def register_error_handlers(app: Flask, settings: ServiceSettings) -> None:
    """Every error is JSON ``{"error": ...}``; never a stack trace or an HTML page."""
    disabled = {g.name: g for g in settings.guards if not g.enabled}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 404:
            name = request.path.rstrip("/").rsplit("/", 1)[-1]
            if request.path.startswith("/api/guardrails/") and name in disabled:
                message = (f"the guard {name} is not enabled on this service "
                           f"({disabled[name].variable('ENABLED')}=0)")
            else:
                message = f"no such route: {request.path}"
        elif exc.code == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        elif exc.code == 413:
            message = (f"the body is larger than {settings.max_request_body_size} bytes "
                       "(LLM_ROUTER_GUARD_MAX_REQUEST_BODY_SIZE)")
        else:
            message = exc.description or exc.name
        return {"error": message}, exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return {"error": f"internal error ({type(exc).__name__}); see the service log"}, 500


def configure_logging(level: str) -> None:
    """The package's lines go to stderr (gunicorn's log) once, at ``LLM_ROUTER_LOG_LEVEL``."""
    log.setLevel(level)
    if not any(h.get_name() == _HANDLER_NAME for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S %z"))
        log.addHandler(handler)
        log.propagate = False
