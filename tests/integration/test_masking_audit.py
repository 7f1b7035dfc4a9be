"""Masking with audit under real gunicorn: 4 workers write one audit chain, the mapping is only
in the encrypted records, and a debug-level log of the whole run holds no original value."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

from llm_router_api.audit import generate_keypair, read_records, verify
from tests.conftest import REPO_ROOT, provider

PESELS = ["44051401359", "02070803628", "85121513590", "90090515836"]
EMAIL = "anna.nowak@firma.example.pl"


def test_four_workers_audit_every_masked_request_in_one_valid_chain(tmp_path, upstreams, gateway_process):
    up = upstreams()
    private_key, public_key = generate_keypair(tmp_path / "keys")
    audit_dir = tmp_path / "audit"
    gw = gateway_process({"m": {"providers": [provider(up, "a")]}},
                         LLM_ROUTER_SERVER_WORKERS_COUNT="4", LLM_ROUTER_LOG_LEVEL="DEBUG", LLM_ROUTER_LOG_MASKED_CONTENT="1",
                         LLM_ROUTER_FORCE_MASKING="1", LLM_ROUTER_MASKING_WITH_AUDIT="1",
                         LLM_ROUTER_AUDIT_DIR=str(audit_dir), LLM_ROUTER_AUDIT_PUBLIC_KEY=str(public_key))
    client = openai.OpenAI(base_url=gw.v1, api_key="k", max_retries=0)
    asked = 40
    for i in range(asked):
        pesel = PESELS[i % len(PESELS)]
        text = f"echo:PESEL {pesel}, mail {EMAIL}, nr {i}"
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}],
                                                stream=bool(i % 2))
        content = answer.choices[0].message.content if not i % 2 else \
            "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        assert content == text[len("echo:"):]
    gw.process.terminate()  # workers flush their audit queues as they exit
    assert gw.process.wait(30) == 0

    report = verify(audit_dir, private_key)
    assert report.ok, report.problems
    records = [r for r in read_records(audit_dir, private_key) if r["kind"] == "masking"]
    assert len(records) == asked
    mappings = [r["data"]["mapping"] for r in records]
    assert all(m["[EMAIL_1]"] == EMAIL and m["[PESEL_1]"] in PESELS for m in mappings)
    assert len({r["data"]["request_id"] for r in records}) == asked

    stored = b"".join(path.read_bytes() for path in audit_dir.iterdir())
    log = gw.log_text()
    assert "DEBUG" in log and "masked 2 value(s)" in log and "[PESEL_1]" in log  # content, masked
    for original in (*PESELS, EMAIL):
        assert original.encode() not in stored, "an original in the audit files' plaintext"
        assert original not in log, "an original in the log"

    cli = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "audit", "verify", str(audit_dir)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0 and f"OK: {asked} records" in cli.stdout


def test_masking_with_audit_and_a_missing_or_wrong_key_stops_start_up_with_one_line(tmp_path):
    private_key, _ = generate_keypair(tmp_path / "keys")
    for key, expected in ((None, "LLM_ROUTER_AUDIT_PUBLIC_KEY must name"), (private_key, "holds a private key"),
                          (tmp_path / "nope.pem", "cannot read the audit public key file")):
        env = {"LLM_ROUTER_MASKING_WITH_AUDIT": "1", "PATH": "/usr/bin:/bin"}
        if key is not None:
            env["LLM_ROUTER_AUDIT_PUBLIC_KEY"] = str(key)
        result = subprocess.run([sys.executable, "-m", "llm_router_api.rest_api"], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert result.stderr.startswith("llm-router: cannot start: ") and expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text,expected", [("Zadzwoń: jan@x.pl\n", "Zadzwoń: [EMAIL_1]\n")])
def test_anonymize_on_the_command_line(tmp_path, text, expected):
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    for args, stdin in ((["anonymize", str(source)], None), (["anonymize", "-", "--summary"], text)):
        result = subprocess.run([sys.executable, "-m", "llm_router_api.cli", *args], cwd=REPO_ROOT, input=stdin,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected
    assert "masked 1 value(s): email=1" in result.stderr
    missing = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "anonymize", str(tmp_path / "nope")],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
