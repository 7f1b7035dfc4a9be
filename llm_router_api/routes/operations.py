"""Operational routes: liveness, version, health with per-provider state (no secrets), metrics."""

from __future__ import annotations

import json
import os

from flask import Blueprint, Response

from .. import __version__
from ..balancing.wiring import Balancing
from ..config.store import ConfigStore
from ..errors import RouteNotFound
from ..guardrails import Guarding
from ..observability.metrics import Metrics


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _leases(balancing: Balancing) -> dict:
    if not balancing.shared:
        return {"backend": "local", "redis": "not configured",
                "note": "capacity (max_concurrency) is counted per worker process"}
    slots = balancing.slots
    return {"backend": slots.kind, "redis": "unreachable" if slots.degraded else "ok", "outages": slots.outages}


def create_operations_blueprint(store: ConfigStore, balancing: Balancing, strategy: str,
                                prefix: str, metrics: Metrics, guarding: Guarding | None = None) -> Blueprint:
    states = balancing.states
    bp = Blueprint("operations", __name__)

    def ping():
        return _json({"response": "pong"})

    def version():
        return _json({"version": __version__})

    def health():
        config = store.current()
        in_flight = balancing.slots.in_flight([p.id for p in config.distinct_providers()])
        models = []
        for model in config.models:
            providers = []
            for role, group in (("primary", model.providers), ("sleep", model.providers_sleep)):
                for provider in group:
                    entry = {"id": provider.id, "role": role, "api_type": provider.api_type,
                             "max_concurrency": provider.max_concurrency}
                    entry.update(states.snapshot(provider.id))
                    entry["worker_in_flight"] = entry["in_flight"]
                    entry["in_flight"] = in_flight.get(provider.id, 0)
                    providers.append(entry)
            available = any(p["state"] not in ("ejected", "down") for p in providers)
            models.append({"name": model.name, "aliases": list(model.aliases), "available": available,
                           "providers": providers})
        status = "ok" if all(m["available"] for m in models) else "degraded"
        leases = _leases(balancing)
        if leases["redis"] == "unreachable":
            status = "degraded"
        body = {"status": status, "version": __version__, "strategy": strategy, "leases": leases,
                "waiting": balancing.balancer.room.count,
                "scope": {"worker_pid": os.getpid(),
                          "note": "health is this worker's view; in_flight is cluster-wide with Redis"},
                "config_generation": store.generation, "models": models}
        guardrails = guarding.health() if guarding is not None else None
        if guardrails is not None:
            body["guardrails"] = guardrails
            if not guardrails["fail_open"] and any(g["state"] == "resting" for g in guardrails["guards"].values()):
                body["status"] = "degraded"  # requests are refused until the guard answers again
        return _json(body)

    def scrape():
        if not metrics.enabled:
            raise RouteNotFound("Metrics are off; set LLM_ROUTER_USE_PROMETHEUS=1 to serve /metrics.")
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    for path in dict.fromkeys(["/ping", f"{prefix}/ping"]):
        bp.add_url_rule(path, "ping", ping, methods=["GET"])
    bp.add_url_rule("/version", "version", version, methods=["GET"])
    bp.add_url_rule("/health", "health", health, methods=["GET"])
    bp.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
    return bp
