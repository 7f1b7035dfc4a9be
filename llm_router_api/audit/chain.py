"""The record format: one JSON line per record, a clear header and a sealed payload, chained by SHA-256.

A line is ``{"v":1,"seq":N,"ts":"...Z","kind":"...","prev":"<hex>","kid":"...","epk":"...",
"nonce":"...","ct":"..."}`` + ``\\n``. ``prev`` is the SHA-256 of the previous line's bytes, its
newline included, so deleting, reordering or editing a line breaks the link of the line after it;
the first line of the log links to :data:`GENESIS`. The header is also the AEAD's associated data,
so with the private key an edited header is caught on the line itself, the last one included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

VERSION = 1
GENESIS = "0" * 64  # what the first record of a log links to
HEADER_FIELDS = ("v", "seq", "ts", "kind", "prev")
ENVELOPE_FIELDS = ("kid", "epk", "nonce", "ct")
# The kind is in clear text: a short fixed vocabulary, never anything a request supplied.
KIND_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise ValueError("audit record kind must be a short lowercase name matching [a-z][a-z0-9_.-]{0,63}")
    return kind


def utc_timestamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header(seq: int, ts: str, kind: str, prev: str) -> dict[str, Any]:
    return {"v": VERSION, "seq": seq, "ts": ts, "kind": kind, "prev": prev}


def associated_data(record: dict[str, Any]) -> bytes:
    """The header fields in one canonical byte form (independent of how the line itself is spelled)."""
    return json.dumps({name: record[name] for name in HEADER_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def encode_line(head: dict[str, Any], envelope: dict[str, str]) -> bytes:
    return json.dumps({**head, **envelope}, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def line_hash(raw: bytes) -> str:
    """Hash of a line as stored; a torn line is hashed as the writer that repaired it stored it (with ``\\n``)."""
    if not raw.endswith(b"\n"):
        raw += b"\n"
    return hashlib.sha256(raw).hexdigest()


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """The line's JSON object, or None when it is not one (a torn write, or junk)."""
    try:
        obj = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return obj if isinstance(obj, dict) else None


def header_problem(obj: dict[str, Any]) -> str | None:
    """What is wrong with a parsed line's fields, or None when it is a well-formed record."""
    missing = [name for name in HEADER_FIELDS + ENVELOPE_FIELDS if name not in obj]
    if missing:
        return "record lacks field(s) " + ", ".join(missing)
    if obj["v"] != VERSION or isinstance(obj["v"], bool):
        return f"unknown record format version {obj['v']!r}"
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "seq is not a positive integer"
    if not isinstance(obj["ts"], str) or not isinstance(obj["kind"], str):
        return "ts or kind is not a string"
    if not isinstance(obj["prev"], str) or not _HEX64.match(obj["prev"]):
        return "prev is not a SHA-256 hex digest"
    if not all(isinstance(obj[name], str) for name in ENVELOPE_FIELDS):
        return "an envelope field is not a string"
    return None


def record_seq(raw: bytes) -> int | None:
    """The seq of a well-formed line, else None (what a writer continues from)."""
    obj = parse_line(raw)
    if obj is None or header_problem(obj) is not None:
        return None
    return obj["seq"]


def looks_torn(raw: bytes) -> bool:
    """A line cut short by a writer that died mid-write starts like every record does."""
    return raw.startswith(b'{"v":')
