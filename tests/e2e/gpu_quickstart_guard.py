"""The quickstart's guard service on a GPU, checked from outside as a user would.

Starts ``examples/quickstart/speakleash-bielik/run-sojka-guardrail.sh`` with the tiny trained
classifier (``tests/fixtures/tiny_guard``) on ``--device`` (0 = cuda:0, the quickstart's default),
then: ``/health`` (device, dtype), every known-unsafe phrase flagged with its label, every
known-safe phrase passed, and a burst of concurrent one-text requests (texts per second, batches
formed). Writes a Markdown report. Exit 1 when a check fails.

    python tests/e2e/gpu_quickstart_guard.py --device 0 --report guard-cuda.md

Run on a machine with a GPU (the device tool of this workplace); ``--device -1`` runs the same
checks on the CPU.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.fixtures.tiny_guard import MODEL_DIR  # noqa: E402
from tests.fixtures.tiny_guard.phrases import SAFE, UNSAFE  # noqa: E402

SCRIPT = REPO / "examples/quickstart/speakleash-bielik/run-sojka-guardrail.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if process.poll() is not None:
            raise SystemExit(f"the guard service exited with status {process.returncode} before it was ready")
        try:
            if requests.get(f"{url}/api/ping", timeout=2).ok:
                return time.monotonic() - started
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the guard service was not ready within {deadline_s:.0f} s")


def classify(url: str, payload) -> dict:
    answer = requests.post(f"{url}/api/guardrails/sojka_guard", json={"payload": payload}, timeout=30)
    answer.raise_for_status()
    return answer.json()["results"]


def run_checks(url: str, lines: list[str]) -> bool:
    ok = True
    guard = requests.get(f"{url}/health", timeout=5).json()["guards"]["sojka_guard"]
    lines.append(f"- `/health`: device `{guard['device']}`, dtype `{guard['dtype']}`, labels {guard['labels']}")
    for label, phrases in UNSAFE.items():
        for phrase in phrases:
            result = classify(url, phrase)
            flagged = {entry["label"] for entry in result["detailed"] if not entry["safe"]}
            if result["safe"] or label not in flagged:
                ok = False
                lines.append(f"- FAIL: an unsafe {label} phrase was not flagged as {label}: {flagged or 'safe'}")
    for phrase in SAFE:
        if not classify(url, phrase)["safe"]:
            ok = False
            lines.append("- FAIL: a safe phrase was flagged")
    checked = sum(len(p) for p in UNSAFE.values()) + len(SAFE)
    lines.append(f"- verdicts: {checked} known phrases, {'all as trained' if ok else 'MISMATCHES above'}")
    return ok


def burst(url: str, clients: int, per_client: int, lines: list[str]) -> None:
    texts = [*SAFE, *[p for phrases in UNSAFE.values() for p in phrases]]

    def one_client(index: int) -> int:
        with requests.Session() as session:
            for n in range(per_client):
                text = f"{texts[(index + n) % len(texts)]} ({index}.{n})"
                session.post(f"{url}/api/guardrails/sojka_guard", json={"payload": text}, timeout=30).raise_for_status()
        return per_client

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(one_client, range(clients)))
    elapsed = time.monotonic() - started
    batching = requests.get(f"{url}/health", timeout=5).json()["guards"]["sojka_guard"]["batching"]
    lines.append(f"- burst: {clients} clients x {per_client} one-text requests: {done} texts in {elapsed:.2f} s "
                 f"= {done / elapsed:.0f} texts/s")
    lines.append(f"- batches after the burst: {batching['batches']} forward passes for {batching['items_scored']} "
                 f"windows, largest {batching['largest_batch']}, mean {batching['mean_batch']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="0")
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-client", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"quickstart-guard-{port}.log"
    env = {**os.environ, "LLM_ROUTER_SOJKA_GUARD_MODEL_PATH": str(MODEL_DIR),
           "LLM_ROUTER_SOJKA_GUARD_DEVICE": args.device,
           "LLM_ROUTER_API_HOST": "127.0.0.1", "LLM_ROUTER_API_PORT": str(port)}
    lines = [f"# The quickstart's guard service on device {args.device}", "",
             f"`{SCRIPT.relative_to(REPO)}` with `LLM_ROUTER_SOJKA_GUARD_DEVICE={args.device}`, "
             f"the tiny trained classifier of `tests/fixtures/tiny_guard`.", ""]
    ok = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            lines.append(f"- ready in {wait_ready(url, process, 240):.1f} s")
            ok = run_checks(url, lines)
            burst(url, args.clients, args.per_client, lines)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
                lines.append(f"- stopped by SIGTERM, exit status {process.returncode}")
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                lines.append("- FAIL: did not stop within 30 s of SIGTERM")
                ok = False
    tail = log_path.read_text(errors="replace").splitlines()[-15:]
    lines += ["", "Log tail:", "", "```", *tail, "```", ""]
    report = "\n".join(lines)
    print(report)
    if args.report:
        args.report.write_text(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
