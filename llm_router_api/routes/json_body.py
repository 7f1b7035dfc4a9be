"""Reading a bounded JSON request body and writing a JSON answer, for every dialect's routes."""

from __future__ import annotations

import json

from flask import Response, current_app, request

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


DEFAULT_MAX_DEPTH = 64


def read_json_object(limit: int) -> tuple[dict, bytes]:
    """The body as a JSON object, at most ``limit`` bytes and ``LLM_ROUTER_MAX_JSON_DEPTH`` deep."""
    raw = read_body(limit)
    max_depth = current_app.config.get("LLM_ROUTER_MAX_JSON_DEPTH", DEFAULT_MAX_DEPTH)
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise InvalidRequest(f"The request body is nested deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # Only a body with more brackets than the limit can be too deep: most never need the walk.
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(payload, max_depth) > max_depth:
        raise InvalidRequest(f"The request body is nested deeper than {max_depth} levels.")
    return payload, raw


def json_depth(value, stop_after: int) -> int:
    """How deep ``value`` nests (a scalar is 0), counting no further than ``stop_after + 1``."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest
