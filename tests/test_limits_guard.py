"""`LimitsGuard` budgets through a real Router over FakeBackend (modelroute.limits.guard).

Field case BC-05 (concurrent requests must not all pass one under-budget check), plus
reservation and reconciliation, release on failure, the re-check on every fallback
hop, downgrade, the per-request cap, and period boundaries in a non-UTC zone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from helpers import PER_M, catalog, collect_stream, run, scripted
from modelroute.backend import FakeBackend
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import FakeClock
from modelroute.errors import AllAttemptsFailed, BudgetExceeded, ProviderUnavailable
from modelroute.limits import Budget, LimitsGuard
from modelroute.limits.scopes import ANONYMOUS
from modelroute.limits.store import (
    BudgetCheck,
    BudgetSettle,
    MemoryStore,
    RateCheck,
    Refusal,
    StoreUnavailable,
)
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, Usage

MODES = ["sync", "async"]
BC05_COST = 20 * 2e-6 + 1000 * 1e-5  # $0.01004 per call (20 in / 1000 out on m-q)
PROMPT = "Count to ten."  # 8 tokens by the core's cheap estimate
BC05_ESTIMATE = 8 * 2e-6 + 1000 * 1e-5  # $0.010016 reserved per call (max_tokens 1000)


def bc05_catalog() -> Catalog:
    return Catalog(
        [ModelInfo("m-q", "local", input_cost_per_token=2e-6, output_cost_per_token=1e-5)]
    )


class GatedBackend(FakeBackend):
    """Answers 20 in / 1000 out, but holds every call until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        super().__init__(self._answer_after_release)

    def _answer_after_release(self, model: ModelInfo, request: Request) -> Response:
        self.entered.release()
        assert self.release.wait(5)
        return Response("1 2 3 4 5 6 7 8 9 10", model=model.name, usage=Usage(20, 1000))


def burst(router: Router, requests: list[Request], backend: GatedBackend) -> list[str]:
    """Send `requests` at once from threads; let calls finish only once all were decided."""
    barrier = threading.Barrier(len(requests))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(req: Request) -> None:
        barrier.wait()
        try:
            router.complete(req)
            result = "ok"
        except BudgetExceeded as exc:
            result = f"refused {exc.key} {exc.remaining_usd:.6f}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    admitted = 0
    while True:  # wait until every request was either refused or is inside the backend
        with lock:
            decided = len(outcomes)
        if decided + admitted == len(requests):
            break
        if backend.entered.acquire(timeout=0.01):
            admitted += 1
    backend.release.set()
    for t in threads:
        t.join()
    return outcomes


def test_bc05_concurrent_requests_cannot_all_pass_the_same_check() -> None:
    clock = FakeClock()
    guard = LimitsGuard(
        bc05_catalog(), budgets=[Budget("team", 1.0, overrides={"t1": 0.025})], clock=clock
    )
    backend = GatedBackend()
    router = Router(
        [Route("r", ("m-q",))], backend=backend, catalog=guard.catalog, clock=clock, guards=[guard]
    )
    req = Request.of(PROMPT, team="t1", max_tokens=1000)
    outcomes = burst(router, [req] * 10, backend)
    assert len(backend.calls) == 2
    left = 0.025 - 2 * BC05_ESTIMATE
    assert sorted(outcomes) == ["ok", "ok"] + [f"refused t1 {left:.6f}"] * 8
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(2 * BC05_COST, abs=1e-9)  # $0.02008
    assert usage.reserved_usd == 0
    with pytest.raises(BudgetExceeded):
        router.complete(req)  # 11th: ~$0.010016 more does not fit
    assert len(backend.calls) == 2
    small = Request.of(PROMPT, team="t1", max_tokens=200)  # ~$0.002016 fits
    assert router.complete(small).text
    assert len(backend.calls) == 3


