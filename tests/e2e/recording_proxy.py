"""A recording HTTP proxy in front of one real upstream (a vLLM): what did the model server receive?

It forwards every request as it came and streams the answer back as it arrives (SSE included),
keeping each request's method, path and body. With the upstream gone it answers 502, as nginx in
front of a dead vLLM would. The end-to-end tier reads ``records`` to prove, for example, that a
masked value never reached a vLLM.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    body: bytes


class RecordingProxy:
    def __init__(self, upstream_host: str, upstream_port: int, timeout: float = 120.0):
        self.upstream = (upstream_host, upstream_port)
        self.timeout = timeout
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, path: str) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.path == path]

    def _record(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the test reads records, not logs
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._record(Record(self.command, self.path.split("?")[0], body))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.timeout)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                except OSError:
                    upstream.close()
                    return self._send_bytes(502, b'{"error": "upstream unreachable"}')
                try:
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while piece := answer.read1(65536):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True
                finally:
                    upstream.close()

            def _send_bytes(self, status: int, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler
