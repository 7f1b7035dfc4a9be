"""Dynamic micro-batching: items of concurrent requests go through one scoring call together.

A model scores 64 windows in one forward pass much faster than in 64 (on a GPU, nearly as fast as
one), so the requests that arrive while the model is busy, or within a short wait, are served
together. One :class:`MicroBatcher` per model owns it through one background thread; request
threads only enqueue their items and wait on a future.

Torch-free on purpose: ``score`` is any callable from a list of items to a list of results of the
same length, so the batching logic is tested with plain functions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, InvalidStateError, TimeoutError as FutureTimeout
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("llm_router_services.batcher")


class BatchError(RuntimeError):
    """The batch holding some of a request's items failed; only that batch's requests see it."""


class BatchTimeout(TimeoutError):
    """A request's items were not all scored within its timeout."""


class _Job:
    """One request: its items, the results so far, and the future its thread waits on."""

    __slots__ = ("items", "results", "remaining", "future")

    def __init__(self, items: Sequence) -> None:
        self.items = items
        self.results: list = [None] * len(items)
        self.remaining = len(items)
        self.future: Future = Future()


class BatchStats:
    """Counters of one batcher (per worker process), for /health and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches = 0  # scoring calls made, failed ones included
        self.items = 0  # items scored
        self.failed_batches = 0
        self.timeouts = 0  # requests that gave up waiting
        self.requests = 0
        self.sizes: Counter = Counter()  # batch size -> how many batches had it

    def batch(self, size: int, ok: bool) -> None:
        with self._lock:
            self.batches += 1
            self.items += size
            self.sizes[size] += 1
            if not ok:
                self.failed_batches += 1

    def count(self, field: str) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + 1)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "batches": self.batches,
                "items_scored": self.items,
                "largest_batch": max(self.sizes, default=0),
                "mean_batch": round(self.items / self.batches, 2) if self.batches else 0.0,
                "failed_batches": self.failed_batches,
                "timeouts": self.timeouts,
                "batch_sizes": {str(size): n for size, n in sorted(self.sizes.items())},
            }


class MicroBatcher(Generic[T, R]):
    """Collects items from many threads and scores them in batches of at most ``max_batch_size``.

    The background thread takes what is queued; when that is less than a full batch it waits up to
    ``max_wait_s`` (counted from when it saw the first item) for more, but only when there is
    concurrent traffic to wait for: more than one request queued, or more than one in the previous
    batch. A lone request on an idle service is not delayed. With ``max_batch_size=1``
    and ``max_wait_s=0`` every item gets a scoring call of its own. A request's items may span
    several batches (a long text has many windows); its future completes when the last is scored.
    """

    def __init__(self, score: Callable[[list[T]], Sequence[R]], *, max_batch_size: int = 64,
                 max_wait_s: float = 0.002, name: str = "batcher",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        self._score = score
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[_Job, int]] = deque()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._closed = False
        self._last_jobs = 0  # requests in the previous batch: more than one means concurrent traffic
        self.stats = BatchStats()

    # --- request side -------------------------------------------------------------------------

    def run(self, items: Sequence[T], timeout: float) -> list[R]:
        """Score ``items`` (in any batches), wait at most ``timeout`` seconds; results in item order."""
        if not items:
            return []
        future = self.submit(items)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()  # its items still queued are skipped
            self.stats.count("timeouts")
            raise BatchTimeout(f"not scored within {timeout:g} s") from None

    def submit(self, items: Sequence[T]) -> Future:
        job = _Job(list(items))
        self.stats.count("requests")
        if not job.items:
            job.future.set_result([])
            return job.future
        with self._cond:
            if self._closed:
                raise BatchError(f"{self.name} is closed")
            self._ensure_thread()
            self._queue.extend((job, i) for i in range(len(job.items)))
            self._cond.notify()
        return job.future

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; requests still queued fail."""
        with self._cond:
            self._closed = True
            pending = {id(job): job for job, _ in self._queue}
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        for job in pending.values():
            _fail(job, BatchError(f"{self.name} is shutting down"))
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        """Start the thread on first use in this process (called with the lock held).

        Never at import or in gunicorn's master: a thread does not survive a fork, so a forked
        worker that inherited a started batcher starts its own.
        """
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    # --- batcher thread -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run_batch(batch)

    def _next_batch(self) -> list[tuple[_Job, int]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            if self.max_wait_s > 0 and (self._last_jobs > 1 or len({id(job) for job, _ in self._queue}) > 1):
                deadline = self._clock() + self.max_wait_s
                while len(self._queue) < self.max_batch_size and not self._closed:
                    left = deadline - self._clock()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            batch: list[tuple[_Job, int]] = []
            while self._queue and len(batch) < self.max_batch_size:
                job, index = self._queue.popleft()
                if not job.future.done():  # failed or given up: skip its remaining items
                    batch.append((job, index))
            self._last_jobs = len({id(job) for job, _ in batch})
            return batch

    def _run_batch(self, batch: list[tuple[_Job, int]]) -> None:
        try:
            results = self._score([job.items[index] for job, index in batch])
            if len(results) != len(batch):
                raise BatchError(f"scoring returned {len(results)} results for {len(batch)} items")
        except Exception as exc:  # the batch fails, the batcher goes on
            self.stats.batch(len(batch), ok=False)
            log.error("%s: a batch of %d failed: %s: %s", self.name, len(batch), type(exc).__name__, exc)
            error = exc if isinstance(exc, BatchError) else BatchError(f"{type(exc).__name__}: {exc}")
            for job in {id(job): job for job, _ in batch}.values():
                _fail(job, error)
            return
        self.stats.batch(len(batch), ok=True)
        for (job, index), result in zip(batch, results):
            job.results[index] = result
            job.remaining -= 1
            if job.remaining == 0:
                try:
                    job.future.set_result(job.results)
                except InvalidStateError:  # cancelled by its timeout meanwhile
                    pass


def _fail(job: _Job, error: BaseException) -> None:
    try:
        job.future.set_exception(error)
    except InvalidStateError:
        pass
