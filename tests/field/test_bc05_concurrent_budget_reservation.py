"""BC-05: concurrent requests do not all pass the same under-budget check.

Model m-q ($2/M in, $10/M out). Each request: "Count to ten." with `max_tokens` 1000; the
provider server holds it (0.3 s here, 1.0 s in the case: only the overlap matters), then
reports usage 20 in / 1000 out, so each call really costs 20 x 2e-6 + 1000 x 1e-5 = $0.01004.
`LimitsGuard` reserves each call's estimate (the catalog's input estimate, 8 tokens for this
prompt, plus `max_tokens`: $0.010016) in the same atomic store step as the check, and settles
the real cost after the call. Case labels -> modelroute: `budget_exceeded` -> the typed
`BudgetExceeded` (reason `budget_exceeded`), the refused request's record has one skipped
attempt with that reason and outcome `refused`. The provider server's log counts the calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from field_routing import CALL_MODES, FILTERS, Outcome, burst, catalog, make_router
from modelroute.clock import FakeClock
from modelroute.errors import BudgetExceeded
from modelroute.limits import Budget, LimitsGuard
from modelroute.limits.redis_store import RedisStore
from modelroute.provider_server import Healthy, ModelScript, ProviderServer, Usage
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import RoutedResponse, Router
from modelroute.types import Request
from redis_server import RedisServer, redis_server  # noqa: F401

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

HOLD_S = 0.3
SCRIPTS = {
    "m-q": ModelScript(
        answer="1 2 3 4 5 6 7 8 9 10",
        usage=Usage(prompt_tokens=20, completion_tokens=1000),
        fault=Healthy(delay=HOLD_S),
    )
}
CALL_COST = 20 * 2e-6 + 1000 * 1e-5  # $0.01004
RESERVED = 8 * 2e-6 + 1000 * 1e-5  # the estimate held while a call runs: $0.010016


def ask(team: str | None = "t1", max_tokens: int = 1000, user: str | None = None) -> Request:
    return Request.of("Count to ten.", max_tokens=max_tokens, team=team, user=user)


def guarded(
    srv: ProviderServer, budget: Budget, store: RedisStore | None = None
) -> tuple[Router, LimitsGuard]:
    clock = FakeClock()
    guard = LimitsGuard(catalog(("m-q",)), budgets=[budget], store=store, clock=clock)
    setup = make_router(srv, [Route("q", ("m-q",))], clock=clock, names=("m-q",), guards=[guard])
    return setup.router, guard


def split(outcomes: list[Outcome]) -> tuple[list[RoutedResponse], list[BudgetExceeded]]:
    answers = [o for o in outcomes if isinstance(o, RoutedResponse)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert len(answers) + len(refused) == len(outcomes), outcomes  # nothing else went wrong
    return answers, refused


def check_refusal(error: BudgetExceeded, scope: str, key: str) -> None:
    """Refused before any call: typed, naming whose budget and what is left."""
    assert (error.reason, error.scope, error.key, error.model) == (
        "budget_exceeded",
        scope,
        key,
        "m-q",
    )
    assert error.estimate_usd == pytest.approx(RESERVED, abs=1e-9)
    assert error.remaining_usd < error.estimate_usd
    assert f"${error.remaining_usd:.6f} left" in str(error) and repr(key) in str(error)
    decision = error.decision
    assert decision is not None and decision.outcome == RequestOutcome.REFUSED
    (skipped,) = decision.attempts
    assert (skipped.outcome, skipped.reason, skipped.cost_usd) == (
        AttemptOutcome.SKIPPED,
        "budget_exceeded",
        0.0,
    )


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", CALL_MODES)
def test_a_burst_admits_only_what_the_budget_can_hold(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    router, guard = guarded(srv, Budget("team", 0.025))

    answers, refused = split(burst(mode, [(router, ask())] * 10))

    # burst: two reservations of ~$0.01 fit in $0.025, a third does not
    srv.wait_idle(5.0)
    assert srv.calls("m-q") == 2 and len(answers) == 2 and len(refused) == 8
    for error in refused:
        check_refusal(error, "team", "t1")
    for answer in answers:
        assert answer.decision.cost_usd == pytest.approx(CALL_COST, abs=1e-9)

    # after settling: the real cost is charged, no reservation is left
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(0.02008, abs=1e-9) and usage.spent_usd <= 0.025
    assert usage.reserved_usd == 0.0

    # follow-ups: 1000 more output tokens do not fit the $0.00492 left, 200 do (~$0.002016)
    (eleventh,) = split(burst(mode, [(router, ask())]))[1]
    check_refusal(eleventh, "team", "t1")
    assert eleventh.remaining_usd == pytest.approx(0.025 - 0.02008, abs=1e-9)
    assert srv.calls("m-q") == 2
    ((twelfth,), _) = split(burst(mode, [(router, ask(max_tokens=200))]))
    assert twelfth.decision.attempts[0].outcome == AttemptOutcome.OK
    srv.wait_idle(5.0)
    assert srv.calls("m-q") == 3
    assert guard.budget_usage("team", "t1").reserved_usd == 0.0


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", CALL_MODES)
def test_a_new_users_concurrent_first_requests_share_the_default_budget(
    provider_server: ProviderServer, mode: str
) -> None:
    """No per-user entry exists before the first request: the default amount applies to it
    atomically, so 8 first requests from `u-new` cannot each see a fresh $0.015."""
    srv = provider_server
    router, guard = guarded(srv, Budget("user", 0.015))

    answers, refused = split(burst(mode, [(router, ask(team=None, user="u-new"))] * 8))

    srv.wait_idle(5.0)
    assert srv.calls("m-q") == 1 and len(answers) == 1 and len(refused) == 7
    for error in refused:
        check_refusal(error, "user", "u-new")
    usage = guard.budget_usage("user", "u-new")
    assert (usage.spent_usd, usage.reserved_usd) == (pytest.approx(CALL_COST, abs=1e-9), 0.0)


@pytest.fixture
def shared_store(redis_server: RedisServer) -> Iterator[tuple[RedisStore, RedisStore]]:  # noqa: F811
    """Two stores (as two processes would have) on one redis-server, one key prefix."""
    prefix = f"bc05-{os.urandom(4).hex()}:"
    stores = (
        RedisStore(redis_server.url, prefix=prefix),
        RedisStore(redis_server.url, prefix=prefix),
    )
    yield stores
    for store in stores:
        store.close()


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", CALL_MODES)
def test_two_routers_sharing_redis_admit_two_calls_in_all(
    provider_server: ProviderServer, shared_store: tuple[RedisStore, RedisStore], mode: str
) -> None:
    srv = provider_server
    (r1, g1), (r2, _) = (guarded(srv, Budget("team", 0.025), store) for store in shared_store)

    outcomes = burst(mode, [(r1, ask()), (r2, ask())] * 5)

    answers, refused = split(outcomes)
    srv.wait_idle(5.0)
    assert srv.calls("m-q") == 2 and len(answers) == 2 and len(refused) == 8
    for error in refused:
        check_refusal(error, "team", "t1")
    usage = g1.budget_usage("team", "t1")  # the shared state, read through either guard
    assert usage.spent_usd == pytest.approx(0.02008, abs=1e-9) and usage.reserved_usd == 0.0
