"""Keep-alive pings for ``first_available_optim``: keep a host's loaded model from being unloaded.

Model-swapping servers (LocalAI, Ollama, llama.cpp routers) unload an idle model after a while,
and the next request pays the reload. For each provider with a ``keep_alive`` value, when its
host's affinity record says this model is the one loaded and nothing is in flight on it, a
one-token request is sent every keep-alive interval. Only the model the host already has is
pinged, so pings never make a host swap models. With Redis one worker of the cluster pings per
interval (a claim with an expiry), not every worker.

A ping is a request like any other for the box: it holds one of the provider's slots (the same
pool requests take leases from, cluster-wide with Redis, renewed while it runs) from before it is
sent until its answer is read or it failed. Without that, a request for another model could be
given the "idle" box while the ping ran there, and a ``max_concurrency: 1`` model-swapping box
saw two models at once (LocalAI answers that with a 500). A ping never waits for a slot: when
none is free the box is busy, so it needs no keeping alive, and the ping is skipped.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from contextlib import contextmanager
from typing import Iterator, Protocol

from ..config.models import ModelConfig, ProviderConfig
from ..config.store import ConfigStore
from ..upstream.client import UpstreamClient
from ..upstream.errors import TransportError
from ..upstream.origin import Origin
from ..upstream.wires import wire_for
from .fallback import REDIS_ERRORS
from .renewer import LeaseRenewer
from .slots import Candidate, Grant, Pick, SlotRequest, host_of

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 60.0  # for each connect and read of a ping; a reload after an idle unload fits in it


class SlotSource(Protocol):
    """The worker's slot pool (``LocalSlots`` or ``FallbackSlots``): affinity records and slots."""

    def affinity(self, host: str) -> str | None: ...

    def in_flight(self, provider_ids) -> dict[str, int]: ...

    def acquire(self, request: SlotRequest, wait_seconds: float) -> Grant | object: ...


PING = {"max_tokens": 1, "stream": False, "messages": [{"role": "user", "content": "ping"}]}


class KeepAlivePinger:
    def __init__(self, store: ConfigStore, slots: SlotSource, client: UpstreamClient, *, interval: float,
                 claim=None, renewer: LeaseRenewer | None = None, timeout: float = PING_TIMEOUT_SECONDS):
        self.store = store
        self.slots = slots
        self.client = client
        self.interval = interval
        self.claim = claim  # RedisSlots.claim_once when shared, else None
        self.renewer = renewer  # keeps a Redis lease alive while a slow ping (a reload) runs
        self.timeout = timeout
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def due(self) -> list[tuple[ModelConfig, ProviderConfig]]:
        """Providers whose host holds this model and is idle: the ones to ping now."""
        pairs = [(m, p) for m in self.store.current().models for p in m.all_providers
                 if p.keep_alive not in (None, "", 0)]
        if not pairs:
            return []
        busy = self.slots.in_flight([p.id for _, p in pairs])
        return [(m, p) for m, p in pairs if busy.get(p.id, 0) == 0 and self.slots.affinity(host_of(p)) == m.name]

    def ping_due(self) -> int:
        sent = 0
        for model, provider in self.due():
            if self.claim is not None and not self.claim("keepalive", provider.id, self.owner, self.interval):
                continue
            with self.slot(model, provider) as held:
                # Re-checked while the slot is held: a request for another model may have used the
                # box between due() and now, and with the slot held no request can change it.
                if held and self.slots.affinity(host_of(provider)) == model.name:
                    sent += self.ping(model, provider)
        return sent

    @contextmanager
    def slot(self, model: ModelConfig, provider: ProviderConfig) -> Iterator[bool]:
        """Hold one of ``provider``'s slots for the block; True if one was free (never waits).

        The slot is taken from the pool requests use, without joining the model's line, and only
        when no request waits in it (the pool's fairness rule). It is given back when the block
        ends, however it ends, which wakes whoever waits for the box, as a request's release does.
        """
        token = f"{socket.gethostname()}:{os.getpid()}:keepalive:{secrets.token_hex(6)}"  # after fork: this pid
        request = SlotRequest(model.name, [Candidate(provider, 0)], Pick.ORDERED, token)  # ORDERED: no affinity write
        grant = self.slots.acquire(request, 0.0)
        if not isinstance(grant, Grant):
            log.debug("provider=%s busy: keep-alive ping skipped", provider.id)
            yield False
            return
        renewer = self.renewer if self.renewer is not None and grant.pool is self.renewer.pool else None
        if renewer is not None:
            renewer.add(provider.id, token)
        try:
            yield True
        finally:
            if renewer is not None:
                renewer.remove(token)
            try:
                grant.pool.release(provider.id, token)
            except REDIS_ERRORS as exc:  # the lease expires by its TTL instead
                log.debug("provider=%s: keep-alive slot release failed (%s)", provider.id, type(exc).__name__)

    def ping(self, model: ModelConfig, provider: ProviderConfig) -> bool:
        ping = wire_for(provider).outgoing("chat", {**PING, "model": model.name}, model.upstream_name(provider),
                                           provider, False)  # in the provider's own protocol
        try:
            response = self.client.post(Origin.of(provider.api_host), ping.path, ping.body, ping.headers,
                                        read_timeout=self.timeout)  # connect: the client's, at most this
            try:
                response.read_all()
            finally:
                response.release()  # closes the connection unless the answer was read to its end
        except TransportError as exc:
            log.warning("provider=%s keep-alive ping failed (%s)", provider.id, exc.kind)
            return False
        if response.status >= 400:
            log.warning("provider=%s keep-alive ping answered %d", provider.id, response.status)
            return False
        log.debug("provider=%s keep-alive ping for model=%s", provider.id, model.name)
        return True
