"""Routing metrics on recorded outcomes: quality and cost per query, the cost-quality
curve, AIQ (RouterBench) and, for two-model data, PGR / APGR / CPT (RouteLLM).

AIQ (Hu et al. 2024, RouterBench): the router's (cost, quality) points are closed under
mixing, so its curve is the non-decreasing upper convex hull of the points (linear
between hull vertices, flat to the right of the best one, zero left of the cheapest one);
AIQ is the area under it divided by the width of the cost range, integrated over the
range spanned by the single models (cheapest to most expensive). The single models' own
hull gives the reference AIQ.

PGR (Ong et al. 2024, RouteLLM): with weak and strong quality means w and s, a router
calling the strong model on a share c of queries reaching quality r(c) has
PGR(c) = (r(c) - w) / (s - w); APGR is its mean over c in [0, 1]; CPT(x) is the least
strong share with PGR >= x.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a router did on each query: the data column whose recorded answer it returned,
    that answer's quality, the summed USD cost of every call it made, how many calls, and
    whether the strong (baseline) model was among them."""

    answered_by: IntArray
    quality: FloatArray
    cost: FloatArray
    calls: IntArray
    strong: BoolArray

    @property
    def mean_quality(self) -> float:
        """Quality per query."""
        return float(self.quality.mean()) if self.quality.size else 0.0

    @property
    def mean_cost(self) -> float:
        """USD per query (NaN when the data has no prices)."""
        return float(self.cost.mean()) if self.cost.size else 0.0

    def model_share(self, models: Sequence[str]) -> dict[str, float]:
        """Share of queries answered by each data column's model (all models listed)."""
        counts = np.bincount(self.answered_by, minlength=len(models))
        n = max(len(self.answered_by), 1)
        return {m: float(counts[j]) / n for j, m in enumerate(models)}


def single_model(quality: FloatArray, cost: FloatArray, column: int) -> Outcome:
    """Every query sent to one model."""
    n = quality.shape[0]
    return Outcome(
        np.full(n, column, dtype=np.int64),
        quality[:, column].astype(np.float64),
        cost[:, column].astype(np.float64),
        np.ones(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
    )


def oracle(quality: FloatArray, cost: FloatArray) -> Outcome:
    """Per query, the cheapest model with the best quality (RouterBench's oracle)."""
    n = quality.shape[0]
    best = quality.max(axis=1, keepdims=True)
    priced = np.where(quality >= best, np.nan_to_num(cost, nan=0.0), np.inf)
    pick = np.argmin(priced, axis=1).astype(np.int64)
    rows = np.arange(n)
    return Outcome(
        pick,
        quality[rows, pick],
        cost[rows, pick],
        np.ones(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
    )


def upper_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-decreasing upper convex hull of (cost, quality) points, by cost."""
    pts = sorted(set(points))
    hull: list[tuple[float, float]] = []
    for p in pts:
        if hull and p[1] <= hull[-1][1]:
            continue  # costs more, no better
        if hull and p[0] == hull[-1][0]:
            hull.pop()  # same cost, better quality
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (p[0] - x1) <= (p[1] - y1) * (x2 - x1):
                hull.pop()  # hull[-1] lies on or below the chord
            else:
                break
        hull.append(p)
    return hull


def aiq(points: Sequence[tuple[float, float]], lo: float, hi: float) -> float:
    """Area under the hull of `points` over [lo, hi], divided by (hi - lo)."""
    hull = upper_hull(points)
    if not hull or hi <= lo:
        return 0.0
    xs = [x for x, _ in hull]
    ys = [y for _, y in hull]
    grid = sorted({lo, hi, *(x for x in xs if lo < x < hi)})
    area = 0.0
    for a, b in itertools.pairwise(grid):
        area += (b - a) * (_curve(xs, ys, a, right=True) + _curve(xs, ys, b, right=False)) / 2
    return area / (hi - lo)


def _curve(xs: list[float], ys: list[float], x: float, *, right: bool) -> float:
    """The hull's height at x: 0 left of the cheapest point (and as the left limit at
    it), the best quality right of the costliest one, linear in between."""
    if x < xs[0] or (x == xs[0] and not right):
        return 0.0
    if x >= xs[-1]:
        return ys[-1]
    i = int(np.searchsorted(xs, x, side="right")) - 1
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True, slots=True)
class PGR:
    """RouteLLM's two-model metrics for one router."""

    apgr: float
    cpt50: float
    cpt80: float
    curve: tuple[tuple[float, float], ...]  # (strong share, PGR)


def pgr(weak: FloatArray, strong: FloatArray, score: FloatArray) -> PGR | None:
    """PGR over every strong share: the queries with the highest `score` go to the strong
    model. None when the strong model is not better than the weak one on this data."""
    n = weak.size
    w, s = float(weak.mean()), float(strong.mean())
    if n == 0 or s <= w:
        return None
    order = np.argsort(-score, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    quality = (weak.sum() + gain) / n
    shares = np.arange(n + 1) / n
    values = (quality - w) / (s - w)
    apgr = float(np.trapezoid(values, shares))

    def cpt(x: float) -> float:
        hit = np.flatnonzero(values >= x - 1e-12)
        return float(shares[hit[0]]) if hit.size else 1.0

    step = max(1, n // 100)
    curve = tuple((float(shares[i]), float(values[i])) for i in range(0, n + 1, step))
    return PGR(apgr, cpt(0.5), cpt(0.8), curve)
