"""Ollama's routes, so Ollama apps (Open WebUI, the ``ollama`` client) can use the gateway.

Requests are decoded by ``dialects/ollama.py``; an Ollama provider gets them as they came, any
other provider gets the canonical (OpenAI) request, and the answer comes back as Ollama's JSON
or NDJSON stream. ``stream`` defaults to true, as in Ollama. Model names may carry Ollama's
``:latest`` tag.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from ..config.models import ModelConfig
from ..config.store import ConfigStore
from ..dialects import ollama
from ..dialects.base import CanonicalRequest, EncodeContext
from ..dispatch import Call, NativeCall
from ..errors import InvalidRequest
from ..streaming import OLLAMA_NDJSON
from .exchange import Codec, Exchange
from .json_body import json_response, read_json_object
from .openai import serve_openai

#: The Ollama version the routes behave like; clients check it to enable features.
OLLAMA_VERSION = "0.12.0"
DIALECT_OVERRIDE = "llm_router.dialect"  # environ key: the error dialect of a shared path's request
#: /api/ps reports every served model as loaded, expiring this far ahead (providers keep them).
LOADED_FOR_SECONDS = 24 * 3600

CHAT = Codec(ollama.encode_chat, OLLAMA_NDJSON, ollama.ChatStreamEncoder)
GENERATE = Codec(ollama.encode_generate, OLLAMA_NDJSON, ollama.GenerateStreamEncoder)
EMBED = Codec(ollama.encode_embed, OLLAMA_NDJSON)
EMBEDDINGS = Codec(ollama.encode_embeddings, OLLAMA_NDJSON)

PATHS = ("/", "/api/tags", "/api/ps", "/api/version", "/api/chat", "/api/generate", "/api/embed",
         "/api/embeddings", "/api/show")


def create_ollama_blueprint(store: ConfigStore, exchange: Exchange, max_body_size: int) -> Blueprint:
    bp = Blueprint("ollama", __name__)
    started = ollama.rfc3339()

    def resolve(name: object) -> tuple[str, ModelConfig]:
        """The public name and model for an Ollama model name (``name:latest`` means ``name``)."""
        if not isinstance(name, str) or not name:
            raise InvalidRequest("model is required", param="model")
        config = store.current()
        for candidate in (name, name[:-len(":latest")] if name.endswith(":latest") else None):
            model = config.resolve(candidate) if candidate else None
            if model is not None:
                return candidate, model
        return name, exchange.model(name, f"model '{name}' not found")

    def serve(canonical: CanonicalRequest, codec: Codec, path: str, raw: bytes) -> Response:
        body = canonical.native or {}
        public_name, model = resolve(body.get("model"))
        canonical.payload["model"] = public_name
        call = Call(canonical, NativeCall("ollama", path, body, raw))
        return exchange.serve(call, codec, EncodeContext(public_name, body), model)

    @bp.get("/")
    def running():
        return Response("Ollama is running", mimetype="text/plain")

    @bp.get("/api/version")
    def version():
        return json_response({"version": OLLAMA_VERSION})

    @bp.get("/api/tags")
    def tags():
        config = store.current()
        return json_response({"models": [ollama.tag_entry(name, started, model.context_length)
                                         for name, model in config.public_names()]})

    @bp.get("/api/ps")
    def running_models():
        config = store.current()
        expires_at = ollama.rfc3339(time.time() + LOADED_FOR_SECONDS)
        return json_response({"models": [ollama.ps_entry(name, expires_at, model.context_length)
                                         for name, model in config.public_names()]})

    @bp.post("/api/show")
    def show():
        body, _ = read_json_object(max_body_size)
        public_name, model = resolve(body.get("model") or body.get("name"))
        return json_response(ollama.show_body(public_name, model.context_length, started))

    @bp.post("/api/chat")
    def chat():
        body, raw = read_json_object(max_body_size)
        if ollama.is_chat_load_request(body):  # Ollama's way to (un)load a model: nothing to generate
            public_name, _ = resolve(body.get("model"))
            return json_response(ollama.chat_load_answer(public_name, ollama.load_reason(body)))
        return serve(ollama.decode_chat(body), CHAT, "/api/chat", raw)

    @bp.post("/api/generate")
    def generate():
        body, raw = read_json_object(max_body_size)
        if ollama.is_load_request(body):
            public_name, _ = resolve(body.get("model"))
            return json_response(ollama.load_answer(public_name, ollama.load_reason(body)))
        return serve(ollama.decode_generate(body), GENERATE, "/api/generate", raw)

    @bp.post("/api/embed")
    def embed():
        body, raw = read_json_object(max_body_size)
        return serve(ollama.decode_embed(body), EMBED, "/api/embed", raw)

    @bp.post("/api/embeddings")
    def embeddings():
        body, raw = read_json_object(max_body_size)
        if "input" in body and "prompt" not in body:
            # {PREFIX}/embeddings of the OpenAI routes is this very path when PREFIX is /api.
            request.environ[DIALECT_OVERRIDE] = "openai"
            return serve_openai(exchange, "embeddings", body, raw)
        return serve(ollama.decode_embeddings(body), EMBEDDINGS, "/api/embeddings", raw)

    return bp
