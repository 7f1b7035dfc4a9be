"""Balancer, strategies and slot pools, each rule run against both pools: per process and real Redis."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import redis

from llm_router_api.balancing import Balancer, Outcome, ProviderStates, Refusal, build_strategy
from llm_router_api.balancing.fallback import FallbackSlots
from llm_router_api.balancing.redis_slots import KeySpace, RedisSlots
from llm_router_api.balancing.renewer import LeaseRenewer
from llm_router_api.balancing.slots import UNLIMITED, Candidate, LocalSlots, Pick, SlotRequest, choose
from llm_router_api.balancing.wakeups import RedisWakeups, WaitRoom
from llm_router_api.config.models import ModelConfig, ProviderConfig
from tests.conftest import until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def model(*providers, sleeping=(), name="m"):
    return ModelConfig(name=name, group="g", providers=tuple(providers), providers_sleep=tuple(sleeping))


def p(pid, host=None, **kw):
    return ProviderConfig(id=pid, api_host=f"http://{host or pid}:8000/", **kw)


@pytest.fixture(params=["local", "redis"])
def make_balancer(request):
    """Factory of balancers over the parametrised pool; Redis ones get this test's own key prefix."""
    made = []

    def make(strategy="balanced", *, clock=None, failures=3, cooldown=10.0, ttl=30.0):
        clock = clock or Clock()
        states = ProviderStates(failures_to_eject=failures, cooldown=cooldown, clock=clock)
        room = WaitRoom()
        local = LocalSlots(time.monotonic, on_release=room.notify)
        if request.param == "local":
            balancer = Balancer(build_strategy(strategy), states, local, room, clock=time.monotonic)
        else:
            space = request.getfixturevalue("redis_space")
            client = space.client()
            shared = RedisSlots(client, KeySpace(space.prefix), ttl)
            slots = FallbackSlots(shared, local, retry_seconds=2.0, clock=time.monotonic)
            renewer = LeaseRenewer(shared, ttl)
            wakeups = RedisWakeups(client, KeySpace(space.prefix).released_channel, room, 0.5)
            balancer = Balancer(build_strategy(strategy), states, slots, room, renewer=renewer, wakeups=wakeups,
                                clock=time.monotonic)
        made.append(balancer)
        return balancer

    make.kind = request.param
    yield make
    for balancer in made:
        for part in (balancer.renewer, balancer.wakeups):
            if part is not None:
                part.thread.stop()


def picks(b, m, n) -> Counter:
    """Provider ids chosen for ``n`` sequential requests."""
    chosen = Counter()
    for _ in range(n):
        lease = b.acquire(m)
        chosen[lease.provider.id] += 1
        lease.release(Outcome.SUCCESS)
    return chosen


def ids(leases):
    return [lease.provider.id for lease in leases]


def test_weighted_three_to_one_is_exact(make_balancer):
    b = make_balancer("weighted")
    assert picks(b, model(p("a", weight=3), p("b", weight=1)), 400) == {"a": 300, "b": 100}


def test_weights_are_not_clamped(make_balancer):
    b = make_balancer("weighted")
    assert picks(b, model(p("a", weight=30), p("b", weight=10), p("c", weight=0)), 40) == {"a": 30, "b": 10}


def test_balanced_gives_equal_shares_and_skips_a_full_provider(make_balancer):
    b = make_balancer("balanced")
    m = model(p("a"), p("b", max_concurrency=1), p("c"))
    assert picks(b, m, 30) == {"a": 10, "b": 10, "c": 10}
    held = [b.acquire(m) for _ in range(3)]
    assert sorted(ids(held)) == ["a", "b", "c"]
    assert "b" not in ids(b.acquire(m) for _ in range(4))


