"""Per-key rate limits (llm_router_api/auth/limits.py): the local limiter on a clock moved by hand,
the Redis limiter on a real Redis (DB 9, a prefix of each test's own), and the fallback between them."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import random
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from llm_router_api.auth import limit_scripts
from llm_router_api.auth.limits import Decision, Limits, LocalLimiter, RateLimiter, period_of
from tests.upstreams import closed_port

LOGGER = "llm_router_api.auth.limits"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def utc(*args) -> float:
    return float(calendar.timegm(dt.datetime(*args).timetuple()))


def poll_until_allowed(limiter: RateLimiter, key_id: str, limits: Limits, timeout: float = 5.0) -> Decision:
    """Ask again until the limiter lets the request through (a condition, not a sleep), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        decision = limiter.admit(key_id, limits)
        if decision.allowed:
            return decision
        assert time.monotonic() < deadline, f"still refused after {timeout}s: {decision}"
        time.sleep(0.01)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def local(clock):
    return RateLimiter(None, clock=clock)


@pytest.fixture
def shared(redis_space):
    """A limiter on the test Redis (60 s window) and the raw client to look at its keys."""
    return RateLimiter(redis_space.client(), prefix=redis_space.prefix)


@pytest.fixture
def fast_shared(redis_space):
    """As ``shared``, with a one-second window, so sliding can be seen in real time."""
    return RateLimiter(redis_space.client(), prefix=redis_space.prefix, window_seconds=1.0)


@pytest.fixture(params=["local", "redis"])
def limiter(request, clock):
    if request.param == "local":
        return RateLimiter(None, clock=clock)
    space = request.getfixturevalue("redis_space")
    return RateLimiter(space.client(), prefix=space.prefix)


# --- the limits' shape ---

def test_limits_validate_their_values():
    Limits(requests_per_minute=0, tokens_per_minute=None, token_budget=5, budget_period="week")
    with pytest.raises(ValueError):
        Limits(requests_per_minute=-1)
    with pytest.raises(ValueError):
        Limits(tokens_per_minute=1.5)
    with pytest.raises(ValueError):
        Limits(token_budget=10, budget_period="year")


def test_no_limits_always_allows_without_headers(limiter):
    for limits in (Limits(), Limits(requests_per_minute=0, tokens_per_minute=0, token_budget=0)):
        for _ in range(5):
            decision = limiter.admit("k", limits)
            assert decision.allowed and decision.reason is None and decision.limit is None
            assert decision.remaining is None and decision.retry_after is None


# --- requests per minute, on both backends ---

