"""Gateway settings: every ``LLM_ROUTER_*`` variable parsed once into a frozen object.

Nothing else in the package reads the environment. A missing variable takes its documented
default; a malformed one raises :class:`SettingsError` whose message is one line naming the
variable, so start-up can stop with exactly that line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from llm_router_plugins.utils.env import EnvReader


#: The contract's strategies and ours (``least_outstanding``); see balancing/strategies.py.
STRATEGIES = ("balanced", "weighted", "dynamic_weighted", "first_available", "first_available_optim",
              "least_outstanding")
SERVER_TYPES = ("gunicorn", "flask")
WORKER_CLASSES = ("gevent", "gthread", "sync")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")



class SettingsError(ValueError):
    """A variable has a value the gateway cannot start with."""


@dataclass(frozen=True)
class Settings:
    # core
    models_config: str = "resources/configs/models-config.json"
    prompts_dir: str = "resources/prompts"
    default_ep_language: str = "pl"
    ep_prefix: str = "/api"
    external_timeout: float = 300.0
    connect_timeout: float = 3.0
    timeout: int = 600
    max_request_body_size: int = 10 * 1024 * 1024
    in_debug: bool = False
    log_level: str = "INFO"
    log_filename: str | None = None
    log_format: str = "text"  # text, or json: one object per line for log shippers
    minimum: bool = False
    # observability
    use_prometheus: bool = False
    models_config_reload_seconds: float = 1.0
    # server
    server_type: str = "gunicorn"
    server_host: str = "0.0.0.0"
    server_port: int = 8080
    server_workers_count: int = 2
    server_threads_count: int = 16
    server_worker_class: str = "gevent"
    server_worker_connections: int = 2000
    # balancing and failover
    balance_strategy: str = "least_outstanding"
    failover_max_attempts: int = 3
    failover_deadline_seconds: float | None = None
    circuit_breaker_failures: int = 3
    circuit_breaker_cooldown_seconds: float = 10.0
    upstream_pool_size: int = 512
    queue_wait_seconds: float = 30.0
    lease_ttl_seconds: float = 30.0
    provider_monitor_interval_seconds: float = 10.0
    keepalive_model_monitor_interval_seconds: float = 60.0
    services_monitor_interval_seconds: float = 10.0
    # redis (cluster-wide leases); no host = leases are kept per worker process
    redis_host: str | None = None
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: str | None = field(default=None, repr=False)
    redis_key_prefix: str = "llm-router"
    redis_timeout_seconds: float = 1.0
    redis_retry_seconds: float = 2.0
    # masking (llm_router_plugins/maskers) and the encrypted audit log (llm_router_api/audit)
    force_masking: bool = False
    masking_pipeline: tuple[str, ...] = ("fast_masker",)
    masking_with_audit: bool = False
    unmask_responses: bool = True
    log_masked_content: bool = False  # DEBUG lines with what a masked request sends upstream
    audit_dir: str = "audit-logs"
    audit_public_key: str | None = None
    audit_max_segment_bytes: int = 64 * 1024 * 1024
    # auth: API keys, permissions and rate limits (llm_router_api/auth)
    auth_enabled: bool = False
    auth_key_store: str = "file"  # file (memory is its old name) or redis
    auth_keys_file: str = "api-keys.json"
    auth_secret: str | None = field(default=None, repr=False)  # HMAC key of stored key digests
    auth_redis_host: str | None = None  # default: LLM_ROUTER_REDIS_HOST
    auth_redis_port: int | None = None
    auth_redis_db: int | None = None
    auth_redis_password: str | None = field(default=None, repr=False)
    auth_default_rate_limit: int = 0  # requests per minute for keys without their own; 0 = none
    auth_public_endpoints: tuple[str, ...] | None = None  # None: the default list (see auth/groups.py)
    auth_with_audit: bool = False
    auth_cache_seconds: float = 1.0  # how long a key lookup is remembered (revocation takes effect within it)
    # guardrails: classifiers in the guard service (llm_router_services) judge requests and answers
    force_guardrail_request: bool = False
    guardrail_request_pipeline: tuple[str, ...] = ("sojka_guard",)
    guardrail_with_audit_request: bool = False
    force_guardrail_response: bool = False
    guardrail_response_pipeline: tuple[str, ...] = ("sojka_guard",)
    guardrail_with_audit_response: bool = False
    sojka_guard_host: str | None = None  # the guard service's root (or llm-router's full ..._HOST_EP URL)
    nask_guard_host: str | None = None
    guardrail_timeout_seconds: float = 5.0
    guardrail_fail_open: bool = False  # a guard that does not answer lets requests through (default: 503)
    guardrail_cache_size: int = 10_000  # verdicts remembered per worker, by text hash
    guardrail_cache_seconds: float = 3600.0
    guardrail_stream_first_window_chars: int = 32  # the first stretch of a stream judged (its first words wait for it)
    guardrail_stream_window_chars: int = 400  # largest stretch of a stream judged at once
    # built-in tasks run with "async": true, and their results (llm_router_api/tasks)
    services_dir: str = "resources/services"  # service manifests (<name>.json + <name>.txt), re-read on change
    results_db: str = "results.sqlite"
    task_threads: int = 4  # background tasks run at once per worker
    trusted_proxies: tuple[str, ...] = ()  # X-Forwarded-For is believed only from these addresses/networks
    max_json_depth: int = 64

    @property
    def failover_deadline(self) -> float:
        """Total time a request may spend finding a provider that answers.

        Default: every attempt may use the whole read timeout, so a provider that hangs still
        leaves time to fail over. Set it lower to bound what a client can wait.
        """
        if self.failover_deadline_seconds is None:
            return self.external_timeout * self.failover_max_attempts
        return self.failover_deadline_seconds

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = EnvReader(os.environ if environ is None else environ, SettingsError)
        d = cls()  # defaults
        return cls(
            models_config=env.text("LLM_ROUTER_MODELS_CONFIG", d.models_config),
            prompts_dir=env.text("LLM_ROUTER_PROMPTS_DIR", d.prompts_dir),
            default_ep_language=env.text("LLM_ROUTER_DEFAULT_EP_LANGUAGE", d.default_ep_language),
            ep_prefix=env.parse("LLM_ROUTER_EP_PREFIX", d.ep_prefix, _prefix),
            external_timeout=env.number("LLM_ROUTER_EXTERNAL_TIMEOUT", d.external_timeout, minimum=0.001),
            connect_timeout=env.number("LLM_ROUTER_CONNECT_TIMEOUT", d.connect_timeout, minimum=0.001),
            timeout=env.integer("LLM_ROUTER_TIMEOUT", d.timeout, minimum=0),
            max_request_body_size=env.integer("LLM_ROUTER_MAX_REQUEST_BODY_SIZE", d.max_request_body_size, minimum=1),
            in_debug=env.boolean("LLM_ROUTER_IN_DEBUG", d.in_debug),
            log_level=env.choice("LLM_ROUTER_LOG_LEVEL", d.log_level, LOG_LEVELS, upper=True),
            log_filename=env.text("LLM_ROUTER_LOG_FILENAME", "") or None,
            log_format=env.choice("LLM_ROUTER_LOG_FORMAT", d.log_format, LOG_FORMATS),
            use_prometheus=env.boolean("LLM_ROUTER_USE_PROMETHEUS", d.use_prometheus),
            minimum=env.boolean("LLM_ROUTER_MINIMUM", d.minimum),
            models_config_reload_seconds=env.number(
                "LLM_ROUTER_MODELS_CONFIG_RELOAD_SECONDS", d.models_config_reload_seconds, minimum=0
            ),
            server_type=env.choice("LLM_ROUTER_SERVER_TYPE", d.server_type, SERVER_TYPES),
            server_host=env.text("LLM_ROUTER_SERVER_HOST", d.server_host),
            server_port=env.integer("LLM_ROUTER_SERVER_PORT", d.server_port, minimum=1, maximum=65535),
            server_workers_count=env.integer("LLM_ROUTER_SERVER_WORKERS_COUNT", d.server_workers_count, minimum=1),
            server_threads_count=env.integer("LLM_ROUTER_SERVER_THREADS_COUNT", d.server_threads_count, minimum=1),
            server_worker_class=env.choice("LLM_ROUTER_SERVER_WORKER_CLASS", d.server_worker_class, WORKER_CLASSES),
            server_worker_connections=env.integer(
                "LLM_ROUTER_SERVER_WORKER_CONNECTIONS", d.server_worker_connections, minimum=1
            ),
            balance_strategy=env.parse("LLM_ROUTER_BALANCE_STRATEGY", d.balance_strategy, _strategy),
            failover_max_attempts=env.integer("LLM_ROUTER_FAILOVER_MAX_ATTEMPTS", d.failover_max_attempts, minimum=1),
            failover_deadline_seconds=(
                env.number("LLM_ROUTER_FAILOVER_DEADLINE_SECONDS", 0.0, minimum=0.001)
                if env.has("LLM_ROUTER_FAILOVER_DEADLINE_SECONDS")
                else None
            ),
            circuit_breaker_failures=env.integer(
                "LLM_ROUTER_CIRCUIT_BREAKER_FAILURES", d.circuit_breaker_failures, minimum=1
            ),
            circuit_breaker_cooldown_seconds=env.number(
                "LLM_ROUTER_CIRCUIT_BREAKER_COOLDOWN_SECONDS", d.circuit_breaker_cooldown_seconds, minimum=0.001
            ),
            upstream_pool_size=env.integer("LLM_ROUTER_UPSTREAM_POOL_SIZE", d.upstream_pool_size, minimum=1),
            queue_wait_seconds=env.number("LLM_ROUTER_QUEUE_WAIT_SECONDS", d.queue_wait_seconds, minimum=0),
            lease_ttl_seconds=env.number("LLM_ROUTER_LEASE_TTL_SECONDS", d.lease_ttl_seconds, minimum=1),
            provider_monitor_interval_seconds=env.number(
                "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS", d.provider_monitor_interval_seconds, minimum=0
            ),
            keepalive_model_monitor_interval_seconds=env.number(
                "LLM_ROUTER_KEEPALIVE_MODEL_MONITOR_INTERVAL_SECONDS", d.keepalive_model_monitor_interval_seconds,
                minimum=0,
            ),
            services_monitor_interval_seconds=env.number(
                "LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS", d.services_monitor_interval_seconds, minimum=0
            ),
            redis_host=env.text("LLM_ROUTER_REDIS_HOST", "") or None,
            redis_port=env.integer("LLM_ROUTER_REDIS_PORT", d.redis_port, minimum=1, maximum=65535),
            redis_db=env.integer("LLM_ROUTER_REDIS_DB", d.redis_db, minimum=0),
            redis_password=env.secret("LLM_ROUTER_REDIS_PASSWORD"),
            redis_key_prefix=env.parse("LLM_ROUTER_REDIS_KEY_PREFIX", d.redis_key_prefix, _key_prefix),
            redis_timeout_seconds=env.number("LLM_ROUTER_REDIS_TIMEOUT_SECONDS", d.redis_timeout_seconds,
                                             minimum=0.001),
            redis_retry_seconds=env.number("LLM_ROUTER_REDIS_RETRY_SECONDS", d.redis_retry_seconds, minimum=0.001),
            force_masking=env.boolean("LLM_ROUTER_FORCE_MASKING", d.force_masking),
            masking_pipeline=env.parse("LLM_ROUTER_MASKING_STRATEGY_PIPELINE", d.masking_pipeline, _masker_names),
            masking_with_audit=env.boolean("LLM_ROUTER_MASKING_WITH_AUDIT", d.masking_with_audit),
            unmask_responses=env.boolean("LLM_ROUTER_MASKING_UNMASK_RESPONSES", d.unmask_responses),
            log_masked_content=env.boolean("LLM_ROUTER_LOG_MASKED_CONTENT", d.log_masked_content),
            audit_dir=env.text("LLM_ROUTER_AUDIT_DIR", d.audit_dir),
            audit_public_key=env.text("LLM_ROUTER_AUDIT_PUBLIC_KEY", "") or None,
            audit_max_segment_bytes=env.integer("LLM_ROUTER_AUDIT_MAX_SEGMENT_BYTES", d.audit_max_segment_bytes,
                                                minimum=4096),
            auth_enabled=env.boolean("LLM_ROUTER_AUTH_ENABLED", d.auth_enabled),
            auth_key_store=env.parse("LLM_ROUTER_AUTH_KEY_STORE", d.auth_key_store, _key_store),
            auth_keys_file=env.text("LLM_ROUTER_AUTH_KEYS_FILE", d.auth_keys_file),
            auth_secret=env.secret("LLM_ROUTER_AUTH_SECRET"),
            auth_redis_host=env.text("LLM_ROUTER_AUTH_REDIS_HOST", "") or None,
            auth_redis_port=(env.integer("LLM_ROUTER_AUTH_REDIS_PORT", 0, minimum=1, maximum=65535)
                             if env.has("LLM_ROUTER_AUTH_REDIS_PORT") else None),
            auth_redis_db=env.integer("LLM_ROUTER_AUTH_REDIS_DB", 0, minimum=0) if env.has("LLM_ROUTER_AUTH_REDIS_DB")
            else None,
            auth_redis_password=env.secret("LLM_ROUTER_AUTH_REDIS_PASSWORD"),
            auth_default_rate_limit=env.integer("LLM_ROUTER_AUTH_DEFAULT_RATE_LIMIT", d.auth_default_rate_limit,
                                                minimum=0),
            auth_public_endpoints=(env.parse("LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS", (), _paths)
                                   if env.given("LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS") else None),
            auth_with_audit=env.boolean("LLM_ROUTER_AUTH_WITH_AUDIT", d.auth_with_audit),
            auth_cache_seconds=env.number("LLM_ROUTER_AUTH_CACHE_SECONDS", d.auth_cache_seconds, minimum=0),
            force_guardrail_request=env.boolean("LLM_ROUTER_FORCE_GUARDRAIL_REQUEST", d.force_guardrail_request),
            guardrail_request_pipeline=env.parse("LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST",
                                                 d.guardrail_request_pipeline, _guardrail_names),
            guardrail_with_audit_request=env.boolean("LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST",
                                                     d.guardrail_with_audit_request),
            force_guardrail_response=env.boolean("LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE", d.force_guardrail_response),
            guardrail_response_pipeline=env.parse("LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE",
                                                  d.guardrail_response_pipeline, _guardrail_names),
            guardrail_with_audit_response=env.boolean("LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE",
                                                      d.guardrail_with_audit_response),
            sojka_guard_host=(env.parse("LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST", None, _url)
                              if env.has("LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST")
                              else env.parse("LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST_EP", None, _url)
                              if env.has("LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST_EP") else None),
            nask_guard_host=(env.parse("LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST", None, _url)
                             if env.has("LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST") else None),
            guardrail_timeout_seconds=env.number("LLM_ROUTER_GUARDRAIL_TIMEOUT_SECONDS", d.guardrail_timeout_seconds,
                                                 minimum=0.001),
            guardrail_fail_open=env.boolean("LLM_ROUTER_GUARDRAIL_FAIL_OPEN", d.guardrail_fail_open),
            guardrail_cache_size=env.integer("LLM_ROUTER_GUARDRAIL_CACHE_SIZE", d.guardrail_cache_size, minimum=0),
            guardrail_cache_seconds=env.number("LLM_ROUTER_GUARDRAIL_CACHE_SECONDS", d.guardrail_cache_seconds,
                                               minimum=0),
            guardrail_stream_first_window_chars=env.integer("LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS",
                                                            d.guardrail_stream_first_window_chars, minimum=1),
            guardrail_stream_window_chars=env.integer("LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS",
                                                      d.guardrail_stream_window_chars, minimum=16),
            services_dir=env.text("LLM_ROUTER_SERVICES_DIR", d.services_dir),
            results_db=env.text("LLM_ROUTER_RESULTS_DB", d.results_db),
            task_threads=env.integer("LLM_ROUTER_TASK_THREADS", d.task_threads, minimum=1),
            trusted_proxies=env.parse("LLM_ROUTER_TRUSTED_PROXIES", d.trusted_proxies, _networks),
            max_json_depth=env.integer("LLM_ROUTER_MAX_JSON_DEPTH", d.max_json_depth, minimum=2, maximum=10_000),
        )._checked()

    def _checked(self) -> "Settings":
        """Rules across variables, each failure one line naming the variable to set."""
        for variable, on in (("LLM_ROUTER_MASKING_WITH_AUDIT", self.masking_with_audit),
                             ("LLM_ROUTER_AUTH_WITH_AUDIT", self.auth_with_audit),
                             ("LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST", self.guardrail_with_audit_request),
                             ("LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE", self.guardrail_with_audit_response)):
            if on and not self.audit_public_key:
                raise SettingsError(f"LLM_ROUTER_AUDIT_PUBLIC_KEY must name a public key file when {variable}=1 "
                                    "(make one with: llm-router audit keygen --out DIR)")
        if self.guardrail_stream_first_window_chars > self.guardrail_stream_window_chars:
            raise SettingsError("LLM_ROUTER_GUARDRAIL_STREAM_FIRST_WINDOW_CHARS must not be larger than "
                                "LLM_ROUTER_GUARDRAIL_STREAM_WINDOW_CHARS")
        if self.auth_enabled and not self.auth_secret:
            raise SettingsError("LLM_ROUTER_AUTH_SECRET must be set when LLM_ROUTER_AUTH_ENABLED=1 (a long random "
                                "string, the same for every replica and the CLI; e.g. openssl rand -hex 32)")
        if self.auth_secret is not None and len(self.auth_secret) < 16:
            raise SettingsError("LLM_ROUTER_AUTH_SECRET must be at least 16 characters long")
        from llm_router_plugins.guardrails.registry import GUARDRAIL_HOST_VARIABLES

        for direction, on, names in (("REQUEST", self.force_guardrail_request, self.guardrail_request_pipeline),
                                     ("RESPONSE", self.force_guardrail_response, self.guardrail_response_pipeline)):
            for name in names if on else ():
                if not self.guardrail_hosts.get(name):
                    raise SettingsError(f"{GUARDRAIL_HOST_VARIABLES[name]} must name the guard service (e.g. "
                                        f"http://127.0.0.1:5000) when LLM_ROUTER_FORCE_GUARDRAIL_{direction}=1 "
                                        f"runs {name}")
        return self

    @property
    def guardrail_hosts(self) -> dict[str, str]:
        """Where each guard's service runs, by guard name (unset ones left out)."""
        hosts = {"sojka_guard": self.sojka_guard_host, "nask_guard": self.nask_guard_host}
        return {name: host for name, host in hosts.items() if host}

    @property
    def auth_redis(self) -> tuple[str | None, int, int, str | None]:
        """(host, port, db, password) of the key store and rate limits: LLM_ROUTER_AUTH_REDIS_*, else
        LLM_ROUTER_REDIS_*."""
        if self.auth_redis_host:
            return (self.auth_redis_host, self.auth_redis_port or 6379, self.auth_redis_db or 0,
                    self.auth_redis_password)
        return (self.redis_host, self.auth_redis_port or self.redis_port,
                self.redis_db if self.auth_redis_db is None else self.auth_redis_db,
                self.auth_redis_password or self.redis_password)

    @property
    def audit_needed(self) -> bool:
        """Whether any feature writes the encrypted audit log."""
        return (self.masking_with_audit or self.auth_with_audit or self.guardrail_with_audit_request
                or self.guardrail_with_audit_response)


