"""Pick a router's setting for a target, from operating points measured on training rows.

Training scores every candidate setting of every group (a task for cascades, the whole
data for a classifier) by cross-validation on the training rows only: each
`OperatingPoint` holds the sums of quality, cost (in units of the baseline's mean cost
per query) and strong-model calls over that group's rows. Calibration then trades
quality against cost (or strong calls) with one price `lam`: every group takes the point
that maximizes `quality - lam * cost`, and `lam` is the largest price (the cheapest
combination) that still meets the target. One number thus sets all groups consistently,
and the stored points let `modelroute calibrate` re-target a router without its data.
A strong-share cap takes the best quality under the cap among the combinations of both
sweeps (a price on strong calls alone skips the gaps between its hull's corners).

Picking the best of many settings on the rows that scored them is optimistic (the
winner's curse: a setting that looks best was partly lucky). Quality targets are
therefore cross-checked on the training rows themselves: they are halved at random
(`Half`), calibration runs on one half and the chosen settings are read off the other
(`CrossCheck`), and the working goal is raised until the other halves reach the target
on average; the raise is shrunk by sqrt(2) for the full rows (selection noise scales
with 1/sqrt(rows)). Nothing outside the training rows is used.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Axis = Literal["cost", "strong"]
GOAL_STEP = 0.0025  # resolution of the raised working goal (fraction of the baseline)
MAX_RAISE = 0.08  # the working goal never exceeds the target by more than this


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One `setting` of one `group`, scored out-of-fold on `rows` training rows (sums)."""

    group: str
    setting: Hashable
    rows: int
    quality: float
    cost: float
    strong: float

    def along(self, axis: Axis) -> float:
        """The price-bearing amount: cost or strong-model calls."""
        return self.cost if axis == "cost" else self.strong


@dataclass(frozen=True, slots=True)
class Target:
    """Reach `quality` (a fraction of the baseline's quality) at the least cost, or the
    best quality with at most `strong_share` of queries calling the strong model."""

    quality: float | None = None
    strong_share: float | None = None

    def __post_init__(self) -> None:
        if (self.quality is None) == (self.strong_share is None):
            raise ValueError("give exactly one of quality and strong_share")
        value = self.quality if self.quality is not None else self.strong_share
        assert value is not None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"target must be a non-negative number, got {value!r}")

    @property
    def axis(self) -> Axis:
        """What the price is put on."""
        return "cost" if self.quality is not None else "strong"

    def describe(self) -> str:
        """E.g. `quality >= 95% of baseline`."""
        if self.quality is not None:
            return f"quality >= {self.quality:.0%} of baseline"
        return f"strong-model share <= {self.strong_share:.0%}"


@dataclass(frozen=True, slots=True)
class Choice:
    """The calibrated setting: the price `lam` (on `price_axis`), each group's point, and
    what the training rows say it reaches (fractions of the baseline's quality and cost).
    `lam_axis`: the axis `lam` is on when it is not the target's (None: the target's)."""

    target: Target
    lam: float
    points: Mapping[str, OperatingPoint]
    quality: float
    cost: float
    strong_share: float
    target_met: bool
    goal: float | None = None
    lam_axis: Axis | None = None

    def __getstate__(self) -> list[object]:
        """Pickled as the field values in order."""
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def __setstate__(self, state: Sequence[object]) -> None:
        """Unpickle; a choice saved before a field existed gets its default."""
        for i, f in enumerate(dataclasses.fields(self)):
            object.__setattr__(self, f.name, state[i] if i < len(state) else f.default)

    @property
    def price_axis(self) -> Axis:
        """The axis `lam` is a price on: the target's, unless a strong-share target was
        best served by a combination found along the cost axis (`lam_axis`; None in
        routers saved before it existed)."""
        return self.lam_axis or self.target.axis

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (settings as strings); `goal` is the cross-checked working
        goal a quality target was calibrated to (None: no cross-check); `axis` is the
        target's axis, `lam_axis` the one `lam` is a price on."""
        return {
            "target": self.target.describe(),
            "cross_checked_goal": self.goal,
            "lam": self.lam,
            "axis": self.target.axis,
            "lam_axis": self.price_axis,
            "cv_quality_vs_baseline": self.quality,
            "cv_cost_vs_baseline": self.cost,
            "cv_strong_share": self.strong_share,
            "target_met_on_training_rows": self.target_met,
            "settings": {g: str(p.setting) for g, p in self.points.items()},
        }


