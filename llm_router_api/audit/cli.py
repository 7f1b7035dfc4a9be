"""``llm-router audit ...``: make the key pair, decrypt, verify (ops tools; the private key stays off the gateway)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .crypto import generate_keypair
from .errors import AuditError
from .reader import read_records, verify

DEFAULT_DIR = "./audit-logs"  # the default of LLM_ROUTER_AUDIT_DIR


def _default_path(path: str | None) -> str:
    return path or os.environ.get("LLM_ROUTER_AUDIT_DIR") or DEFAULT_DIR


def _keygen(args: argparse.Namespace) -> int:
    try:
        private_path, public_path = generate_keypair(args.out)
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"private key: {private_path}")
    print(f"public key:  {public_path}")
    print("warning: keep the private key off the gateway host; the gateway needs only the public key "
          "(LLM_ROUTER_AUDIT_PUBLIC_KEY)")
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    def unreadable(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    try:
        for record in read_records(_default_path(args.path), args.key, on_unreadable=unreadable):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        report = verify(_default_path(args.path), args.key, args.expect_head)
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems:
        print(problem)
    sealed = ", every record decrypted" if report.decrypted else ""
    if report.ok:
        print(f"OK: {report.count} records, head {report.head}{sealed}")
        return 0
    print(f"FAILED: {len(report.problems)} problem(s); {report.count} records, head {report.head}")
    return 1


def add_audit_commands(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``audit keygen|decrypt|verify`` to a CLI's subcommands; each sets ``handler`` (returns the exit code)."""
    audit = subparsers.add_parser("audit", help="encrypted audit log tools",
                                  description="Tools for the encrypted, hash-chained audit log.")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    keygen = commands.add_parser("keygen", help="write a new key pair (audit-private.pem, audit-public.pem)")
    keygen.add_argument("--out", required=True, help="directory for the two files; existing keys are never replaced")
    keygen.set_defaults(handler=_keygen)

    decrypt = commands.add_parser("decrypt", help="print every record, decrypted, one JSON object per line")
    decrypt.add_argument("--key", required=True, help="the private key (audit-private.pem)")
    decrypt.add_argument("path", nargs="?", help="a segment file or the log directory; default $LLM_ROUTER_AUDIT_DIR "
                                                 f"or {DEFAULT_DIR}")
    decrypt.set_defaults(handler=_decrypt)

    check = commands.add_parser("verify", help="check the hash chain (and, with --key, every record's seal); "
                                               "exit 1 on any problem")
    check.add_argument("path", nargs="?", help=f"a segment file or the log directory; default $LLM_ROUTER_AUDIT_DIR "
                                               f"or {DEFAULT_DIR}")
    check.add_argument("--key", help="the private key: also decrypt every record")
    check.add_argument("--expect-head", metavar="HASH", help="a head printed by an earlier verify: it must still "
                                                             "be in the chain (detects records cut off the end)")
    check.set_defaults(handler=_verify)
    return audit
