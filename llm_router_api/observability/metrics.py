"""Prometheus series of the gateway, correct under multi-worker gunicorn.

Every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode) and ``/metrics`` in any worker sums them, so a scrape sees the whole server,
not the worker that happened to answer. The directory is emptied by the gunicorn master at
start (``server.py``), never at import, and a dead worker's live gauges are dropped.

Labels are bounded: the route's template (never a raw path), the public model name and the
provider id from the config, a status class, an error code from a fixed set. Histogram buckets
run from 10 ms to 10 minutes, the range of LLM latencies; token-level ones are finer.

With ``LLM_ROUTER_USE_PROMETHEUS`` off, ``Metrics.disabled()`` gives the same object with no
series behind it, so call sites never branch.
"""

from __future__ import annotations

import os
from typing import Any

#: Seconds: request duration, time to first token, queue wait.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Seconds a guardrail call took: a classifier answers in milliseconds.
GUARD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds between two tokens of a stream.
INTER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
#: Output tokens per second of one answer.
TOKEN_RATE_BUCKETS = (1, 2.5, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000, 2500)

#: name -> (kind, help, labels, extra): the whole catalogue, also read by the dashboard's test.
SERIES: dict[str, tuple[str, str, tuple[str, ...], dict[str, Any]]] = {
    "llm_router_requests_total": (
        "counter", "Requests answered, by route template, model and status class (2xx, 4xx, 5xx).",
        ("route", "model", "status_class"), {}),
    "llm_router_request_errors_total": (
        "counter", "Requests answered with an error, by its code (model_not_found, upstream_failed, ...).",
        ("route", "model", "code"), {}),
    "llm_router_request_duration_seconds": (
        "histogram", "From the request's arrival to the end of its answer (a stream's last byte).",
        ("route", "model"), {"buckets": LATENCY_BUCKETS}),
    "llm_router_time_to_first_token_seconds": (
        "histogram", "Streams: from the request's arrival to the upstream's first event.",
        ("model", "provider"), {"buckets": LATENCY_BUCKETS}),
    "llm_router_inter_token_latency_seconds": (
        "histogram", "Streams: mean time between the upstream's events after the first, per answer.",
        ("model", "provider"), {"buckets": INTER_TOKEN_BUCKETS}),
    "llm_router_output_tokens_per_second": (
        "histogram", "Output tokens of an answer divided by its generation time (after the first token for streams).",
        ("model", "provider"), {"buckets": TOKEN_RATE_BUCKETS}),
    "llm_router_input_tokens_total": (
        "counter", "Prompt tokens, as the upstream reported them.", ("model", "provider"), {}),
    "llm_router_output_tokens_total": (
        "counter", "Completion tokens, as the upstream reported them (streams without usage: events counted).",
        ("model", "provider"), {}),
    "llm_router_upstream_requests_total": (
        "counter", "Attempts sent to providers, by outcome (ok, client_error, or the failure: connect, timeout, "
        "http_5xx, http_429, ...).", ("model", "provider", "outcome"), {}),
    "llm_router_failovers_total": (
        "counter", "Requests moved to another provider after a failed attempt, by the failure.",
        ("model", "reason"), {}),
    "llm_router_in_flight_requests": (
        "gauge", "Requests holding a provider's slot now (all workers).", ("provider",),
        {"multiprocess_mode": "livesum"}),
    "llm_router_queue_length": (
        "gauge", "Requests waiting for a free slot of a model now (all workers).", ("model",),
        {"multiprocess_mode": "livesum"}),
    "llm_router_queue_wait_seconds": (
        "histogram", "Time a request waited for a free slot (0 when one was free).", ("model",),
        {"buckets": LATENCY_BUCKETS}),
    "llm_router_circuit_breaker_open": (
        "gauge", "1 while a provider is ejected or failing its health check in some worker, else 0.", ("provider",),
        {"multiprocess_mode": "livemax"}),
    "llm_router_redis_degraded": (
        "gauge", "1 while a worker runs on per-process leases because Redis is unreachable.", (),
        {"multiprocess_mode": "livemax"}),
    "llm_router_redis_outages_total": (
        "counter", "Times a worker lost Redis and fell back to per-process leases.", (), {}),
    "llm_router_masking_incidents_total": (
        "counter", "Values masked in requests, by the rule that found them.", ("rule",), {}),
    "llm_router_guardrail_incidents_total": (
        "counter", "Requests or answers a guardrail blocked, by guardrail and direction.",
        ("guardrail", "direction"), {}),
    "llm_router_guardrail_latency_seconds": (
        "histogram", "Time a guardrail call took.", ("guardrail",), {"buckets": GUARD_BUCKETS}),
    "llm_router_guardrail_failures_total": (
        "counter", "Guardrail calls that gave no verdict (down, slow, unreadable), by guardrail, direction and "
        "what happened to the request (blocked: fail closed, passed: fail open).",
        ("guardrail", "direction", "action"), {}),
    "llm_router_rate_limit_rejections_total": (
        "counter", "Requests refused with 429 by the gateway's own rate limits, by key name.", ("key",), {}),
    "llm_router_key_requests_total": (
        "counter", "Requests made with an API key, by key name and status class.", ("key", "status"), {}),
    "llm_router_key_tokens_total": (
        "counter", "Tokens used by requests made with an API key, by key name and kind (input, output).",
        ("key", "kind"), {}),
}


class _Null:
    """A series that records nothing: what every series is when metrics are off."""

    def labels(self, *args: Any, **kwargs: Any) -> "_Null":
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


class Metrics:
    """The series, as attributes named after them without the ``llm_router_`` prefix."""

    def __init__(self, series: dict[str, Any], registry: Any = None, enabled: bool = False):
        self.enabled = enabled
        self.registry = registry
        for name, metric in series.items():
            setattr(self, name.removeprefix("llm_router_"), metric)

    @classmethod
    def disabled(cls) -> "Metrics":
        null = _Null()
        return cls({name: null for name in SERIES})

    @classmethod
    def create(cls) -> "Metrics":
        """Real series in a registry of their own (multiprocess when ``PROMETHEUS_MULTIPROC_DIR`` is set)."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # the *_created series double what a scrape carries, for no dashboard's use
        kinds = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
        registry = CollectorRegistry(auto_describe=True)
        series = {}
        for name, (kind, doc, labels, extra) in SERIES.items():
            metric_name = name.removesuffix("_total") if kind == "counter" else name
            if kind == "gauge" and not multiprocess_dir():
                extra = {k: v for k, v in extra.items() if k != "multiprocess_mode"}
            series[name] = kinds[kind](metric_name, doc, labels, registry=registry, **extra)
        return cls(series, registry, enabled=True)

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets: every worker's samples summed when in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client import multiprocess

        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None
