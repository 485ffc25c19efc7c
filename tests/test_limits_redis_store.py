"""`RedisStore` against a real redis-server (modelroute.limits.redis_store).

Atomic check-and-reserve under threads and tasks, TTL on every key, two routers sharing
one store (BC-05, BC-07 Redis variants), fail open / fail closed when Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator

import pytest
import redis

from helpers import catalog, scripted
from modelroute.clock import FakeClock
from modelroute.errors import BudgetExceeded, LimitStoreUnavailable, RateLimitExceeded
from modelroute.limits import Budget, LimitsGuard, Quota, RateLimit
from modelroute.limits.redis_store import RedisStore
from modelroute.limits.store import BudgetCheck, BudgetSettle, RateCheck, StoreUnavailable
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from redis_server import RedisServer, redis_server, refusing_port, start_redis  # noqa: F401

NOW = 1_700_000_000.0
# "Fast" = no waiting on timeouts or retry backoff (each would cost seconds); the bound leaves
# room for a loaded machine rather than measuring speed (that is bench/'s job).
FAST_S = 5.0


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:  # noqa: F811
    s = RedisStore(redis_server.url, prefix=f"t{os.urandom(4).hex()}:")
    yield s
    s.close()


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def test_every_key_expires(store: RedisStore, redis_server: RedisServer) -> None:  # noqa: F811
    rate = RateCheck("rate:user:u1:tokens:60", 600, 1000, 60.0)
    budget = BudgetCheck("budget:team:t1:day:x", 10, 100, 7200, "tk1", NOW + 60)
    assert store.reserve([rate], [budget], NOW) is None
    store.settle([], [BudgetSettle(budget.key, "tk1", 8, 7000)], NOW)
    r = raw(redis_server)
    keys = list(r.scan_iter(f"{store.prefix}*"))
    assert len(keys) == 2
    ttls = {k.decode().removeprefix(store.prefix): r.pttl(k) for k in keys}
    assert 0 < ttls[rate.key] <= 60_000 * 600 / 1000 + 1  # until the bucket is full again
    assert 0 < ttls[budget.key] <= 7_000_000
    store.settle([rate], [], NOW)  # a full refund empties the bucket: the key goes
    assert r.exists(store.key(rate.key)) == 0


def shared_guard_router(
    store: RedisStore, clock: FakeClock, **guard_kw: object
) -> tuple[Router, LimitsGuard]:
    guard = LimitsGuard(catalog(), store=store, clock=clock, **guard_kw)  # type: ignore[arg-type]
    router = Router(
        [Route("r", ("m-a",))],
        backend=scripted({"m-a": ["ok"]}),
        catalog=guard.catalog,
        clock=clock,
        guards=[guard],
    )
    return router, guard


def outcome(router: Router, user: str, max_tokens: int) -> str:
    try:
        router.complete(Request.of("hi", user=user, team="t", max_tokens=max_tokens))
    except (RateLimitExceeded, BudgetExceeded) as exc:
        return exc.reason
    return "ok"


def test_bc07_two_routers_share_one_limit(store: RedisStore, redis_server: RedisServer) -> None:  # noqa: F811
    clock = FakeClock(wall_start=NOW)
    rate = RateLimit("user", 60.0, requests=10, overrides={"u1": Quota(3, 1000)})
    routers = [shared_guard_router(store, clock, rates=[rate])[0] for _ in range(2)]
    results = [outcome(routers[i % 2], "u1", n) for i, n in enumerate((600, 600, 300, 50, 10))]
    assert results == ["ok", "rate_limit:tokens", "ok", "ok", "rate_limit:requests"]
    calls = [len(r.backend.calls) for r in routers]  # type: ignore[attr-defined]
    assert sum(calls) == 3
    r = raw(redis_server)
    for key in r.scan_iter(f"{store.prefix}rate:*"):
        assert 0 < r.pttl(key) <= 2 * 60_000
    clock.advance(24 * 3600)  # the same minute of the next day starts at 0
    assert [outcome(routers[0], "u1", 10) for _ in range(3)] == ["ok"] * 3


def test_bc05_two_routers_five_concurrent_requests_each(store: RedisStore) -> None:
    from modelroute.backend import FakeBackend
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.types import Response, Usage

    clock = FakeClock(wall_start=NOW)
    model = ModelInfo("m-q", "local", input_cost_per_token=2e-6, output_cost_per_token=1e-5)
    calls: list[str] = []

    async def go() -> list[str]:
        gate = asyncio.Event()

        class Gated(FakeBackend):
            async def acall(
                self, m: ModelInfo, req: Request, *, timeout_s: float | None
            ) -> Response:
                calls.append(m.name)
                await gate.wait()
                return Response("done", model=m.name, usage=Usage(20, 1000))

        routers = []
        for _ in range(2):
            guard = LimitsGuard(
                Catalog([model]),
                budgets=[Budget("team", 0.025)],
                store=store,
                clock=clock,
            )
            routers.append(
                Router(
                    [Route("r", ("m-q",))],
                    backend=Gated(lambda m, r: "x"),
                    catalog=guard.catalog,
                    clock=clock,
                    guards=[guard],
                )
            )
        req = Request.of("Count to ten.", team="t1", max_tokens=1000)
        tasks = [asyncio.create_task(routers[i % 2].acomplete(req)) for i in range(10)]
        while sum(t.done() for t in tasks) + len(calls) < 10:
            await asyncio.sleep(0.001)
        gate.set()
        out = await asyncio.gather(*tasks, return_exceptions=True)
        return ["ok" if not isinstance(o, BaseException) else o.reason for o in out]  # type: ignore[attr-defined]

    results = asyncio.run(go())
    assert sorted(results) == ["budget_exceeded"] * 8 + ["ok"] * 2
    assert len(calls) == 2
    state = store.budget_state(next(iter(_budget_keys(store))))
    assert (state.spent, state.reserved) == (2 * 10_040_000, 0)  # $0.02008 in nano-USD


def _budget_keys(store: RedisStore) -> list[str]:
    client = redis.Redis.from_url(store.url)
    return [
        k.decode().removeprefix(store.prefix) for k in client.scan_iter(f"{store.prefix}budget:*")
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_fail_open_lets_calls_through_fast_with_a_warning(
    mode: str,
    caplog: pytest.LogCaptureFixture,
    refusing_port: int,  # noqa: F811
) -> None:
    down = RedisStore(f"redis://127.0.0.1:{refusing_port}/0")
    clock = FakeClock(wall_start=NOW)
    router, guard = shared_guard_router(
        down, clock, budgets=[Budget("team", 0.0)], on_store_error="open"
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="modelroute.limits"):
        for _ in range(3):
            req = Request.of("hi", team="t", max_tokens=10)
            if mode == "sync":
                router.complete(req)
            else:
                asyncio.run(router.acomplete(req))
    assert time.monotonic() - started < FAST_S
    assert len(router.backend.calls) == 3  # type: ignore[attr-defined]
    assert guard.store_failures == 3
    assert "fail open" in caplog.text and "127.0.0.1" not in caplog.text.split("fail open")[0]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_fail_closed_refuses_fast(mode: str, refusing_port: int) -> None:  # noqa: F811
    down = RedisStore(f"redis://127.0.0.1:{refusing_port}/0")
    router, _ = shared_guard_router(
        down,
        FakeClock(wall_start=NOW),
        rates=[RateLimit("user", 60, requests=5)],
        on_store_error="closed",
    )
    started = time.monotonic()
    with pytest.raises(LimitStoreUnavailable) as info:
        req = Request.of("hi", user="u", max_tokens=10)
        if mode == "sync":
            router.complete(req)
        else:
            asyncio.run(router.acomplete(req))
    assert time.monotonic() - started < FAST_S
    assert info.value.reason == "rate_limit:store_unavailable"
    assert router.backend.calls == []  # type: ignore[attr-defined]


def test_redis_dying_mid_call_never_breaks_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    server = start_redis()
    try:
        # waiting out a reply timeout would take 2 * FAST_S: the bound below catches it
        store = RedisStore(server.url, timeout_s=2 * FAST_S)
        clock = FakeClock(wall_start=NOW)
        guard = LimitsGuard(catalog(), budgets=[Budget("team", 1.0)], store=store, clock=clock)

        def answer(model: object, request: Request) -> str:
            server.stop()  # Redis goes away while the provider answers
            return "still answered"

        from modelroute.backend import FakeBackend

        router = Router(
            [Route("r", ("m-a",))],
            backend=FakeBackend(answer),  # type: ignore[arg-type]
            catalog=guard.catalog,
            clock=clock,
            guards=[guard],
        )
        with caplog.at_level(logging.WARNING, logger="modelroute.limits"):
            started = time.monotonic()
            out = router.complete(Request.of("hi", team="t1", max_tokens=10))
            assert time.monotonic() - started < FAST_S
        assert out.text == "still answered"
        assert "could not settle" in caplog.text
    finally:
        server.stop()


def test_after_a_failure_the_store_does_not_retry_until_down_for_has_passed(
    refusing_port: int,  # noqa: F811
) -> None:
    now = [100.0]
    down = RedisStore(f"redis://127.0.0.1:{refusing_port}/0", monotonic=lambda: now[0])
    check = BudgetCheck("budget:team:t:day:x", 1, 10, 60, "tk", NOW + 60)
    with pytest.raises(StoreUnavailable, match="failed"):
        down.reserve([], [check], NOW)
    with pytest.raises(StoreUnavailable, match="not retrying yet"):
        down.reserve([], [check], NOW)
    now[0] += down.down_for_s
    with pytest.raises(StoreUnavailable, match="failed"):
        down.reserve([], [check], NOW)
