"""The store contract (modelroute.limits.store), run against MemoryStore and a real Redis.

All-or-nothing reservations, atomicity under threads and tasks, idempotent settling,
and reservations of a crashed process reclaimed after their hold time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest

from modelroute.limits.redis_store import RedisStore
from modelroute.limits.store import BudgetCheck, BudgetSettle, LimitStore, MemoryStore, RateCheck
from redis_server import RedisServer, redis_server  # noqa: F401

NOW = 1_700_000_000.0
KEY = "budget:team:t1:day:x"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LimitStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    s = RedisStore(server.url, prefix=f"s{os.urandom(4).hex()}:")
    yield s
    s.close()


def hold(amount: int, limit: int, ticket: str, until: float = NOW + 600) -> BudgetCheck:
    return BudgetCheck(KEY, amount, limit, 3600, ticket, until)


def test_reserve_is_atomic_under_concurrent_threads(store: LimitStore) -> None:
    # 40 threads each reserve 3 units of a 100-unit budget: exactly 33 fit.
    barrier = threading.Barrier(40)
    admitted: list[bool] = []

    def one(i: int) -> None:
        barrier.wait(60)  # a bound for a hang: 40 thread starts on a loaded machine
        admitted.append(store.reserve([], [hold(3, 100, f"t{i}")], NOW) is None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted.count(True) == 33
    assert store.budget_state(KEY).reserved == 99


def test_async_reserve_is_atomic_across_many_tasks(store: LimitStore) -> None:
    async def go() -> int:
        checks = [hold(7, 100, f"a{i}") for i in range(30)]
        results = await asyncio.gather(*(store.areserve([], [c], NOW) for c in checks))
        await store.asettle([], [BudgetSettle(KEY, "a0", 5, 3600)], NOW)
        return sum(r is None for r in results)

    assert asyncio.run(go()) == 14
    state = store.budget_state(KEY)
    assert (state.spent, state.reserved) == (5, 13 * 7)


def test_rate_and_budget_checks_pass_or_fail_together(store: LimitStore) -> None:
    rate = RateCheck("rate:user:u1:requests:60", 1, 5, 60.0)
    assert store.reserve([rate], [hold(10, 15, "x1")], NOW) is None
    refusal = store.reserve([rate], [hold(10, 15, "x2")], NOW)
    assert refusal is not None and refusal.kind == "budget" and refusal.index == 0
    assert (refusal.spent, refusal.reserved) == (0, 10)
    # The refused call took nothing from the rate bucket: 4 more requests still fit.
    for _ in range(4):
        assert store.reserve([rate], [], NOW) is None
    refusal = store.reserve([rate], [], NOW)
    assert refusal is not None and refusal.kind == "rate"
    assert refusal.retry_after_s == pytest.approx(12.0)


def test_settling_twice_charges_once(store: LimitStore) -> None:
    assert store.reserve([], [hold(10, 100, "s1")], NOW) is None
    for _ in range(2):  # a retried settlement after a lost reply
        store.settle([], [BudgetSettle(KEY, "s1", 8, 3600)], NOW)
    state = store.budget_state(KEY)
    assert (state.spent, state.reserved) == (8, 0)


def test_a_call_let_through_unchecked_is_still_charged(store: LimitStore) -> None:
    store.settle([], [BudgetSettle(KEY, "never-reserved", 8, 3600, charge_unreserved=True)], NOW)
    assert store.budget_state(KEY).spent == 8


def test_a_dead_processs_reservation_is_reclaimed_after_its_hold(store: LimitStore) -> None:
    assert store.reserve([], [hold(60, 100, "dead", until=NOW + 600)], NOW) is None
    assert store.reserve([], [hold(60, 100, "next")], NOW + 599) is not None
    assert store.reserve([], [hold(60, 100, "next")], NOW + 600) is None
    assert store.budget_state(KEY).reserved == 60


def test_refunds_give_rate_capacity_back(store: LimitStore) -> None:
    rate = RateCheck("rate:user:u1:requests:60", 1, 1, 60.0)
    assert store.reserve([rate], [], NOW) is None
    assert store.reserve([rate], [], NOW) is not None
    store.settle([rate], [], NOW)
    assert store.reserve([rate], [], NOW) is None