def test_max_concurrency_is_never_exceeded_and_sleep_providers_overflow(make_balancer):
    b = make_balancer("first_available")
    m = model(p("a", max_concurrency=2), sleeping=[p("z", max_concurrency=1)])
    leases = [b.acquire(m) for _ in range(3)]
    assert ids(leases) == ["a", "a", "z"]
    assert b.acquire(m) is Refusal.BUSY
    leases[0].release(Outcome.SUCCESS)
    assert b.acquire(m).provider.id == "a"


def test_excluded_providers_are_skipped(make_balancer):
    b = make_balancer()
    m = model(p("a"), p("b"))
    assert b.acquire(m, exclude={"a"}).provider.id == "b"
    assert b.acquire(m, exclude={"a", "b"}) is Refusal.UNAVAILABLE


def test_first_available_fills_in_config_order(make_balancer):
    b = make_balancer("first_available")
    m = model(p("a", max_concurrency=2), p("b", max_concurrency=2), p("c"))
    assert ids(b.acquire(m) for _ in range(6)) == ["a", "a", "b", "b", "c", "c"]


def test_least_outstanding_follows_in_flight_per_weight(make_balancer):
    b = make_balancer("least_outstanding")
    m = model(p("fast", weight=2), p("slow", weight=1))
    held = [b.acquire(m) for _ in range(6)]
    assert Counter(ids(held)) == {"fast": 4, "slow": 2}
    for lease in [x for x in held if x.provider.id == "fast"][:3]:
        lease.release(Outcome.SUCCESS)  # fast finished three: it has room for three more first
    assert ids(b.acquire(m) for _ in range(3)) == ["fast"] * 3


def test_affinity_keeps_each_model_on_the_host_that_has_it_loaded(make_balancer):
    b = make_balancer("first_available_optim")
    # One model-swapping server per host, listed for both models, as LocalAI setups do.
    llama = model(p("h1-llama", host="h1"), p("h2-llama", host="h2"), name="llama")
    qwen = model(p("h1-qwen", host="h1"), p("h2-qwen", host="h2"), name="qwen")
    b.acquire(llama).release(Outcome.SUCCESS)          # h1 now holds llama
    assert b.acquire(qwen).provider.id == "h2-qwen"    # qwen goes to the unclaimed host
    assert b.acquire(llama).provider.id == "h1-llama"  # and llama stays where it is loaded
    assert b.acquire(qwen).provider.id == "h2-qwen"


def test_circuit_breaker_ejects_probes_and_restores():
    clock = Clock()
    states = ProviderStates(failures_to_eject=2, cooldown=10.0, clock=clock)
    room = WaitRoom()
    b = Balancer(build_strategy("weighted"), states, LocalSlots(clock, room.notify), room, clock=clock)
    m = model(p("dead"), p("ok"))
    for _ in range(2):
        b.acquire(m, exclude={"ok"}).release(Outcome.FAILURE, "connect")
    assert states.snapshot("dead")["state"] == "ejected"
    assert all(b.acquire(m).provider.id == "ok" for _ in range(5))

    clock.now += 10.0  # cool-down over: exactly one probe goes through
    probe = b.acquire(m, exclude={"ok"})
    assert probe.provider.id == "dead" and probe.probe
    assert b.acquire(m, exclude={"ok"}) is Refusal.UNAVAILABLE
    probe.release(Outcome.FAILURE, "connect")
    assert states.snapshot("dead")["state"] == "ejected"

    clock.now += 19.0  # the second ejection lasts twice as long
    assert b.acquire(m, exclude={"ok"}) is Refusal.UNAVAILABLE
    clock.now += 1.0
    b.acquire(m, exclude={"ok"}).release(Outcome.SUCCESS)
    snapshot = states.snapshot("dead")
    assert snapshot["state"] == "healthy" and snapshot["consecutive_failures"] == 0
    assert snapshot["last_error"] == "connect"


def test_a_failed_health_check_takes_a_provider_out_until_one_passes(make_balancer):
    b = make_balancer()
    m = model(p("a"), p("b"))
    b.states.set_probe_result("a", False, "health_connect")
    assert set(ids(b.acquire(m) for _ in range(4))) == {"b"}
    assert b.states.snapshot("a")["state"] == "down"
    assert b.states.set_probe_result("a", True) is True
    assert set(ids(b.acquire(m) for _ in range(4))) == {"a", "b"}


