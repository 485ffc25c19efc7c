"""Calibration: one price of cost picks every group's point; the cheapest that meets the
target wins."""

from __future__ import annotations

import pytest

from modelroute.offline.calibrate import Calibration, OperatingPoint, Target, frontier, select


def _pt(group: str, cost: float, quality: float, strong: float = 0.0) -> OperatingPoint:
    return OperatingPoint(group, f"{group}@{cost}", 5, quality, cost, strong)


POINTS = {
    "g1": [_pt("g1", 0, 5), _pt("g1", 1, 8, 1), _pt("g1", 3, 9, 3), _pt("g1", 4, 8.5, 4)],
    "g2": [_pt("g2", 0, 2), _pt("g2", 2, 6, 2)],
}


def test_frontier_drops_dominated_points() -> None:
    assert [p.cost for p in frontier(POINTS["g1"])] == [0, 1, 3]


def test_select_maximizes_quality_minus_priced_cost() -> None:
    chosen = select({g: frontier(p) for g, p in POINTS.items()}, 2.5, "cost")
    assert (chosen["g1"].cost, chosen["g2"].cost) == (1, 0)


@pytest.mark.parametrize(
    ("target", "quality", "cost", "met"),
    [
        (0.75, 14 / 16, 3 / 10, True),  # 10/16 at cost 1 is short; 14/16 at 3 is the cheapest
        (0.5, 10 / 16, 1 / 10, True),
        (0.99, 15 / 16, 5 / 10, False),  # the best there is, flagged
    ],
)
def test_calibrate_hits_a_quality_target_at_least_cost(
    target: float, quality: float, cost: float, met: bool
) -> None:
    cal = Calibration.fit(POINTS, Target(quality=target), rows=10, baseline_quality=16)
    assert cal.choice.quality == pytest.approx(quality)
    assert cal.choice.cost == pytest.approx(cost)
    assert cal.choice.target_met is met


def test_calibrate_for_a_strong_share_and_retarget() -> None:
    cal = Calibration.fit(POINTS, Target(strong_share=0.3), rows=10, baseline_quality=16)
    assert cal.choice.strong_share <= 0.3
    assert cal.choice.quality == pytest.approx(14 / 16)
    again = cal.retarget(Target(quality=0.5))
    assert again.choice.cost == pytest.approx(0.1)
    assert set(again.settings()) == {"g1", "g2"}


def test_target_needs_exactly_one_goal() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Target()
    with pytest.raises(ValueError, match="non-negative"):
        Target(quality=float("nan"))
