"""Errors as the client's dialect expects them, for every failure including unknown routes.

Handlers are registered on the app, so 404/405/413 raised by Flask itself get the same shape.
An unexpected exception is logged with its traceback and answered with a plain 500 that says
nothing about the inside.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed as WerkzeugMethodNotAllowed, NotFound
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import GatewayError, InvalidRequest, MethodNotAllowed, RequestTooLarge, RouteNotFound

log = logging.getLogger(__name__)


def openai_error_body(error: GatewayError) -> dict:
    return {"error": {"message": error.message, "type": error.error_type, "param": error.param,
                      "code": error.code}}


def error_response(error: GatewayError) -> Response:
    response = Response(json.dumps(openai_error_body(error)), status=error.status, mimetype="application/json")
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
        return error_response(_from_http_exception(exc, app.config.get("MAX_CONTENT_LENGTH")))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(GatewayError("The gateway failed to process the request."))
