"""Cancelled calls and budgets (modelroute.limits.guard): a stream the caller stops mid-way is
charged what its record says (its partial tokens, which the provider bills); a call
cancelled before any output arrived releases everything. Rate-limit counts of a cancelled
call are given back either way. In memory and in a real
redis-server; then end to end over real HTTP (the local provider server's slow stream through
the LiteLLM backend).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator

import pytest

from helpers import catalog
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import FakeClock
from modelroute.limits import Budget, LimitsGuard, MemoryStore, RateLimit
from modelroute.limits.redis_store import RedisStore
from modelroute.limits.store import LimitStore
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request
from modelroute.types import Usage as TokenUsage
from redis_server import RedisServer, redis_server  # noqa: F401

NANO = 1e-9  # stores keep nano-USD: the smallest difference that can show


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LimitStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    s = RedisStore(server.url, prefix=f"c{os.urandom(4).hex()}:")
    yield s
    s.close()


def guard_on(store: LimitStore) -> LimitsGuard:
    return LimitsGuard(
        catalog(),
        rates=[RateLimit("user", 60.0, requests=5)],
        budgets=[Budget("team", 1.0)],
        store=store,
        clock=FakeClock(wall_start=1_700_000_000.0),
    )


def cancelled(usage: TokenUsage | None, cost_usd: float) -> Attempt:
    """The record `Plan.on_cancel` makes (usage None: no output had arrived)."""
    return Attempt(
        0, "m-a", "local", AttemptOutcome.CANCELLED, "cancelled", usage=usage, cost_usd=cost_usd
    )


REQUEST = Request.of("hi", user="u1", team="t1", max_tokens=1000)


def test_a_stream_stopped_mid_way_converts_its_reservation_into_its_recorded_cost(
    store: LimitStore,
) -> None:
    guard = guard_on(store)
    ticket = guard.admit(REQUEST, guard.catalog.get("m-a"))
    reserved = guard.budget_usage("team", "t1").reserved_usd
    assert reserved > 0.004  # ~1000 output tokens at $4/M were reserved
    guard.settle(ticket, cancelled(TokenUsage(20, 30), cost_usd=0.00014))
    usage = guard.budget_usage("team", "t1")
    assert usage.spent_usd == pytest.approx(0.00014, abs=NANO)
    assert usage.reserved_usd == 0.0  # converted to spend: nothing left reserved
    # rate counts come back, as for every cancellation (tests/reliability: no slot leaks)
    assert guard.rate_usage("user", "u1").requests_used == pytest.approx(0.0)
    guard.settle(ticket, cancelled(TokenUsage(20, 30), cost_usd=0.00014))  # a repeat: no-op
    assert guard.budget_usage("team", "t1").spent_usd == pytest.approx(0.00014, abs=NANO)


def test_a_call_cancelled_before_any_output_releases_everything(store: LimitStore) -> None:
    guard = guard_on(store)
    for attempt in (cancelled(None, 0.0), None):  # recorded without usage, or never made
        ticket = guard.admit(REQUEST, guard.catalog.get("m-a"))
        guard.settle(ticket, attempt)
        usage = guard.budget_usage("team", "t1")
        assert (usage.spent_usd, usage.reserved_usd) == (0.0, 0.0)
        assert guard.rate_usage("user", "u1").requests_used == pytest.approx(0.0)


def test_a_thousand_stopped_streams_leave_nothing_reserved_and_pay_for_every_one(
    store: LimitStore,
) -> None:
    guard = LimitsGuard(catalog(), budgets=[Budget("team", 1000.0)], store=store)
    model = guard.catalog.get("m-a")

    async def go() -> None:
        tickets = [await guard.aadmit(REQUEST, model) for _ in range(1000)]
        assert guard.budget_usage("team", "t1").reserved_usd > 4.0
        for ticket in tickets:
            await guard.asettle(ticket, cancelled(TokenUsage(20, 30), cost_usd=0.00014))

    asyncio.run(go())
    usage = guard.budget_usage("team", "t1")
    assert usage.reserved_usd == 0.0
    assert usage.spent_usd == pytest.approx(1000 * 0.00014, abs=1000 * NANO)


# -- end to end: the local provider server's slow stream over real HTTP ------------------------

# 40 chunks 0.1 s apart: the callers stop after 3, long before the 4 s stream could end on its
# own (with 0.02 s, a loaded machine late by under a second would see it end and not disconnect)
SLOW = {"m-a": ModelScript(chunks=40, chunk_delay=0.1, usage=Usage(12, 40))}
PRICED = Catalog(
    [
        ModelInfo(
            "m-a",
            target="openai/m-a",
            input_cost_per_token=1e-6,
            output_cost_per_token=4e-6,
            supports_streaming=True,
        )
    ]
)


def http_router(srv: ProviderServer, store: LimitStore) -> tuple[Router, LimitsGuard, MemorySink]:
    from modelroute_litellm import LiteLLMBackend

    guard = LimitsGuard(PRICED, budgets=[Budget("team", 1.0)], store=store)
    sink = MemorySink()
    router = Router(
        [Route("r", ("m-a",))],
        backend=LiteLLMBackend(api_base=srv.base_url, api_key="sk-cancel-not-a-key"),
        catalog=PRICED,
        sinks=[sink],
        guards=[guard],
    )
    return router, guard, sink


def the_cancelled_attempt(sink: MemorySink) -> Attempt:
    (decision,) = sink.decisions
    assert isinstance(decision, Decision) and decision.outcome == RequestOutcome.CANCELLED
    attempt = decision.attempts[-1]
    assert attempt.outcome == AttemptOutcome.CANCELLED
    return attempt


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("provider_server", [SLOW], indirect=True)
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_stopping_a_slow_http_stream_charges_the_team_its_recorded_cost(
    provider_server: ProviderServer, store: LimitStore, mode: str
) -> None:
    router, guard, sink = http_router(provider_server, store)
    request = Request.of("tell me a long story", user="u1", team="t1", max_tokens=500)
    seen: list[str] = []

    async def read_three() -> None:
        async with router.astream(request) as stream:
            async for chunk in stream:
                seen.append(chunk.text)
                if len(seen) == 3:
                    break

    if mode == "async":
        asyncio.run(read_three())
    else:
        with router.stream(request) as stream:
            for chunk in stream:
                seen.append(chunk.text)
                if len(seen) == 3:
                    break
    assert provider_server.wait_idle(10.0)
    (logged,) = provider_server.requests("m-a")
    assert logged.disconnected  # the caller really stopped the stream mid-way
    attempt = the_cancelled_attempt(sink)
    assert attempt.usage is not None and attempt.cost_usd > 0  # the partial tokens, priced
    usage = guard.budget_usage("team", "t1")
    assert usage.reserved_usd == 0.0
    assert usage.spent_usd == pytest.approx(attempt.cost_usd, abs=NANO)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("provider_server", [SLOW], indirect=True)
def test_a_stream_dropped_before_it_was_read_releases_everything(
    provider_server: ProviderServer, store: LimitStore
) -> None:
    router, guard, sink = http_router(provider_server, store)
    stream = router.stream(Request.of("hi", user="u1", team="t1", max_tokens=500))
    del stream
    gc.collect()
    (decision,) = sink.decisions
    assert decision.outcome == RequestOutcome.CANCELLED and decision.attempts == ()
    assert provider_server.calls("m-a") == 0  # nothing was sent
    usage = guard.budget_usage("team", "t1")
    assert (usage.spent_usd, usage.reserved_usd) == (0.0, 0.0)
