"""Open-loop load for the balancing benchmark: requests go out at Poisson arrival times, whatever the answers do.

A closed loop (bench/loadgen.py's ``run_closed_loop``) slows down when the server does, so it
cannot show a strategy that builds a queue. Here every request has a due time fixed in advance
(exponential gaps, a seeded RNG, so every target gets the same arrivals and the same request
shapes), is sent at that time on an idle keep-alive connection (a new one if none is idle) and
is awaited in a task of its own: a slow answer never delays the next arrival.

The connection, framing and OK check are bench/loadgen.py's (``Connection``, ``Workload``):
status 200, exactly ``max_tokens`` token events, no ``error`` event, ``[DONE]`` at the end.
TTFT runs from writing the request to the first event with a non-empty ``delta.content``.

Arrivals keep coming after the measured window while the window's requests finish (so they see
the same load until they end); once they all have, or at the bound, every request still open is
cut: it is recorded as unfinished with the time it had waited so far (a lower bound).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import Callable

from .loadgen import Connection, Outcome, Workload, connect

IDLE_REUSE_S = 2.0  # the gateway (gunicorn keepalive 5 s) closes idle connections; never reuse one near that


@dataclass(frozen=True)
class RequestShape:
    """Uniform integer ranges (inclusive) a request's prompt words and output tokens are drawn from."""

    prompt_words: tuple[int, int] = (20, 200)
    output_tokens: tuple[int, int] = (20, 60)

    @property
    def mean_prompt(self) -> float:
        return sum(self.prompt_words) / 2

    @property
    def mean_output(self) -> float:
        return sum(self.output_tokens) / 2


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the run's start
    prompt_words: int
    max_tokens: int


def poisson_arrivals(rate: float, until: float, shape: RequestShape, seed: int) -> list[Arrival]:
    """Arrivals at ``rate`` per second over [0, until), shapes drawn from the same seeded stream."""
    rng = random.Random(seed)
    arrivals, at = [], 0.0
    while True:
        at += rng.expovariate(rate)
        if at >= until:
            return arrivals
        arrivals.append(Arrival(at, rng.randint(*shape.prompt_words), rng.randint(*shape.output_tokens)))


def prompt_text(words: int) -> str:
    return " ".join(f"w{i % 97}" for i in range(words))


Router = Callable[[list[int]], int]  # outstanding requests per target -> the target to use


def round_robin(n_targets: int) -> Router:
    turn = itertools.cycle(range(n_targets))
    return lambda outstanding: next(turn)


def least_outstanding(n_targets: int) -> Router:
    """Fewest requests open from this client; ties taken in turn, so idle servers share evenly."""
    turn = itertools.count()

    def choose(outstanding: list[int]) -> int:
        least = min(outstanding)
        tied = [i for i, n in enumerate(outstanding) if n == least]
        return tied[next(turn) % len(tied)]

    return choose


@dataclass(slots=True)
class Record:
    """One request of a run; times are perf_counter seconds, ``due`` the time it should have left."""

    arrival: Arrival
    target: int
    due: float
    sent: float | None = None
    ttft: float | None = None
    end: float | None = None
    error: str | None = None
    unfinished: bool = False  # still open at the cut; ``end`` is then the cut (``sent`` None: never sent)

    @property
    def latency(self) -> float | None:
        return None if self.sent is None or self.end is None else self.end - self.sent


@dataclass
class OpenLoopResult:
    records: list[Record]
    start: float  # perf_counter of arrival time 0
    window: tuple[float, float]  # the measured window, in seconds after ``start``
    cut_after_s: float  # seconds from the window's end until the cut

    def measured(self) -> list[Record]:
        """Requests due inside the window (they may end after it)."""
        lo, hi = self.window
        return [r for r in self.records if lo <= r.arrival.at < hi]


