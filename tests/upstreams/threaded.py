"""An asyncio test server run from a daemon thread, so a synchronous test can start and stop it."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Self


class ThreadedServer:
    """Subclasses set ``port`` and implement ``_serve(ready)``, which must set ``_loop`` and
    ``_stopping`` (an asyncio.Event it waits on), call ``ready()`` once listening, and return when
    ``_stopping`` is set."""

    thread_name = "test-server"
    port: int
    url: str
    _loop: asyncio.AbstractEventLoop | None = None
    _stopping: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    async def _serve(self, ready: Callable[[], None]) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Serve from a daemon thread; returns once the socket listens (re-binds the same port after stop())."""
        ready = threading.Event()
        failure: list[Exception] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(ready.set))
            except Exception as exc:
                failure.append(exc)
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name=f"{self.thread_name}:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then join the loop thread."""
        if self._thread is None:
            return
        if self._thread.is_alive() and self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_in_foreground(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT (the command-line use); prints one ready line."""

        def ready() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stopping.set)  # type: ignore[union-attr]
            print(f"listening on {self.url}", flush=True)

        asyncio.run(self._serve(ready))
