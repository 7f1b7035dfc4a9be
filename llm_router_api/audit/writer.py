"""``AuditLog``: what the gateway calls. ``record()`` only serialises and enqueues; a thread writes.

Where the work happens (bench/results/audit-latest.md): ``record()`` snapshots the data
(``json.dumps``, so later changes to the caller's dict do not leak in, and a non-serialisable value
fails in the caller) and puts it on a bounded queue: p50 17 µs / p99 67 µs per call at 2000 calls/s.
The writer thread drains the queue in batches; per record it makes the ephemeral X25519 key and
HKDF key (60 µs) before taking the lock, then under one ``flock`` per batch seals (AES-GCM with the
header as associated data, 13 µs with the line's hash: ``seq`` and ``prev`` are only known under
the lock) and appends. The key agreement in the caller measured p50 75 / p99 194 µs per call, a
synchronous encrypt + locked append 165 / 307 µs: the CPU is the same, so it stays off the request.

Queue full (the disk or the lock stalled for long: 10000 records is seconds of peak traffic):
``record()`` waits up to 50 ms for room, then drops the record, counts it (:attr:`AuditLog.dropped`),
logs an error naming only the kind, and the writer puts the count in the log itself as a record of
kind ``audit`` (``{"event": "records_dropped", "count": N}``), so a loss is never silent and never
hidden from the log's readers. While the queue stays full after a drop, later calls drop without
waiting, so a stalled disk costs each request at most one short wait, not a queue of stalled requests.
Blocking until there is room was rejected: it turns a slow disk into a gateway outage.

Threads, queues and conditions are made from the ``threading``/``queue`` module attributes when a
process first records, never at import: under gevent's monkey-patching they are greenlets and green
primitives, and a forked gunicorn worker makes its own (the parent's thread does not survive fork).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import weakref
from pathlib import Path

from .chain import associated_data, check_kind, encode_line, header, utc_timestamp
from .crypto import Sealer, load_public_key
from .errors import AuditError
from .segments import Appender, ensure_directory

log = logging.getLogger(__name__)

MAX_BATCH = 256  # records per lock acquisition: bounds how long one process holds the others off
YIELD_EVERY = 16  # key agreements between yields (gevent: let the requests' greenlets run)
FULL_WAIT_SECONDS = 0.05
DROP_LOG_INTERVAL = 10.0
_STOP = object()


class _ProcessState:
    """Queue, counters and writer thread of one process."""

    def __init__(self, queue_size: int) -> None:
        self.pid = os.getpid()
        self.queue = queue.Queue(queue_size)
        self.cond = threading.Condition()
        self.submitted = 0  # records offered to the queue (counted before the put, so flush() waits for them)
        self.settled = 0  # written, dropped on a full queue, or given up
        self.lost = 0  # given up after write errors at close, or a writer bug
        self.dropped_pending = 0  # dropped and not yet counted in the log
        self.stalled = False  # a record was dropped and the writer has not written since
        self.abandon = False  # close() timed out: stop retrying failed writes
        self.thread: threading.Thread | None = None


class AuditLog:
    """An append-only, encrypted, hash-chained log shared by every worker process writing to one directory."""

    def __init__(self, directory: Path, sealer: Sealer, *, max_segment_bytes: int, queue_size: int) -> None:
        self.directory = directory
        self._sealer = sealer
        self._appender = Appender(directory, max_segment_bytes)
        self._queue_size = queue_size
        self._state: _ProcessState | None = None
        self._state_lock = threading.Lock()  # held only for an assignment: safe even from greenlets
        self._closed = False
        self._dropped = 0
        self._last_drop_log = float("-inf")

    @classmethod
    def open(cls, directory: str | os.PathLike, public_key_path: str | os.PathLike, *,
             max_segment_bytes: int = 64 * 1024 * 1024, queue_size: int = 10000) -> "AuditLog":
        """Check the key and the directory now (AuditError); start the writer on the first record."""
        if not isinstance(max_segment_bytes, int) or max_segment_bytes < 1:
            raise AuditError("audit max_segment_bytes must be a positive integer")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise AuditError("audit queue_size must be a positive integer")
        sealer = Sealer(load_public_key(public_key_path))
        audit_log = cls(ensure_directory(directory), sealer, max_segment_bytes=max_segment_bytes,
                        queue_size=queue_size)
        atexit.register(_close_at_exit, weakref.ref(audit_log))
        return audit_log

    @property
    def dropped(self) -> int:
        """Records this process dropped (queue full, or recorded after close)."""
        return self._dropped

    def record(self, kind: str, data: dict) -> None:
        """Queue one record; returns at once. ``kind`` is stored in clear, ``data`` (JSON) only encrypted."""
        check_kind(kind)
        item = (kind, time.time(), json.dumps(data, separators=(",", ":")).encode("ascii"))
        if self._closed:
            self._drop(None, kind)
            return
        state = self._process_state()
        with state.cond:
            state.submitted += 1
        try:
            state.queue.put_nowait(item)
            return
        except queue.Full:
            pass
        if not state.stalled:
            try:
                state.queue.put(item, timeout=FULL_WAIT_SECONDS)
                return
            except queue.Full:
                state.stalled = True
        self._drop(state, kind)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far by this process is written; False on timeout or loss."""
        state = self._state
        if state is None or state.pid != os.getpid():
            return True
        with state.cond:
            target, lost = state.submitted, state.lost
            done = state.cond.wait_for(lambda: state.settled >= target, timeout)
            return done and state.lost == lost

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout``), stop the writer, fsync. Later records are dropped with an error."""
        if self._closed:
            return
        self._closed = True
        state = self._state
        if state is None or state.pid != os.getpid():
            return
        if not self.flush(timeout):
            state.abandon = True
            with state.cond:
                unwritten = state.submitted - state.settled
            log.error("audit log %s: closing with %d record(s) not yet written", self.directory, unwritten)
        try:
            state.queue.put(_STOP, timeout=1.0)
        except queue.Full:
            return
        thread = state.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        try:
            self._appender.sync()
        except OSError as exc:
            log.error("audit log %s: fsync failed: %s", self.directory, exc.strerror or exc)

    # -- inside -------------------------------------------------------------------------------------

    def _process_state(self) -> _ProcessState:
        pid = os.getpid()
        state = self._state
        if state is not None and state.pid == pid:
            return state
        fresh = _ProcessState(self._queue_size)
        with self._state_lock:
            state = self._state
            if state is None or state.pid != pid:
                self._state = state = fresh
        if state is fresh:
            fresh.thread = threading.Thread(target=self._run, args=(fresh,), name="llm-router-audit", daemon=True)
            fresh.thread.start()
        return state

    def _drop(self, state: _ProcessState | None, kind: str) -> None:
        with self._state_lock:
            self._dropped += 1
        if state is not None:
            with state.cond:
                state.settled += 1
                state.dropped_pending += 1
                state.cond.notify_all()
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            why = "the log is closed" if state is None else f"the queue is full ({self._queue_size} records)"
            log.error("audit log %s: dropped a record of kind %s because %s; %d dropped in this process so far "
                      "(counted in the log by a record of kind 'audit')", self.directory, kind, why, self._dropped)

    def _run(self, state: _ProcessState) -> None:
        while True:
            items = [state.queue.get()]
            while len(items) < MAX_BATCH:
                try:
                    items.append(state.queue.get_nowait())
                except queue.Empty:
                    break
            records = [item for item in items if item is not _STOP]
            try:
                self._write(state, records)
            except Exception:  # a bug must be seen, and must not stop the writer
                log.exception("audit log %s: writer failed, %d record(s) lost", self.directory, len(records))
                self._settle(state, len(records), lost=True)
            if len(records) != len(items):
                return

    def _write(self, state: _ProcessState, records: list[tuple[str, float, bytes]]) -> None:
        with state.cond:
            dropped, state.dropped_pending = state.dropped_pending, 0
        batch = list(records)
        if dropped:
            batch.append(("audit", time.time(),
                          json.dumps({"event": "records_dropped", "count": dropped, "reason": "queue full",
                                      "pid": state.pid}).encode("ascii")))
        if not batch:
            return
        prepared = []
        for n, (kind, at, payload) in enumerate(batch):
            prepared.append((kind, utc_timestamp(at), payload, *self._sealer.derive()))
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                time.sleep(0)
        delay = 0.05
        while True:
            try:
                self._appender.append(prepared, self._line)
                break
            except OSError as exc:
                if state.abandon:
                    log.error("audit log %s: cannot append (%s); gave up on %d record(s) at close",
                              self.directory, exc.strerror or exc, len(records))
                    self._settle(state, len(records), lost=True)
                    return
                log.error("audit log %s: cannot append (%s); retrying in %.2f s", self.directory,
                          exc.strerror or exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._settle(state, len(records))

    def _settle(self, state: _ProcessState, count: int, *, lost: bool = False) -> None:
        with state.cond:
            state.settled += count
            if lost:
                state.lost += count
            else:
                state.stalled = False
            state.cond.notify_all()

    def _line(self, item: tuple, seq: int, prev: str) -> bytes:
        kind, ts, payload, ephemeral, key = item
        head = header(seq, ts, kind, prev)
        return encode_line(head, self._sealer.seal(ephemeral, key, payload, associated_data(head)))


def _close_at_exit(ref: "weakref.ref[AuditLog]") -> None:
    audit_log = ref()
    if audit_log is not None:
        audit_log.close(timeout=5.0)
