"""The strategy protocol and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from modelroute.catalog import Catalog
    from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class Ranking:
    """Models to try, in order, and why.

    `score` is the scorer's number for this request (e.g. complexity, or the predicted
    chance that the cheapest model is good enough), `threshold` the calibrated cut it was
    compared with, `tier` the name of the chosen tier. All optional.
    """

    models: tuple[str, ...]
    reason: str = ""
    score: float | None = None
    threshold: float | None = None
    tier: str | None = None


@runtime_checkable
class Strategy(Protocol):
    """Ranks a route's models for one request. Must be pure and thread-safe."""

    @property
    def name(self) -> str:
        """The strategy's name, recorded in every decision (e.g. `cheapest`)."""
        ...

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """Order (and possibly narrow) `models` for `request`."""
        ...
