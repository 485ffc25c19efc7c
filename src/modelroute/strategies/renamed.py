"""A strategy that knows some of a route's models by other names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from modelroute.catalog import Catalog
from modelroute.strategies.base import Ranking, Strategy
from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class RenamedStrategy:
    """A strategy that knows some route models by other names (`names`: route model ->
    the strategy's name for it); rankings come back in route model names.

    Raises ValueError for a strategy that also judges answers (a learned cascade): this
    wrapper would hide its judging, so the route would silently stop being a cascade; give
    `LearnedCascade.load(path, names=...)` the names instead."""

    inner: Strategy
    names: Mapping[str, str]

    def __post_init__(self) -> None:
        if hasattr(self.inner, "judge"):
            raise ValueError(
                "RenamedStrategy cannot wrap a strategy that judges answers (a learned "
                "cascade): pass the names to it instead, e.g. LearnedCascade.load(path, names=...)"
            )

    @property
    def name(self) -> str:
        """The inner strategy's name."""
        return self.inner.name

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """The inner ranking of `models`, translated to and from the strategy's names."""
        back = {self.names.get(m, m): m for m in reversed(models)}
        ranking = self.inner.rank(request, tuple(self.names.get(m, m) for m in models), catalog)
        tier = None if ranking.tier is None else back.get(ranking.tier, ranking.tier)
        ranked = tuple(back.get(m, m) for m in ranking.models)
        return replace(ranking, models=ranked, tier=tier)
