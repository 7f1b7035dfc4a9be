"""Four real processes appending to one audit directory at once, with rotation: one chain, no loss, no duplicate."""

import multiprocessing
from collections import Counter

from llm_router_api.audit import AuditLog, generate_keypair, read_records, verify

PROCESSES = 4
PER_PROCESS = 300
MARKER = "SECRET-MARKER-c0ffee"


def writer(index: int, directory: str, public_key: str, barrier, results) -> None:
    audit = AuditLog.open(directory, public_key, max_segment_bytes=16 * 1024)
    barrier.wait(timeout=60)  # all four start appending together
    for n in range(PER_PROCESS):
        audit.record("auth", {"proc": index, "n": n, "note": MARKER})
    flushed = audit.flush(60)
    audit.close()
    results.put((index, flushed, audit.dropped))


def test_four_processes_one_chain(tmp_path):
    private_key, public_key = generate_keypair(tmp_path / "keys")
    directory = tmp_path / "audit"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=writer, args=(i, str(directory), str(public_key), barrier, results))
                 for i in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert outcomes == [(i, True, 0) for i in range(PROCESSES)]

    report = verify(directory, private_key)
    assert report.ok, report.problems
    assert report.count == PROCESSES * PER_PROCESS and not report.warnings
    assert report.segments > 5  # rotation happened while all four were writing
    records = list(read_records(directory, private_key))
    assert [r["seq"] for r in records] == list(range(1, PROCESSES * PER_PROCESS + 1))
    seen = Counter((r["data"]["proc"], r["data"]["n"]) for r in records)
    assert set(seen) == {(p, n) for p in range(PROCESSES) for n in range(PER_PROCESS)}
    assert max(seen.values()) == 1
    for index in range(PROCESSES):  # each process's records stay in its own order
        mine = [r["data"]["n"] for r in records if r["data"]["proc"] == index]
        assert mine == list(range(PER_PROCESS))
    procs_in_a_row = [r["data"]["proc"] for r in records]
    assert sum(a != b for a, b in zip(procs_in_a_row, procs_in_a_row[1:])) >= PROCESSES - 1
    for path in directory.iterdir():
        assert MARKER.encode() not in path.read_bytes()
