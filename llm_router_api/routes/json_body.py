"""Reading a bounded JSON request body and writing a JSON answer, for every dialect's routes."""

from __future__ import annotations

import json

from flask import Response, request

from ..errors import InvalidRequest, RequestTooLarge


def json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


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