def test_bc05_new_users_get_the_default_budget_even_all_at_once() -> None:
    clock = FakeClock()
    guard = LimitsGuard(bc05_catalog(), budgets=[Budget("user", 0.015)], clock=clock)
    backend = GatedBackend()
    router = Router(
        [Route("r", ("m-q",))], backend=backend, catalog=guard.catalog, clock=clock, guards=[guard]
    )
    req = Request.of(PROMPT, user="u-new", max_tokens=1000)
    outcomes = burst(router, [req] * 8, backend)
    assert outcomes.count("ok") == 1 and len(backend.calls) == 1


def plain_router(
    guard: LimitsGuard, models: tuple[str, ...], script: dict[str, list[object]]
) -> Router:
    return Router(
        [Route("r", models)],
        backend=scripted(script),
        catalog=guard.catalog,
        clock=guard.clock,
        guards=[guard],
    )


@pytest.mark.parametrize("mode", MODES)
def test_the_estimate_is_reserved_during_the_call_and_reconciled_after(mode: str) -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], clock=FakeClock())
    seen: list[tuple[float, float]] = []

    def answer(model: ModelInfo, request: Request) -> Response:
        u = guard.budget_usage("team", "t1")
        seen.append((u.spent_usd, u.reserved_usd))
        return Response("ok", model=model.name, usage=Usage(100, 50))

    router = Router(
        [Route("r", ("m-a",))],
        backend=FakeBackend(answer),
        catalog=guard.catalog,
        clock=guard.clock,
        guards=[guard],
    )
    req = Request.of("x" * 400, team="t1", max_tokens=200)  # 104 tokens in, 200 out
    out = run(router, mode, req)
    assert len(seen) == 1 and seen[0][0] == 0.0
    assert seen[0][1] == pytest.approx(104 * PER_M + 200 * 4 * PER_M)
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(out.decision.cost_usd, abs=1e-9)
    assert usage.spent_usd == pytest.approx(100 * PER_M + 50 * 4 * PER_M)
    assert usage.reserved_usd == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_streams_are_reserved_and_settled_too(mode: str) -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], clock=FakeClock())
    router = plain_router(guard, ("m-a",), {"m-a": ["streamed answer"]})
    _, decision = collect_stream(router, mode, Request.of("hi", team="t1", max_tokens=50))
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(decision.cost_usd, abs=1e-9)  # type: ignore[attr-defined]
    assert usage.spent_usd > 0 and usage.reserved_usd == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_call_releases_its_reservation(mode: str) -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], clock=FakeClock())
    router = plain_router(guard, ("m-a",), {"m-a": [ProviderUnavailable("503", status_code=503)]})
    with pytest.raises(AllAttemptsFailed):
        run(router, mode, Request.of("hi", team="t1", max_tokens=50))
    usage = guard.budget_usage("team", "t1")
    assert (usage.spent_usd, usage.reserved_usd) == (0.0, 0.0)


def test_a_cancelled_call_releases_its_reservation() -> None:
    clock = FakeClock()
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], clock=clock)

    entered = asyncio.Event()  # set once the call is inside the backend

    class Hangs(FakeBackend):
        async def acall(
            self, model: ModelInfo, request: Request, *, timeout_s: float | None
        ) -> Response:
            entered.set()
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    router = Router(
        [Route("r", ("m-a",))],
        backend=Hangs(lambda m, r: "x"),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )

    async def go() -> None:
        task = asyncio.create_task(router.acomplete(Request.of("hi", team="t1", max_tokens=9)))
        await entered.wait()  # not a sleep: the task may need longer to get there
        assert guard.budget_usage("team", "t1").reserved_usd > 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert guard.budget_usage("team", "t1").reserved_usd == 0


