"""USD budgets per key over calendar periods, and the integer unit stores keep them in.

Stores hold amounts as integer nano-dollars (1e-9 USD) so that concurrent increments
are exact (Redis `HINCRBY`) and sums never drift; $9 million fits a double exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelroute.limits.periods import Period
from modelroute.limits.scopes import Scope

NANO_PER_USD = 1_000_000_000


def to_nano(usd: float, *, round_up: bool = False) -> int:
    """USD as integer nano-dollars; `round_up` for reservations (never under-reserve)."""
    scaled = usd * NANO_PER_USD
    return math.ceil(scaled - 1e-6) if round_up else round(scaled)


def from_nano(nano: int) -> float:
    """Integer nano-dollars as USD."""
    return nano / NANO_PER_USD


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `usd` dollars per calendar `period` for each key of scope `per` (e.g. each
    team); `overrides` gives some keys their own amount (0 blocks a key).

    The guard reserves each call's estimated cost before it and settles the real cost
    after it; a call is charged to the period in which it was admitted.
    """

    per: Scope
    usd: float
    period: Period = Period.DAY
    overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.usd < 0 or any(v < 0 for v in self.overrides.values()):
            raise ValueError("budget amounts must be >= 0 USD")

    def limit_usd(self, key: str) -> float:
        """The budget of `key` in USD: its override, else the default."""
        return self.overrides.get(key, self.usd)


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """A budget's state for one key and period (USD; `reset_at` in epoch seconds)."""

    key: str
    period: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    reset_at: float

    @property
    def remaining_usd(self) -> float:
        """limit - spent - reserved, never below 0."""
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)
