"""Build the balancing parts of one worker from settings: slots, waiting, renewal, health, pings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config.store import ConfigStore
from ..observability.metrics import Metrics
from ..settings import Settings
from ..upstream.client import UpstreamClient
from .background import BackgroundThread, every
from .balancer import Balancer
from .fallback import FallbackSlots
from .health import HealthMonitor
from .keepalive import KeepAlivePinger
from .provider_state import ProviderStates
from .redis_slots import KeySpace, RedisSlots, connect
from .renewer import LeaseRenewer
from .slots import LocalSlots
from .strategies import build_strategy
from .wakeups import RedisWakeups, WaitRoom


@dataclass
class Balancing:
    states: ProviderStates
    slots: LocalSlots | FallbackSlots
    balancer: Balancer
    monitor: HealthMonitor | None
    pinger: KeepAlivePinger | None
    threads: list[BackgroundThread]

    @property
    def shared(self) -> bool:
        return isinstance(self.slots, FallbackSlots)

    def ensure_started(self) -> None:
        """Start periodic work in this process (called on requests, so always after fork)."""
        for thread in self.threads:
            thread.ensure_started()

    def stop(self) -> None:
        for thread in self.threads:
            thread.stop()
        if self.balancer.renewer is not None:
            self.balancer.renewer.thread.stop()
        if self.balancer.wakeups is not None:
            self.balancer.wakeups.thread.stop()


def local_processes(settings: Settings) -> int:
    """How many processes keep their own counts when slots are not shared."""
    return settings.server_workers_count if settings.server_type == "gunicorn" else 1


def build_balancing(settings: Settings, store: ConfigStore, client: UpstreamClient,
                    clock: Callable[[], float], metrics: Metrics | None = None) -> Balancing:
    metrics = metrics or Metrics.disabled()

    def breaker(provider_id: str, out: bool) -> None:
        metrics.circuit_breaker_open.labels(provider_id).set(1 if out else 0)

    def redis_state(degraded: bool) -> None:
        metrics.redis_degraded.set(1 if degraded else 0)
        if degraded:
            metrics.redis_outages_total.inc()

    states = ProviderStates(failures_to_eject=settings.circuit_breaker_failures,
                            cooldown=settings.circuit_breaker_cooldown_seconds, clock=clock, on_change=breaker)
    room = WaitRoom()
    local = LocalSlots(clock, on_release=room.notify, processes=local_processes(settings))
    slots: LocalSlots | FallbackSlots = local
    renewer = wakeups = None
    claim = None
    if settings.redis_host:
        redis_client = connect(settings.redis_host, settings.redis_port, settings.redis_db, settings.redis_password,
                               settings.redis_timeout_seconds)
        keys = KeySpace(settings.redis_key_prefix)
        shared = RedisSlots(redis_client, keys, settings.lease_ttl_seconds)
        slots = FallbackSlots(shared, local, retry_seconds=settings.redis_retry_seconds, clock=clock,
                              on_degraded=redis_state)
        renewer = LeaseRenewer(shared, settings.lease_ttl_seconds)
        wakeups = RedisWakeups(redis_client, keys.released_channel, room, settings.redis_retry_seconds)
        claim = slots.claim_once
    strategy = build_strategy(settings.balance_strategy)
    balancer = Balancer(strategy, states, slots, room, renewer=renewer, wakeups=wakeups, clock=clock,
                        metrics=metrics)

    threads = []
    monitor = None
    if settings.provider_monitor_interval_seconds > 0:
        monitor = HealthMonitor(store, states, client, interval=settings.provider_monitor_interval_seconds,
                                connect_timeout=settings.connect_timeout, on_recovered=balancer.provider_recovered)
        threads.append(BackgroundThread("llm-router-health",
                                        every(settings.provider_monitor_interval_seconds, monitor.check_all)))
    pinger = None
    if strategy.name == "first_available_optim" and settings.keepalive_model_monitor_interval_seconds > 0:
        interval = settings.keepalive_model_monitor_interval_seconds
        pinger = KeepAlivePinger(store, slots, client, interval=interval, claim=claim, renewer=renewer)
        threads.append(BackgroundThread("llm-router-keepalive", every(interval, pinger.ping_due, first_at_once=False)))
    return Balancing(states, slots, balancer, monitor, pinger, threads)