@pytest.mark.parametrize("mode", MODES)
def test_the_budget_is_checked_again_on_every_fallback_hop(mode: str) -> None:
    # $0.001 covers m-c (~$0.000077) but not m-strong (~$0.001025); m-c fails first.
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 0.001)], clock=FakeClock())
    router = plain_router(
        guard,
        ("m-c", "m-strong"),
        {"m-c": [ProviderUnavailable("503", status_code=503)], "m-strong": ["s"]},
    )
    with pytest.raises(BudgetExceeded) as info:
        run(router, mode, Request.of("hi", team="t1", max_tokens=50))
    assert [a.reason for a in info.value.attempts] == ["unavailable", "budget_exceeded"]
    assert router.backend.calls == ["m-c"]  # type: ignore[attr-defined]
    assert info.value.model == "m-strong" and not info.value.fallback


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_request_uses_no_budget(mode: str) -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 0.0001)], clock=FakeClock())
    router = plain_router(guard, ("m-strong",), {"m-strong": ["s"]})
    for _ in range(3):
        with pytest.raises(BudgetExceeded):
            run(router, mode, Request.of("hi", team="t1", max_tokens=50))
    usage = guard.budget_usage("team", "t1")
    assert (usage.spent_usd, usage.reserved_usd) == (0.0, 0.0)


def test_budget_errors_carry_spent_limit_and_reset_in_the_configured_zone() -> None:
    # 23:59:00 in Berlin on 2026-11-30 (22:59 UTC).
    clock = FakeClock(wall_start=datetime(2026, 11, 30, 22, 59, tzinfo=UTC).timestamp())
    guard = LimitsGuard(
        catalog(), budgets=[Budget("team", 0.0005)], clock=clock, timezone="Europe/Berlin"
    )
    router = plain_router(guard, ("m-a",), {"m-a": ["ok"]})
    req = Request.of("hi", team="t1", max_tokens=100)  # ~$0.000405 reserved, $0.0003 spent
    router.complete(req)
    with pytest.raises(BudgetExceeded) as info:
        router.complete(req)
    err = info.value
    midnight = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
    assert err.spent_usd == pytest.approx(0.0003)
    assert (err.limit_usd, err.reserved_usd, err.reset_at) == (0.0005, 0.0, midnight)
    assert err.remaining_usd == pytest.approx(0.0002)
    assert err.retry_after_s == pytest.approx(60.0)
    assert (err.scope, err.key, err.period) == ("team", "t1", "day")
    assert "2026-12-01T00:00:00+01:00" in str(err)
    clock.advance(61)  # a new Berlin day: the budget starts again
    assert router.complete(req).text == "ok"
    assert guard.budget_usage("team", "t1").period == "2026-12-01"