def test_fourth_request_refused_per_key_and_refusals_not_counted(limiter):
    limits = Limits(requests_per_minute=3)
    remaining = [limiter.admit("key-a", limits).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    for _ in range(5):
        refused = limiter.admit("key-a", limits)
        assert not refused.allowed
        assert refused.reason == "requests_per_minute"
        assert refused.limit == 3 and refused.remaining == 0
        assert 1 <= refused.retry_after <= 60
        assert 0 < refused.reset_seconds <= 60
    other = limiter.admit("key-b", limits)
    assert other.allowed and other.remaining == 2  # its own bucket, not a shared prefix bucket
    assert limiter.usage("key-a", limits)["requests"] == 3  # the five refusals were not counted
    assert limiter.usage("key-b", limits)["requests"] == 1


def test_allowed_decision_carries_the_header_values(limiter):
    decision = limiter.admit("k", Limits(requests_per_minute=10))
    assert decision == Decision(True, None, 10, 9, 60.0, None)


def test_local_window_slides(local, clock):
    limits = Limits(requests_per_minute=3)
    for _ in range(3):
        assert local.admit("a", limits).allowed
        clock.advance(10)  # requests at t, t+10, t+20
    refused = local.admit("a", limits)  # at t+30: the first leaves at t+60
    assert not refused.allowed and refused.retry_after == 30 and refused.reset_seconds == pytest.approx(30)
    clock.advance(29.5)
    assert local.admit("a", limits).retry_after == 1  # 0.5 s rounds up, never 0
    clock.advance(0.5)
    assert local.admit("a", limits).allowed  # t+60: the first left the window
    again = local.admit("a", limits)
    assert not again.allowed and again.retry_after == 10  # next: the one from t+10


def test_local_lowered_limit_waits_for_enough_requests_to_leave(local, clock):
    for _ in range(4):
        assert local.admit("a", Limits(requests_per_minute=4)).allowed
        clock.advance(5)  # at t, t+5, t+10, t+15; now t+20
    refused = local.admit("a", Limits(requests_per_minute=2))
    assert refused.retry_after == 50  # two must leave: the second one (t+5) leaves at t+65


def test_redis_window_slides(fast_shared):
    limits = Limits(requests_per_minute=3)
    started = time.monotonic()
    for _ in range(3):
        assert fast_shared.admit("a", limits).allowed
    refused = fast_shared.admit("a", limits)
    assert not refused.allowed and refused.retry_after == 1 and 0 < refused.reset_seconds <= 1.0
    poll_until_allowed(fast_shared, "a", limits)
    # Not before the first request left its one-second window (Redis's clock, same machine).
    assert time.monotonic() - started >= 0.95
    assert fast_shared.backend == "redis"


def test_redis_refused_requests_leave_the_set_unchanged(shared, redis_space):
    limits = Limits(requests_per_minute=3)
    for _ in range(10):
        shared.admit("a", limits)
    client = redis_space.client()
    key = "{" + redis_space.prefix + "}:rl:req:a"
    assert client.zcard(key) == 3
    assert 0 < client.pttl(key) <= 61_000  # an idle key vanishes


# --- tokens per minute ---

def test_tokens_per_minute_refuses_after_charge(limiter):
    limits = Limits(tokens_per_minute=100)
    assert limiter.admit("a", limits).allowed
    limiter.charge("a", limits, 60)
    assert limiter.admit("a", limits).allowed  # 60 < 100
    limiter.charge("a", limits, 50)
    refused = limiter.admit("a", limits)
    assert not refused.allowed and refused.reason == "tokens_per_minute"
    assert 1 <= refused.retry_after <= 60
    assert refused.limit is None and refused.remaining is None  # no request limit for the headers
    assert limiter.admit("b", limits).allowed
    assert limiter.usage("a", limits)["tokens"] == 110


def test_tokens_refusal_is_reported_with_the_request_limit(limiter):
    limits = Limits(requests_per_minute=10, tokens_per_minute=5)
    assert limiter.admit("a", limits).allowed
    limiter.charge("a", limits, 5)
    refused = limiter.admit("a", limits)
    assert (refused.allowed, refused.reason, refused.limit, refused.remaining) == \
        (False, "tokens_per_minute", 10, 0)
    assert limiter.usage("a", limits)["requests"] == 1  # a refusal for tokens is not counted either


def test_local_token_window_waits_for_enough_charges_to_leave(local, clock):
    limits = Limits(tokens_per_minute=100)
    for tokens in (30, 30, 60):  # at t, t+10, t+20: 120 in the window
        local.charge("a", limits, tokens)
        clock.advance(10)
    # now t+30; 120 >= 100 until 21 have left: the first charge (30) leaves at t+60
    assert local.admit("a", limits).retry_after == 30
    clock.advance(30)
    assert local.admit("a", limits).allowed  # 90 left in the window
    local.charge("a", limits, 20)  # 110: the second (30) leaves at t+70 -> 80
    assert local.admit("a", limits).retry_after == 10
    clock.advance(10)
    assert local.admit("a", limits).allowed
    assert local.usage("a", limits)["tokens"] == 80


def test_redis_token_window_slides(fast_shared):
    limits = Limits(tokens_per_minute=100)
    started = time.monotonic()
    fast_shared.charge("a", limits, 150)
    refused = fast_shared.admit("a", limits)
    assert refused.reason == "tokens_per_minute" and refused.retry_after == 1
    poll_until_allowed(fast_shared, "a", limits)
    assert time.monotonic() - started >= 0.95
    assert fast_shared.usage("a", limits)["tokens"] == 0


def test_redis_token_sum_is_rebuilt_when_lost(shared, redis_space):
    limits = Limits(tokens_per_minute=100)
    shared.charge("a", limits, 40)
    shared.charge("a", limits, 70)
    redis_space.client().delete("{" + redis_space.prefix + "}:rl:toksum:a")  # as an eviction would
    assert shared.usage("a", limits)["tokens"] == 110
    assert shared.admit("a", limits).reason == "tokens_per_minute"


def test_charge_is_a_noop_without_tokens_or_token_limits(limiter, redis_space):
    limiter.charge("a", Limits(requests_per_minute=5), 100)  # no token limit: nothing to count
    limiter.charge("a", Limits(tokens_per_minute=5, token_budget=5), 0)
    limiter.charge("a", Limits(tokens_per_minute=5, token_budget=5), -3)
    usage = limiter.usage("a", Limits(tokens_per_minute=5, token_budget=5))
    assert (usage["tokens"], usage["budget_used"]) == (0, 0)
    if limiter.backend == "redis":
        assert redis_space.keys() == []


# --- budget per period ---

def test_budget_refuses_until_the_period_ends(limiter, clock):
    limits = Limits(token_budget=1000, budget_period="day")
    limiter.charge("a", limits, 999)
    assert limiter.admit("a", limits).allowed
    limiter.charge("a", limits, 1)
    refused = limiter.admit("a", limits)
    assert not refused.allowed and refused.reason == "token_budget"
    assert 1 <= refused.retry_after <= 86400
    assert limiter.admit("b", limits).allowed
    usage = limiter.usage("a", limits)
    assert usage["budget_used"] == 1000
    assert usage["period"] == period_of(clock.now if limiter.backend == "local" else time.time(), "day")[0]


def test_budget_rolls_over_at_the_month_boundary(clock):
    clock.now = utc(2026, 1, 31, 23, 59, 0)
    limiter = RateLimiter(None, clock=clock)
    limits = Limits(token_budget=500, budget_period="month")
    limiter.charge("a", limits, 800)  # an answer bigger than what was left
    refused = limiter.admit("a", limits)
    assert refused.reason == "token_budget" and refused.retry_after == 60
    assert limiter.usage("a", limits) | {"backend": None} == \
        {"requests": 0, "tokens": 0, "budget_used": 800, "period": "2026-01", "backend": None}
    clock.advance(59.5)
    assert limiter.admit("a", limits).retry_after == 1
    clock.advance(0.5)  # 2026-02-01T00:00:00Z
    assert limiter.admit("a", limits).allowed
    assert limiter.usage("a", limits)["period"] == "2026-02"
    assert limiter.usage("a", limits)["budget_used"] == 0


def test_budget_week_starts_on_monday_utc(clock):
    clock.now = utc(2026, 12, 6, 23, 0, 0)  # a Sunday
    limiter = RateLimiter(None, clock=clock)
    limits = Limits(token_budget=10, budget_period="week")
    limiter.charge("a", limits, 10)
    assert limiter.usage("a", limits)["period"] == "W2026-11-30"
    assert limiter.admit("a", limits).retry_after == 3600
    clock.advance(3600)
    assert limiter.admit("a", limits).allowed
    assert limiter.usage("a", limits)["period"] == "W2026-12-07"


def test_redis_budget_counter_is_per_period_and_expires(shared, redis_space):
    limits = Limits(token_budget=100, budget_period="month")
    shared.charge("a", limits, 30)
    client = redis_space.client()
    seconds, micros = client.time()
    label, ends = period_of(seconds + micros / 1e6, "month")
    key = "{" + redis_space.prefix + "}:rl:budget:a:" + label
    assert client.get(key) == b"30"
    ttl = client.pttl(key) / 1000
    assert ends - seconds < ttl <= ends - seconds + 86400 + 1  # gone a day after the period ends


@pytest.mark.parametrize("kind", ["day", "week", "month"])
def test_lua_calendar_agrees_with_python(redis_space, kind):
    """The script's period arithmetic against the datetime-based twin, boundaries and random times."""
    probe = redis_space.client().register_script(
        limit_scripts.CALENDAR + "local l, e = period(tonumber(ARGV[1]), ARGV[2]) return {l, e}")
    moments = [utc(1970, 1, 1), utc(2000, 2, 28, 23, 59, 59), utc(2000, 2, 29), utc(2000, 3, 1),
               utc(2024, 2, 29, 12), utc(2025, 12, 31, 23, 59, 59), utc(2026, 1, 1), utc(2026, 12, 7),
               utc(2026, 12, 6, 23, 59, 59), utc(2100, 2, 28, 23, 59, 59), utc(2100, 3, 1), utc(2400, 2, 29)]
    rng = random.Random(7)
    moments += [rng.uniform(0, utc(2200, 1, 1)) for _ in range(300)]
    for moment in moments:
        ms = int(moment * 1000)
        label, ends = probe(args=[ms, kind])
        expected_label, expected_end = period_of(ms / 1000, kind)
        assert (label.decode(), ends) == (expected_label, int(expected_end * 1000)), dt.datetime.utcfromtimestamp(
            moment)


# --- the local limiter on its own ---

def test_local_limiter_is_thread_safe(clock):
    limiter = LocalLimiter(clock=clock)
    limits = Limits(requests_per_minute=100)
    allowed = []
    start = threading.Barrier(8)

    def hammer():
        start.wait()
        allowed.append(sum(limiter.admit("a", limits).allowed for _ in range(50)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100


def test_local_limiter_forgets_idle_keys(clock):
    limiter = LocalLimiter(clock=clock)
    limits = Limits(requests_per_minute=5, token_budget=100)
    for i in range(100):
        limiter.admit(f"idle-{i}", Limits(requests_per_minute=5))
    limiter.charge("spender", limits, 10)
    clock.advance(61)
    limiter.admit("fresh", limits)  # the first call after a window sweeps
    assert set(limiter._keys) == {"spender", "fresh"}  # the budget of this month is kept
    assert limiter.usage("spender", limits)["budget_used"] == 10


# --- Redis down: per-process limits, one warning ---

def test_redis_down_falls_back_to_local_with_one_warning(clock, caplog):
    down = redis.Redis(host="127.0.0.1", port=closed_port(), socket_timeout=0.2, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    limiter = RateLimiter(down, clock=clock, retry_seconds=2.0)
    limits = Limits(requests_per_minute=3, tokens_per_minute=1000)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        decisions = [limiter.admit("a", limits) for _ in range(3)]
        clock.advance(2.5)  # Redis is tried again, fails again: still the same outage
        decisions.append(limiter.admit("a", limits))
        limiter.charge("a", limits, 10)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[3].reason == "requests_per_minute"
    assert limiter.backend == "local"
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "per process" in warnings[0].getMessage()
    assert limiter.usage("a", limits)["tokens"] == 10


def test_limits_are_shared_again_when_redis_is_back(private_redis, clock, caplog):
    client = redis.Redis(host="127.0.0.1", port=private_redis.port, socket_timeout=0.5,
                         socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1))
    limiter = RateLimiter(client, prefix="test-rl-back", clock=clock, retry_seconds=2.0)
    limits = Limits(requests_per_minute=10)
    assert limiter.admit("a", limits).remaining == 9 and limiter.backend == "redis"
    private_redis.stop()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert limiter.admit("a", limits).remaining == 9  # the local count starts afresh
        assert limiter.backend == "local"
        private_redis.start()  # a new, empty server
        assert limiter.admit("a", limits).remaining == 8  # not due for a retry yet: local
        clock.advance(2.0)
        assert limiter.admit("a", limits).remaining == 9  # Redis again
    assert limiter.backend == "redis"
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2 and "shared again" in messages[1]


def test_during_an_outage_one_request_at_a_time_tries_redis(clock, caplog):
    """A Redis that accepts connections and never answers: each try costs a socket timeout. When a
    retry is due, one of many concurrent requests pays it; the others are decided locally at once."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes the handshakes; nothing ever reads or answers
    timeout = 0.3
    client = redis.Redis(host="127.0.0.1", port=silent.getsockname()[1], socket_timeout=timeout,
                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    limiter = RateLimiter(client, clock=clock, retry_seconds=2.0)
    limits = Limits(requests_per_minute=100)
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert limiter.admit("a", limits).allowed  # pays the timeout, then decides locally
            clock.advance(2.0)  # a retry is due
            start = threading.Barrier(8)
            took: list[float] = []

            def request():
                start.wait()
                began = time.monotonic()
                assert limiter.admit("a", limits).allowed
                took.append(time.monotonic() - began)

            threads = [threading.Thread(target=request) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert len(took) == 8
        assert sum(seconds >= timeout * 0.8 for seconds in took) == 1, took
        assert len([r for r in caplog.records if r.name == LOGGER]) == 1
        assert limiter.usage("a", limits)["requests"] == 9  # local counts (usage is not due for Redis either)
    finally:
        client.close()
        silent.close()


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import sys, gevent, redis
from llm_router_api.auth.limits import Limits, RateLimiter
host, port, db, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
limits = Limits(requests_per_minute=20)
for limiter in (RateLimiter(redis.Redis(host=host, port=port, db=db), prefix=prefix), RateLimiter(None)):
    jobs = [gevent.spawn(limiter.admit, "g", limits) for _ in range(60)]
    gevent.joinall(jobs, timeout=20, raise_error=True)
    print(limiter.backend, sum(job.value.allowed for job in jobs))
"""


def test_under_gevent(redis_space):
    """Greenlets of one gevent worker (monkey-patched locks and sockets) share the counts."""
    done = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT, redis_space.host, str(redis_space.port),
                           str(redis_space.db), redis_space.prefix], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["redis", "20", "local", "20"]
