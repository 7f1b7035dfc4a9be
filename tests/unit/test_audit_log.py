"""Writing through AuditLog, reading back, and verify against every kind of tampering."""

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from llm_router_api.audit import AuditError, AuditLog, generate_keypair, read_records, verify
from llm_router_api.audit.chain import GENESIS

MARKER = "SECRET-MARKER-7f3a"


@pytest.fixture
def keys(tmp_path):
    return generate_keypair(tmp_path / "keys")


@pytest.fixture
def logdir(tmp_path):
    return tmp_path / "audit"


def write(directory, public, count, *, start=0, max_segment_bytes=64 * 1024 * 1024, kind="masking"):
    audit = AuditLog.open(directory, public, max_segment_bytes=max_segment_bytes)
    try:
        for i in range(start, start + count):
            audit.record(kind, {"i": i, "mapping": {f"<PERSON_{i}>": f"{MARKER} Jane Doe {i}"}})
        assert audit.flush(10)
    finally:
        audit.close()


def segment(directory, number=1) -> Path:
    return directory / f"audit-{number:06d}.jsonl"


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path, new_lines) -> None:
    path.write_bytes(b"".join(new_lines))


def edit(path, index, **changes) -> None:
    all_lines = lines(path)
    obj = json.loads(all_lines[index])
    obj.update(changes)
    all_lines[index] = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    rewrite(path, all_lines)


def problems_text(report) -> str:
    return "\n".join(report.problems)


def test_records_decrypt_to_what_was_written(logdir, keys):
    private_path, public_path = keys
    data = [{"mapping": {"<EMAIL_1>": "jane@example.com"}, "request_id": "r1"},
            {"blocked": True, "scores": {"toxicity": 0.93, "pii": 0.1}, "nested": [1, None, "ü ✓"]},
            {"event": "key_revoked", "key_id": "k-42"}]
    audit = AuditLog.open(logdir, public_path)
    for kind, item in zip(("masking", "guardrail", "auth"), data):
        audit.record(kind, item)
    assert audit.flush(10)
    audit.close()
    records = list(read_records(logdir, private_path))
    assert [r["data"] for r in records] == data
    assert [r["kind"] for r in records] == ["masking", "guardrail", "auth"]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS and records[0]["ts"].endswith("Z")
    assert "data" not in next(read_records(logdir))  # no key: headers only
    report = verify(logdir, private_path)
    assert report.ok and report.count == 3 and report.decrypted
    assert report.head == hashlib.sha256(lines(segment(logdir))[-1]).hexdigest()


def test_the_files_never_hold_the_payload_and_are_private(logdir, keys):
    write(logdir, keys[1], 20)
    assert stat.S_IMODE(os.stat(logdir).st_mode) == 0o700
    for path in logdir.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        content = path.read_bytes()
        assert MARKER.encode() not in content and b"Jane" not in content and b"PERSON" not in content


def test_a_wrong_private_key_fails_clearly(logdir, keys, tmp_path):
    write(logdir, keys[1], 3)
    other_private, _ = generate_keypair(tmp_path / "other")
    with pytest.raises(AuditError, match=r"audit-000001\.jsonl:1: record is encrypted for key \w+, .*wrong key"):
        list(read_records(logdir, other_private))
    report = verify(logdir, other_private)
    assert not report.ok and len(report.problems) == 3 and "wrong key" in report.problems[0]


def test_bad_kind_and_data_fail_in_the_caller(logdir, keys):
    audit = AuditLog.open(logdir, keys[1])
    with pytest.raises(ValueError, match="kind"):
        audit.record("Not A Kind", {})
    with pytest.raises(TypeError):
        audit.record("auth", {"x": object()})
    assert audit.flush(5)
    audit.close()
    assert not segment(logdir).exists() or segment(logdir).read_bytes() == b""


