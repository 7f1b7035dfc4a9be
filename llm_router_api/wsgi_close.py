"""Close an answer as soon as its last chunk is taken, once, whatever the server does afterwards.

An answer's ``close()`` is where the access line, the metrics and a key's token charge happen.
PEP 3333 asks every server to call it; werkzeug's development server (``LLM_ROUTER_SERVER_TYPE=
flask``) skips it when the client resets the connection while the server drains the socket after
the last chunk, which the SDKs do after a stream's ``[DONE]``. gunicorn always calls it, so this
wrapper is used only under the development server.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator


class CloseWhenExhausted:
    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ, start_response) -> "_ClosingOnce":
        return _ClosingOnce(self.app(environ, start_response))


class _ClosingOnce:
    def __init__(self, inner: Iterable[bytes]):
        self._inner = inner
        self._chunks: Iterator[bytes] = iter(inner)
        self._closed = False

    def __iter__(self) -> "_ClosingOnce":
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
