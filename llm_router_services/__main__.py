"""``python -m llm_router_services [--dev]``: check settings and model folders, then serve.

The checks run here, in the parent process and without torch, so a bad value stops start-up with
one line naming the variable instead of gunicorn workers failing to boot one after another.
``--dev`` serves with Flask's development server (one process, threads) instead of gunicorn.
"""

from __future__ import annotations

import argparse
import sys

from .model_folder import check_startup
from .settings import ServiceSettings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_router_services",
                                     description="The guard service (variables: llm_router_services/README.md)")
    parser.add_argument("--dev", action="store_true", help="Flask's development server instead of gunicorn")
    args = parser.parse_args(argv)
    try:
        settings = ServiceSettings.from_environ()
        check_startup(settings)
        if args.dev:
            from .app import create_app

            app = create_app(settings)
    except SettingsError as exc:
        print(f"llm-router-guard: cannot start: {exc}", file=sys.stderr)
        return 2
    if not settings.enabled_guards:
        print("llm-router-guard: note: no guard is enabled (LLM_ROUTER_SOJKA_GUARD_ENABLED, "
              "LLM_ROUTER_NASK_PIB_GUARD_ENABLED); only /api/ping and /health answer", file=sys.stderr)
    if args.dev:
        app.run(host=settings.host, port=settings.port, threaded=True)
    else:
        from .server import GuardServer

        GuardServer(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