def test_rotation_chains_across_segments(logdir, keys):
    write(logdir, keys[1], 40, max_segment_bytes=2500)
    segments = sorted(logdir.glob("audit-*.jsonl"))
    assert len(segments) >= 4
    for path in segments:
        assert 0 < path.stat().st_size <= 2500
    for earlier, later in zip(segments, segments[1:]):
        first = json.loads(lines(later)[0])
        assert first["prev"] == hashlib.sha256(lines(earlier)[-1]).hexdigest()
    report = verify(logdir, keys[0])
    assert report.ok and report.count == 40 and report.segments == len(segments)
    assert [r["data"]["i"] for r in read_records(logdir, keys[0])] == list(range(40))
    write(logdir, keys[1], 5, start=40, max_segment_bytes=2500)  # a new writer continues the chain
    assert [r["seq"] for r in read_records(logdir)] == list(range(1, 46))
    assert verify(logdir).ok


def test_an_intact_log_passes_and_a_single_segment_verifies_alone(logdir, keys):
    write(logdir, keys[1], 30, max_segment_bytes=3000)
    assert verify(logdir, keys[0]).ok
    assert verify(segment(logdir, 2), keys[0]).ok


def test_deleted_middle_record(logdir, keys):
    write(logdir, keys[1], 10)
    path = segment(logdir)
    all_lines = lines(path)
    rewrite(path, all_lines[:4] + all_lines[5:])
    report = verify(logdir)
    assert not report.ok
    assert "audit-000001.jsonl:5: prev does not match" in problems_text(report)
    assert "audit-000001.jsonl:5: seq 6, expected 5" in problems_text(report)


def test_edited_ciphertext(logdir, keys):
    write(logdir, keys[1], 10)
    path = segment(logdir)
    ct = json.loads(lines(path)[3])["ct"]
    edit(path, 3, ct=("A" if ct[0] != "A" else "B") + ct[1:])
    without_key = verify(logdir)
    assert not without_key.ok and "audit-000001.jsonl:5: prev does not match" in problems_text(without_key)
    with_key = verify(logdir, keys[0])
    assert "audit-000001.jsonl:4: authentication failed" in problems_text(with_key)


def test_edited_tail_ciphertext_needs_the_key(logdir, keys):
    write(logdir, keys[1], 5)
    path = segment(logdir)
    ct = json.loads(lines(path)[-1])["ct"]
    edit(path, 4, ct=("A" if ct[0] != "A" else "B") + ct[1:])
    assert verify(logdir).ok  # the last line has no successor to link to it: documented
    assert "audit-000001.jsonl:5: authentication failed" in problems_text(verify(logdir, keys[0]))


@pytest.mark.parametrize("field, value", [("seq", 42), ("kind", "auth"), ("ts", "2020-01-01T00:00:00.000000Z")])
def test_edited_header_field(logdir, keys, field, value):
    write(logdir, keys[1], 6)
    edit(segment(logdir), 2, **{field: value})
    without_key = problems_text(verify(logdir))
    assert "audit-000001.jsonl:4: prev does not match" in without_key
    with_key = problems_text(verify(logdir, keys[0]))
    assert "audit-000001.jsonl:3: authentication failed" in with_key
    with pytest.raises(AuditError, match=r"audit-000001\.jsonl:3: authentication failed"):
        list(read_records(logdir, keys[0]))


def test_swapped_records(logdir, keys):
    write(logdir, keys[1], 6)
    path = segment(logdir)
    all_lines = lines(path)
    all_lines[2], all_lines[3] = all_lines[3], all_lines[2]
    rewrite(path, all_lines)
    text = problems_text(verify(logdir))
    assert "audit-000001.jsonl:3: prev does not match" in text and "audit-000001.jsonl:3: seq 4, expected 3" in text
    assert "audit-000001.jsonl:4: prev does not match" in text


