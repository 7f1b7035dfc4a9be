"""Errors as the client's dialect expects them, for every failure including unknown routes.

Handlers are registered on the app, so 404/405/413 raised by Flask itself get the same shape.
The dialect is the matched route's blueprint; for a path no route matched, it is guessed from
the path (``/v1/messages...`` Anthropic, Ollama's own paths Ollama, else OpenAI). An unexpected
exception is logged with its traceback and answered with a plain 500 that says nothing about
the inside.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed as WerkzeugMethodNotAllowed, NotFound
from werkzeug.exceptions import RequestEntityTooLarge

from ..dialects import anthropic, ollama, openai
from ..errors import GatewayError, InvalidRequest, MethodNotAllowed, RequestTooLarge, RouteNotFound
from ..observability.hooks import current_record
from .ollama import DIALECT_OVERRIDE, PATHS as OLLAMA_PATHS

log = logging.getLogger(__name__)

ERROR_BODIES = {"openai": openai.error_body, "ollama": ollama.error_body, "anthropic": anthropic.error_body}
_BLUEPRINT_DIALECTS = {"ollama": "ollama", "anthropic": "anthropic"}


def request_dialect() -> str:
    override = request.environ.get(DIALECT_OVERRIDE)
    if override:
        return override
    if request.blueprint:
        return _BLUEPRINT_DIALECTS.get(request.blueprint, "openai")
    path = request.path
    if "/v1/messages" in path:  # also under {PREFIX}
        return "anthropic"
    if path in OLLAMA_PATHS:
        return "ollama"
    return "openai"


def error_response(error: GatewayError) -> Response:
    record = current_record()
    if record is not None:
        record.error_code = error.code
    body = ERROR_BODIES[request_dialect()](error)
    response = Response(json.dumps(body), status=error.status, mimetype="application/json")
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _from_http_exception(exc: HTTPException, max_body: int | None) -> GatewayError:
    if isinstance(exc, NotFound):
        return RouteNotFound(f"Unknown route: {request.method} {request.path}")
    if isinstance(exc, WerkzeugMethodNotAllowed):
        return MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}")
    if isinstance(exc, RequestEntityTooLarge):
        return RequestTooLarge(f"The request body exceeds the limit of {max_body} bytes.")
    if exc.code is not None and exc.code < 500:
        error = InvalidRequest(exc.description or exc.name)
        error.status = exc.code
        return error
    return GatewayError("The gateway failed to process the request.")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def _gateway_error(error: GatewayError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        response = error_response(_from_http_exception(exc, app.config.get("MAX_CONTENT_LENGTH")))
        if isinstance(exc, WerkzeugMethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # what HTTP asks of a 405
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(GatewayError("The gateway failed to process the request."))