def test_a_call_is_charged_to_the_period_it_was_admitted_in() -> None:
    clock = FakeClock(wall_start=datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC).timestamp())
    guard = LimitsGuard(
        catalog(), budgets=[Budget("team", 1.0)], clock=clock, timezone="Europe/Berlin"
    )

    def slow(model: ModelInfo, request: Request) -> Response:
        clock.advance(5)  # the call crosses midnight
        return Response("ok", model=model.name, usage=Usage(100, 50))

    router = Router(
        [Route("r", ("m-a",))],
        backend=FakeBackend(slow),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    router.complete(Request.of("hi", team="t1", max_tokens=100))
    assert guard.budget_usage("team", "t1").spent_usd == 0  # the new day
    team = guard.names.identity("team", "t1")  # store keys carry a pseudonym (limits.keys)
    old = guard.store.budget_state(f"budget:team:{team}:day:2026-11-30")
    assert old.spent == round((100 * PER_M + 50 * 4 * PER_M) * 1e9) and old.reserved == 0


@pytest.mark.parametrize("mode", MODES)
def test_downgrade_skips_models_that_do_not_fit_and_says_why(mode: str) -> None:
    guard = LimitsGuard(
        catalog(), budgets=[Budget("team", 0.001)], clock=FakeClock(), on_exhausted="downgrade"
    )
    router = plain_router(guard, ("m-strong", "m-a"), {"m-strong": ["s"], "m-a": ["a"]})
    req = Request.of("hi", team="t1", max_tokens=100)
    out = run(router, mode, req)
    assert out.decision.responding_model == "m-a"
    skip = out.decision.attempts[0]
    assert (skip.model, skip.outcome, skip.reason) == ("m-strong", "skipped", "budget_exceeded")
    assert "cheaper" in (skip.error_message or "") and "t1" in (skip.error_message or "")
    assert router.backend.calls == ["m-a"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_downgrade_refuses_outright_once_nothing_is_left(mode: str) -> None:
    guard = LimitsGuard(
        catalog(),
        budgets=[Budget("team", 1.0, overrides={"t0": 0.0})],
        clock=FakeClock(),
        on_exhausted="downgrade",
    )
    router = plain_router(guard, ("m-strong", "m-a"), {"m-strong": ["s"], "m-a": ["a"]})
    with pytest.raises(BudgetExceeded) as info:
        run(router, mode, Request.of("hi", team="t0", max_tokens=100))
    assert not info.value.fallback
    assert router.backend.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_the_per_request_cap_skips_models_over_it(mode: str) -> None:
    guard = LimitsGuard(catalog(), max_cost_usd=0.0005, clock=FakeClock())
    router = plain_router(guard, ("m-strong", "m-a"), {"m-strong": ["s"], "m-a": ["a"]})
    out = run(router, mode, Request.of("hi", max_tokens=100))
    assert out.decision.responding_model == "m-a"
    assert out.decision.fallback_reasons == ("budget_exceeded:max_cost",)


def test_without_max_tokens_the_output_bound_is_the_models_maximum_or_the_default() -> None:
    from modelroute.limits import estimate_call

    cat = catalog(m_a={"max_output_tokens": 1000})
    req = Request.of("hi")
    assert estimate_call(cat, req, cat.get("m-a"), 4096).output_tokens == 1000
    assert estimate_call(cat, req, cat.get("m-b"), 4096).output_tokens == 4096
    capped = Request.of("hi", max_tokens=5000)
    assert estimate_call(cat, capped, cat.get("m-a"), 4096).output_tokens == 1000


def test_requests_without_a_team_share_the_anonymous_budget() -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], clock=FakeClock())
    plain_router(guard, ("m-a",), {"m-a": ["ok"]}).complete(Request.of("hi", max_tokens=10))
    assert guard.budget_usage("team", ANONYMOUS).spent_usd > 0


class FlakyStore(MemoryStore):
    """A MemoryStore that fails like an unreachable Redis while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def reserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        if self.down:
            raise StoreUnavailable("down")
        return super().reserve(rates, budgets, now)

    def settle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        if self.down:
            raise StoreUnavailable("down")
        super().settle(refunds, budgets, now)


def test_a_settlement_the_store_missed_is_retried_with_the_next_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], store=store, clock=FakeClock())

    def answer(model: ModelInfo, request: Request) -> Response:
        store.down = request.last_user_text == "store goes down"
        return Response("ok", model=model.name, usage=Usage(100, 50))

    router = Router(
        [Route("r", ("m-a",))],
        backend=FakeBackend(answer),
        catalog=guard.catalog,
        clock=guard.clock,
        guards=[guard],
    )
    with caplog.at_level("WARNING", logger="modelroute.limits"):
        router.complete(Request.of("store goes down", team="t1", max_tokens=100))
    assert "will retry" in caplog.text
    assert guard.pending_settlements == 1
    assert guard.budget_usage("team", "t1").reserved_usd > 0  # still held
    router.complete(Request.of("store is back", team="t1", max_tokens=100))
    usage = guard.budget_usage("team", "t1")
    assert guard.pending_settlements == 0
    assert usage.reserved_usd == 0
    assert usage.spent_usd == pytest.approx(2 * (100 * PER_M + 50 * 4 * PER_M))


def test_a_call_let_through_while_the_store_was_down_is_charged_later() -> None:
    store = FlakyStore()
    store.down = True
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], store=store, clock=FakeClock())

    def answer(model: ModelInfo, request: Request) -> Response:
        store.down = False  # back before the call settles
        return Response("ok", model=model.name, usage=Usage(100, 50))

    router = Router(
        [Route("r", ("m-a",))],
        backend=FakeBackend(answer),
        catalog=guard.catalog,
        clock=guard.clock,
        guards=[guard],
    )
    router.complete(Request.of("hi", team="t1", max_tokens=100))
    assert guard.store_failures == 1
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(0.0003) and usage.reserved_usd == 0
