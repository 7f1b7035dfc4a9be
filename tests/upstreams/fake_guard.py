"""A guard service with scripted verdicts, speaking the API of ``llm_router_services``.

A text is unsafe when it contains one of ``unsafe_words`` (case-insensitive): the word's label
scores 0.95, every other category 0.01. Every payload received is recorded, so tests can see
exactly what left the gateway for the guard. Behaviours: ``delay`` seconds before answering
(a slow guard), ``status`` to answer an error, ``legacy`` for an answer without ``text_index``
and ``scores`` (the reference service's shape). ``stop()`` takes it down.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABELS = ("HATE", "VULGAR", "SEX", "CRIME", "SELF-HARM")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up on a slow answer is expected here (the gateway's timeout); not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeGuard:
    def __init__(self, unsafe_words: dict[str, str] | None = None, *, port: int = 0):
        self.unsafe_words = {word.lower(): label for word, label in (unsafe_words or {}).items()}
        self.delay = 0.0
        self.status = 200
        self.legacy = False
        self.payloads: list[list[str]] = []  # each call's texts, in arrival order
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._port = port
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def texts(self) -> list[str]:
        """Every text judged so far, in order."""
        with self._lock:
            return [text for payload in self.payloads for text in payload]

    def reset(self) -> None:
        with self._lock:
            self.payloads.clear()
            self.paths.clear()
        self.delay, self.status, self.legacy = 0.0, 200, False

    def verdict(self, text: str) -> tuple[bool, str, dict[str, float]]:
        lowered = text.lower()
        label = next((label for word, label in self.unsafe_words.items() if word in lowered), None)
        scores = {name: (0.95 if name == label else 0.01) for name in LABELS}
        return label is None, label or "HATE", scores

    def answer(self, payload) -> dict:
        texts = [payload] if isinstance(payload, str) else list(payload)
        detailed = []
        for index, text in enumerate(texts):
            safe, label, scores = self.verdict(text)
            chunk = {"chunk_index": 0, "chunk_text": text, "label": label, "score": scores[label], "safe": safe}
            if not self.legacy:
                chunk.update(text_index=index, scores=scores)
            detailed.append(chunk)
        return {"results": {"safe": all(chunk["safe"] for chunk in detailed), "detailed": detailed}}

    def start(self) -> "FakeGuard":
        guard = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with guard._lock:
                    guard._connections.add(self.connection)

            def finish(self):
                with guard._lock:
                    guard._connections.discard(self.connection)
                super().finish()

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                payload = json.loads(body)["payload"]
                with guard._lock:
                    guard.payloads.append([payload] if isinstance(payload, str) else list(payload))
                    guard.paths.append(self.path)
                if guard.delay:
                    time.sleep(guard.delay)  # the slow guard being simulated, not a test's synchronisation
                if guard.status != 200:
                    self._send(guard.status, {"error": "scripted failure"})
                else:
                    self._send(200, guard.answer(payload))

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self._server = _QuietServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:  # kept-alive connections too: a guard that is down answers nothing
                for connection in self._connections:
                    try:
                        connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> "FakeGuard":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
