"""Classifier routing: a scorer maps a request to a number; thresholds pick the tier."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from modelroute.catalog import Catalog
from modelroute.strategies.base import Ranking
from modelroute.types import Request

Scorer = Callable[[Request], float]


@dataclass(frozen=True, slots=True)
class ScoreThreshold:
    """Route models are tiers, cheapest first; `thresholds` (ascending, one fewer than
    tiers) cut the score range. A score below `thresholds[0]` starts at tier 0, at or
    above `thresholds[-1]` at the last tier. The request starts at its tier and falls back
    to stronger tiers only. Calibrate thresholds offline (`modelroute calibrate`) as
    quantiles of recorded scores for a target strong-model share.
    """

    scorer: Scorer
    thresholds: tuple[float, ...]
    name: str = "threshold"

    def __post_init__(self) -> None:
        if list(self.thresholds) != sorted(self.thresholds):
            raise ValueError(f"thresholds must be ascending, got {self.thresholds}")

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """Start at the scored tier; stronger tiers stay as fallbacks."""
        if len(models) != len(self.thresholds) + 1:
            raise ValueError(
                f"{len(self.thresholds)} thresholds need {len(self.thresholds) + 1} tiers, "
                f"the route has {len(models)} models"
            )
        score = float(self.scorer(request))
        tier = bisect.bisect_right(self.thresholds, score)
        cut = self.thresholds[tier - 1] if tier > 0 else self.thresholds[0]
        return Ranking(
            models[tier:],
            reason=f"score {score:.3f} -> tier {tier}",
            score=score,
            threshold=cut,
            tier=models[tier],
        )
