"""Where limit state lives: the store protocol, and the in-memory store (one process).

A store applies many checks in one atomic step: `reserve` evaluates every rate bucket
and budget of a call and writes only when all of them pass, so a refused call takes
nothing from any limit. `settle` gives back what a call did not use. Times are epoch
seconds passed in by the caller (the guard's clock); amounts are integers (requests,
tokens, nano-dollars). Every key expires once its state no longer matters.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from modelroute.errors import ModelRouteError
from modelroute.limits.rate import gcra_refund, gcra_take


class StoreUnavailable(ModelRouteError):
    """The store could not be reached or failed; the guard fails open or closed."""


@dataclass(frozen=True, slots=True)
class RateCheck:
    """Take `amount` from the GCRA bucket `key` of `limit` per `window_s` seconds."""

    key: str
    amount: int
    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """Reserve `amount` nano-USD on budget `key` if spent + reserved + amount <= `limit`.

    The reservation is held under `ticket` until settled, or until epoch time
    `hold_until` (a crashed process's reservations are reclaimed then). The key lives
    `ttl_s` seconds more (until its period is over).
    """

    key: str
    amount: int
    limit: int
    ttl_s: float
    ticket: str
    hold_until: float


@dataclass(frozen=True, slots=True)
class BudgetSettle:
    """Release the reservation of `ticket` on budget `key` and charge `actual` nano-USD.

    Idempotent: a ticket already settled (or reclaimed) is charged nothing more, unless
    `charge_unreserved` (a call let through while the store was down had no reservation).
    """

    key: str
    ticket: str
    actual: int
    ttl_s: float
    charge_unreserved: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why `reserve` wrote nothing: check number `index` of `kind` failed.

    For a rate check, `retry_after_s` (None when the amount exceeds the limit); for a
    budget, its `spent` and `reserved` nano-USD at that moment.
    """

    kind: Literal["rate", "budget"]
    index: int
    retry_after_s: float | None = None
    spent: int = 0
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Settled spend and in-flight reservations of one budget key (nano-USD)."""

    spent: int = 0
    reserved: int = 0


class LimitStore(Protocol):
    """Atomic limit state shared by every guard that uses the same store."""

    def reserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Apply every check or none; the first failing one is returned."""
        ...

    async def areserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Async twin of `reserve`."""
        ...

    def settle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Give `refunds` back to their buckets and settle `budgets`."""
        ...

    async def asettle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Async twin of `settle`."""
        ...

    def budget_state(self, key: str) -> BudgetState:
        """The current state of budget `key` (zeros when unknown or expired)."""
        ...

    def rate_tat(self, key: str, now: float) -> float | None:
        """The stored `tat` of rate bucket `key` at epoch time `now` (None: a full bucket)."""
        ...


_SWEEP_EVERY = 1024  # operations between sweeps of expired keys


@dataclass(slots=True)
class _Budget:
    spent: int = 0
    reserved: int = 0
    holds: dict[str, tuple[int, float]] = field(default_factory=dict)  # ticket: amount, until
    expires_at: float = 0.0

    def reclaim(self, now: float) -> None:
        stale = [t for t, (_, until) in self.holds.items() if until <= now]
        for ticket in stale:
            self.reserved -= self.holds.pop(ticket)[0]


class MemoryStore:
    """Limit state in this process's memory, behind one lock (held only for arithmetic,
    never across a call). Expired keys are dropped on access and by a periodic sweep.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tats: dict[str, tuple[float, float]] = {}  # key -> (tat, expires_at)
        self._budgets: dict[str, _Budget] = {}
        self._ops = 0

    def __len__(self) -> int:
        """Number of keys held (expired ones count until the next sweep)."""
        return len(self._tats) + len(self._budgets)

    def reserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Apply every check or none; the first failing one is returned."""
        with self._lock:
            self._maybe_sweep(now)
            tats = []
            for i, rc in enumerate(rates):
                step = gcra_take(self._tat(rc.key, now), now, rc.amount, rc.limit, rc.window_s)
                if not step.allowed:
                    return Refusal("rate", i, retry_after_s=step.retry_after_s)
                tats.append(step.tat)
            entries = [self._budget(bc.key, now) for bc in budgets]
            for j, (bc, b) in enumerate(zip(budgets, entries, strict=True)):
                if b.spent + b.reserved + bc.amount > bc.limit:
                    b.reclaim(now)
                    if b.spent + b.reserved + bc.amount > bc.limit:
                        return Refusal("budget", j, spent=b.spent, reserved=b.reserved)
            for rc, tat in zip(rates, tats, strict=True):
                self._tats[rc.key] = (tat, tat)
            for bc, b in zip(budgets, entries, strict=True):
                b.reserved += bc.amount
                b.holds[bc.ticket] = (bc.amount, bc.hold_until)
                b.expires_at = now + bc.ttl_s
                self._budgets[bc.key] = b
            return None

    async def areserve(
        self, rates: Sequence[RateCheck], budgets: Sequence[BudgetCheck], now: float
    ) -> Refusal | None:
        """Same as `reserve` (no I/O to wait for)."""
        return self.reserve(rates, budgets, now)

    def settle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Give `refunds` back to their buckets and settle `budgets`."""
        with self._lock:
            for rc in refunds:
                tat = self._tat(rc.key, now)
                if tat is not None:
                    new_tat = gcra_refund(tat, now, rc.amount, rc.limit, rc.window_s)
                    self._tats[rc.key] = (new_tat, new_tat)
            for bs in budgets:
                b = self._budget(bs.key, now)
                hold = b.holds.pop(bs.ticket, None)
                if hold is not None:
                    b.reserved = max(0, b.reserved - hold[0])
                if hold is not None or bs.charge_unreserved:
                    b.spent += bs.actual
                b.expires_at = now + max(bs.ttl_s, 1.0)
                self._budgets[bs.key] = b

    async def asettle(
        self, refunds: Sequence[RateCheck], budgets: Sequence[BudgetSettle], now: float
    ) -> None:
        """Same as `settle`."""
        self.settle(refunds, budgets, now)

    def budget_state(self, key: str) -> BudgetState:
        """The current state of budget `key` (expiry not considered)."""
        with self._lock:
            b = self._budgets.get(key) or _Budget()
            return BudgetState(b.spent, b.reserved)

    def rate_tat(self, key: str, now: float) -> float | None:
        """The stored `tat` of rate bucket `key` (None when unknown or expired)."""
        with self._lock:
            return self._tat(key, now)

    def _tat(self, key: str, now: float) -> float | None:
        entry = self._tats.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def _budget(self, key: str, now: float) -> _Budget:
        entry = self._budgets.get(key)
        if entry is None or entry.expires_at <= now:
            return _Budget()
        return entry

    def _maybe_sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        self._tats = {k: v for k, v in self._tats.items() if v[1] > now}
        self._budgets = {k: v for k, v in self._budgets.items() if v.expires_at > now}
