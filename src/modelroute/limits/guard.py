"""`LimitsGuard`: rate limits and USD budgets checked before every provider call.

The engine calls `admit` before each call (every fallback hop included) and `settle`
after it. `admit` reserves the call's estimated cost and counts its request and
tokens in one atomic store step, or raises a typed refusal; `settle` replaces the
reservation with the real cost (`Attempt.cost_usd`), or releases everything when the
call never happened. Sync and async paths share every decision; only the store call
differs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from modelroute.clock import Clock, SystemClock
from modelroute.errors import LimitStoreUnavailable
from modelroute.limits.admission import (
    GRACE_S,
    Admission,
    OnExhausted,
    budget_key,
    max_cost_error,
    plan_admission,
    rate_key,
    refusal_error,
)
from modelroute.limits.budget import Budget, BudgetUsage, from_nano, to_nano
from modelroute.limits.estimate import estimate_call
from modelroute.limits.keys import KeyNames
from modelroute.limits.periods import period_window
from modelroute.limits.rate import RateLimit, RateUsage, gcra_level
from modelroute.limits.store import (
    BudgetSettle,
    LimitStore,
    MemoryStore,
    RateCheck,
    StoreUnavailable,
)
from modelroute.records import AttemptOutcome

if TYPE_CHECKING:
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.records import Attempt
    from modelroute.types import Request

logger = logging.getLogger("modelroute.limits")

OnStoreError = Literal["open", "closed"]
_WARN_EVERY_S = 30.0  # at most one store warning per this many seconds
_MAX_PENDING = 10_000  # settlements kept for a retry while the store is down


@dataclass(frozen=True, slots=True)
class Ticket:
    """What `admit` reserved for one call. `checked` is False when the store was down
    and the call was let through unchecked (fail open)."""

    admission: Admission
    checked: bool = True


class LimitsGuard:
    """Rate limits and budgets for a `Router` (pass it in `guards=`).

    - `catalog` prices calls and counts input tokens (its `token_counter`).
    - `rates`, `budgets`: the limits (`RateLimit`, `Budget`).
    - `store`: where counts live; `MemoryStore()` by default, `RedisStore` to share them.
    - `timezone`: IANA name for budget periods (days and months end at local midnight).
    - `on_exhausted`: `refuse` stops the request with `BudgetExceeded`; `downgrade` skips
      only the models whose estimate does not fit what is left, so a cheaper candidate
      of the route answers (refused outright once nothing is left).
    - `max_cost_usd`: per-call cap on the estimated cost; a model over it is skipped.
    - `default_max_output_tokens`: the output bound when neither the request's
      `max_tokens` nor the model's maximum is known.
    - `on_store_error`: `open` lets calls through with a logged warning while the store
      is unreachable; `closed` refuses them with `LimitStoreUnavailable`.
    - `hold_s`: a reservation never settled (its process died) is reclaimed after this
      many seconds; keep it longer than any call lasts.
    - `key_secret`: the HMAC key that turns user and team ids into the pseudonyms store
      keys carry (`limits.keys`; None: a built-in, public default). Every guard sharing a
      store needs the same secret, or their limits are not shared.

    A cancelled call (`AttemptOutcome.CANCELLED`) is charged what its record says: a
    stream stopped mid-way pays for the tokens it received (the provider bills them), so
    its reservation becomes spend; one cancelled before any output arrived costs $0. Its
    rate-limit counts are given back either way, as for a call that never happened.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        rates: Sequence[RateLimit] = (),
        budgets: Sequence[Budget] = (),
        store: LimitStore | None = None,
        clock: Clock | None = None,
        timezone: str = "UTC",
        on_exhausted: OnExhausted = "refuse",
        max_cost_usd: float | None = None,
        default_max_output_tokens: int = 4096,
        on_store_error: OnStoreError = "open",
        hold_s: float = 3600.0,
        key_secret: str | bytes | None = None,
    ) -> None:
        self.catalog = catalog
        self.rates = tuple(rates)
        self.budgets = tuple(budgets)
        self.store: LimitStore = store if store is not None else MemoryStore()
        self.clock: Clock = clock or SystemClock()
        self.tz = ZoneInfo(timezone)
        self.on_exhausted: OnExhausted = on_exhausted
        self.max_cost_usd = max_cost_usd
        self.default_max_output_tokens = default_max_output_tokens
        self.on_store_error: OnStoreError = on_store_error
        self.hold_s = hold_s
        self.names = KeyNames.of(key_secret)
        self.store_failures = 0
        self._pending: deque[BudgetSettle] = deque(maxlen=_MAX_PENDING)
        self._lock = threading.Lock()
        self._warned_at: float | None = None

    # -- the AttemptGuard protocol --------------------------------------------------------

    def admit(self, request: Request, model: ModelInfo) -> Ticket:
        """Reserve one call to `model`, or raise `LimitExceeded` (a typed subclass)."""
        adm = self._prepare(request, model)
        try:
            refusal = self.store.reserve(adm.rate_checks, adm.budget_checks, adm.now)
        except StoreUnavailable as exc:
            return self._store_down(adm, exc)
        if refusal is not None:
            raise refusal_error(adm, refusal, on_exhausted=self.on_exhausted, tz=self.tz)
        return Ticket(adm)

    async def aadmit(self, request: Request, model: ModelInfo) -> Ticket:
        """Async twin of `admit`."""
        adm = self._prepare(request, model)
        try:
            refusal = await self.store.areserve(adm.rate_checks, adm.budget_checks, adm.now)
        except StoreUnavailable as exc:
            return self._store_down(adm, exc)
        if refusal is not None:
            raise refusal_error(adm, refusal, on_exhausted=self.on_exhausted, tz=self.tz)
        return Ticket(adm)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        """Charge the real cost and release the reservation (None: release everything).

        Never raises for a store failure: the settlement is kept and retried with the
        next one (settling is idempotent per ticket), and a warning is logged.
        """
        assert isinstance(ticket, Ticket)
        now = self.clock.wall()
        refunds, budgets = _settlement(ticket, attempt, now)
        budgets = self._take_pending() + budgets
        try:
            self.store.settle(refunds, budgets, now)
        except StoreUnavailable as exc:
            self._keep_pending(budgets, exc)

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        """Async twin of `settle`."""
        assert isinstance(ticket, Ticket)
        now = self.clock.wall()
        refunds, budgets = _settlement(ticket, attempt, now)
        budgets = self._take_pending() + budgets
        try:
            await self.store.asettle(refunds, budgets, now)
        except StoreUnavailable as exc:
            self._keep_pending(budgets, exc)

    # -- inspection ----------------------------------------------------------------------

    def budget_usage(self, per: str, key: str, period: str | None = None) -> BudgetUsage:
        """The current period's state of the budget of scope `per` for `key`.

        `period` picks among several budgets of the same scope. Raises KeyError when no
        such budget is configured.
        """
        for budget in self.budgets:
            if budget.per == per and (period is None or budget.period == period):
                window = period_window(budget.period, self.tz, self.clock.wall())
                state = self.store.budget_state(budget_key(budget, key, window, self.names))
                return BudgetUsage(
                    key=key,
                    period=window.label,
                    limit_usd=budget.limit_usd(key),
                    spent_usd=from_nano(state.spent),
                    reserved_usd=from_nano(state.reserved),
                    reset_at=window.end,
                )
        raise KeyError(f"no budget per {per!r}" + (f" and {period!r}" if period else ""))

    def rate_usage(self, per: str, key: str) -> RateUsage:
        """What is in use now of the rate limit of scope `per` for `key` (the first such
        limit). Raises KeyError when no such limit is configured."""
        limit = next((r for r in self.rates if r.per == per), None)
        if limit is None:
            raise KeyError(f"no rate limit per {per!r}")
        now, quota = self.clock.wall(), limit.quota(key)

        def used(dimension: Literal["requests", "tokens"], allowed: int | None) -> float | None:
            if allowed is None:
                return None
            tat = self.store.rate_tat(rate_key(limit, key, dimension, self.names), now)
            return gcra_level(tat, now, allowed, limit.window_s)

        return RateUsage(
            key=key,
            window_s=limit.window_s,
            requests_used=used("requests", quota.requests),
            requests_limit=quota.requests,
            tokens_used=used("tokens", quota.tokens),
            tokens_limit=quota.tokens,
        )

    @property
    def pending_settlements(self) -> int:
        """Settlements waiting for the store to come back."""
        return len(self._pending)

    # -- internals -----------------------------------------------------------------------

    def _prepare(self, request: Request, model: ModelInfo) -> Admission:
        estimate = estimate_call(self.catalog, request, model, self.default_max_output_tokens)
        admission = plan_admission(
            request,
            model,
            estimate,
            rates=self.rates,
            budgets=self.budgets,
            tz=self.tz,
            now=self.clock.wall(),
            ticket=os.urandom(8).hex(),
            hold_s=self.hold_s,
            names=self.names,
        )
        if self.max_cost_usd is not None and estimate.cost_usd > self.max_cost_usd:
            raise max_cost_error(admission, self.max_cost_usd)
        return admission

    def _store_down(self, admission: Admission, exc: StoreUnavailable) -> Ticket:
        with self._lock:
            self.store_failures += 1
        if self.on_store_error == "closed":
            raise LimitStoreUnavailable(f"limits not checked, refusing ({exc})") from None
        self._warn(f"letting a call through unchecked (fail open): {exc}")
        return Ticket(admission, checked=False)

    def _take_pending(self) -> list[BudgetSettle]:
        if not self._pending:
            return []
        with self._lock:
            taken = list(self._pending)
            self._pending.clear()
        return taken

    def _keep_pending(self, budgets: list[BudgetSettle], exc: StoreUnavailable) -> None:
        with self._lock:
            self._pending.extend(budgets)
        self._warn(f"could not settle call costs, will retry ({exc})")

    def _warn(self, message: str) -> None:
        now = self.clock.now()
        with self._lock:
            if self._warned_at is not None and now - self._warned_at < _WARN_EVERY_S:
                return
            self._warned_at = now
        logger.warning("modelroute limits: %s", message)


def _settlement(
    ticket: Ticket, attempt: Attempt | None, now: float
) -> tuple[list[RateCheck], list[BudgetSettle]]:
    """Store updates that settle `ticket`: refund the rate counts of a call that never
    happened or was cancelled; release each budget reservation and charge the real cost
    (`attempt.cost_usd`: for a stream cancelled mid-way, its recorded partial cost).

    A ticket let through unchecked may have no reservation: its cost is charged anyway.
    """
    adm = ticket.admission
    cancelled = attempt is None or attempt.outcome is AttemptOutcome.CANCELLED
    actual = 0 if attempt is None else to_nano(attempt.cost_usd)
    refunds = adm.rate_checks if cancelled and ticket.checked else []
    budgets = [
        BudgetSettle(
            s.check.key,
            adm.ticket,
            actual,
            s.window.end + GRACE_S - now,
            charge_unreserved=not ticket.checked,
        )
        for s in adm.budgets
    ]
    return refunds, budgets
