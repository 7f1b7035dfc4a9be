"""OpenAI-compatible routes: models, chat completions, completions, embeddings.

Each route is registered under every path llm-router users already call: ``/v1/...``,
``{PREFIX}/v1/...``, and the short ``{PREFIX}/...`` and ``/...`` forms.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, request

from ..dispatch import Dispatcher, UpstreamStream
from ..config.store import ConfigStore
from ..errors import InvalidRequest, ModelNotFound, RequestTooLarge
from ..streaming import relay
from .client_connection import client_gone

log = logging.getLogger(__name__)

# endpoint -> (the body field it cannot do without, its expected JSON types)
_REQUIRED_FIELD = {
    "chat": ("messages", (list,)),
    "completions": ("prompt", (str, list)),
    "embeddings": ("input", (str, list)),
}
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def path_variants(prefix: str, path: str) -> list[str]:
    """``/chat/completions`` -> /v1/chat/completions, {prefix}/v1/..., {prefix}/..., /chat/completions."""
    variants = [f"/v1{path}", f"{prefix}/v1{path}", f"{prefix}{path}", path]
    return list(dict.fromkeys(variants))


def _bound(proxy, endpoint: str):
    def view():
        return proxy(endpoint)
    view.__name__ = f"{endpoint}_view"
    return view


def read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, else 413.

    With a Content-Length, Flask's MAX_CONTENT_LENGTH refuses an oversized body before reading
    it. A chunked body has no length up front, and werkzeug would silently cut it at the limit,
    so it is read here up to one byte past the limit.
    """
    if request.content_length is not None:
        return request.get_data(cache=False)
    stream = request.environ["wsgi.input"]
    parts, size = [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    return b"".join(parts)


def read_json_object(limit: int) -> tuple[dict, bytes]:
    raw = read_body(limit)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return payload, raw


def _validated(payload: dict, endpoint: str) -> tuple[str, bool]:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("You must provide a model parameter.", param="model", code="missing_model")
    field, types = _REQUIRED_FIELD[endpoint]
    if field not in payload:
        raise InvalidRequest(f"Missing required parameter: '{field}'.", param=field, code="missing_required_parameter")
    if not isinstance(payload[field], types):
        names = " or ".join("an array" if t is list else "a string" for t in types)
        raise InvalidRequest(f"Invalid type for '{field}': expected {names}.", param=field, code="invalid_type")
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("Invalid type for 'stream': expected a boolean.", param="stream", code="invalid_type")
    return model, stream and endpoint != "embeddings"


def create_openai_blueprint(store: ConfigStore, dispatcher: Dispatcher, prefix: str,
                            max_body_size: int) -> Blueprint:
    bp = Blueprint("openai", __name__)
    started = int(time.time())

    def model_card(name: str, group: str) -> dict:
        return {"id": name, "object": "model", "created": started, "owned_by": group}

    def list_models():
        config = store.current()
        data = [model_card(name, model.group) for name, model in config.public_names()]
        return Response(json.dumps({"object": "list", "data": data}), mimetype="application/json")

    def get_model(model_id: str):
        model = store.current().resolve(model_id)
        if model is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
        return Response(json.dumps(model_card(model_id, model.group)), mimetype="application/json")

    def proxy(endpoint: str):
        payload, raw = read_json_object(max_body_size)
        public_name, stream = _validated(payload, endpoint)
        model = store.current().resolve(public_name)
        if model is None:
            raise ModelNotFound(f"The model '{public_name}' does not exist or is not served by this gateway.",
                                param="model")
        if client_gone(request.environ):
            log.info("model=%s: client left before the request was dispatched; not sent upstream", public_name)
            return Response(status=499)  # nginx's "client closed request"; nobody reads it
        environ = request.environ
        result = dispatcher.send(model, public_name, endpoint, payload, raw, stream=stream,
                                 abandoned=lambda: client_gone(environ))
        if isinstance(result, UpstreamStream):
            return Response(relay(result), status=200, content_type=result.content_type, headers=_STREAM_HEADERS)
        return Response(result.body, status=result.status, content_type=result.content_type)

    for path in path_variants(prefix, "/models"):
        bp.add_url_rule(path, "models", list_models, methods=["GET"])
    for path in path_variants(prefix, "/models/<path:model_id>"):
        bp.add_url_rule(path, "model", get_model, methods=["GET"])
    for endpoint, path in (("chat", "/chat/completions"), ("completions", "/completions"),
                           ("embeddings", "/embeddings")):
        view = _bound(proxy, endpoint)
        for variant in path_variants(prefix, path):
            bp.add_url_rule(variant, endpoint, view, methods=["POST"])
    return bp
