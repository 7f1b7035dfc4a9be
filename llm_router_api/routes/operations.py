"""Operational routes: liveness, version, and health with per-provider state (no secrets)."""

from __future__ import annotations

import json
import os

from flask import Blueprint, Response

from .. import __version__
from ..balancing import ProviderStates
from ..config.store import ConfigStore


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def create_operations_blueprint(store: ConfigStore, states: ProviderStates, strategy: str,
                                prefix: str) -> Blueprint:
    bp = Blueprint("operations", __name__)

    def ping():
        return _json({"response": "pong"})

    def version():
        return _json({"version": __version__})

    def health():
        config = store.current()
        models = []
        for model in config.models:
            providers = []
            for role, group in (("primary", model.providers), ("sleep", model.providers_sleep)):
                for provider in group:
                    entry = {"id": provider.id, "role": role, "api_type": provider.api_type,
                             "max_concurrency": provider.max_concurrency}
                    entry.update(states.snapshot(provider.id))
                    providers.append(entry)
            available = any(p["state"] != "ejected" for p in providers)
            models.append({"name": model.name, "aliases": list(model.aliases), "available": available,
                           "providers": providers})
        status = "ok" if all(m["available"] for m in models) else "degraded"
        return _json({"status": status, "version": __version__, "strategy": strategy,
                      "scope": {"worker_pid": os.getpid(), "note": "provider state is kept per worker"},
                      "config_generation": store.generation, "models": models})

    for path in dict.fromkeys(["/ping", f"{prefix}/ping"]):
        bp.add_url_rule(path, "ping", ping, methods=["GET"])
    bp.add_url_rule("/version", "version", version, methods=["GET"])
    bp.add_url_rule("/health", "health", health, methods=["GET"])
    return bp
