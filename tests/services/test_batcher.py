"""The micro-batcher with plain scoring functions: batch bounds, the wait, failures, timeouts."""

from __future__ import annotations

import threading

import pytest

from llm_router_services.batcher import BatchError, BatchTimeout, MicroBatcher
from tests.conftest import until


class Recorder:
    """A scoring function that records its batches; ``gate`` (when set) holds it until released."""

    def __init__(self, gate: threading.Event | None = None, fail_on=None) -> None:
        self.batches: list[list] = []
        self.gate = gate
        self.fail_on = fail_on
        self.entered = threading.Event()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test never released the scoring function"
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError("model exploded")
        return [item * 10 for item in items]


@pytest.fixture
def batchers():
    made: list[MicroBatcher] = []

    def make(score, **kwargs) -> MicroBatcher:
        batcher = MicroBatcher(score, **kwargs)
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.close()


def test_results_come_back_in_item_order(batchers):
    batcher = batchers(Recorder(), max_batch_size=4, max_wait_s=0)
    assert batcher.run([3, 1, 2], timeout=5) == [30, 10, 20]
    assert batcher.run([], timeout=5) == []


def test_queued_items_of_many_requests_share_a_batch_up_to_the_maximum(batchers):
    gate = threading.Event()
    score = Recorder(gate)
    batcher = batchers(score, max_batch_size=5, max_wait_s=0)
    first = batcher.submit([0])  # occupies the thread until the gate opens
    assert score.entered.wait(5)
    futures = [batcher.submit([i, i + 100]) for i in range(1, 7)]  # 12 items queued meanwhile
    gate.set()
    assert first.result(5) == [0]
    assert [f.result(5) for f in futures] == [[i * 10, (i + 100) * 10] for i in range(1, 7)]
    sizes = [len(b) for b in score.batches]
    assert sizes == [1, 5, 5, 2], sizes  # never more than max_batch_size, queued items not left behind
    assert batcher.stats.snapshot()["batches"] == 4
    assert batcher.stats.snapshot()["largest_batch"] == 5


def test_batch_size_one_and_no_wait_is_one_call_per_item(batchers):
    score = Recorder()
    batcher = batchers(score, max_batch_size=1, max_wait_s=0)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(batcher.run([i], timeout=5))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r[0] for r in results) == [i * 10 for i in range(8)]
    assert [len(b) for b in score.batches] == [1] * 8


def test_a_lone_request_on_an_idle_batcher_does_not_wait(batchers):
    score = Recorder()
    batcher = batchers(score, max_batch_size=64, max_wait_s=30.0)
    for i in range(3):  # one request at a time: no concurrent traffic to wait for
        assert batcher.run([i, i + 1], timeout=5) == [i * 10, (i + 1) * 10]
    assert [len(b) for b in score.batches] == [2, 2, 2]


def test_with_concurrent_traffic_it_waits_for_a_full_batch(batchers):
    gate = threading.Event()
    score = Recorder(gate)
    batcher = batchers(score, max_batch_size=3, max_wait_s=30.0)  # only a full batch can end the wait in time
    first = batcher.submit([0])
    assert score.entered.wait(5)
    second, third = batcher.submit([1]), batcher.submit([2])  # two requests queued: traffic
    gate.set()
    assert first.result(5) == [0]
    fourth = batcher.submit([3])  # joins them, whether the batcher is already waiting or not
    assert [f.result(5) for f in (second, third, fourth)] == [[10], [20], [30]]
    assert score.batches == [[0], [1, 2, 3]]


def test_the_wait_is_bounded(batchers):
    gate = threading.Event()
    score = Recorder(gate)
    batcher = batchers(score, max_batch_size=64, max_wait_s=0.05)
    first = batcher.submit([0])
    assert score.entered.wait(5)
    waiting = [batcher.submit([1]), batcher.submit([2])]
    gate.set()
    # two of 64: the batch is scored when the 50 ms wait ends, well within the results' timeout
    assert [f.result(5) for f in waiting] == [[10], [20]] and first.result(5) == [0]
    assert score.batches == [[0], [1, 2]]


def test_a_failing_batch_fails_only_its_requests_and_the_batcher_goes_on(batchers):
    gate = threading.Event()
    score = Recorder(gate, fail_on=13)
    batcher = batchers(score, max_batch_size=2, max_wait_s=0)
    first = batcher.submit([1])
    assert score.entered.wait(5)
    doomed = batcher.submit([13, 2])  # one batch: [13, 2]
    fine = batcher.submit([3, 4])  # the next batch
    gate.set()
    assert first.result(5) == [10]
    with pytest.raises(BatchError, match="model exploded"):
        doomed.result(5)
    assert fine.result(5) == [30, 40]
    assert batcher.run([5], timeout=5) == [50]  # still serving
    stats = batcher.stats.snapshot()
    assert stats["failed_batches"] == 1 and stats["batches"] == 4


def test_a_request_spanning_batches_fails_whole_when_one_of_them_fails(batchers):
    score = Recorder(fail_on=13)
    batcher = batchers(score, max_batch_size=2, max_wait_s=0)
    with pytest.raises(BatchError):
        batcher.run([1, 2, 13, 4, 5, 6], timeout=5)
    until(lambda: batcher.queued == 0, what="the failed request's items dropped")
    assert batcher.run([7], timeout=5) == [70]
    assert all(6 not in b for b in score.batches)  # items after the failure were not scored


def test_wrong_number_of_results_is_a_failure(batchers):
    batcher = batchers(lambda items: items[:-1], max_batch_size=4, max_wait_s=0)
    with pytest.raises(BatchError, match="returned 1 results for 2 items"):
        batcher.run([1, 2], timeout=5)


def test_timeout_gives_up_and_skips_the_items(batchers):
    gate = threading.Event()
    score = Recorder(gate)
    batcher = batchers(score, max_batch_size=1, max_wait_s=0)
    blocker = batcher.submit([1])
    assert score.entered.wait(5)
    with pytest.raises(BatchTimeout):
        batcher.run([2, 3], timeout=0.05)
    gate.set()
    assert blocker.result(5) == [10]
    assert batcher.run([4], timeout=5) == [40]
    assert [b for b in score.batches] == [[1], [4]]  # the timed-out request's items never reached the model
    assert batcher.stats.snapshot()["timeouts"] == 1


def test_thread_starts_on_first_use_only(batchers):
    batcher = batchers(Recorder(), max_batch_size=2, max_wait_s=0)
    assert batcher._thread is None  # nothing started at construction (gunicorn's master must stay thread-free)
    batcher.run([1], timeout=5)
    assert batcher._thread is not None and batcher._thread.is_alive()


def test_close_fails_waiting_requests_and_refuses_new_ones(batchers):
    gate = threading.Event()
    score = Recorder(gate)
    batcher = batchers(score, max_batch_size=1, max_wait_s=0)
    batcher.submit([1])
    assert score.entered.wait(5)
    waiting = batcher.submit([2])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    with pytest.raises(BatchError, match="shutting down"):
        waiting.result(5)
    gate.set()
    closer.join(5)
    with pytest.raises(BatchError, match="closed"):
        batcher.submit([3])
