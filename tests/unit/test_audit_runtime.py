"""The writer in a real process: off the caller's path, bounded queue, fork, gevent, nothing at import."""

import fcntl
import logging
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_router_api.audit import AuditLog, generate_keypair, read_records, verify
from llm_router_api.audit.segments import LOCK_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = "SECRET-MARKER-91c2"


@pytest.fixture
def keys(tmp_path):
    return generate_keypair(tmp_path / "keys")


class HeldLock:
    """The directory's write lock taken by someone else (another process would do the same)."""

    def __init__(self, directory: Path) -> None:
        self.fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_flush_means_on_disk(tmp_path, keys):
    audit = AuditLog.open(tmp_path / "log", keys[1])
    for i in range(50):
        audit.record("auth", {"i": i})
        if i % 10 == 0:
            assert audit.flush(10)
            assert [r["data"]["i"] for r in read_records(tmp_path / "log", keys[0])][-1] == i
    assert audit.flush(10)
    audit.close()
    assert len(list(read_records(tmp_path / "log"))) == 50


def test_flush_times_out_while_the_lock_is_held_and_record_does_not_wait(tmp_path, keys):
    audit = AuditLog.open(tmp_path / "log", keys[1])
    held = HeldLock(tmp_path / "log")
    try:
        started = time.perf_counter()
        for i in range(100):
            audit.record("auth", {"i": i})
        assert time.perf_counter() - started < 0.5  # the writer is stuck; the callers are not
        assert not audit.flush(0.1)
    finally:
        held.release()
    assert audit.flush(10)
    audit.close()
    assert verify(tmp_path / "log").count == 100 and audit.dropped == 0


def test_a_full_queue_drops_counts_and_logs_without_content(tmp_path, keys, caplog):
    directory = tmp_path / "log"
    audit = AuditLog.open(directory, keys[1], queue_size=4)
    held = HeldLock(directory)
    caplog.set_level(logging.ERROR, logger="llm_router_api.audit")
    try:
        waits = []
        for i in range(60):
            started = time.perf_counter()
            audit.record("masking", {"i": i, "value": MARKER})
            waits.append(time.perf_counter() - started)
        # one brief wait when the queue first fills, then drops without waiting while it stays full
        assert sum(waits) < 1.0, sorted(waits)[-5:]
        assert audit.dropped > 0
    finally:
        held.release()
    assert audit.flush(10)
    audit.record("masking", {"i": 60, "value": MARKER})  # the writer caught up: accepted again
    assert audit.flush(10)
    audit.close()
    records = list(read_records(directory, keys[0]))
    written = [r["data"]["i"] for r in records if r["kind"] == "masking"]
    counts = [r["data"]["count"] for r in records if r["kind"] == "audit"]
    assert counts == [audit.dropped] and counts[0] + len(written) == 61 and written[-1] == 60
    assert records[[r["kind"] for r in records].index("audit")]["data"]["event"] == "records_dropped"
    assert verify(directory).ok
    messages = [r.getMessage() for r in caplog.records]
    assert messages and "queue is full" in messages[0] and "masking" in messages[0]
    assert not any(MARKER in m for m in messages)


def test_records_after_close_are_dropped_with_an_error(tmp_path, keys, caplog):
    audit = AuditLog.open(tmp_path / "log", keys[1])
    audit.record("auth", {"i": 0})
    audit.close()
    caplog.set_level(logging.ERROR, logger="llm_router_api.audit")
    audit.record("auth", {"i": 1, "value": MARKER})
    assert audit.dropped == 1 and "closed" in caplog.records[0].getMessage()
    assert [r["seq"] for r in read_records(tmp_path / "log")] == [1]
    audit.close()  # twice is fine


def test_a_forked_child_writes_with_its_own_writer(tmp_path, keys):
    audit = AuditLog.open(tmp_path / "log", keys[1])
    audit.record("auth", {"who": "parent", "i": 0})
    assert audit.flush(10)
    pid = os.fork()
    if pid == 0:  # the parent's writer thread does not exist here
        code = 5
        try:
            for i in range(5):
                audit.record("auth", {"who": "child", "i": i})
            code = 0 if audit.flush(10) else 3
            audit.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    audit.record("auth", {"who": "parent", "i": 1})
    assert audit.flush(10)
    audit.close()
    records = list(read_records(tmp_path / "log", keys[0]))
    assert [(r["data"]["who"], r["data"]["i"]) for r in records] == \
        [("parent", 0)] + [("child", i) for i in range(5)] + [("parent", 1)]
    assert verify(tmp_path / "log").ok


def test_importing_starts_and_registers_nothing():
    code = ("import atexit, logging, threading\n"  # logging registers its own shutdown hook
            "before = (threading.active_count(), atexit._ncallbacks())\n"
            "import llm_router_api.audit, llm_router_api.audit.cli\n"
            "print(before == (threading.active_count(), atexit._ncallbacks()))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


GEVENT_CHILD = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import sys
    import gevent
    from llm_router_api.audit import AuditLog

    audit = AuditLog.open(sys.argv[1], sys.argv[2], max_segment_bytes=4096)
    ticks = 0

    def ticker():
        global ticks
        while True:
            ticks += 1
            gevent.sleep(0.001)

    def user(u):
        for i in range(10):
            audit.record("guardrail", {"u": u, "i": i})
            gevent.sleep(0)

    gevent.spawn(ticker)
    gevent.joinall([gevent.spawn(user, u) for u in range(20)])
    before = ticks
    flushed = audit.flush(0.2)  # the parent holds the lock: the writer waits, the hub must keep running
    print("waiting", flushed, ticks - before, flush=True)
    sys.stdin.readline()  # the parent has released the lock
    print("flushed", audit.flush(10), flush=True)
    audit.close()
""")


def test_gevent_patched_writer_does_not_freeze_the_hub(tmp_path, keys):
    directory = tmp_path / "log"
    directory.mkdir(mode=0o700)
    held = HeldLock(directory)
    child = subprocess.Popen([sys.executable, "-c", GEVENT_CHILD, str(directory), str(keys[1])], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "the gevent child hung while the lock was held (a blocking flock froze its hub)"
        word, flushed, ticks = child.stdout.readline().split()
        assert (word, flushed) == ("waiting", "False") and int(ticks) > 0
        held.release()
        out, err = child.communicate("go\n", timeout=30)
        assert child.returncode == 0, err
        assert out.strip() == "flushed True"
    finally:
        held.release()
        if child.poll() is None:
            child.kill()
            child.wait()
    report = verify(directory, keys[0])
    assert report.ok and report.count == 200 and report.segments > 1
    pairs = sorted((r["data"]["u"], r["data"]["i"]) for r in read_records(directory, keys[0]))
    assert pairs == [(u, i) for u in range(20) for i in range(10)]