def _prefix(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith("/"):
        raise ValueError("must start with '/' (for example /api) or be empty")
    return value


def _strategy(raw: str) -> str:
    value = raw.strip()
    if value not in STRATEGIES:
        raise ValueError(f"must be one of: {', '.join(STRATEGIES)}")
    return value


def _masker_names(raw: str) -> tuple[str, ...]:
    from llm_router_plugins.maskers.registry import MASKER_NAMES  # names only: no masker is built here

    return _names(raw, MASKER_NAMES, "masker", Settings.masking_pipeline)


def _guardrail_names(raw: str) -> tuple[str, ...]:
    from llm_router_plugins.guardrails.registry import GUARDRAIL_NAMES  # names only: no client is built here

    return _names(raw, GUARDRAIL_NAMES, "guardrail", Settings.guardrail_request_pipeline)


def _names(raw: str, known: tuple[str, ...], kind: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of plugin names, each known and named once; empty: ``default``."""
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not names:
        return default
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown[0]!r}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"names a {kind} twice")
    return names


def _url(raw: str) -> str:
    from .upstream.origin import Origin  # a parser only: no sockets

    value = raw.strip()
    try:
        Origin.of(value)
    except ValueError:
        raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:5000") from None
    return value


def _key_store(raw: str) -> str:
    value = raw.strip().lower()
    if value == "memory":  # llm-router's name for the file store
        return "file"
    if value not in ("file", "redis"):
        raise ValueError("must be one of: file, redis (memory is accepted as the old name of file)")
    return value


def _paths(raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    bad = [p for p in paths if not p.startswith("/")]
    if bad:
        raise ValueError(f"each path must start with '/': {bad[0]!r}")
    return paths


def _networks(raw: str) -> tuple[str, ...]:
    import ipaddress

    networks = tuple(p.strip() for p in raw.split(",") if p.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
    return networks


def _key_prefix(raw: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be a non-empty name without spaces (for example llm-router)")
    return value
