"""Calibration: one price of cost picks every group's point; the cheapest that meets the
target wins."""

from __future__ import annotations

import pytest

from modelroute.offline.calibrate import (
    Calibration,
    Choice,
    CrossCheck,
    Half,
    OperatingPoint,
    Target,
    best_calibration,
    cross_checked_goal,
    frontier,
    rank_key,
    select,
)


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


def _half_points(c1: float, c2: float, dear: float) -> dict[str, list[OperatingPoint]]:
    """One group's points on a half of 10 rows: two cheap settings and a dear one."""
    return {
        "g": [
            OperatingPoint("g", "c1", 10, c1, 1.0, 0.0),
            OperatingPoint("g", "c2", 10, c2, 1.0, 0.0),
            OperatingPoint("g", "dear", 10, dear, 5.0, 5.0),
        ]
    }


POINTS_20 = {
    "g": [
        OperatingPoint("g", "c1", 20, 18.4, 2.0, 0.0),
        OperatingPoint("g", "c2", 20, 17.0, 2.0, 0.0),
        OperatingPoint("g", "dear", 20, 19.6, 10.0, 10.0),
    ]
}


def test_cross_check_raises_the_goal_past_a_lucky_setting() -> None:
    # Each half's best cheap setting is lucky: it fails on the other half.
    a = Half(_half_points(9.5, 7.5, 9.8), 10, 10.0)
    b = Half(_half_points(7.5, 9.5, 9.8), 10, 10.0)
    naive = Calibration.fit(POINTS_20, Target(quality=0.9), rows=20, baseline_quality=20.0)
    assert naive.choice.points["g"].setting == "c1"  # 92% on all rows
    checked = Calibration.fit(
        POINTS_20, Target(quality=0.9), rows=20, baseline_quality=20.0, halves=[(a, b)]
    )
    # Calibrated to 90% on a, c1 gets 75% on b (and c2 75% on a): the halves must be
    # asked for more than 95% to pick "dear"; shrunk by sqrt(2) for all rows.
    assert checked.choice.goal == pytest.approx(0.9 + 0.0525 / 2**0.5)
    assert checked.choice.points["g"].setting == "dear"
    assert checked.choice.target_met
    assert checked.retarget(Target(quality=0.9)).choice == checked.choice


def test_cross_check_flags_a_target_it_cannot_confirm() -> None:
    a = Half(_half_points(9.5, 7.5, 8.0), 10, 10.0)
    b = Half(_half_points(7.5, 9.5, 8.0), 10, 10.0)
    assert cross_checked_goal([CrossCheck.of(a, b), CrossCheck.of(b, a)], 0.9) == (0.9, False)
    cal = Calibration.fit(
        POINTS_20, Target(quality=0.9), rows=20, baseline_quality=20.0, halves=[(a, b)]
    )
    assert cal.choice.goal == 0.9
    assert cal.choice.points["g"].setting == "c1"  # calibrated to the target itself ...
    assert not cal.choice.target_met  # ... and flagged


def test_cross_check_needs_the_same_settings_on_both_halves() -> None:
    a = Half(_half_points(9.0, 9.0, 9.5), 10, 10.0)
    b = Half({"g": [OperatingPoint("g", "other", 10, 9.0, 1.0, 0.0)]}, 10, 10.0)
    with pytest.raises(ValueError, match="group 'g'"):
        CrossCheck.of(a, b)


def test_settings_at_sweep_prices_follow_the_cost_axis_whatever_the_target() -> None:
    points = {"g": [_pt("g", 0, 5, 3), _pt("g", 1, 8, 0), _pt("g", 3, 9, 1)]}
    cal = Calibration.fit(points, Target(strong_share=0.5), rows=10, baseline_quality=16)
    cheapest = cal.sweep()[0]  # the cheapest combination: the cost-0 point
    assert cal.settings(cheapest) == {"g": "g@0"}
    assert cal.settings(cheapest, "strong") == {"g": "g@1"}


def _family(*points: tuple[float, float]) -> Calibration:
    pts = {"g": [OperatingPoint("g", f"{c}:{q}", 10, q, c, 0.0) for c, q in points]}
    return Calibration.fit(pts, Target(quality=0.95), rows=10, baseline_quality=10)


def test_each_target_gets_the_family_that_serves_it_best() -> None:
    small = _family((1, 9.5), (6, 9.8))  # cheap at 95%, never reaches 100%
    large = _family((2, 9.5), (4, 10.2))  # dearer at 95%, reaches 100%
    at_95 = best_calibration([small, large], Target(quality=0.95))
    at_100 = best_calibration([small, large], Target(quality=1.0))
    assert at_95.choice.cost == pytest.approx(0.1) and at_95.choice.target_met
    assert at_100.choice.quality == pytest.approx(1.02) and at_100.choice.target_met
    short = best_calibration([small, large], Target(quality=1.1))  # neither: the best quality
    assert short.choice.quality == pytest.approx(1.02) and not short.choice.target_met
    with pytest.raises(ValueError, match="no calibration"):
        best_calibration([], Target(quality=0.95))


def test_rank_key_prefers_confirmed_then_reached_then_cheap() -> None:
    goal = Target(quality=1.0)

    def choice(quality: float, cost: float, met: bool) -> Choice:
        return Choice(goal, 0.0, {}, quality, cost, 0.0, met)

    ranked = sorted(
        [
            choice(0.99, 0.1, False),  # short of the target
            choice(1.02, 0.9, False),  # reached on training rows, not confirmed, dear
            choice(1.01, 0.5, False),  # reached, not confirmed, cheaper
            choice(1.00, 0.95, True),  # confirmed
        ],
        key=rank_key,
    )
    assert [(c.quality, c.cost) for c in ranked] == [
        (1.0, 0.95),
        (1.01, 0.5),
        (1.02, 0.9),
        (0.99, 0.1),
    ]
