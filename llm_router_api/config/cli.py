"""``llm-router config ...``: check a models-config.json, import one from a LiteLLM config.yaml."""

from __future__ import annotations

import argparse
import os
import sys

from ..settings import Settings
from . import litellm_import
from .loader import ConfigError, load_models_config


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


def _import_litellm(args: argparse.Namespace) -> int:
    """``config import-litellm``: a LiteLLM proxy config.yaml as a models-config.json (see config/litellm_import.py).

    Exit status: 0 imported, 1 nothing importable or the result fails our own validation, 2 the
    file cannot be read or is not a LiteLLM config (or -o cannot be written). Messages go to
    stderr, the JSON to -o or stdout.
    """
    document, error = _read_yaml(args.config)
    if error:
        print(f"error: {args.config}: {error}", file=sys.stderr)
        return 2
    try:
        config, notices = litellm_import.import_litellm(
            document, group=args.group, environ=dict(os.environ) if args.resolve_env else None)
    except litellm_import.LiteLLMConfigError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
        return 2
    for notice in notices:
        print(notice, file=sys.stderr)
    models = config["active_models"][args.group]
    if not models:
        print(f"error: {args.config}: nothing could be imported", file=sys.stderr)
        return 1
    problems = litellm_import.validate(config)
    if problems:
        print(f"error: the imported config fails validation ({len(problems)} problem(s)):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return _write_import(args, config, len(models))


def _read_yaml(path: str) -> tuple[object, str | None]:
    """The parsed file, or the reason it cannot be read, in one line without any of the file's text."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle), None
    except OSError as exc:
        return None, f"cannot read the file ({exc.strerror or exc.__class__.__name__})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return None, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc.__class__.__name__}"


def _write_import(args: argparse.Namespace, config: dict, count: int) -> int:
    """The JSON to ``-o`` (atomically, owner-only when it holds tokens) or to stdout (never with tokens)."""
    tokens = litellm_import.count_tokens(config)
    if args.output is None:
        if tokens:
            print(f"warning: {tokens} api_token(s) left out of stdout; write them to a file with -o",
                  file=sys.stderr)
            config = litellm_import.without_tokens(config)
        sys.stdout.write(litellm_import.to_json(config))
        sys.stdout.flush()
    else:
        tmp = f"{args.output}.tmp-{os.getpid()}"
        try:
            descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if tokens else 0o644)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(litellm_import.to_json(config))
            os.replace(tmp, args.output)
        except OSError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            print(f"error: {args.output}: cannot write ({exc.strerror or exc.__class__.__name__})", file=sys.stderr)
            return 2
    destination = args.output or "stdout"
    print(f"imported {count} model(s) into group '{args.group}' ({destination}); "
          f"check it with: llm-router config check {args.output or 'FILE'}", file=sys.stderr)
    return 0


def add_config_commands(subparsers) -> None:
    """Add ``config check|import-litellm`` to a CLI's subcommands; each sets ``handler`` (returns the exit code)."""
    config = subparsers.add_parser("config", help="models-config.json tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a models-config.json; exit 1 on problems")
    check.add_argument("path", nargs="?", help="defaults to $LLM_ROUTER_MODELS_CONFIG")
    check.set_defaults(handler=_config_check)
    litellm = config_commands.add_parser(
        "import-litellm", help="convert a LiteLLM proxy config.yaml into a models-config.json")
    litellm.add_argument("config", metavar="CONFIG.yaml", help="LiteLLM proxy config (model_list, router_settings...)")
    litellm.add_argument("-o", "--output", metavar="OUT.json", help="write here instead of stdout")
    litellm.add_argument("--group", default=litellm_import.DEFAULT_GROUP,
                         help="the group the models go in (default: %(default)s)")
    litellm.add_argument("--resolve-env", action="store_true",
                         help="read os.environ/VAR references now (tokens are then written to -o, never to stdout)")
    litellm.set_defaults(handler=_import_litellm)
