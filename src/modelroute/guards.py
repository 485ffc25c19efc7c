"""Checks run before every provider call (rate limits, budgets) and settled after it.

A guard's `admit` either returns a ticket or raises `LimitExceeded`; after the call
the engine calls `settle` with the ticket and the finished `Attempt` (its `cost_usd`
is the real cost), or with None when the call never happened, so reservations are
released. Async twins let guards use network stores (Redis) without blocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.records import Attempt
    from modelroute.types import Request


class AttemptGuard(Protocol):
    """A limit checked before each attempt (every fallback hop included)."""

    def admit(self, request: Request, model: ModelInfo) -> object:
        """Reserve capacity for one call; raise `LimitExceeded` to refuse it."""
        ...

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        """Async twin of `admit`."""
        ...

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        """Reconcile the reservation with what happened (None = release it)."""
        ...

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        """Async twin of `settle`."""
        ...


Tickets = list[tuple["AttemptGuard", object]]


def admit_all(guards: Sequence[AttemptGuard], request: Request, model: ModelInfo) -> Tickets:
    """Admit through every guard in order; on refusal release those already admitted."""
    tickets: Tickets = []
    try:
        for guard in guards:
            tickets.append((guard, guard.admit(request, model)))
    except BaseException:
        settle_all(tickets, None)
        raise
    return tickets


async def aadmit_all(guards: Sequence[AttemptGuard], request: Request, model: ModelInfo) -> Tickets:
    """Async twin of `admit_all`."""
    tickets: Tickets = []
    try:
        for guard in guards:
            tickets.append((guard, await guard.aadmit(request, model)))
    except BaseException:
        await asettle_all(tickets, None)
        raise
    return tickets


def settle_all(tickets: Tickets, attempt: Attempt | None) -> None:
    """Settle every ticket with the attempt's real cost (None = release)."""
    for guard, ticket in tickets:
        guard.settle(ticket, attempt)


async def asettle_all(tickets: Tickets, attempt: Attempt | None) -> None:
    """Async twin of `settle_all`."""
    for guard, ticket in tickets:
        await guard.asettle(ticket, attempt)