def frontier(points: Iterable[OperatingPoint]) -> list[OperatingPoint]:
    """Points not dominated in (cost, quality) or in (strong calls, quality)."""
    pts = list(points)
    keep: dict[int, OperatingPoint] = {}
    for axis in ("cost", "strong"):
        best = -math.inf
        for p in sorted(pts, key=lambda p: (p.along(axis), -p.quality)):
            if p.quality > best + 1e-12:
                keep[id(p)] = p
                best = p.quality
    return sorted(keep.values(), key=lambda p: (p.cost, p.quality))


def select(
    frontiers: Mapping[str, Sequence[OperatingPoint]], lam: float, axis: Axis
) -> dict[str, OperatingPoint]:
    """Each group's point maximizing `quality - lam * amount` (ties: the smaller amount)."""
    return {
        group: max(pts, key=lambda p: (p.quality - lam * p.along(axis), -p.along(axis)))
        for group, pts in frontiers.items()
    }


def _hull_slopes(points: Sequence[OperatingPoint], axis: Axis) -> list[float]:
    """Slopes between consecutive vertices of the upper concave hull in (amount, quality)."""
    hull: list[tuple[float, float]] = []
    for x, q in sorted({(p.along(axis), p.quality) for p in points}):
        if hull and q <= hull[-1][1]:
            continue
        if hull and x == hull[-1][0]:
            hull.pop()  # same amount, better quality
        while len(hull) >= 2:
            (x1, q1), (x2, q2) = hull[-2], hull[-1]
            if (q2 - q1) * (x - x1) <= (q - q1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append((x, q))
    return [(q2 - q1) / (x2 - x1) for (x1, q1), (x2, q2) in itertools.pairwise(hull)]


def prices(frontiers: Mapping[str, Sequence[OperatingPoint]], axis: Axis) -> list[float]:
    """Prices at which some group's choice changes, as midpoints, from high to low; each
    one yields a distinct combination (the first is the cheapest, the last the best)."""
    slopes = sorted(
        {0.0, *(s for pts in frontiers.values() for s in _hull_slopes(pts, axis))}, reverse=True
    )
    mids = [slopes[0] * 2 + 1.0]
    mids += [(hi + lo) / 2 for hi, lo in itertools.pairwise(slopes)]
    return [*mids, 0.0]


@dataclass(frozen=True, slots=True)
class Half:
    """Every group's operating points summed over one half of the training rows."""

    points: Mapping[str, Sequence[OperatingPoint]]
    rows: int
    baseline_quality: float


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """Frontiers measured on one half of the training rows, and for each of their
    settings the point the same setting scores on the other half (`mirror`)."""

    frontiers: Mapping[str, tuple[OperatingPoint, ...]]
    baseline_quality: float
    mirror: Mapping[str, Mapping[Hashable, OperatingPoint]]
    mirror_baseline_quality: float

    @classmethod
    def of(cls, first: Half, second: Half) -> CrossCheck:
        """Calibrate on `first`, read off `second` (both must hold the same settings)."""
        fronts = {g: tuple(frontier(p)) for g, p in first.points.items()}
        mirror: dict[str, dict[Hashable, OperatingPoint]] = {}
        for group, front in fronts.items():
            wanted = {p.setting for p in front}
            mirror[group] = {p.setting: p for p in second.points[group] if p.setting in wanted}
            missing = wanted - mirror[group].keys()
            if missing:
                raise ValueError(f"group {group!r}: settings missing on the other half")
        return cls(fronts, first.baseline_quality, mirror, second.baseline_quality)

    def ladder(self) -> list[tuple[float, float]]:
        """(quality on this half, quality of the same choice on the other half) for every
        price, cheapest first (fractions of the baseline's quality)."""
        out = []
        for lam in prices(self.frontiers, "cost"):
            chosen = select(self.frontiers, lam, "cost")
            here = sum(p.quality for p in chosen.values()) / max(self.baseline_quality, 1e-12)
            there = sum(self.mirror[g][p.setting].quality for g, p in chosen.items())
            out.append((here, there / max(self.mirror_baseline_quality, 1e-12)))
        return out


def cross_checked_goal(checks: Sequence[CrossCheck], quality: float) -> tuple[float, bool]:
    """The working goal for a quality target, and whether the cross-checks reach the
    target with it. Raises the goal in `GOAL_STEP`s until calibrating each check's half
    to it gives, on average, at least `quality` on the other halves; the raise found on
    half the rows is shrunk by sqrt(2) for the full rows. When no raise up to `MAX_RAISE`
    does, returns `(quality, False)`: the target is then not confirmed."""
    if not checks:
        return quality, True
    ladders = [c.ladder() for c in checks]

    def achieved(goal: float) -> float:
        reached = []
        for ladder in ladders:
            hit = [there for here, there in ladder if here >= goal - 1e-12]
            reached.append(hit[0] if hit else ladder[-1][1])
        return statistics.fmean(reached)

    steps = round(MAX_RAISE / GOAL_STEP)
    for k in range(steps + 1):
        goal = quality + k * GOAL_STEP
        if achieved(goal) >= quality - 1e-12:
            return quality + (goal - quality) / math.sqrt(2.0), True
    return quality, False  # not confirmed: calibrate to the target itself, flagged


def calibrate(
    frontiers: Mapping[str, Sequence[OperatingPoint]],
    target: Target,
    *,
    baseline_quality: float,
    rows: int,
    checks: Sequence[CrossCheck] = (),
) -> Choice:
    """The cheapest price meeting a quality `target`, or the best quality under a
    strong-share cap (ties: the cheaper), searched along both the strong and the cost
    axis (`Choice.lam_axis` says which the price is on). `baseline_quality` is the sum of
    the baseline's quality over the same `rows` training rows. A quality target is first
    raised to the working goal its `checks` call for (`cross_checked_goal`). When no price
    meets the goal, the closest one is returned with `target_met=False`; so it is when the
    checks cannot confirm the target (for a cap: the lowest strong share, flagged)."""
    axis = target.axis
    combos = [(lam, select(frontiers, lam, axis)) for lam in prices(frontiers, axis)]

    def totals(sel: Mapping[str, OperatingPoint]) -> tuple[float, float, float]:
        q = sum(p.quality for p in sel.values()) / max(baseline_quality, 1e-12)
        c = sum(p.cost for p in sel.values()) / rows
        s = sum(p.strong for p in sel.values()) / rows
        return q, c, s

    goal: float | None = None
    checked = True
    if target.quality is not None and checks:
        goal, checked = cross_checked_goal(checks, target.quality)

    def choice(
        lam: float, sel: dict[str, OperatingPoint], met: bool, on: Axis | None = None
    ) -> Choice:
        q, c, s = totals(sel)
        return Choice(target, lam, sel, q, c, s, met, goal, on or axis)

    if target.quality is not None:
        wanted = target.quality if goal is None else goal
        for lam, sel in combos:  # cheapest first
            if totals(sel)[0] >= wanted - 1e-12:
                return choice(lam, sel, checked)
        return choice(*combos[-1], False)
    # A strong-share cap: one price on strong calls reaches only the vertices of the
    # summed (strong, quality) hull, and the gaps between them can be wide (e.g. 3% and
    # 16% of queries); the combinations along the cost axis fill many of them. So both
    # sweeps are candidates: the best quality under the cap wins (ties: the cheaper).
    assert target.strong_share is not None
    cap = target.strong_share + 1e-12
    candidates: list[tuple[float, dict[str, OperatingPoint], Axis]] = [
        (lam, sel, axis) for lam, sel in combos
    ] + [(lam, select(frontiers, lam, "cost"), "cost") for lam in prices(frontiers, "cost")]
    under = [(totals(sel), lam, sel, on) for lam, sel, on in candidates if totals(sel)[2] <= cap]
    if under:
        _, lam, sel, on = max(under, key=lambda u: (u[0][0], -u[0][1]))
        return choice(lam, sel, True, on)
    return choice(*combos[0], False)


def rank_key(choice: Choice) -> tuple[bool, bool, float, float]:
    """Order calibrated choices for one target, best first. A quality target: confirmed
    (`target_met`) first; then those whose training rows reach it; then the lowest cost
    among those, else the highest quality. A strong-share target: those under the cap
    first, by the highest quality (ties: the lowest cost); else the lowest strong share."""
    if choice.target.strong_share is not None:
        if choice.target_met:
            return (False, False, -choice.quality, choice.cost)
        return (True, True, choice.strong_share, -choice.quality)
    reached = choice.quality >= (choice.target.quality or 0.0) - 1e-12
    if choice.target_met or reached:
        return (not choice.target_met, not reached, choice.cost, 0.0)
    return (True, True, -choice.quality, 0.0)


def best_calibration(candidates: Sequence[Calibration], target: Target) -> Calibration:
    """Of several calibrations (e.g. nested plan families), the one whose setting for
    `target` ranks first by `rank_key` (ties: the earlier one), recalibrated to it.
    Raises `ValueError` when `candidates` is empty."""
    if not candidates:
        raise ValueError("no calibration to choose from")
    retargeted = [c.retarget(target) for c in candidates]
    return min(retargeted, key=lambda c: rank_key(c.choice))


@dataclass(frozen=True, slots=True)
class Calibration:
    """A router's cross-validated operating points (per group, training rows only) and the
    setting currently chosen from them. `rows` and `baseline_quality` (the baseline's
    quality summed over those rows) turn sums into fractions of the baseline; `checks`
    are the half-against-half cross-checks quality targets are raised by."""

    frontiers: Mapping[str, tuple[OperatingPoint, ...]]
    rows: int
    baseline_quality: float
    choice: Choice
    checks: tuple[CrossCheck, ...] = ()

    @classmethod
    def fit(
        cls,
        points: Mapping[str, Iterable[OperatingPoint]],
        target: Target,
        *,
        rows: int,
        baseline_quality: float,
        halves: Sequence[tuple[Half, Half]] = (),
    ) -> Calibration:
        """Keep each group's frontier and choose the setting for `target`; each pair of
        `halves` (the training rows split in two, same settings) gives two cross-checks.
        Raises `ValueError` when a pair's halves do not hold the same settings."""
        fronts = {g: tuple(frontier(p)) for g, p in points.items()}
        checks = tuple(
            check for a, b in halves for check in (CrossCheck.of(a, b), CrossCheck.of(b, a))
        )
        chosen = calibrate(
            fronts, target, baseline_quality=baseline_quality, rows=rows, checks=checks
        )
        return cls(fronts, rows, baseline_quality, chosen, checks)

    def retarget(self, target: Target) -> Calibration:
        """The same points (and cross-checks), calibrated for another target."""
        chosen = calibrate(
            self.frontiers,
            target,
            baseline_quality=self.baseline_quality,
            rows=self.rows,
            checks=self.checks,
        )
        return Calibration(self.frontiers, self.rows, self.baseline_quality, chosen, self.checks)

    def settings(self, lam: float | None = None, axis: Axis = "cost") -> dict[str, Hashable]:
        """Each group's setting at price `lam` on `axis` (the axis `sweep` prices are on;
        default: the calibrated setting)."""
        if lam is None:
            return {g: p.setting for g, p in self.choice.points.items()}
        chosen = select(self.frontiers, lam, axis)
        return {g: p.setting for g, p in chosen.items()}

    def sweep(self) -> list[float]:
        """Prices along the cost axis, cheapest combination first (for curves and AIQ)."""
        return prices(self.frontiers, "cost")