def test_release_is_idempotent_and_never_frees_another_lease(make_balancer):
    b = make_balancer("first_available")
    m = model(p("a", max_concurrency=2))
    first, second = b.acquire(m), b.acquire(m)
    first.release(Outcome.NEUTRAL)
    first.release(Outcome.FAILURE)  # ignored: the slot was already given back
    third = b.acquire(m)
    assert third.provider.id == "a"
    assert b.acquire(m) is Refusal.BUSY  # second and third still hold both slots
    assert b.slots.in_flight(["a"]) == {"a": 2}
    assert b.states.snapshot("a")["consecutive_failures"] == 0
    second.release(Outcome.SUCCESS)
    third.release(Outcome.SUCCESS)
    assert b.slots.in_flight(["a"]) == {"a": 0}


def wait_in_thread(b, m, wait_seconds):
    """Start an acquire that may wait; returns (thread, result dict with lease and elapsed)."""
    result = {}

    def run():
        started = time.monotonic()
        result["lease"] = b.acquire(m, (), wait_seconds)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_waiter_is_woken_when_a_slot_frees_and_keeps_its_place_in_line(make_balancer):
    b = make_balancer("first_available")
    m = model(p("a", max_concurrency=1))
    held = b.acquire(m)
    thread, result = wait_in_thread(b, m, 20.0)
    until(lambda: b.room.count == 1, timeout=10.0, what="the waiter in line")
    held.release(Outcome.SUCCESS)
    # A newcomer that does not wait cannot take the slot freed for the one in line.
    assert b.acquire(m) is Refusal.BUSY
    thread.join(20)
    assert result["lease"].provider.id == "a"
    assert result["elapsed"] < 10.0  # woken by the release, not by its 20 s deadline


def test_a_waiter_gets_busy_at_its_deadline_and_leaves_the_line(make_balancer):
    b = make_balancer("first_available")
    m = model(p("a", max_concurrency=1))
    held = b.acquire(m)
    started = time.monotonic()
    assert b.acquire(m, (), 0.3) is Refusal.BUSY
    assert 0.25 <= time.monotonic() - started < 5.0
    held.release(Outcome.SUCCESS)
    assert b.acquire(m).provider.id == "a"  # nobody is left in line ahead of it


def test_no_waiting_when_every_provider_is_down(make_balancer):
    b = make_balancer()
    m = model(p("a", max_concurrency=1))
    b.states.set_probe_result("a", False, "health_connect")
    started = time.monotonic()
    assert b.acquire(m, (), 10.0) is Refusal.UNAVAILABLE
    assert time.monotonic() - started < 2.0


# --- Redis only: expiry, renewal, outages, and the Lua twin of choose() ---------------------------


def redis_pool(space, ttl):
    return RedisSlots(space.client(), KeySpace(space.prefix), ttl)


def request_for(m, pick=Pick.ORDERED, token="t"):
    return SlotRequest(m.name, [Candidate(x, 0) for x in m.providers], pick, token)


def test_a_lease_nobody_renews_expires_and_its_waiter_gets_the_slot(redis_space):
    pool = redis_pool(redis_space, ttl=1.0)
    m = model(p("a", max_concurrency=1))
    assert pool.acquire(request_for(m, token="dead-worker"), 0).provider.id == "a"
    room = WaitRoom()
    b = Balancer(build_strategy("first_available"), ProviderStates(failures_to_eject=3, cooldown=1, clock=Clock()),
                 pool, room, clock=time.monotonic)
    started = time.monotonic()
    lease = b.acquire(m, (), 10.0)
    elapsed = time.monotonic() - started
    assert lease.provider.id == "a" and 0.5 < elapsed < 5.0  # at the lease's expiry, without a release
    assert redis_space.slot_holders("a") == [lease.token]


