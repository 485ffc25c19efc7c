"""Plotted lines and histograms of the report: cumulative series thinned for the page,
log-spaced cost bins, and per-budget-period running totals. Pure functions over float
arrays (a few floats per request, never the records)."""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_SERIES_POINTS = 1500  # points per plotted line: enough for the eye, small in the HTML
MIN_BINS, MAX_BINS = 10, 40  # histogram bins: about 2 * sqrt(requests) within these


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of per-request costs in shared log-spaced bins (`edges`, USD, one more
    than each count list). `zero_*` count requests that cost nothing (no call made)."""

    edges: tuple[float, ...]
    actual: tuple[int, ...]
    baseline: tuple[int, ...]
    zero_actual: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """A cumulative line: `t` seconds since the log's first request, `y` USD."""

    t: tuple[float, ...]
    y: tuple[float, ...]


class Points:
    """Parallel float arrays (time, value) for one line; compact at 1M points."""

    def __init__(self) -> None:
        self.t: array[float] = array("d")
        self.v: array[float] = array("d")

    def add(self, t: float, v: float) -> None:
        """Append one point."""
        self.t.append(t)
        self.v.append(v)


class PeriodLabeler:
    """The budget period label of an epoch time (`all` without a budget), cached per period."""

    def __init__(self, period: str | None, timezone: str) -> None:
        self.period = period
        self.timezone = timezone
        self._window: tuple[float, float, str] | None = None

    def __call__(self, t: float) -> str:
        if self.period is None:
            return "all"
        w = self._window
        if w is not None and w[0] <= t < w[1]:
            return w[2]
        from zoneinfo import ZoneInfo

        from modelroute.limits.periods import Period, period_window

        window = period_window(Period(self.period), ZoneInfo(self.timezone), t)
        self._window = (window.start, window.end, window.label)
        return window.label


def time_order(times: array[float]) -> Sequence[int]:
    """Indices of `times` in ascending order (logs are nearly sorted already)."""
    if all(times[i] <= times[i + 1] for i in range(len(times) - 1)):
        return range(len(times))
    return sorted(range(len(times)), key=times.__getitem__)


def thin(ts: Sequence[float], ys: Sequence[float]) -> Series:
    """At most `MAX_SERIES_POINTS` evenly picked points, the last one always kept."""
    n = len(ts)
    if n <= MAX_SERIES_POINTS:
        return Series(tuple(ts), tuple(ys))
    step = n / MAX_SERIES_POINTS
    picks = sorted({int(i * step) for i in range(MAX_SERIES_POINTS)} | {n - 1})
    return Series(tuple(ts[i] for i in picks), tuple(ys[i] for i in picks))


def cumulative(points: Points, start: float | None) -> Series:
    ts: list[float] = []
    ys: list[float] = []
    running = 0.0
    for i in time_order(points.t):
        running += points.v[i]
        ts.append(points.t[i] - (start or 0.0))
        ys.append(running)
    return thin(ts, ys)


def histogram(actual: Sequence[float], baseline: Sequence[float]) -> Histogram:
    zero = sum(1 for v in actual if v <= 0)
    smallest = min((v for vs in (actual, baseline) for v in vs if v > 0), default=None)
    if smallest is None:
        return Histogram((), (), (), zero)
    largest = max(max(actual, default=0.0), max(baseline, default=0.0))
    lo, hi = math.log10(smallest), math.log10(largest)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    bins = min(MAX_BINS, max(MIN_BINS, round(2 * math.sqrt(len(actual)))))
    width = (hi - lo) / bins
    edges = tuple(10 ** (lo + i * width) for i in range(bins + 1))

    def counts(values: Iterable[float]) -> tuple[int, ...]:
        out = [0] * bins
        for v in values:
            if v > 0:
                out[min(bins - 1, max(0, int((math.log10(v) - lo) / width)))] += 1
        return tuple(out)

    return Histogram(edges, counts(actual), counts(baseline), zero)


def period_series(
    points: Points, start: float, label_of: PeriodLabeler
) -> tuple[Series, float, str]:
    """Cumulative spend restarting at each budget period, and the busiest period's total
    and label."""
    ts: list[float] = []
    ys: list[float] = []
    running, current = 0.0, None
    totals: defaultdict[str, list[float]] = defaultdict(list)
    for i in time_order(points.t):
        t = points.t[i]
        label = label_of(t)
        if label != current:
            running, current = 0.0, label
        running += points.v[i]
        totals[label].append(points.v[i])
        ts.append(t - start)
        ys.append(running)
    sums = {label: math.fsum(values) for label, values in totals.items()}
    peak_label = max(sums, key=sums.__getitem__, default="")
    return thin(ts, ys), sums.get(peak_label, 0.0), peak_label
