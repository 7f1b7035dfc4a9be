"""Append-only, encrypted, tamper-evident audit log (masking mappings, guardrail blocks, auth events).

The gateway writes with a public key only (:class:`AuditLog`); ops read and verify offline with the
private key (:func:`read_records`, :func:`verify`, ``llm-router audit ...``). Importing this package
starts nothing and registers nothing.
"""

from .crypto import generate_keypair
from .errors import AuditError
from .reader import VerifyReport, read_records, verify
from .writer import AuditLog

__all__ = ["AuditError", "AuditLog", "VerifyReport", "generate_keypair", "read_records", "verify"]
