"""The pure part of a guard: which checks one call needs, and the typed error of a refusal.

`plan_admission` turns (request, model, time) into store checks with the limit and
key behind each; `refusal_error` turns a store's `Refusal` into `RateLimitExceeded` or
`BudgetExceeded`. No I/O here: tests call both directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from modelroute.errors import BudgetExceeded, LimitExceeded, RateLimitExceeded
from modelroute.limits.budget import Budget, from_nano, to_nano
from modelroute.limits.estimate import CallEstimate
from modelroute.limits.keys import KeyNames
from modelroute.limits.periods import PeriodWindow, period_window
from modelroute.limits.rate import RateLimit
from modelroute.limits.scopes import scope_key
from modelroute.limits.store import BudgetCheck, RateCheck, Refusal

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.types import Request

OnExhausted = Literal["refuse", "downgrade"]

GRACE_S = 3600.0
"""Budget keys outlive their period by this long, so late settlements still find them."""


@dataclass(frozen=True, slots=True)
class RateSlot:
    """One rate check and where it comes from."""

    check: RateCheck
    limit: RateLimit
    key: str
    dimension: Literal["requests", "tokens"]


@dataclass(frozen=True, slots=True)
class BudgetSlot:
    """One budget check and where it comes from."""

    check: BudgetCheck
    budget: Budget
    key: str
    window: PeriodWindow


@dataclass(frozen=True, slots=True)
class Admission:
    """Every check one call needs, at time `now` (epoch seconds)."""

    model: str
    now: float
    ticket: str
    estimate: CallEstimate
    rates: tuple[RateSlot, ...]
    budgets: tuple[BudgetSlot, ...]

    @property
    def rate_checks(self) -> list[RateCheck]:
        """The store's rate checks, in order."""
        return [s.check for s in self.rates]

    @property
    def budget_checks(self) -> list[BudgetCheck]:
        """The store's budget checks, in order."""
        return [s.check for s in self.budgets]


def plan_admission(
    request: Request,
    model: ModelInfo,
    estimate: CallEstimate,
    *,
    rates: Sequence[RateLimit],
    budgets: Sequence[Budget],
    tz: ZoneInfo,
    now: float,
    ticket: str,
    hold_s: float,
    names: KeyNames | None = None,
) -> Admission:
    """The checks of calling `model` for `request` at epoch time `now`; budget
    reservations are held under `ticket` for at most `hold_s` seconds. `names` builds the
    store keys (default: `KeyNames()`, user and team ids hashed with the built-in secret)."""
    names = names or KeyNames()
    rate_slots = [
        slot for limit in rates for slot in _rate_slots(limit, request, model, estimate, names)
    ]
    amount = to_nano(estimate.cost_usd, round_up=True)
    budget_slots = []
    for budget in budgets:
        key = scope_key(budget.per, request, model)
        window = period_window(budget.period, tz, now)
        check = BudgetCheck(
            names.budget(budget, key, window),
            amount,
            to_nano(budget.limit_usd(key)),
            window.end + GRACE_S - now,
            ticket,
            now + hold_s,
        )
        budget_slots.append(BudgetSlot(check, budget, key, window))
    return Admission(model.name, now, ticket, estimate, tuple(rate_slots), tuple(budget_slots))


def budget_key(
    budget: Budget, key: str, window: PeriodWindow, names: KeyNames | None = None
) -> str:
    """The store key of `budget` for `key` in period `window` (see `keys.KeyNames`)."""
    return (names or KeyNames()).budget(budget, key, window)


def _rate_slots(
    limit: RateLimit, request: Request, model: ModelInfo, estimate: CallEstimate, names: KeyNames
) -> list[RateSlot]:
    key = scope_key(limit.per, request, model)
    quota = limit.quota(key)
    slots = []
    if quota.requests is not None:
        check = RateCheck(names.rate(limit, key, "requests"), 1, quota.requests, limit.window_s)
        slots.append(RateSlot(check, limit, key, "requests"))
    if quota.tokens is not None:
        check = RateCheck(
            names.rate(limit, key, "tokens"), estimate.tokens, quota.tokens, limit.window_s
        )
        slots.append(RateSlot(check, limit, key, "tokens"))
    return slots


def rate_key(
    limit: RateLimit,
    key: str,
    dimension: Literal["requests", "tokens"],
    names: KeyNames | None = None,
) -> str:
    """The store key of `limit`'s `dimension` bucket for `key` (see `keys.KeyNames`)."""
    return (names or KeyNames()).rate(limit, key, dimension)


def refusal_error(
    admission: Admission, refusal: Refusal, *, on_exhausted: OnExhausted, tz: ZoneInfo
) -> LimitExceeded:
    """The typed error for `refusal`; `fallback` is True when another model may pass."""
    if refusal.kind == "rate":
        slot = admission.rates[refusal.index]
        retry = refusal.retry_after_s
        when = f"retry in {retry:.1f}s" if retry is not None else "this call alone is larger"
        return RateLimitExceeded(
            f"{slot.limit.per} {slot.key!r} rate limit: {slot.check.limit} {slot.dimension} "
            f"per {slot.limit.window_s:g}s ({when})",
            scope=slot.limit.per,
            key=slot.key,
            dimension=slot.dimension,
            limit=slot.check.limit,
            window_s=slot.limit.window_s,
            model=admission.model,
            retry_after_s=retry,
            fallback=slot.limit.per == "model",
        )
    b = admission.budgets[refusal.index]
    limit, spent, reserved = b.check.limit, refusal.spent, refusal.reserved
    left = limit - spent - reserved
    downgrade = on_exhausted == "downgrade" and left > 0
    reset = datetime.fromtimestamp(b.window.end, tz).isoformat()
    message = (
        f"{b.budget.per} {b.key!r} budget exceeded: ${from_nano(max(0, left)):.6f} left of "
        f"${from_nano(limit):.6f} this {b.budget.period} (spent ${from_nano(spent):.6f}, "
        f"in flight ${from_nano(reserved):.6f}; resets {reset}); {admission.model} needs "
        f"~${admission.estimate.cost_usd:.6f}"
    )
    return BudgetExceeded(
        message + ("; trying a cheaper model" if downgrade else ""),
        scope=b.budget.per,
        key=b.key,
        period=str(b.budget.period),
        limit_usd=from_nano(limit),
        spent_usd=from_nano(spent),
        reserved_usd=from_nano(reserved),
        estimate_usd=admission.estimate.cost_usd,
        model=admission.model,
        reset_at=b.window.end,
        retry_after_s=max(0.0, b.window.end - admission.now),
        fallback=downgrade or b.budget.per == "model",
    )


def max_cost_error(admission: Admission, max_cost_usd: float) -> BudgetExceeded:
    """The refusal of a call whose estimate exceeds the per-request cap (a cheaper
    candidate may still fit, so it falls back)."""
    est = admission.estimate.cost_usd
    return BudgetExceeded(
        f"{admission.model} needs ~${est:.6f}, over the per-request cap ${max_cost_usd:.6f}",
        scope="request",
        key="max_cost_usd",
        period="request",
        limit_usd=max_cost_usd,
        spent_usd=0.0,
        reserved_usd=0.0,
        estimate_usd=est,
        model=admission.model,
        fallback=True,
        reason="budget_exceeded:max_cost",
    )
