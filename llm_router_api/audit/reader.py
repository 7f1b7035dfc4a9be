"""Reading and verifying a log offline: the chain without a key, every record's seal with one.

What verification catches: ``prev`` links and consecutive ``seq`` expose a deleted, inserted,
reordered, edited or moved record anywhere except at the end, and a missing segment file; with
the private key, AES-GCM also catches an edited ciphertext or header on any line, the last one
included. What it cannot catch alone: records cut off the end (tail truncation) leave a shorter,
valid chain. Verify prints the head hash and count; record them somewhere the gateway cannot write
(a ticket, a monitoring system) and pass an earlier head as ``expect_head``: it must still be a
line of the chain.

A line that is not JSON but starts like a record is a write torn by a crash; the writer that came
next ended it with a newline and chained over it, so it is reported as an unreadable record (a
warning: its content is lost), not as tampering. Any other unreadable line is a problem.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .chain import GENESIS, HEADER_FIELDS, header_problem, line_hash, looks_torn, parse_line
from .crypto import Opener, load_private_key
from .errors import AuditError
from .segments import SEGMENT_RE, list_segments, segment_name

MAX_PROBLEMS = 1000  # then only counted: a wrong key would otherwise list every record


@dataclass
class VerifyReport:
    ok: bool
    count: int  # well-formed records read
    head: str  # hash of the last line (GENESIS for an empty log): anchor it elsewhere
    problems: list[str] = field(default_factory=list)  # "audit-000002.jsonl:17: ..." ; any makes ok False
    warnings: list[str] = field(default_factory=list)  # torn writes: lost content, chain intact
    segments: int = 0
    decrypted: bool = False  # every record was opened with the private key


def _segments(path_or_dir: str | os.PathLike) -> tuple[bool, list[tuple[int | None, Path]]]:
    path = Path(path_or_dir)
    if path.is_dir():
        return True, list(list_segments(path))
    if path.is_file():
        match = SEGMENT_RE.match(path.name)
        return False, [(int(match.group(1)) if match else None, path)]
    raise AuditError(f"no audit log at {path}")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with open(path, "rb") as file:
            yield from enumerate(file, start=1)
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}") from None


def _opener(private_key_path: str | os.PathLike | None) -> Opener | None:
    return None if private_key_path is None else Opener(load_private_key(private_key_path))


def read_records(path_or_dir: str | os.PathLike, private_key_path: str | os.PathLike | None = None, *,
                 on_unreadable: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every record in order: its header and, with the key, ``data`` (the decrypted payload).

    Does not check the chain (that is :func:`verify`). A record that does not decrypt raises
    AuditError naming its file and line; unreadable lines are skipped, each reported to ``on_unreadable``.
    """
    opener = _opener(private_key_path)
    for _, path in _segments(path_or_dir)[1]:
        for number, raw in _lines(path):
            where = f"{path.name}:{number}"
            obj = parse_line(raw)
            problem = "not a record" if obj is None else header_problem(obj)
            if problem is not None:
                if on_unreadable is not None:
                    on_unreadable(f"{where}: unreadable ({problem})")
                continue
            out = {name: obj[name] for name in HEADER_FIELDS}
            out["kid"] = obj["kid"]
            if opener is not None:
                try:
                    out["data"] = json.loads(opener.open(obj))
                except AuditError as exc:
                    raise AuditError(f"{where}: {exc}") from None
            yield out


def verify(path_or_dir: str | os.PathLike, private_key_path: str | os.PathLike | None = None,
           expect_head: str | None = None) -> VerifyReport:
    """Check the whole log (a directory) or one segment file; see the module docstring for what it proves."""
    opener = _opener(private_key_path)
    whole, segments = _segments(path_or_dir)
    report = VerifyReport(ok=True, count=0, head=GENESIS, segments=len(segments), decrypted=opener is not None)
    extra = 0

    def problem(text: str) -> None:
        nonlocal extra
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append(text)
        else:
            extra += 1

    if whole:
        present = {number for number, _ in segments}
        last = max(present, default=0)
        missing = [n for n in range(1, last + 1) if n not in present]
        for start, end in _runs(missing):
            names = segment_name(start) if start == end else f"{segment_name(start)} to {segment_name(end)}"
            problem(f"{names} missing (segment file deleted)")
    expected_prev: str | None = GENESIS if whole else None  # one file alone: its first link is unchecked
    expected_seq: int | None = 1 if whole else None
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
    anchored = expect_head is None or expect_head == GENESIS
    for _, path in segments:
        for number, raw in _lines(path):
            where = f"{path.name}:{number}"
            digest = line_hash(raw)
            obj = parse_line(raw)
            if obj is None:
                if looks_torn(raw):
                    then = ("the chain continues over it" if raw.endswith(b"\n") else
                            "the next write will end the line and chain over it")
                    report.warnings.append(f"{where}: unreadable record (a write torn by a crash; its content is "
                                           f"lost, {then})")
                else:
                    problem(f"{where}: unreadable line, not a record")
            elif (bad := header_problem(obj)) is not None:
                problem(f"{where}: {bad}")
            else:
                report.count += 1
                if expected_prev is not None and obj["prev"] != expected_prev:
                    problem(f"{where}: prev does not match the line before it (a record was deleted, inserted, "
                            "edited or moved here)")
                if expected_seq is not None and obj["seq"] != expected_seq:
                    problem(f"{where}: seq {obj['seq']}, expected {expected_seq}")
                expected_seq = obj["seq"] + 1
                if opener is not None:
                    try:
                        opener.open(obj)
                    except AuditError as exc:
                        problem(f"{where}: {exc}")
            expected_prev = report.head = digest
            if not anchored and digest == expect_head:
                anchored = True
    if not anchored:
        problem(f"expected head {expect_head} is not in the chain: records were cut off the end "
                "(or the log was replaced) after that head was recorded")
    if extra:
        report.problems.append(f"... and {extra} more problem(s)")
    report.ok = not report.problems
    return report


def _runs(numbers: list[int]) -> Iterator[tuple[int, int]]:
    start = previous = None
    for n in numbers:
        if start is None:
            start = previous = n
        elif n == previous + 1:
            previous = n
        else:
            yield start, previous
            start = previous = n
    if start is not None:
        yield start, previous
