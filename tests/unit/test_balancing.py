from collections import Counter

from llm_router_api.balancing import Balancer, Outcome, ProviderStates, build_strategy
from llm_router_api.config.models import ModelConfig, ProviderConfig


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def model(*providers, sleeping=()):
    return ModelConfig(name="m", group="g", providers=tuple(providers), providers_sleep=tuple(sleeping))


def p(pid, **kw):
    return ProviderConfig(id=pid, api_host=f"http://{pid}/", **kw)


def balancer(strategy="balanced", clock=None, failures=3, cooldown=10.0):
    clock = clock or Clock()
    states = ProviderStates(failures_to_eject=failures, cooldown=cooldown, clock=clock)
    return Balancer(build_strategy(strategy), states), clock


def picks(b, m, n) -> Counter:
    """Provider ids chosen for ``n`` sequential requests."""
    chosen = Counter()
    for _ in range(n):
        lease = b.acquire(m)
        chosen[lease.provider.id] += 1
        lease.release(Outcome.SUCCESS)
    return chosen


def test_weighted_three_to_one_is_exact():
    b, _ = balancer("weighted")
    assert picks(b, model(p("a", weight=3), p("b", weight=1)), 400) == {"a": 300, "b": 100}


def test_weights_are_not_clamped():
    b, _ = balancer("weighted")
    assert picks(b, model(p("a", weight=30), p("b", weight=10), p("c", weight=0)), 40) == {"a": 30, "b": 10}


def test_balanced_prefers_fewest_in_flight_then_takes_turns():
    b, _ = balancer("balanced")
    m = model(p("a"), p("b"), p("c"))
    held = [b.acquire(m) for _ in range(3)]
    assert sorted(lease.provider.id for lease in held) == ["a", "b", "c"]
    held[0].release(Outcome.SUCCESS)  # frees one slot on its provider
    assert b.acquire(m).provider.id == held[0].provider.id


def test_max_concurrency_is_never_exceeded_and_sleep_providers_overflow():
    b, _ = balancer()
    m = model(p("a", max_concurrency=2), sleeping=[p("z", max_concurrency=1)])
    leases = [b.acquire(m) for _ in range(3)]
    assert [lease.provider.id for lease in leases] == ["a", "a", "z"]
    assert b.acquire(m) is None
    leases[0].release(Outcome.SUCCESS)
    assert b.acquire(m).provider.id == "a"


def test_excluded_providers_are_skipped():
    b, _ = balancer()
    m = model(p("a"), p("b"))
    assert b.acquire(m, exclude={"a"}).provider.id == "b"
    assert b.acquire(m, exclude={"a", "b"}) is None


def test_circuit_breaker_ejects_probes_and_restores():
    b, clock = balancer(failures=2, cooldown=10.0)
    m = model(p("dead"), p("ok"))
    for _ in range(2):
        b.acquire(m, exclude={"ok"}).release(Outcome.FAILURE, "connect")
    assert b.states.snapshot("dead")["state"] == "ejected"
    assert all(b.acquire(m).provider.id == "ok" for _ in range(5))

    clock.now += 10.0  # cool-down over: exactly one probe goes through
    probe = b.acquire(m, exclude={"ok"})
    assert probe.provider.id == "dead" and probe.probe
    assert b.acquire(m, exclude={"ok"}) is None
    probe.release(Outcome.FAILURE, "connect")
    assert b.states.snapshot("dead")["state"] == "ejected"

    clock.now += 19.0  # the second ejection lasts twice as long
    assert b.acquire(m, exclude={"ok"}) is None
    clock.now += 1.0
    b.acquire(m, exclude={"ok"}).release(Outcome.SUCCESS)
    snapshot = b.states.snapshot("dead")
    assert snapshot["state"] == "healthy" and snapshot["consecutive_failures"] == 0
    assert snapshot["last_error"] == "connect"


def test_neutral_outcomes_do_not_eject_and_release_is_idempotent():
    b, _ = balancer(failures=1)
    m = model(p("a"))
    lease = b.acquire(m)
    lease.release(Outcome.NEUTRAL)
    lease.release(Outcome.FAILURE)  # second release is ignored
    snapshot = b.states.snapshot("a")
    assert snapshot["state"] == "healthy" and snapshot["in_flight"] == 0
