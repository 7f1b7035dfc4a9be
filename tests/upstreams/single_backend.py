"""A model-swapping OpenAI-protocol server: several models installed, one loaded at a time.

It stands in for LocalAI with ``--single-active-backend`` and for llama-server in router mode
with ``--models-max 1``: the model named in a request is loaded on demand, and loading it first
unloads the one that was there. What it does per ``POST`` (chat, completions, embeddings):

- the model is not installed: 404;
- a request for *another* model is still being answered: 500, at once. LocalAI answered the
  seed's users that way when two models were asked of it at the same time (the backend of the
  first one was torn down under it). Counted in ``conflicts``;
- the model is loaded: answered after ``service_time`` (streams: tokens ``token_delay`` apart);
- another model is loaded (or none) and nothing is in flight: a swap, counted in ``swaps``;
  the answer comes ``swap_delay`` later, a real delay in the server's event loop.

``GET /v1/models`` lists every installed model and ``GET /health`` answers 200, as both servers
do. The HTTP machinery is :mod:`tests.upstreams.fake_openai`'s, so answers are its ``tok0 tok1``
chats and hashed embeddings.

Command line: ``python -m tests.upstreams.single_backend --port 8081 --models a,b,emb``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter
from typing import Any

from tests.upstreams.fake_openai import (
    _POSTS,
    FakeUpstream,
    RecordedRequest,
    _Connection,
    _encode,
    _parse_json,
    _Reply,
)

BUSY_MESSAGE = "backend busy: model {busy!r} is in use, cannot load {model!r}"


class _SwappingConnection(_Connection):
    """A connection whose POSTs go through the server's one model slot."""

    __slots__ = ("_model",)

    def __init__(self, up: "SingleBackendServer") -> None:
        super().__init__(up)
        self._model: str | None = None  # the model this connection's current answer holds

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        up: SingleBackendServer = self._up  # type: ignore[assignment]
        path = target.partition("?")[0]
        parsed = _parse_json(body)
        model = parsed.get("model") if method == "POST" and path in _POSTS and isinstance(parsed, dict) else None
        if not isinstance(model, str):
            super()._respond(method, target, headers, body, keep_alive)
            return
        up._record(RecordedRequest(method, target, headers, body, parsed))
        self._active = True
        self._keep_alive = keep_alive
        verdict, busy = up._admit(model)
        if verdict == "unknown":
            reply: Any = up._error(404, f"model {model!r} is not installed")
            delay = 0.0
        elif verdict == "busy":
            reply = up._error(500, BUSY_MESSAGE.format(busy=busy, model=model))
            delay = 0.0
        else:
            self._model = model
            reply = up._route(method, path, parsed, headers)
            delay = up.service_time + (up.swap_delay if verdict == "swap" else 0.0)
        if delay > 0 or not isinstance(reply, _Reply):
            self._task = asyncio.get_running_loop().create_task(self._deliver(reply, delay, up.token_delay, None))
        else:
            self._write(reply, None)

    def _end(self, disconnected: bool = False) -> None:
        if self._model is not None:
            self._up._release(self._model)  # type: ignore[attr-defined]
            self._model = None
        super()._end(disconnected)


class SingleBackendServer(FakeUpstream):
    """One box, several installed models, one of them loaded (see the module's docstring)."""

    connection_class = _SwappingConnection
    thread_name = "single-backend"

    def __init__(self, *, models: list[str] | tuple[str, ...], swap_delay: float = 0.05,
                 service_time: float = 0.02, loaded: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models = tuple(models)
        self.swap_delay = swap_delay
        self.service_time = service_time
        self.loaded = loaded
        self.swaps = 0
        self.conflicts = 0  # requests for another model while one was in flight (answered 500)
        self.served: Counter[str] = Counter()  # model -> requests admitted
        self._busy: Counter[str] = Counter()  # model -> requests in flight
        self._state = threading.Lock()

    # The model slot (called on the loop thread; read by tests from theirs).

    def _admit(self, model: str) -> tuple[str, str | None]:
        """'unknown', ('busy', the model in use), 'ready' (loaded) or 'swap' (loaded now)."""
        with self._state:
            if model not in self.models:
                return "unknown", None
            others = [m for m, n in self._busy.items() if n > 0 and m != model]
            if others:
                self.conflicts += 1
                return "busy", others[0]
            self._busy[model] += 1
            self.served[model] += 1
            if self.loaded == model:
                return "ready", None
            self.loaded = model
            self.swaps += 1
            return "swap", None

    def _release(self, model: str) -> None:
        with self._state:
            self._busy[model] -= 1

    def counters(self) -> dict[str, Any]:
        with self._state:
            return {"swaps": self.swaps, "conflicts": self.conflicts, "loaded": self.loaded,
                    "served": dict(self.served), "peak_concurrency": self.peak_concurrency}

    def reset_counters(self) -> None:
        with self._state:
            self.swaps = self.conflicts = 0
            self.served.clear()
        self.reset()

    # Server.

    def _route(self, method: str, path: str, parsed: Any, headers: dict[str, str]) -> Any:
        if method == "GET" and path == "/v1/models":
            created = int(time.time())
            cards = [{"id": m, "object": "model", "created": created, "owned_by": "single-backend"}
                     for m in self.models]
            return _Reply(200, _encode({"object": "list", "data": cards}).encode())
        return super()._route(method, path, parsed, headers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A one-model-at-a-time OpenAI-protocol test server.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--models", required=True, help="comma list of installed model names")
    parser.add_argument("--swap-delay", type=float, default=0.05)
    parser.add_argument("--service-time", type=float, default=0.02)
    parser.add_argument("--token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = SingleBackendServer(models=[m for m in args.models.split(",") if m], swap_delay=args.swap_delay,
                                 service_time=args.service_time, token_delay=args.token_delay, host=args.host,
                                 port=args.port)
    server.serve_in_foreground()


if __name__ == "__main__":
    main()
