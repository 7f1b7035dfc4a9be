"""The guardrail policy built from settings: one verdict cache per worker, shared by both directions."""

from __future__ import annotations

from llm_router_plugins.guardrails.cache import VerdictCache
from llm_router_plugins.guardrails.registry import build_pipeline

from ..observability.metrics import Metrics
from ..settings import Settings
from ..upstream.client import UpstreamClient
from .policy import Guarding
from .stream import Windows
from .transport import post_json_with


def build_guarding(settings: Settings, client: UpstreamClient, metrics: Metrics, audit=None) -> Guarding:
    if not (settings.force_guardrail_request or settings.force_guardrail_response):
        return Guarding.off()
    cache = VerdictCache(settings.guardrail_cache_size, settings.guardrail_cache_seconds)
    post_json = post_json_with(client)

    def observe(guardrail: str, seconds: float) -> None:
        metrics.guardrail_latency_seconds.labels(guardrail).observe(seconds)

    def pipeline(on: bool, names):
        if not on:
            return None
        return build_pipeline(names, settings.guardrail_hosts, post_json, timeout=settings.guardrail_timeout_seconds,
                              rest_seconds=settings.services_monitor_interval_seconds, cache=cache, observe=observe)

    return Guarding(pipeline(settings.force_guardrail_request, settings.guardrail_request_pipeline),
                    pipeline(settings.force_guardrail_response, settings.guardrail_response_pipeline),
                    fail_open=settings.guardrail_fail_open,
                    audit_request=audit if settings.guardrail_with_audit_request else None,
                    audit_response=audit if settings.guardrail_with_audit_response else None,
                    metrics=metrics, stream_windows=Windows(settings.guardrail_stream_first_window_chars,
                                                            settings.guardrail_stream_window_chars))
