"""``audit keygen|decrypt|verify`` through the same argparse wiring llm_router_api/cli.py uses."""

import argparse
import json

from llm_router_api.audit import AuditLog
from llm_router_api.audit.cli import add_audit_commands


def run(argv) -> int:
    parser = argparse.ArgumentParser(prog="llm-router")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def make_log(tmp_path, count=5):
    assert run(["audit", "keygen", "--out", str(tmp_path / "keys")]) == 0
    audit = AuditLog.open(tmp_path / "log", tmp_path / "keys/audit-public.pem", max_segment_bytes=1500)
    for i in range(count):
        audit.record("guardrail", {"i": i, "score": i / 10})
    assert audit.flush(10)
    audit.close()
    return tmp_path / "keys/audit-private.pem", tmp_path / "log"


def test_keygen_prints_paths_warns_and_refuses_to_overwrite(tmp_path, capsys):
    assert run(["audit", "keygen", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "audit-private.pem") in out and str(tmp_path / "audit-public.pem") in out
    assert "keep the private key off the gateway host" in out
    before = (tmp_path / "audit-private.pem").read_bytes()
    assert run(["audit", "keygen", "--out", str(tmp_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "audit-private.pem").read_bytes() == before


def test_decrypt_prints_one_json_object_per_record(tmp_path, capsys, monkeypatch):
    private, directory = make_log(tmp_path)
    capsys.readouterr()
    assert run(["audit", "decrypt", "--key", str(private), str(directory)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["seq"], r["kind"], r["data"]) for r in rows] == [(i + 1, "guardrail", {"i": i, "score": i / 10})
                                                                for i in range(5)]
    monkeypatch.setenv("LLM_ROUTER_AUDIT_DIR", str(directory))  # the default path
    assert run(["audit", "decrypt", "--key", str(private)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert run(["audit", "decrypt", "--key", str(private), str(directory / "audit-000002.jsonl")]) == 0
    assert 0 < len(capsys.readouterr().out.splitlines()) < 5


def test_decrypt_with_a_wrong_key_exits_1(tmp_path, capsys):
    _, directory = make_log(tmp_path / "a")
    other, _ = make_log(tmp_path / "b", count=1)
    capsys.readouterr()
    assert run(["audit", "decrypt", "--key", str(other), str(directory)]) == 1
    assert "wrong key" in capsys.readouterr().err


def test_verify_exit_codes(tmp_path, capsys):
    private, directory = make_log(tmp_path)
    capsys.readouterr()
    assert run(["audit", "verify", str(directory), "--key", str(private)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("OK: 5 records, head ") and out.endswith("every record decrypted")
    head = out.split("head ")[1].split(",")[0]
    first = directory / "audit-000001.jsonl"
    content = first.read_bytes().splitlines(keepends=True)
    first.write_bytes(b"".join(content[1:]))  # delete the first record
    assert run(["audit", "verify", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "audit-000001.jsonl:1: prev does not match" in out and out.rstrip().splitlines()[-1].startswith("FAILED")
    first.write_bytes(b"".join(content))  # put it back: OK again, and the anchor holds
    assert run(["audit", "verify", str(directory), "--expect-head", head]) == 0
    assert run(["audit", "verify", str(directory), "--expect-head", "f" * 64]) == 1
    assert "is not in the chain" in capsys.readouterr().out
    assert run(["audit", "verify", str(tmp_path / "nowhere")]) == 1
    assert "no audit log at" in capsys.readouterr().err