class _Pool:
    """Idle keep-alive connections to one target, most recently used first."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[Connection, float]] = []

    async def take(self) -> Connection:
        now = time.perf_counter()
        while self._idle:
            conn, since = self._idle.pop()
            if not conn.closed and now - since < IDLE_REUSE_S:
                return conn
            conn.close()
        return await connect(self.host, self.port)

    def give_back(self, conn: Connection) -> None:
        if not conn.closed:
            self._idle.append((conn, time.perf_counter()))

    async def prefill(self, n: int) -> None:
        """Open ``n`` connections before the clock starts, so the first arrivals do not pay for connecting."""
        for conn in await asyncio.gather(*(connect(self.host, self.port) for _ in range(n))):
            self.give_back(conn)

    def close(self) -> None:
        for conn, _ in self._idle:
            conn.abort()
        self._idle.clear()


class _Run:
    """The state of one open-loop run: pools, what is open where, and every record."""

    def __init__(self, targets: list[tuple[str, int]], router: Router, model: str, arrivals: list[Arrival],
                 window: tuple[float, float]) -> None:
        self.pools = [_Pool(host, port) for host, port in targets]
        self.router = router
        self.model = model
        self.arrivals = arrivals
        self.window = window
        self.outstanding = [0] * len(targets)
        self.records: list[Record] = []
        self.open: dict[int, Connection] = {}  # record index -> its connection, while answering
        self.measured_left = sum(1 for a in arrivals if window[0] <= a.at < window[1])
        self.measured_done = asyncio.Event()
        self.cut = False
        self.start = 0.0

    async def dispatch(self) -> None:
        """Send each arrival at its due time; the request itself runs in a task of its own."""
        loop = asyncio.get_running_loop()
        tasks = set()
        try:
            for arrival in self.arrivals:
                due = self.start + arrival.at
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                target = self.router(self.outstanding)
                self.outstanding[target] += 1
                self.records.append(Record(arrival, target, due))
                task = loop.create_task(self._request(len(self.records) - 1))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.Event().wait()  # the schedule ran out: wait to be cancelled at the cut
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _request(self, index: int) -> None:
        record = self.records[index]
        arrival, pool = record.arrival, self.pools[record.target]
        try:
            conn = await pool.take()
        except OSError as exc:
            record.error, record.sent = f"connect: {type(exc).__name__}", time.perf_counter()
            record.end = record.sent
            self._finished(record)
            return
        workload = Workload(self.model, True, arrival.max_tokens, prompt_text(arrival.prompt_words))
        future = conn.send(workload.request_bytes(pool.host, pool.port), workload)
        record.sent = conn.exchange.start if conn.exchange is not None else time.perf_counter()
        self.open[index] = conn
        outcome: Outcome = await future
        self.open.pop(index, None)
        if self.cut:  # the cut already recorded this one as unfinished
            return
        record.ttft, record.end, record.error = outcome.ttft, outcome.end, outcome.error
        if outcome.error is None:
            pool.give_back(conn)
        else:
            conn.abort()
        self._finished(record)

    def _finished(self, record: Record) -> None:
        self.outstanding[record.target] -= 1
        if self.window[0] <= record.arrival.at < self.window[1]:
            self.measured_left -= 1
            if self.measured_left == 0:
                self.measured_done.set()

    def cut_open_requests(self) -> None:
        """Record every request still open as unfinished, with what it got so far, then drop its connection."""
        self.cut = True
        now = time.perf_counter()
        for index, conn in list(self.open.items()):
            record = self.records[index]
            exchange = conn.exchange
            record.ttft = exchange.ttft if exchange is not None else None
            record.end, record.unfinished = now, True
            conn.abort()
        for record in self.records:
            if record.end is None:  # never sent (still connecting): unfinished, with no time to report
                record.end, record.unfinished = now, True


async def run_open_loop(targets: list[tuple[str, int]], router: Router, model: str, arrivals: list[Arrival], *,
                        window: tuple[float, float], bound: float, connections_per_target: int) -> OpenLoopResult:
    """Send ``arrivals`` (sorted by time) to ``targets`` as ``router`` chooses, measure the window's requests.

    After the window's end the run goes on until every request due inside the window has ended,
    or ``bound`` seconds have passed; then everything still open is cut (see the module's doc).
    ``arrivals`` should reach past ``window[1] + bound`` so that the load holds until the cut.
    """
    run = _Run(targets, router, model, arrivals, window)
    await asyncio.gather(*(pool.prefill(connections_per_target) for pool in run.pools))
    run.start = time.perf_counter() + 0.05
    if run.measured_left == 0:
        run.measured_done.set()
    dispatcher = asyncio.ensure_future(run.dispatch())
    await asyncio.sleep(run.start + window[1] - time.perf_counter())
    try:
        await asyncio.wait_for(run.measured_done.wait(), bound)
    except asyncio.TimeoutError:
        pass
    cut_at = time.perf_counter()
    run.cut_open_requests()
    dispatcher.cancel()
    await asyncio.gather(dispatcher, return_exceptions=True)
    for pool in run.pools:
        pool.close()
    return OpenLoopResult(run.records, run.start, window, cut_at - (run.start + window[1]))
