"""Rate limits (modelroute.limits.rate): GCRA buckets, and per-user limits through a Router.

Field case BC-07: a refused request uses no quota, concurrent requests cannot all pass
one limit, retry-after matches the window. Fake clock throughout: no real waiting.
"""

from __future__ import annotations

import threading

import pytest

from helpers import catalog, run, scripted
from modelroute.clock import FakeClock
from modelroute.errors import BudgetExceeded, RateLimitExceeded
from modelroute.limits import Budget, LimitsGuard, Quota, RateLimit
from modelroute.limits.rate import gcra_level, gcra_refund, gcra_take
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

MODES = ["sync", "async"]


# -- the bucket as a pure function ------------------------------------------------------


def test_a_burst_of_limit_passes_then_capacity_returns_gradually() -> None:
    tat = None
    for _ in range(3):
        step = gcra_take(tat, 0.0, 1, 3, 60.0)
        assert step.allowed
        tat = step.tat
    refused = gcra_take(tat, 0.0, 1, 3, 60.0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(20.0)  # one request back every 60/3 s
    assert not gcra_take(tat, 19.9, 1, 3, 60.0).allowed
    assert gcra_take(tat, 20.0, 1, 3, 60.0).allowed


def test_a_call_larger_than_the_limit_never_fits() -> None:
    step = gcra_take(None, 0.0, 1001, 1000, 60.0)
    assert not step.allowed and step.retry_after_s is None


def test_refund_gives_capacity_back_but_never_beyond_full() -> None:
    tat = gcra_take(None, 0.0, 600, 1000, 60.0).tat
    assert gcra_refund(tat, 0.0, 600, 1000, 60.0) == 0.0
    assert gcra_refund(tat, 0.0, 10_000, 1000, 60.0) == 0.0
    assert gcra_refund(None, 5.0, 1, 1000, 60.0) == 5.0


# -- through a Router --------------------------------------------------------------------


def bc07_router(clock: FakeClock, **guard_kw: object) -> tuple[Router, LimitsGuard]:
    rate = RateLimit(
        "user",
        60.0,
        requests=10,
        overrides={"u1": Quota(requests=3, tokens=1000), "u2": Quota(requests=1)},
    )
    guard = LimitsGuard(catalog(), rates=[rate], clock=clock, **guard_kw)  # type: ignore[arg-type]
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    return router, guard


def ask(router: Router, mode: str, user: str, max_tokens: int, team: str = "t") -> str:
    try:
        run(router, mode, Request.of("hi", user=user, team=team, max_tokens=max_tokens))
    except RateLimitExceeded as exc:
        return exc.reason
    except BudgetExceeded as exc:
        return exc.reason
    return "ok"


@pytest.mark.parametrize("mode", MODES)
def test_bc07_refused_requests_use_no_quota(mode: str) -> None:
    clock = FakeClock()
    router, _ = bc07_router(clock)
    # "hi" is 5 estimated tokens, so R1 counts 605 tokens, R2 would make 1210 > 1000.
    outcomes = [ask(router, mode, "u1", n) for n in (600, 600, 300, 50, 10)]
    assert outcomes == ["ok", "rate_limit:tokens", "ok", "ok", "rate_limit:requests"]
    assert router.backend.calls == ["m-a"] * 3  # type: ignore[attr-defined]


def test_rate_usage_reads_what_is_in_use_and_falls_as_capacity_returns() -> None:
    clock = FakeClock()
    router, guard = bc07_router(clock)
    assert (ask(router, "sync", "u1", 600), ask(router, "sync", "u1", 600)) == (
        "ok",
        "rate_limit:tokens",
    )
    usage = guard.rate_usage("user", "u1")
    assert (usage.key, usage.window_s, usage.requests_limit, usage.tokens_limit) == (
        "u1",
        60.0,
        3,
        1000,
    )
    assert (usage.requests_used, usage.tokens_used) == (pytest.approx(1), pytest.approx(605))
    clock.advance(30)  # half the window: half of it is back
    usage = guard.rate_usage("user", "u1")
    assert (usage.requests_used, usage.tokens_used) == (0, pytest.approx(105))
    nobody = guard.rate_usage("user", "nobody")  # the default quota: requests only
    assert (nobody.requests_used, nobody.requests_limit, nobody.tokens_used) == (0, 10, None)
    assert gcra_level(None, 0.0, 3, 60.0) == 0.0
    with pytest.raises(KeyError):
        guard.rate_usage("team", "t1")


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_matches_the_window(mode: str) -> None:
    clock = FakeClock()
    router, _ = bc07_router(clock)
    for _ in range(3):
        assert ask(router, mode, "u1", 10) == "ok"
    with pytest.raises(RateLimitExceeded) as info:
        run(router, mode, Request.of("hi", user="u1", max_tokens=10))
    err = info.value
    assert 0 < (err.retry_after_s or 0) <= 60
    assert (err.scope, err.key, err.dimension, err.limit, err.window_s) == (
        "user",
        "u1",
        "requests",
        3,
        60.0,
    )
    assert not err.fallback and err.decision is not None
    assert "u1" in str(err)
    clock.advance(err.retry_after_s or 0)
    assert ask(router, mode, "u1", 10) == "ok"


def test_concurrent_requests_cannot_all_pass_one_limit() -> None:
    clock = FakeClock()
    router, _ = bc07_router(clock)
    barrier = threading.Barrier(5)
    outcomes: list[str] = []

    def one() -> None:
        barrier.wait()
        outcomes.append(ask(router, "sync", "u2", 10))

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["rate_limit:requests"] * 4
    assert router.backend.calls == ["m-a"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_a_budget_refusal_does_not_use_up_the_rate_limit(mode: str) -> None:
    clock = FakeClock()
    rate = RateLimit("user", 60.0, requests=3)
    budget = Budget("team", 1.0, overrides={"broke": 0.0})
    guard = LimitsGuard(catalog(), rates=[rate], budgets=[budget], clock=clock)
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    assert ask(router, mode, "u1", 10, team="broke") == "budget_exceeded"
    assert [ask(router, mode, "u1", 10) for _ in range(3)] == ["ok"] * 3
    assert ask(router, mode, "u1", 10) == "rate_limit:requests"


@pytest.mark.parametrize("mode", MODES)
def test_every_fallback_hop_counts_and_is_checked(mode: str) -> None:
    from modelroute.errors import ProviderUnavailable

    clock = FakeClock()
    guard = LimitsGuard(catalog(), rates=[RateLimit("user", 60.0, requests=3)], clock=clock)
    router = Router(
        [Route("r", ("m-b", "m-a"))],
        backend=scripted({"m-b": [ProviderUnavailable("503", status_code=503)], "m-a": ["ok"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    assert ask(router, mode, "u1", 10) == "ok"  # two calls: m-b failed, m-a answered
    with pytest.raises(RateLimitExceeded) as info:
        run(router, mode, Request.of("hi", user="u1", max_tokens=10))
    # The third call (m-b) was admitted; the fallback hop to m-a is refused.
    assert router.backend.calls == ["m-b", "m-a", "m-b"]  # type: ignore[attr-defined]
    assert [a.reason for a in info.value.attempts] == ["unavailable", "rate_limit:requests"]


@pytest.mark.parametrize("mode", MODES)
def test_a_per_model_limit_falls_back_to_the_next_model(mode: str) -> None:
    clock = FakeClock()
    guard = LimitsGuard(catalog(), rates=[RateLimit("model", 60.0, requests=1)], clock=clock)
    router = Router(
        [Route("r", ("m-a", "m-b"))],
        backend=scripted({"m-a": ["a"], "m-b": ["b"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    assert run(router, mode, "one").decision.responding_model == "m-a"
    second = run(router, mode, "two").decision
    assert second.responding_model == "m-b"
    assert second.fallback_reasons == ("rate_limit:requests",)


def test_requests_without_identity_share_one_bucket() -> None:
    clock = FakeClock()
    guard = LimitsGuard(catalog(), rates=[RateLimit("user", 60.0, requests=1)], clock=clock)
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    router.complete("hi")
    with pytest.raises(RateLimitExceeded) as info:
        router.complete("hi again")
    assert info.value.key == "_anonymous"


def test_a_new_window_starts_fresh_on_the_fake_clock() -> None:
    clock = FakeClock()
    router, _ = bc07_router(clock)
    assert [ask(router, "sync", "u1", 10) for _ in range(4)][-1] == "rate_limit:requests"
    clock.advance(60)
    assert [ask(router, "sync", "u1", 10) for _ in range(3)] == ["ok"] * 3
