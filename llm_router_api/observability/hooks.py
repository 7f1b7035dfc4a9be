"""Open a ``RequestRecord`` for every request and report it when the server closes the answer."""

from __future__ import annotations

from typing import Callable

from flask import Flask, Response, request

from .metrics import Metrics
from .request_record import ENVIRON_KEY, REQUEST_ID_HEADER, RequestRecord, request_id_from


def current_record() -> RequestRecord | None:
    return request.environ.get(ENVIRON_KEY)


def install_request_records(app: Flask, metrics: Metrics, client_ip: Callable[[str | None, str | None], str | None]
                            = lambda peer, forwarded: peer) -> None:
    """``client_ip(peer, X-Forwarded-For)``: who the client is (the peer unless a trusted proxy says)."""
    @app.before_request
    def open_record() -> None:
        record = RequestRecord(request_id_from(request.headers.get(REQUEST_ID_HEADER)), request.method)
        record.client_ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
        request.environ[ENVIRON_KEY] = record

    @app.after_request
    def close_record(response: Response) -> Response:
        record = current_record()
        if record is None:
            return response
        record.status = response.status_code
        if request.url_rule is not None:
            record.route = request.url_rule.rule
        response.headers[REQUEST_ID_HEADER] = record.request_id
        # Called when the server closes the answer: after a stream's last byte, or when its client left.
        response.call_on_close(lambda: record.finish(metrics))
        return response