def test_renewal_keeps_a_long_request_s_slot_past_the_ttl(redis_space):
    pool = redis_pool(redis_space, ttl=1.0)
    renewer = LeaseRenewer(pool, 1.0)
    m = model(p("a", max_concurrency=1))
    states = ProviderStates(failures_to_eject=3, cooldown=1, clock=Clock())
    b = Balancer(build_strategy("first_available"), states, pool, WaitRoom(), renewer=renewer, clock=time.monotonic)
    try:
        held = b.acquire(m)
        assert b.acquire(m, (), 2.5) is Refusal.BUSY  # 2.5 TTLs later the slot is still held
        assert redis_space.slot_holders("a") == [held.token]
        held.release(Outcome.SUCCESS)
        assert redis_space.slot_holders("a") == []
    finally:
        renewer.thread.stop()


def test_redis_unreachable_falls_back_to_per_process_slots(redis_space):
    from tests.conftest import free_port

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    local = LocalSlots(time.monotonic)
    slots = FallbackSlots(RedisSlots(dead, KeySpace(redis_space.prefix), 30), local, retry_seconds=60,
                          clock=time.monotonic)
    m = model(p("a", max_concurrency=1))
    grant = slots.acquire(request_for(m), 0)
    assert grant.provider.id == "a" and grant.pool is local
    assert slots.degraded and slots.kind == "local" and slots.outages == 1
    assert slots.acquire(request_for(m, token="t2"), 0).__class__.__name__ == "Busy"  # the local limit holds


def test_lua_and_python_choose_the_same_provider(redis_space):
    """The Lua script and slots.choose() implement one rule; random cases must agree."""
    client = redis_space.client()
    keys = KeySpace(redis_space.prefix)
    pool = RedisSlots(client, keys, 60)
    rng = random.Random(7)
    far = int(time.time() * 1000) + 10**9
    for case in range(150):
        n = rng.randint(1, 5)
        providers = [p(f"c{case}-{i}", host=f"h{case}-{i}", weight=rng.choice([0, 0.5, 1, 3]),
                       max_concurrency=rng.choice([None, 1, 2, 3])) for i in range(n)]
        tiers = [rng.choice([0, 0, 1]) for _ in range(n)]
        counts = [rng.randint(0, 3) for _ in range(n)]
        affinity = [rng.choice([None, "m", "other"]) for _ in range(n)]
        for provider, count, served in zip(providers, counts, affinity):
            if count:
                client.zadd(keys.slots(provider.id), {f"held{j}": far for j in range(count)})
            if served:
                client.set(keys.affinity(f"http://{provider.api_host[7:-6]}:8000"), served)
        pick = rng.choice(list(Pick))
        candidates = [Candidate(x, t) for x, t in zip(providers, tiers)]
        limits = [UNLIMITED if x.max_concurrency is None else x.max_concurrency for x in providers]
        expected = choose(pick, candidates, counts, limits, "m", affinity)
        result = pool.acquire(SlotRequest("m", candidates, pick, f"probe{case}"), 0)
        got = providers.index(result.provider) if hasattr(result, "provider") else None
        assert got == expected, (case, pick, counts, limits, tiers, affinity)


@pytest.mark.parametrize("api_type,api_host,target", [
    ("vllm", "http://gpu1:8000/", "/health"),
    ("vllm", "http://gpu1:8000/v1", "/health"),
    ("llama.cpp", "http://box/llama/", "/llama/health"),
    ("openai", "https://api.internal/v1/", "/v1/models"),
    ("localai", "http://box:8080", "/v1/models"),
    ("ollama", "http://box:11434", "/api/tags"),
])
def test_each_api_type_is_checked_on_its_own_health_route(api_type, api_host, target):
    from llm_router_api.balancing.health import health_target

    assert health_target(ProviderConfig(id="x", api_host=api_host, api_type=api_type)) == target

