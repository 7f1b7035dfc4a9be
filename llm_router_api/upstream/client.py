"""Keep-alive connection pools to upstreams, one client per worker (see ``http11`` for why).

A request goes out as one write (head and body together). An idle pooled connection is checked
before reuse; if a reused connection still dies before any answer arrives (the server's
keep-alive timer fired as we sent), the request is sent once more on a fresh connection, since
the server closed without reading it. Any other failure is the dispatcher's to fail over on.
"""

from __future__ import annotations

import ssl
from collections import defaultdict
from typing import Mapping

from .errors import NoResponse, TransportError
from .http11 import Connection, Response, read_head
from .origin import Origin


class UpstreamClient:
    def __init__(self, *, pool_size: int, connect_timeout: float):
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._idle: dict[Origin, list[Connection]] = defaultdict(list)
        self._tls: ssl.SSLContext | None = None

    def post(self, origin: Origin, path: str, body: bytes, headers: Mapping[str, str], *,
             read_timeout: float, connect_timeout: float | None = None) -> Response:
        """Send a POST to ``origin`` and return the answer with its head read, body unread."""
        request = _request_bytes("POST", f"{origin.base_path}{path}", origin, body, headers)
        return self._send(origin, request, read_timeout, connect_timeout)

    def get(self, origin: Origin, target: str, headers: Mapping[str, str], *, read_timeout: float,
            connect_timeout: float | None = None) -> Response:
        """Send a GET for ``target``, a path from the server's root (health checks live there)."""
        return self._send(origin, _request_bytes("GET", target, origin, b"", headers), read_timeout, connect_timeout)

    def _send(self, origin: Origin, request: bytes, read_timeout: float, connect_timeout: float | None) -> Response:
        connect_timeout = min(connect_timeout or self._connect_timeout, read_timeout)
        conn = self._checkout(origin, connect_timeout)
        try:
            return self._exchange(conn, request, read_timeout)
        except NoResponse:
            if not conn.reused:
                raise
        return self._exchange(self._connect(origin, connect_timeout), request, read_timeout)

    def _exchange(self, conn: Connection, request: bytes, read_timeout: float) -> Response:
        try:
            conn.sock.settimeout(read_timeout)
            try:
                conn.sock.sendall(request)
            except OSError as exc:
                raise NoResponse(type(exc).__name__) from None
            status, headers = read_head(conn)
            return Response(conn, self._checkin, status, headers)  # raises on a bad Content-Length
        except BaseException:
            conn.close()
            raise

    def _checkout(self, origin: Origin, connect_timeout: float) -> Connection:
        idle = self._idle[origin]
        while idle:
            conn = idle.pop()
            if not conn.is_dropped():
                conn.reused = True
                return conn
            conn.close()
        return self._connect(origin, connect_timeout)

    def _connect(self, origin: Origin, connect_timeout: float) -> Connection:
        tls = None
        if origin.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()  # honours SSL_CERT_FILE for internal CAs
            tls = self._tls
        return Connection(origin, connect_timeout, tls)

    def _checkin(self, conn: Connection) -> None:
        idle = self._idle[conn.origin]
        if len(idle) < self._pool_size:
            idle.append(conn)
        else:
            conn.close()


def _request_bytes(method: str, target: str, origin: Origin, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


__all__ = ["Origin", "Response", "TransportError", "UpstreamClient"]
