"""What does the audit log cost a request, and how fast can the workers of one host write it?

Run from the repository root::

    python -m bench.audit [--quick] [--out PATH]

Measures, on this machine, with a masking-like payload (a 10-entry placeholder map, ~0.5 KB):

- the cost of one record's encryption: the ephemeral X25519 agreement + HKDF (``Sealer.derive``),
  and AES-GCM + line encoding + SHA-256 (what runs under the file lock);
- the time a caller spends in ``AuditLog.record()`` (p50/p99, calls paced like requests, the writer
  thread running alongside), against the two alternatives: deriving the key in the caller before
  enqueueing, and a synchronous encrypt + locked append per record;
- writer throughput (records/s from the first ``record()`` to the last ``flush()``) with 1 and 4
  processes appending to one directory (spawned processes, a barrier, rotation on), and how fast
  ``verify`` reads the result back.

Writes a Markdown table to bench/results/audit-latest.md (or --out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import multiprocessing
import os
import platform
import queue
import shlex
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from llm_router_api.audit import AuditLog, generate_keypair, verify
from llm_router_api.audit.chain import associated_data, encode_line, header, line_hash, utc_timestamp
from llm_router_api.audit.crypto import Sealer, load_public_key
from llm_router_api.audit.segments import Appender, ensure_directory

from .report import fmt, table
from .stats import percentile

RESULTS = Path(__file__).resolve().parent / "results"
PAYLOAD = {"request_id": "req-4f1c2a9e", "model": "gpt-x",
           "mapping": {f"<PERSON_{i}>": f"Firstname Lastname {i} <person{i}@example.com>" for i in range(10)}}


def us(ns: float | None) -> float | None:
    return None if ns is None else ns / 1000


def per_call(fn, count: int) -> list[int]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return sorted(samples)


def paced(fn, count: int, rate: float) -> list[int]:
    """Call ``fn`` ``count`` times at about ``rate``/s (as requests would), timing each call."""
    gap = 1.0 / rate
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
        time.sleep(gap)
    return sorted(samples)


def encryption_costs(public_key: Path, count: int) -> dict[str, float]:
    sealer = Sealer(load_public_key(public_key))
    payload = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    derive = per_call(sealer.derive, count)
    ephemeral, key = sealer.derive()
    head = header(1, utc_timestamp(time.time()), "masking", "0" * 64)

    def seal_line() -> None:
        line = encode_line(head, sealer.seal(ephemeral, key, payload, associated_data(head)))
        line_hash(line)

    seal = per_call(seal_line, count)
    line = encode_line(head, sealer.seal(ephemeral, key, payload, associated_data(head)))
    return {"derive": statistics.median(derive) / 1000, "seal": statistics.median(seal) / 1000,
            "payload_bytes": len(payload), "line_bytes": len(line)}


def caller_costs(work: Path, public_key: Path, count: int, rate: float) -> list[tuple[str, list[int]]]:
    rows = []
    audit = AuditLog.open(work / "record", public_key)
    audit.record("masking", PAYLOAD)  # starts the writer thread
    audit.flush(10)
    rows.append((f"`record()` paced at {rate:.0f}/s: json + enqueue (writer thread seals + appends)",
                 paced(lambda: audit.record("masking", PAYLOAD), count, rate)))
    audit.flush(60)
    rows.append((f"`record()` burst of {count} back to back (writer competing for the GIL)",
                 per_call(lambda: audit.record("masking", PAYLOAD), count)))
    audit.flush(60)
    audit.close()

    sealer = Sealer(load_public_key(public_key))
    side: queue.Queue = queue.Queue()

    def derive_in_caller() -> None:
        side.put_nowait(("masking", time.time(), json.dumps(PAYLOAD, separators=(",", ":")).encode(),
                         *sealer.derive()))

    rows.append((f"alternative, paced at {rate:.0f}/s: json + X25519/HKDF in the caller + enqueue",
                 paced(derive_in_caller, count, rate)))

    appender = Appender(ensure_directory(work / "sync"), 64 * 1024 * 1024)

    def line(item, seq, prev):
        kind, ts, payload, ephemeral, key = item
        head = header(seq, ts, kind, prev)
        return encode_line(head, sealer.seal(ephemeral, key, payload, associated_data(head)))

    def synchronous() -> None:
        item = ("masking", utc_timestamp(time.time()), json.dumps(PAYLOAD, separators=(",", ":")).encode(),
                *sealer.derive())
        appender.append([item], line)

    rows.append((f"alternative, paced at {rate:.0f}/s: synchronous encrypt + flock + tail read + append",
                 paced(synchronous, count, rate)))
    assert verify(work / "sync").ok
    return rows


def _writer(directory: str, public_key: str, count: int, barrier, results) -> None:
    audit = AuditLog.open(directory, public_key, max_segment_bytes=1024 * 1024, queue_size=count + 1)
    barrier.wait(timeout=120)
    start = time.time()
    for _ in range(count):
        audit.record("masking", PAYLOAD)
    ok = audit.flush(600)
    end = time.time()
    audit.close()
    results.put((start, end, ok, audit.dropped))


def throughput(work: Path, public_key: Path, private_key: Path, processes: int, total: int) -> dict[str, float]:
    directory = work / f"throughput-{processes}"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    children = [context.Process(target=_writer, args=(str(directory), str(public_key), total // processes,
                                                      barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=900) for _ in children]
    for child in children:
        child.join(60)
    if not all(ok and dropped == 0 for _, _, ok, dropped in outcomes):
        raise SystemExit(f"throughput run with {processes} process(es) lost records: {outcomes}")
    seconds = max(end for _, end, _, _ in outcomes) - min(start for start, _, _, _ in outcomes)
    started = time.perf_counter()
    report = verify(directory)
    chain_s = time.perf_counter() - started
    started = time.perf_counter()
    sealed = verify(directory, private_key)
    sealed_s = time.perf_counter() - started
    if not (report.ok and sealed.ok and report.count == total):
        raise SystemExit(f"verify failed after the {processes}-process run: {report.problems[:5]}")
    return {"records": total, "seconds": seconds, "rate": total / seconds, "segments": report.segments,
            "verify_rate": total / chain_s, "verify_key_rate": total / sealed_s}


def render(facts: dict[str, str], enc: dict[str, float], callers: list[tuple[str, list[int]]],
           runs: dict[int, dict[str, float]]) -> str:
    parts = ["# Audit log benchmark", ""]
    parts += [f"- **{k}**: {v}" for k, v in facts.items()]
    parts += ["", "## Encryption, per record (median)", "",
              table(["step", "µs"], [
                  ["ephemeral X25519 agreement + HKDF-SHA256 (`Sealer.derive`, before the lock)", fmt(enc["derive"])],
                  ["AES-256-GCM + JSON line + SHA-256 of the line (under the lock)", fmt(enc["seal"])],
              ]),
              "", f"Payload {enc['payload_bytes']:.0f} B of JSON; one line on disk {enc['line_bytes']:.0f} B.", "",
              "## Time spent by the caller, per record", "",
              table(["what the caller does", "p50 µs", "p99 µs", "max µs"], [
                  [label, fmt(us(percentile(s, 50))), fmt(us(percentile(s, 99))), fmt(us(s[-1]))]
                  for label, s in callers]),
              "", "## Writer throughput (one directory, rotation at 1 MiB, queue large enough: no drops)", "",
              table(["processes", "records", "seconds", "records/s", "segments", "verify records/s (chain)",
                     "verify records/s (with key)"], [
                  [str(n), f"{r['records']:.0f}", fmt(r["seconds"]), fmt(r["rate"]), f"{r['segments']:.0f}",
                   fmt(r["verify_rate"]), fmt(r["verify_key_rate"])] for n, r in sorted(runs.items())]),
              ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records (a smoke run)")
    parser.add_argument("--out", type=Path, help="Markdown report path (default bench/results/audit-latest.md)")
    parser.add_argument("--rate", type=float, default=2000.0, help="records/s for the paced caller rows")
    args = parser.parse_args(argv)
    calls, total = (500, 2000) if args.quick else (4000, 20000)
    out = args.out or RESULTS / ("audit-quick.md" if args.quick else "audit-latest.md")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        work = Path(tmp)
        private_key, public_key = generate_keypair(work / "keys")
        gc.disable()
        try:
            enc = encryption_costs(public_key, calls)
            callers = caller_costs(work, public_key, calls, args.rate)
        finally:
            gc.enable()
        runs = {n: throughput(work, public_key, private_key, n, total) for n in (1, 4)}
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    facts = {
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": ("python -m bench.audit " + shlex.join(sys.argv[1:] if argv is None else argv)).rstrip(),
        "nproc": str(os.cpu_count()),
        "CPU model": model,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "cryptography": metadata.version("cryptography"),
        "run time": f"{time.time() - started:.0f} s",
    }
    text = render(facts, enc, callers, runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
