"""Keep-alive pings for ``first_available_optim``: keep a host's loaded model from being unloaded.

Model-swapping servers (LocalAI, Ollama, llama.cpp routers) unload an idle model after a while,
and the next request pays the reload. For each provider with a ``keep_alive`` value, when its
host's affinity record says this model is the one loaded and nothing is in flight on it, a
one-token request is sent every keep-alive interval. Only the model the host already has is
pinged, so pings never make a host swap models. With Redis one worker of the cluster pings per
interval (a claim with an expiry), not every worker.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Protocol

from ..config.models import ModelConfig, ProviderConfig
from ..config.store import ConfigStore
from ..upstream.client import UpstreamClient
from ..upstream.errors import TransportError
from ..upstream.origin import Origin
from ..upstream.wires import wire_for
from .slots import host_of

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 60.0


class AffinitySource(Protocol):
    def affinity(self, host: str) -> str | None: ...

    def in_flight(self, provider_ids) -> dict[str, int]: ...


PING = {"max_tokens": 1, "stream": False, "messages": [{"role": "user", "content": "ping"}]}


class KeepAlivePinger:
    def __init__(self, store: ConfigStore, slots: AffinitySource, client: UpstreamClient, *, interval: float,
                 claim=None):
        self.store = store
        self.slots = slots
        self.client = client
        self.interval = interval
        self.claim = claim  # RedisSlots.claim_once when shared, else None
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
            sent += self.ping(model, provider)
        return sent

    def ping(self, model: ModelConfig, provider: ProviderConfig) -> bool:
        ping = wire_for(provider).outgoing("chat", {**PING, "model": model.name}, model.upstream_name(provider),
                                           provider, False)  # in the provider's own protocol
        try:
            response = self.client.post(Origin.of(provider.api_host), ping.path, ping.body, ping.headers,
                                        read_timeout=PING_TIMEOUT_SECONDS)
            response.read_all()
            response.release()
        except TransportError as exc:
            log.warning("provider=%s keep-alive ping failed (%s)", provider.id, exc.kind)
            return False
        if response.status >= 400:
            log.warning("provider=%s keep-alive ping answered %d", provider.id, response.status)
            return False
        log.debug("provider=%s keep-alive ping for model=%s", provider.id, model.name)
        return True
