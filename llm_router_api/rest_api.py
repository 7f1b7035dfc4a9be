"""``python -m llm_router_api.rest_api``: check settings and models config, then serve.

Both are checked here, in the parent process, so a bad value stops start-up with one line
naming the problem instead of gunicorn workers failing to boot one after another.
"""

from __future__ import annotations

import sys

from .audit import AuditError
from .audit.crypto import load_public_key
from .audit.segments import ensure_directory
from .config.loader import ConfigError, load_models_config
from .config.models import ModelsConfig
from .settings import Settings, SettingsError


def per_process_capacity_note(settings: Settings, config: ModelsConfig) -> str | None:
    """Why max_concurrency is only approximate here, or None when it is exact."""
    if settings.redis_host or settings.server_type != "gunicorn" or settings.server_workers_count == 1:
        return None
    if not any(p.max_concurrency for m in config.models for p in m.all_providers):
        return None
    return (f"llm-router: note: LLM_ROUTER_REDIS_HOST is not set, so each of the {settings.server_workers_count} "
            "workers enforces its own share of max_concurrency (rounded up); set it for one exact, "
            "cluster-wide limit and waiting line")


def check_audit_log(settings: Settings) -> None:
    """The audit log's key and directory, checked once here rather than in every worker."""
    if settings.audit_needed:
        try:
            load_public_key(settings.audit_public_key)
        except AuditError as exc:
            raise AuditError(f"LLM_ROUTER_AUDIT_PUBLIC_KEY: {exc}") from None
        try:
            ensure_directory(settings.audit_dir)
        except AuditError as exc:
            raise AuditError(f"LLM_ROUTER_AUDIT_DIR: {exc}") from None


def main() -> int:
    try:
        settings = Settings.from_environ()
        config = load_models_config(settings.models_config)
        check_audit_log(settings)
    except (SettingsError, ConfigError, AuditError) as exc:
        print(f"llm-router: cannot start: {exc}", file=sys.stderr)
        return 2
    note = per_process_capacity_note(settings, config)
    if note:
        print(note, file=sys.stderr)
    if settings.server_type == "flask":
        from .app import create_app

        create_app(settings).run(host=settings.server_host, port=settings.server_port, threaded=True)
    else:
        from .server import GatewayServer

        GatewayServer(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
