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


def _ps(group: str, name: str, strong: float, quality: float, cost: float) -> OperatingPoint:
    return OperatingPoint(group, name, 20, quality, cost, strong)


# g1 is not concave along strong calls (A1 lies under the chord A0-A2); g2's one step is
# cheap in cost. A single price on strong calls reaches 0, 12 or 18 strong calls only.
GAPPY = {
    "g1": [_ps("g1", "A0", 0, 0, 0), _ps("g1", "A1", 6, 5, 6), _ps("g1", "A2", 12, 12, 12)],
    "g2": [_ps("g2", "B0", 0, 0, 0), _ps("g2", "B1", 6, 5.5, 1)],
}


def test_strong_share_cap_takes_the_best_quality_under_it() -> None:
    # At most 8 of 20 queries: A0 + B1 (6 strong calls, quality 5.5), found along the
    # cost axis; the strong-axis sweep alone jumps from 0 to 12 strong calls.
    cal = Calibration.fit(GAPPY, Target(strong_share=0.4), rows=20, baseline_quality=20)
    assert cal.settings() == {"g1": "A0", "g2": "B1"}
    assert (cal.choice.strong_share, cal.choice.quality) == (6 / 20, 5.5 / 20)
    assert cal.choice.target_met
    assert cal.choice.to_dict()["lam_axis"] == "cost"
    assert cal.choice.to_dict()["axis"] == "strong"
    # At most 12: A2 + B0 (quality 12) beats A0 + B1 and A1 + B1 (10.5).
    wider = cal.retarget(Target(strong_share=0.6))
    assert wider.settings() == {"g1": "A2", "g2": "B0"}
    assert wider.choice.price_axis == "strong"
    # Under no cap at all (0 strong calls is always possible here): the cost-0 point.
    assert cal.retarget(Target(strong_share=0.0)).choice.quality == 0.0


def test_strong_share_cap_never_loses_to_a_quality_target_that_fits_under_it() -> None:
    cal = Calibration.fit(GAPPY, Target(quality=0.5), rows=20, baseline_quality=20)
    for quality in (0.1, 0.25, 0.5, 0.6, 0.85):
        by_quality = cal.retarget(Target(quality=quality)).choice
        capped = cal.retarget(Target(strong_share=by_quality.strong_share)).choice
        assert capped.strong_share <= by_quality.strong_share
        assert capped.quality >= by_quality.quality


def _capped_family(*points: tuple[float, float, float]) -> Calibration:
    pts = {"g": [OperatingPoint("g", f"{s}:{q}", 10, q, c, s) for s, q, c in points]}
    return Calibration.fit(pts, Target(strong_share=0.2), rows=10, baseline_quality=10)


def test_a_strong_share_cap_gets_the_family_with_the_best_quality_under_it() -> None:
    small = _capped_family((0, 8.0, 0.5), (2, 8.5, 2.5))  # cheap, 85% at 2 strong calls
    large = _capped_family((0, 8.0, 0.5), (2, 9.2, 3.0), (6, 9.9, 6))  # dearer, 92%
    best = best_calibration([small, large], Target(strong_share=0.2))
    assert best.choice.quality == pytest.approx(0.92) and best.choice.target_met
    # no family can keep the share this low: the lowest share is kept, flagged
    low = best_calibration(
        [_capped_family((1, 8.0, 1), (2, 9.0, 2)), _capped_family((3, 9.5, 3))],
        Target(strong_share=0.05),
    )
    assert low.choice.strong_share == pytest.approx(0.1) and not low.choice.target_met


def test_a_choice_saved_before_lam_axis_existed_loads_and_saves_again() -> None:
    import pickle

    cal = Calibration.fit(GAPPY, Target(strong_share=0.4), rows=20, baseline_quality=20)
    old_state = cal.choice.__getstate__()[:-1]  # as pickled before `lam_axis` was added
    old = Choice.__new__(Choice)
    old.__setstate__(old_state)
    assert old.lam_axis is None
    assert old.price_axis == "strong"  # the target's axis, as such files meant
    assert pickle.loads(pickle.dumps(old)) == old
