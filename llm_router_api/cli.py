"""The ``llm-router`` command line (also ``python -m llm_router_api.cli``)."""

from __future__ import annotations

import argparse
import sys

from .config.cli import add_config_commands
from .audit.cli import add_audit_commands
from .auth.cli import add_keys_commands
from .settings import Settings, SettingsError


def _anonymize(args: argparse.Namespace) -> int:
    """The configured masking pipeline over a file or stdin; the masked text to stdout."""
    from llm_router_plugins.maskers.registry import build_pipeline
    from llm_router_plugins.maskers.session import MaskingSession

    try:
        settings = Settings.from_environ()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.file in (None, "-"):
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{args.file}: cannot read: {exc.__class__.__name__}", file=sys.stderr)
            return 2
    session = MaskingSession(build_pipeline(settings.masking_pipeline))
    sys.stdout.write(session.mask(text))
    sys.stdout.flush()
    if args.summary:
        counts = ", ".join(f"{rule}={count}" for rule, count in sorted(session.rules.items())) or "nothing found"
        print(f"masked {sum(session.rules.values())} value(s): {counts}", file=sys.stderr)
    return 0


def _audit_key_change(kind: str, data: dict) -> None:
    """A key created, rotated or revoked by the CLI, in the audit log when LLM_ROUTER_AUTH_WITH_AUDIT is on."""
    settings = Settings.from_environ()
    if not settings.auth_with_audit:
        return
    from .audit import AuditLog

    audit = AuditLog.open(settings.audit_dir, settings.audit_public_key,
                          max_segment_bytes=settings.audit_max_segment_bytes)
    audit.record("auth", {"event": kind, "by": "cli", **data})
    audit.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-router", description="llm-router gateway tools")
    commands = parser.add_subparsers(dest="command", required=True)
    add_config_commands(commands)
    anonymize = commands.add_parser("anonymize", help="mask personal data in a text with the configured pipeline")
    anonymize.add_argument("file", nargs="?", help="a UTF-8 text file; - or nothing reads stdin")
    anonymize.add_argument("--summary", action="store_true", help="print what was masked, by rule, to stderr")
    anonymize.set_defaults(handler=_anonymize)
    add_audit_commands(commands)
    add_keys_commands(commands, on_event=_audit_key_change)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
