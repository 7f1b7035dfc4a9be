"""Active health checks: each provider's own health endpoint, every monitor interval.

Passive ejection (the circuit breaker) needs failed requests to notice a dead server; the
monitor notices it without costing a client anything, and notices its recovery too. Each
worker runs its own checks after fork, all providers at once (a dead server costs one connect
timeout, not one per provider). A provider whose check fails gets no traffic until a check
succeeds; a success also clears an ejection by the breaker.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from ..config.models import ProviderConfig
from ..config.store import ConfigStore
from ..upstream.client import UpstreamClient
from ..upstream.errors import TransportError
from ..upstream.origin import Origin
from ..upstream.wires import wire_for
from .provider_state import ProviderStates

log = logging.getLogger(__name__)

#: What answers "are you up?" for each api_type, from the server's root.
HEALTH_PATHS = {
    "vllm": "/health",
    "llama.cpp": "/health",
    "openai": "/v1/models",
    "localai": "/v1/models",
    "ollama": "/api/tags",
    "anthropic": "/v1/models",
}
MAX_CHECK_SECONDS = 5.0
MAX_PARALLEL_CHECKS = 16


def health_target(provider: ProviderConfig) -> str:
    """The path to check, from the server root (an ``api_host`` given with /v1 is accepted)."""
    base = Origin.of(provider.api_host).base_path
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base + HEALTH_PATHS.get(provider.api_type, "/v1/models")


class HealthMonitor:
    def __init__(self, store: ConfigStore, states: ProviderStates, client: UpstreamClient, *, interval: float,
                 connect_timeout: float, on_recovered: Callable[[str], None]):
        self.store = store
        self.states = states
        self.client = client
        self.timeout = min(MAX_CHECK_SECONDS, interval)
        self.connect_timeout = min(connect_timeout, self.timeout)
        self.on_recovered = on_recovered
        self._pool: ThreadPoolExecutor | None = None

    def check(self, provider: ProviderConfig) -> str | None:
        """None if the provider is up, else the failure's name.

        Only what says the server cannot serve counts as down: no connection, no answer in time,
        or a 5xx. A 4xx means a server answered; a proxy that does not expose the health route
        (404) or guards it differently (401/403) must not take a working provider out.
        """
        try:
            response = self.client.get(Origin.of(provider.api_host), health_target(provider),
                                       wire_for(provider).probe_headers(provider),
                                       read_timeout=self.timeout, connect_timeout=self.connect_timeout)
        except TransportError as exc:
            return f"health_{exc.kind}"
        try:
            response.read_all()
            response.release()
        except TransportError as exc:
            response.close()
            return f"health_{exc.kind}"
        return None if response.status < 500 else f"health_http_{response.status}"

    def check_all(self, providers: Iterable[ProviderConfig] | None = None) -> dict[str, str | None]:
        providers = list(providers if providers is not None else self.store.current().distinct_providers())
        if not providers:
            return {}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_PARALLEL_CHECKS, thread_name_prefix="llm-router-health")
        results = dict(zip((p.id for p in providers), self._pool.map(self.check, providers)))
        for provider_id, error in results.items():
            self.record(provider_id, error)
        return results

    def record(self, provider_id: str, error: str | None) -> None:
        was_down = self.states.get(provider_id).down
        recovered = self.states.set_probe_result(provider_id, error is None, error)
        if error is not None and not was_down:
            log.warning("provider=%s failed its health check (%s); no traffic until it passes", provider_id, error)
        if recovered:
            log.info("provider=%s passed its health check; back in rotation", provider_id)
            self.on_recovered(provider_id)
