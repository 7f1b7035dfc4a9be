"""LM Studio's ``/api/v0`` routes: model listing with details, and the OpenAI endpoints."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response

from ..config.store import ConfigStore
from ..dialects import lmstudio
from ..errors import ModelNotFound
from .exchange import Exchange
from .json_body import json_response, read_json_object
from .openai import serve_openai


def create_lmstudio_blueprint(store: ConfigStore, exchange: Exchange, max_body_size: int) -> Blueprint:
    bp = Blueprint("lmstudio", __name__)

    @bp.get("/api/v0/models")
    def models():
        data = [lmstudio.model_entry(name, model.context_length) for name, model in store.current().public_names()]
        return json_response({"object": "list", "data": data})

    @bp.get("/api/v0/models/<path:model_id>")
    def model(model_id: str):
        config = store.current().resolve(model_id)
        if config is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
        return json_response(lmstudio.model_entry(model_id, config.context_length))

    def proxy(endpoint: str):
        def view() -> Response:
            body, raw = read_json_object(max_body_size)
            started = time.monotonic()
            response = serve_openai(exchange, endpoint, body, raw)
            if endpoint == "embeddings" or response.is_streamed or response.status_code != 200:
                return response
            try:
                answer = json.loads(response.get_data())
            except ValueError:
                return response
            config = store.current().resolve(str(answer.get("model", "")))
            limit = config.context_length if config is not None else None
            return json_response(lmstudio.add_stats(answer, time.monotonic() - started, limit))
        view.__name__ = f"{endpoint}_view"
        return view

    for endpoint in ("chat/completions", "completions", "embeddings"):
        bp.add_url_rule(f"/api/v0/{endpoint}", endpoint.replace("/", "_"), proxy(endpoint.split("/")[0]),
                        methods=["POST"])
    return bp
