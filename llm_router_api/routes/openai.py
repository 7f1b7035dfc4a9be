"""OpenAI-compatible routes: models, chat completions, completions, embeddings.

Each route is registered under every path llm-router users already call: ``/v1/...``,
``{PREFIX}/v1/...``, and the short ``{PREFIX}/...`` and ``/...`` forms.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response

from ..config.store import ConfigStore
from ..dialects import openai as openai_dialect
from ..dialects.base import CanonicalRequest, EncodeContext
from ..dispatch import Call, NativeCall
from ..errors import InvalidRequest, ModelNotFound
from ..streaming import OPENAI_SSE
from ..upstream.openai_wire import ENDPOINT_PATHS
from .exchange import Codec, Exchange
from .json_body import read_json_object

# endpoint -> (the body field it cannot do without, its expected JSON types)
_REQUIRED_FIELD = {
    "chat": ("messages", (list,)),
    "completions": ("prompt", (str, list)),
    "embeddings": ("input", (str, list)),
}
CODEC = Codec(openai_dialect.encode_answer, OPENAI_SSE, openai_dialect.ChatStreamEncoder)


def path_variants(prefix: str, path: str) -> list[str]:
    """``/chat/completions`` -> /v1/chat/completions, {prefix}/v1/..., {prefix}/..., /chat/completions."""
    variants = [f"/v1{path}", f"{prefix}/v1{path}", f"{prefix}{path}", path]
    return list(dict.fromkeys(variants))


def _bound(proxy, endpoint: str):
    def view():
        return proxy(endpoint)
    view.__name__ = f"{endpoint}_view"
    return view


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


def openai_call(endpoint: str, payload: dict, raw: bytes, stream: bool) -> Call:
    """An OpenAI client's request: canonical already, and passed through as bytes where it can be."""
    return Call(CanonicalRequest(endpoint, payload, stream),
                NativeCall("openai", ENDPOINT_PATHS[endpoint], payload, raw))


def create_openai_blueprint(store: ConfigStore, exchange: Exchange, prefix: str, max_body_size: int,
                            skip_paths: frozenset[str] = frozenset()) -> Blueprint:
    """``skip_paths``: paths another dialect owns (Ollama's /api/embeddings when PREFIX is /api)."""
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
        return serve_openai(exchange, endpoint, payload, raw)

    for path in path_variants(prefix, "/models"):
        bp.add_url_rule(path, "models", list_models, methods=["GET"])
    for path in path_variants(prefix, "/models/<path:model_id>"):
        bp.add_url_rule(path, "model", get_model, methods=["GET"])
    for endpoint, path in (("chat", "/chat/completions"), ("completions", "/completions"),
                           ("embeddings", "/embeddings")):
        view = _bound(proxy, endpoint)
        for variant in path_variants(prefix, path):
            if variant not in skip_paths:
                bp.add_url_rule(variant, endpoint, view, methods=["POST"])
    return bp


def serve_openai(exchange: Exchange, endpoint: str, payload: dict, raw: bytes) -> Response:
    """Validate an OpenAI request body and serve it (also used where a path is shared)."""
    public_name, stream = _validated(payload, endpoint)
    return exchange.serve(openai_call(endpoint, payload, raw, stream), CODEC, EncodeContext(public_name, payload))
