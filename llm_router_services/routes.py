"""The service's routes: ping, health, and one classification route per enabled guard."""

from __future__ import annotations

import json
import logging
import os
import time

from flask import Blueprint, Response, jsonify, request

from .batcher import BatchError, BatchTimeout
from .guard import Guard
from .verdicts import PayloadError, texts_from_payload

log = logging.getLogger("llm_router_services.routes")

GUARD_PREFIX = "/api/guardrails/"


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def create_guard_blueprint(guards: dict[str, Guard], max_texts: int) -> Blueprint:
    bp = Blueprint("guards", __name__)

    @bp.get("/api/ping")
    def ping():
        return jsonify({"response": "pong"})

    @bp.get("/health")
    def health():
        return jsonify({"status": "ok", "pid": os.getpid(),
                        "guards": {name: guard.describe() for name, guard in guards.items()}})

    def classify_with(guard: Guard):
        def classify():
            started = time.perf_counter()
            try:
                body = json.loads(request.get_data(cache=False) or b"null")
            except ValueError:
                return error(400, "the body is not valid JSON")
            try:
                texts = texts_from_payload(body, max_texts)
            except PayloadError as exc:
                return error(400, str(exc))
            try:
                answer = guard.classify(texts)
            except BatchTimeout:
                log.warning("%s: %d texts not classified within %g s", guard.settings.name, len(texts),
                            guard.request_timeout)
                return error(503, f"the guard did not answer within {guard.request_timeout:g} s "
                                  "(LLM_ROUTER_GUARD_REQUEST_TIMEOUT); try again later")
            except BatchError as exc:
                return error(500, f"classification failed: {exc}")
            results = answer["results"]
            # Counts and lengths only: the texts are user data and never logged.
            log.info("%s: %d texts, %d chars, %d windows -> %s in %.1f ms", guard.settings.name, len(texts),
                     sum(map(len, texts)), len(results["detailed"]), "safe" if results["safe"] else "unsafe",
                     (time.perf_counter() - started) * 1000)
            return jsonify(answer)

        return classify

    for name, guard in guards.items():
        bp.add_url_rule(GUARD_PREFIX + name, f"classify_{name}", classify_with(guard), methods=["POST"])
    return bp
