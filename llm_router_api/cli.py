"""The ``llm-router`` command line (also ``python -m llm_router_api.cli``)."""

from __future__ import annotations

import argparse
import os
import sys

from .config.loader import ConfigError, load_models_config
from .settings import Settings


def _config_check(args: argparse.Namespace) -> int:
    path = args.path or os.environ.get("LLM_ROUTER_MODELS_CONFIG") or Settings().models_config
    try:
        config = load_models_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    print(f"{path}: OK, {len(config.models)} active model(s), {len(config.distinct_providers())} provider(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-router", description="llm-router gateway tools")
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="models-config.json tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a models-config.json; exit 1 on problems")
    check.add_argument("path", nargs="?", help="defaults to $LLM_ROUTER_MODELS_CONFIG")
    check.set_defaults(handler=_config_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
