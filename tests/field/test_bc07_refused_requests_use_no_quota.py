"""BC-07: a refused request uses no rate-limit quota, and concurrent requests do not all pass
one limit.

Per-user limits over a 60 s window on a fake clock: u1 3 requests and 1,000 tokens (tokens
counted at admission: the catalog's input estimate, 5 for "hi", plus `max_tokens`), u2 1
request. Team budgets: $100 a day, except team `t-zero` whose budget is $0. Route [m-a],
answering normally. Case labels -> modelroute: `rate_limit:rpm` -> `rate_limit:requests`,
`rate_limit:tpm` -> `rate_limit:tokens` (`RateLimitExceeded.reason`, the limits module's
names), `budget_exceeded` -> `BudgetExceeded`. What a limit holds is read back with
`LimitsGuard.rate_usage`; the provider server's log counts the calls that reached m-a.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from field_routing import CALL_MODES, FILTERS, burst, catalog, make_router
from modelroute.clock import FakeClock
from modelroute.errors import BudgetExceeded, RateLimitExceeded
from modelroute.limits import Budget, LimitsGuard, Quota, RateLimit
from modelroute.limits.redis_store import RedisStore
from modelroute.provider_server import ProviderServer
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import RoutedResponse, Router
from modelroute.types import Request
from redis_server import RedisServer, redis_server  # noqa: F401

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

WINDOW_S = 60.0
DAY_S = 24 * 3600.0
RATES = RateLimit(
    "user", WINDOW_S, overrides={"u1": Quota(requests=3, tokens=1000), "u2": Quota(requests=1)}
)
BUDGETS = Budget("team", 100.0, overrides={"t-zero": 0.0})
PROMPT_TOKENS = 5  # ceil(len("hi") / 4) + 4 per message


def hi(user: str, max_tokens: int = 10, team: str = "t1") -> Request:
    return Request.of("hi", max_tokens=max_tokens, user=user, team=team)


def routers(
    srv: ProviderServer, clock: FakeClock, stores: tuple[RedisStore, ...] | None = None
) -> list[tuple[Router, LimitsGuard]]:
    """One router over [m-a] per store (one in-memory store when `stores` is None)."""
    out = []
    for store in stores or (None,):
        guard = LimitsGuard(
            catalog(("m-a",)), rates=[RATES], budgets=[BUDGETS], store=store, clock=clock
        )
        setup = make_router(
            srv, [Route("r", ("m-a",))], clock=clock, names=("m-a",), guards=[guard]
        )
        out.append((setup.router, guard))
    return out


def send(
    mode: str, router: Router, request: Request
) -> RoutedResponse | RateLimitExceeded | BudgetExceeded:
    (outcome,) = burst(mode, [(router, request)])
    assert isinstance(outcome, RoutedResponse | RateLimitExceeded | BudgetExceeded), outcome
    return outcome


def check_refused(error: object, reason: str) -> None:
    """Refused before any call, with `reason`, and recorded as such."""
    assert isinstance(error, RateLimitExceeded | BudgetExceeded), error
    assert error.reason == reason
    decision = error.decision
    assert decision is not None and decision.outcome == RequestOutcome.REFUSED
    assert [(a.outcome, a.reason) for a in decision.attempts] == [(AttemptOutcome.SKIPPED, reason)]


def check_scenario(
    srv: ProviderServer, clock: FakeClock, pairs: list[tuple[Router, LimitsGuard]], mode: str
) -> None:
    """The whole case; calls rotate over `pairs` (two routers sharing one store, or one)."""
    turn = iter(range(1000))

    def next_router() -> Router:
        return pairs[next(turn) % len(pairs)][0]

    guard = pairs[0][1]

    # u1, sequential
    assert isinstance(send(mode, next_router(), hi("u1", 600)), RoutedResponse)  # R1: 605 tokens
    r2 = send(mode, next_router(), hi("u1", 600))  # R2: 605 more would make 1,210
    check_refused(r2, "rate_limit:tokens")
    assert isinstance(r2, RateLimitExceeded) and (r2.dimension, r2.limit) == ("tokens", 1000)
    usage = guard.rate_usage("user", "u1")
    assert (usage.requests_used, usage.tokens_used) == (pytest.approx(1), pytest.approx(605))
    for max_tokens in (300, 50):  # R3, R4: admitted, so R2 took nothing
        assert isinstance(send(mode, next_router(), hi("u1", max_tokens)), RoutedResponse)
    usage = guard.rate_usage("user", "u1")
    assert (usage.requests_used, usage.requests_limit) == (pytest.approx(3), 3)
    assert (usage.tokens_used, usage.tokens_limit) == (pytest.approx(965), 1000)
    r5 = send(mode, next_router(), hi("u1", 10))
    check_refused(r5, "rate_limit:requests")
    assert isinstance(r5, RateLimitExceeded) and r5.retry_after_s is not None
    assert 0 < r5.retry_after_s <= WINDOW_S  # 20 s: one request's share of the window
    srv.wait_idle(5.0)
    sent = [r.body.get("max_tokens") for r in srv.requests("m-a")]
    assert sent == [600, 300, 50]  # R1, R3, R4

    # u2: five at once against a limit of one request
    outcomes = burst(mode, [(next_router(), hi("u2")) for _ in range(5)])
    admitted = [o for o in outcomes if isinstance(o, RoutedResponse)]
    assert len(admitted) == 1
    for refused in (o for o in outcomes if not isinstance(o, RoutedResponse)):
        check_refused(refused, "rate_limit:requests")
    srv.wait_idle(5.0)
    assert srv.calls("m-a") == 4

    # u1, next window: a budget refusal takes no request from the rate limit
    clock.advance(WINDOW_S)
    assert guard.rate_usage("user", "u1").requests_used == 0
    check_refused(send(mode, next_router(), hi("u1", team="t-zero")), "budget_exceeded")
    assert guard.rate_usage("user", "u1").requests_used == 0
    for _ in range(3):
        assert isinstance(send(mode, next_router(), hi("u1")), RoutedResponse)
    assert guard.rate_usage("user", "u1").requests_used == pytest.approx(3)
    srv.wait_idle(5.0)
    assert srv.calls("m-a") == 7


@pytest.mark.parametrize("mode", CALL_MODES)
def test_refused_requests_use_no_quota_and_bursts_pass_one_limit(
    provider_server: ProviderServer, mode: str
) -> None:
    clock = FakeClock()
    check_scenario(provider_server, clock, routers(provider_server, clock), mode)


@pytest.fixture
def shared_stores(redis_server: RedisServer) -> Iterator[tuple[RedisStore, RedisStore]]:  # noqa: F811
    """Two stores (as two processes would have) on one redis-server, one key prefix."""
    prefix = f"bc07-{os.urandom(4).hex()}:"
    stores = (
        RedisStore(redis_server.url, prefix=prefix),
        RedisStore(redis_server.url, prefix=prefix),
    )
    yield stores
    for store in stores:
        store.close()


@pytest.mark.parametrize("mode", CALL_MODES)
def test_two_routers_sharing_redis_count_the_same_and_every_key_expires(
    provider_server: ProviderServer,
    redis_server: RedisServer,  # noqa: F811
    shared_stores: tuple[RedisStore, RedisStore],
    mode: str,
) -> None:
    clock = FakeClock()
    pairs = routers(provider_server, clock, shared_stores)
    check_scenario(provider_server, clock, pairs, mode)

    client = redis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in client.scan_iter(f"{shared_stores[0].prefix}*")]
    rate_keys = [k for k in keys if ":rate:" in k]
    budget_keys = [k for k in keys if ":budget:" in k]
    assert rate_keys and budget_keys and len(rate_keys) + len(budget_keys) == len(keys)
    for key in rate_keys:
        assert 0 < client.pttl(key) <= 2 * WINDOW_S * 1000, key
    for key in budget_keys:  # a day's budget lives until the day is over (plus an hour)
        assert 0 < client.pttl(key) <= 2 * DAY_S * 1000, key

    # the next day, in the same minute: u1's counts start from zero
    clock.advance(DAY_S)
    guard = pairs[0][1]
    assert guard.rate_usage("user", "u1").requests_used == 0
    for i in range(3):
        assert isinstance(send(mode, pairs[i % 2][0], hi("u1")), RoutedResponse)
    check_refused(send(mode, pairs[1][0], hi("u1")), "rate_limit:requests")
    provider_server.wait_idle(5.0)
    assert provider_server.calls("m-a") == 10
