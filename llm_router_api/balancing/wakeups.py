"""Waking waiters when a slot frees: no fixed-interval polling.

A request that found every provider full registers in the :class:`WaitRoom` under the provider
ids it could use, then sleeps on its own event. A freed slot wakes exactly the waiters of that
provider: directly for per-process slots, and through one Redis pub/sub subscription per worker
(:class:`RedisWakeups`) for cluster-wide ones, so a slot freed by any worker of any replica
wakes waiters everywhere. A waiter that wakes tries again; the slot pool decides who gets it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator

import redis

from .background import BackgroundThread

log = logging.getLogger(__name__)


class WaitRoom:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_provider: dict[str, set[threading.Event]] = {}
        self._all: set[threading.Event] = set()

    @contextmanager
    def waiting(self, provider_ids: Iterable[str]) -> Iterator[threading.Event]:
        event = threading.Event()
        ids = list(dict.fromkeys(provider_ids))
        with self._lock:
            self._all.add(event)
            for pid in ids:
                self._by_provider.setdefault(pid, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                self._all.discard(event)
                for pid in ids:
                    waiters = self._by_provider.get(pid)
                    if waiters is not None:
                        waiters.discard(event)
                        if not waiters:
                            del self._by_provider[pid]

    def notify(self, provider_id: str) -> None:
        with self._lock:
            waiters = list(self._by_provider.get(provider_id, ()))
        for event in waiters:
            event.set()

    def notify_all(self) -> None:
        with self._lock:
            waiters = list(self._all)
        for event in waiters:
            event.set()

    @property
    def count(self) -> int:
        return len(self._all)


class RedisWakeups:
    """One subscription per worker to the channel the release script publishes on."""

    LISTEN_TIMEOUT = 1.0

    def __init__(self, client: redis.Redis, channel: str, room: WaitRoom, retry_seconds: float):
        self._client = client
        self._channel = channel
        self._room = room
        self._retry_seconds = retry_seconds
        self.thread = BackgroundThread("llm-router-wakeups", self._listen)

    def ensure_started(self) -> None:
        self.thread.ensure_started()

    def _listen(self, stop: threading.Event) -> None:
        while not stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                # A release published while we were not subscribed is lost: let everyone retry.
                self._room.notify_all()
                while not stop.is_set():
                    message = pubsub.get_message(timeout=self.LISTEN_TIMEOUT)
                    if message is None or message.get("type") != "message":
                        continue
                    provider_id = message["data"].decode("utf-8", "replace")
                    if provider_id:
                        self._room.notify(provider_id)
                    else:
                        self._room.notify_all()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                log.debug("wake-up subscription lost (%s); retrying", type(exc).__name__)
                self._room.notify_all()  # waiters fall back to their own deadline and local slots
                stop.wait(self._retry_seconds)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass
