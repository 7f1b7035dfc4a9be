"""The app factory: settings in, a ready Flask app out, with every dependency built here.

Nothing is created at import time. Under gunicorn each worker calls ``create_app`` after fork,
so connection pools and provider state are the worker's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from flask import Flask

from llm_router_plugins.maskers.registry import build_pipeline

from .auth.client_ip import TrustedProxies
from .balancing.wiring import Balancing, build_balancing
from .config.store import ConfigStore
from .dispatch import Dispatcher, FailoverPolicy
from .guardrails import Guarding
from .guardrails.wiring import build_guarding
from .logging_setup import configure_logging
from .masking import Masking
from .observability.hooks import install_request_records
from .observability.metrics import Metrics
from .routes.anthropic import create_anthropic_blueprint
from .builtin.prompts import PromptLibrary
from .routes.apidocs import register_apidocs
from .routes.builtin_tasks import create_builtin_tasks_blueprint
from .routes.services import create_services_blueprint
from .services.registry import ServiceRegistry
from .routes.errors import register_error_handlers
from .routes.exchange import Exchange
from .routes.lmstudio import create_lmstudio_blueprint
from .routes.masking import create_masking_blueprint
from .routes.ollama import PATHS as OLLAMA_PATHS, create_ollama_blueprint
from .routes.openai import create_openai_blueprint
from .routes.operations import create_operations_blueprint
from .routes.responses import create_responses_blueprint
from .settings import Settings
from .tasks.runner import TaskRunner
from .upstream.client import UpstreamClient
from .wsgi_close import CloseWhenExhausted


@dataclass
class Gateway:
    """The long-lived parts of one worker, wired together."""

    settings: Settings
    store: ConfigStore
    balancing: Balancing
    client: UpstreamClient
    dispatcher: Dispatcher
    metrics: Metrics
    masking: Masking
    guarding: Guarding
    tasks: TaskRunner
    audit: object = None  # the AuditLog, when a feature writes it
    gate: object = None  # the AuthGate, when LLM_ROUTER_AUTH_ENABLED is on

    @classmethod
    def build(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> "Gateway":
        store = ConfigStore(settings.models_config, reload_interval=settings.models_config_reload_seconds,
                            clock=clock)
        client = UpstreamClient(pool_size=settings.upstream_pool_size, connect_timeout=settings.connect_timeout)
        metrics = Metrics.create() if settings.use_prometheus else Metrics.disabled()
        balancing = build_balancing(settings, store, client, clock, metrics)
        policy = FailoverPolicy(max_attempts=settings.failover_max_attempts, deadline=settings.failover_deadline,
                                connect_timeout=settings.connect_timeout, read_timeout=settings.external_timeout,
                                queue_wait=settings.queue_wait_seconds)
        dispatcher = Dispatcher(balancing.balancer, client, policy, clock, metrics)
        audit = open_audit_log(settings)
        masking = Masking(build_pipeline(settings.masking_pipeline), forced=settings.force_masking,
                          unmask_responses=settings.unmask_responses, metrics=metrics,
                          audit=audit if settings.masking_with_audit else None,
                          log_content=settings.log_masked_content)
        guarding = build_guarding(settings, client, metrics, audit)
        gate = None
        if settings.auth_enabled:
            from .auth.wiring import build_gate

            gate = build_gate(settings, metrics, audit)
        tasks = TaskRunner(settings.results_db, settings.task_threads)  # opens its database on first use
        return cls(settings, store, balancing, client, dispatcher, metrics, masking, guarding, tasks, audit, gate)


def open_audit_log(settings: Settings):
    """The worker's audit log writer (it flushes itself at the worker's exit); None when nothing audits."""
    if not settings.audit_needed:
        return None
    from .audit import AuditLog

    return AuditLog.open(settings.audit_dir, settings.audit_public_key,
                         max_segment_bytes=settings.audit_max_segment_bytes)


def create_app(settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic) -> Flask:
    """Build the app; ``clock`` drives cool-downs, deadlines and reload checks (tests pass their own)."""
    settings = settings or Settings.from_environ()
    configure_logging("DEBUG" if settings.in_debug else settings.log_level, settings.log_filename,
                      settings.log_format)
    gateway = Gateway.build(settings, clock)

    app = Flask("llm_router_api", static_folder=None)  # no /static route: the gateway serves no files
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_body_size
    app.config["LLM_ROUTER_MAX_JSON_DEPTH"] = settings.max_json_depth
    app.extensions["llm_router"] = gateway
    register_error_handlers(app)
    install_request_records(app, gateway.metrics, TrustedProxies(settings.trusted_proxies).client_ip)
    if gateway.gate is not None:
        gateway.gate.install(app)  # after the request record opens: the gate writes the key's name on it
    # Background work runs in the process that serves: under gunicorn create_app runs in each
    # worker after fork (preload is off); the per-request check restarts it in a forked child.
    gateway.balancing.ensure_started()
    app.before_request(gateway.balancing.ensure_started)
    exchange = Exchange(gateway.store, gateway.dispatcher, gateway.masking, gateway.guarding)
    limit = settings.max_request_body_size
    app.register_blueprint(create_openai_blueprint(gateway.store, exchange, settings.ep_prefix, limit,
                                                   skip_paths=frozenset(OLLAMA_PATHS)))
    app.register_blueprint(create_responses_blueprint(exchange, settings.ep_prefix, limit))
    app.register_blueprint(create_anthropic_blueprint(exchange, settings.ep_prefix, limit))
    app.register_blueprint(create_ollama_blueprint(gateway.store, exchange, limit))
    app.register_blueprint(create_lmstudio_blueprint(gateway.store, exchange, limit))
    app.register_blueprint(create_operations_blueprint(gateway.store, gateway.balancing, settings.balance_strategy,
                                                       settings.ep_prefix, gateway.metrics, gateway.guarding))
    app.register_blueprint(create_masking_blueprint(gateway.masking, settings.ep_prefix, limit))
    app.register_blueprint(create_builtin_tasks_blueprint(
        exchange, PromptLibrary(settings.prompts_dir, settings.default_ep_language), gateway.tasks, settings.ep_prefix,
        limit))
    services = ServiceRegistry(settings.services_dir, reload_interval=settings.models_config_reload_seconds)
    app.register_blueprint(create_services_blueprint(exchange, services, gateway.tasks, settings.ep_prefix, limit))
    register_apidocs(app, settings.ep_prefix)
    if settings.server_type == "flask":  # the development server may skip an answer's close()
        app.wsgi_app = CloseWhenExhausted(app.wsgi_app)
    return app
