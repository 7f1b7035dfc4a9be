"""``python -m llm_router_api.rest_api``: check settings and models config, then serve.

Both are checked here, in the parent process, so a bad value stops start-up with one line
naming the problem instead of gunicorn workers failing to boot one after another.
"""

from __future__ import annotations

import sys

from .config.loader import ConfigError, load_models_config
from .settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_environ()
        load_models_config(settings.models_config)
    except (SettingsError, ConfigError) as exc:
        print(f"llm-router: cannot start: {exc}", file=sys.stderr)
        return 2
    if settings.server_type == "flask":
        from .app import create_app

        create_app(settings).run(host=settings.server_host, port=settings.server_port, threaded=True)
    else:
        from .server import GatewayServer

        GatewayServer(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
