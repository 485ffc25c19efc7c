"""Rate limits and USD budgets, checked before every provider call.

    from modelroute.limits import Budget, LimitsGuard, RateLimit

    guard = LimitsGuard(catalog, rates=[RateLimit("user", 60, requests=20)],
                        budgets=[Budget("team", 500.0)])
    router = Router(routes, backend=backend, catalog=catalog, guards=[guard])

`RedisStore` (the `redis` extra) shares counts between processes and hosts. See
docs/limits.md for when a budget is charged and what an estimate is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelroute.errors import (
    BudgetExceeded,
    LimitExceeded,
    LimitStoreUnavailable,
    RateLimitExceeded,
)
from modelroute.limits.budget import Budget, BudgetUsage
from modelroute.limits.estimate import CallEstimate, estimate_call
from modelroute.limits.guard import LimitsGuard, Ticket
from modelroute.limits.periods import Period, PeriodWindow, period_window
from modelroute.limits.rate import Quota, RateLimit, RateUsage
from modelroute.limits.store import BudgetState, LimitStore, MemoryStore, StoreUnavailable

if TYPE_CHECKING:
    from modelroute.limits.redis_store import RedisStore

__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetState",
    "BudgetUsage",
    "CallEstimate",
    "LimitExceeded",
    "LimitStore",
    "LimitStoreUnavailable",
    "LimitsGuard",
    "MemoryStore",
    "Period",
    "PeriodWindow",
    "Quota",
    "RateLimit",
    "RateLimitExceeded",
    "RateUsage",
    "RedisStore",
    "StoreUnavailable",
    "Ticket",
    "estimate_call",
    "period_window",
]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":  # imported on use: it pulls in asyncio and redis-py
        from modelroute.limits.redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module 'modelroute.limits' has no attribute {name!r}")
