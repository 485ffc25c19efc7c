"""Metrics: hull, AIQ, oracle and RouteLLM's PGR / APGR / CPT, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from modelroute.offline.metrics import aiq, oracle, pgr, single_model, upper_hull


def test_upper_hull_drops_dominated_and_concave_points() -> None:
    points = [(1.0, 0.5), (2.0, 0.6), (2.5, 0.7), (3.0, 0.9), (4.0, 0.8)]
    assert upper_hull(points) == [(1.0, 0.5), (3.0, 0.9)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(1.0, 1.0)], 0.5),  # zero left of the only point, flat right of it
        ([(0.0, 0.0), (2.0, 1.0)], 0.5),  # a straight line from 0 to 1
        ([(0.0, 0.5), (1.0, 1.0)], 0.875),  # (0.75 * 1 + 1.0 * 1) / 2
    ],
)
def test_aiq_is_the_normalized_area_under_the_hull(
    points: list[tuple[float, float]], expected: float
) -> None:
    assert aiq(points, 0.0, 2.0) == pytest.approx(expected)


def test_oracle_takes_the_cheapest_best_model() -> None:
    quality = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    cost = np.array([[2.0, 1.0, 5.0], [1.0, 1.0, 9.0], [3.0, 1.0, 2.0]])
    best = oracle(quality, cost)
    assert best.answered_by.tolist() == [1, 2, 1]
    assert best.mean_quality == pytest.approx(2 / 3)
    assert best.mean_cost == pytest.approx((1 + 9 + 1) / 3)
    assert single_model(quality, cost, 0).mean_quality == pytest.approx(1 / 3)


def test_pgr_apgr_and_cpt_by_hand() -> None:
    weak = np.array([0.0, 0.0, 1.0, 1.0])
    strong = np.array([1.0, 1.0, 1.0, 0.0])
    result = pgr(weak, strong, np.array([3.0, 2.0, 1.0, 0.0]))
    assert result is not None
    # PGR at shares 0, .25, .5, .75, 1 is 0, 1, 2, 2, 1 (w = .5, s = .75)
    assert result.apgr == pytest.approx(0.125 + 0.375 + 0.5 + 0.375)
    assert result.cpt50 == pytest.approx(0.25)
    assert result.cpt80 == pytest.approx(0.25)
    assert pgr(strong, weak, np.zeros(4)) is None  # "strong" is not better