def test_record_moved_to_another_segment(logdir, keys):
    write(logdir, keys[1], 30, max_segment_bytes=3000)
    first, second = segment(logdir, 1), segment(logdir, 2)
    a, b = lines(first), lines(second)
    moved = a.pop(1)
    b.insert(2, moved)
    rewrite(first, a)
    rewrite(second, b)
    text = problems_text(verify(logdir))
    assert "audit-000001.jsonl:2: prev does not match" in text
    assert "audit-000002.jsonl:3: prev does not match" in text


def test_deleted_segment_file(logdir, keys):
    write(logdir, keys[1], 40, max_segment_bytes=2500)
    segment(logdir, 2).unlink()
    text = problems_text(verify(logdir))
    assert "audit-000002.jsonl missing (segment file deleted)" in text
    assert "audit-000003.jsonl:1: prev does not match" in text
    segment(logdir, 1).unlink()
    assert "audit-000001.jsonl to audit-000002.jsonl missing" in problems_text(verify(logdir))


def test_expect_head_detects_a_truncated_tail(logdir, keys):
    write(logdir, keys[1], 10)
    anchor = verify(logdir).head
    write(logdir, keys[1], 5, start=10)
    assert verify(logdir, expect_head=anchor).ok  # the log grew past the anchor: still in the chain
    final = verify(logdir)
    path = segment(logdir)
    rewrite(path, lines(path)[:-3])  # cut the last three records
    truncated = verify(logdir)
    assert truncated.ok and truncated.count == 12  # undetectable without an anchor: documented
    report = verify(logdir, expect_head=final.head)
    assert not report.ok and f"expected head {final.head} is not in the chain" in report.problems[0]


def test_torn_last_line_is_kept_terminated_and_chained_over(logdir, keys):
    write(logdir, keys[1], 5)
    path = segment(logdir)
    torn = lines(path)[-1][:70]  # a writer died mid-line: a prefix of a record, no newline
    with open(path, "ab") as file:
        file.write(torn)
    before = path.read_bytes()
    report = verify(logdir)
    assert report.ok and report.count == 5
    assert len(report.warnings) == 1 and report.warnings[0].startswith("audit-000001.jsonl:6: unreadable record")
    write(logdir, keys[1], 3, start=5)
    after = path.read_bytes()
    assert after.startswith(before + b"\n")  # nothing deleted: the torn bytes are ended with a newline
    seventh = json.loads(lines(path)[6])
    assert seventh["prev"] == hashlib.sha256(torn + b"\n").hexdigest() and seventh["seq"] == 6
    report = verify(logdir, keys[0])
    assert report.ok and report.count == 8 and len(report.warnings) == 1
    assert "audit-000001.jsonl:6: unreadable record" in report.warnings[0]
    skipped = []
    records = list(read_records(logdir, keys[0], on_unreadable=skipped.append))
    assert [r["data"]["i"] for r in records] == list(range(8)) and [r["seq"] for r in records] == list(range(1, 9))
    assert skipped and skipped[0].startswith("audit-000001.jsonl:6: unreadable")


def test_torn_line_at_the_end_of_a_segment_before_an_empty_one(logdir, keys):
    write(logdir, keys[1], 3)
    path = segment(logdir)
    torn = lines(path)[-1][:50]
    with open(path, "ab") as file:
        file.write(torn)
    segment(logdir, 2).touch(mode=0o600)  # a writer died between creating a segment and writing to it
    write(logdir, keys[1], 2, start=3)
    assert path.read_bytes().endswith(torn + b"\n")
    report = verify(logdir, keys[0])
    assert report.ok and report.count == 5 and len(report.warnings) == 1


def test_junk_line_is_a_problem_not_a_torn_write(logdir, keys):
    write(logdir, keys[1], 4)
    path = segment(logdir)
    all_lines = lines(path)
    all_lines[1] = b"garbage\n"
    rewrite(path, all_lines)
    text = problems_text(verify(logdir))
    assert "audit-000001.jsonl:2: unreadable line, not a record" in text
    assert "audit-000001.jsonl:3: prev does not match" in text
