"""Every number of the savings report, computed in one pass over decisions.

`ReportAggregator.add` takes one `Decision` at a time and keeps counters plus a few
floats per request (cost, baseline cost, time, latency), never the records; `result()`
returns a frozen `ReportData` that the HTML and markdown renderers only format. The
headline totals come from `modelroute.summary.SummaryAccumulator`, the same code the
demo prints from.

Quality is read from `Decision.extra["quality"]` (0..1, the returned answer's score,
written by `modelroute demo` and `modelroute eval`), and `extra["baseline_quality"]` (the
baseline model's score on the same request) where known.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelroute.reasons import FallbackReason
from modelroute.records import Decision, RequestOutcome
from modelroute.report.series import (
    Histogram,
    PeriodLabeler,
    Points,
    Series,
    cumulative,
    histogram,
    period_series,
)
from modelroute.summary import Summary, SummaryAccumulator, percentile_of_sorted

if TYPE_CHECKING:
    from modelroute.limits.budget import Budget

PERCENTILES = (50.0, 90.0, 95.0, 99.0)
BUDGET_REASON = FallbackReason.BUDGET_EXCEEDED.value


@dataclass(frozen=True, slots=True)
class ModelStats:
    """One model's attempts: `attempts` includes skips; `failed` counts the attempts that
    did not give the final answer, by reason; `answered` the requests it answered."""

    model: str
    attempts: int
    answered: int
    failed: Mapping[str, int]
    cost_usd: float

    @property
    def fire_rate(self) -> float:
        """Share of this model's attempts that fell back (0..1)."""
        return sum(self.failed.values()) / self.attempts if self.attempts else 0.0


@dataclass(frozen=True, slots=True)
class QualityStats:
    """Mean quality (0..1) of the answers one model returned, over `known` scored ones."""

    model: str
    known: int
    mean: float


@dataclass(frozen=True, slots=True)
class TeamBudget:
    """A team's spend: `spent_usd` in total, `peak_period_usd` in its busiest budget
    period (`period_label`), `limit_usd` its budget per period when known, `refused`
    requests a budget stopped and `downgraded` calls a budget skipped. `series` is the
    cumulative spend within each budget period (it restarts at every new period)."""

    team: str
    requests: int
    spent_usd: float
    peak_period_usd: float
    period_label: str
    limit_usd: float | None
    refused: int
    downgraded: int
    series: Series


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the report shows. Costs USD, times seconds, rates 0..1."""

    summary: Summary
    outcomes: Mapping[str, int]
    reason_requests: Mapping[str, int]  # requests where each reason fired at least once
    models: tuple[ModelStats, ...]
    route_mix: Mapping[str, Mapping[str, int]]  # route -> responding model -> requests
    quality: tuple[QualityStats, ...]
    quality_routed: float | None  # mean quality of returned answers (where known)
    quality_baseline: float | None  # the baseline model's mean on the same requests
    quality_pairs: int  # requests with both qualities known
    latency: Mapping[str, Mapping[str, float]]  # "all" or model -> "p50".. -> seconds
    cost_histogram: Histogram
    spend_actual: Series
    spend_baseline: Series
    teams: tuple[TeamBudget, ...]
    budget_period: str | None
    first_started_at: float | None
    last_started_at: float | None
    baseline_model: str | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the figures (the plotted series left out)."""
        return {
            "summary": self.summary.to_dict(),
            "outcomes": dict(self.outcomes),
            "fallback_fire_rate_by_reason": {
                r: n / self.summary.requests for r, n in self.reason_requests.items()
            },
            "fallback_rate_by_model": {m.model: m.fire_rate for m in self.models},
            "model_mix_by_route": {r: dict(m) for r, m in self.route_mix.items()},
            "quality_by_model": {q.model: {"known": q.known, "mean": q.mean} for q in self.quality},
            "quality_routed": self.quality_routed,
            "quality_baseline": self.quality_baseline,
            "latency_s": {k: dict(v) for k, v in self.latency.items()},
            "teams": {
                t.team: {
                    "requests": t.requests,
                    "spent_usd": t.spent_usd,
                    "peak_period_usd": t.peak_period_usd,
                    "limit_usd": t.limit_usd,
                    "refused": t.refused,
                    "downgraded": t.downgraded,
                }
                for t in self.teams
            },
            "baseline_model": self.baseline_model,
        }


class _TeamAcc:
    def __init__(self) -> None:
        self.requests = 0
        self.refused = 0
        self.downgraded = 0
        self.points = Points()


class ReportAggregator:
    """One pass over decisions; `result()` gives the `ReportData`.

    `budgets` (team budgets from the config's `limits:`) draw the limit line and restart
    the cumulative team spend at each budget period; `timezone` is the budgets' zone.
    """

    def __init__(self, budgets: Sequence[Budget] = (), timezone: str = "UTC") -> None:
        self.totals = SummaryAccumulator()
        self._budget = next((b for b in budgets if b.per == "team"), None)
        self._tz = timezone
        self._outcomes: Counter[str] = Counter()
        self._reason_requests: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._failed: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._model_cost: defaultdict[str, float] = defaultdict(float)
        self._route_mix: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._quality_sum: defaultdict[str, float] = defaultdict(float)
        self._quality_n: Counter[str] = Counter()
        self._pair_routed = 0.0
        self._pair_baseline = 0.0
        self._pairs = 0
        self._latency: defaultdict[str, array[float]] = defaultdict(lambda: array("d"))
        self._costs = Points()  # (started_at, cost) of every request
        self._baseline = Points()  # (started_at, baseline cost) of priced answered requests
        self._teams: defaultdict[str, _TeamAcc] = defaultdict(_TeamAcc)
        self._baseline_model: str | None = None

    def add(self, d: Decision) -> None:
        """Count one decision. A shadow copy counts only in the shadow totals and in its
        team's spend (copies are charged to team budgets; see `modelroute.shadow`)."""
        self.totals.add(d)
        if d.shadow_of is not None:
            if d.team is not None:
                self._teams[str(d.team)].points.add(d.started_at, d.cost_usd)
            return
        self._outcomes[d.outcome.value] += 1
        self._reason_requests.update(set(d.fallback_reasons))
        for a in d.attempts:
            self._attempts[a.model] += 1
            self._model_cost[a.model] += a.cost_usd
            if a.reason is not None:
                self._failed[a.model][a.reason] += 1
        self._costs.add(d.started_at, d.cost_usd)
        self._baseline_model = self._baseline_model or d.baseline_model
        if d.outcome.succeeded:
            model = d.responding_model or "?"
            self._route_mix[d.route][model] += 1
            self._latency[model].append(d.latency_s)
            if d.baseline_cost_usd is not None:
                self._baseline.add(d.started_at, d.baseline_cost_usd)
            self._add_quality(model, d.extra)
        if d.team is not None:
            self._add_team(d)

    def _add_quality(self, model: str, extra: Mapping[str, object]) -> None:
        quality = _score(extra.get("quality"))
        if quality is None:
            return
        self._quality_sum[model] += quality
        self._quality_n[model] += 1
        baseline = _score(extra.get("baseline_quality"))
        if baseline is not None:
            self._pair_routed += quality
            self._pair_baseline += baseline
            self._pairs += 1

    def _add_team(self, d: Decision) -> None:
        team = self._teams[str(d.team)]
        team.requests += 1
        team.points.add(d.started_at, d.cost_usd)
        budget_skips = sum(1 for a in d.attempts if a.reason == BUDGET_REASON)
        if d.outcome == RequestOutcome.REFUSED and budget_skips:
            team.refused += 1
            budget_skips -= 1
        team.downgraded += budget_skips

    def result(self) -> ReportData:
        """The report's figures."""
        summary = self.totals.summary()
        latency = {"all": _percentiles(self.totals.latencies)}
        for model, values in sorted(self._latency.items()):
            latency[model] = _percentiles(values)
        start = min(self._costs.t) if self._costs.t else None
        quality = tuple(
            QualityStats(m, n, self._quality_sum[m] / n) for m, n in self._quality_n.most_common()
        )
        return ReportData(
            summary=summary,
            outcomes=dict(self._outcomes.most_common()),
            reason_requests=dict(self._reason_requests.most_common()),
            models=self._model_stats(),
            route_mix={r: dict(c.most_common()) for r, c in sorted(self._route_mix.items())},
            quality=quality,
            quality_routed=self._pair_routed / self._pairs if self._pairs else _overall(quality),
            quality_baseline=self._pair_baseline / self._pairs if self._pairs else None,
            quality_pairs=self._pairs,
            latency=latency,
            cost_histogram=histogram(self._costs.v, self._baseline.v),
            spend_actual=cumulative(self._costs, start),
            spend_baseline=cumulative(self._baseline, start),
            teams=self._team_budgets(start),
            budget_period=str(self._budget.period) if self._budget else None,
            first_started_at=start,
            last_started_at=max(self._costs.t) if self._costs.t else None,
            baseline_model=self._baseline_model,
        )

    def _model_stats(self) -> tuple[ModelStats, ...]:
        answered = Counter[str]()
        for mix in self._route_mix.values():
            answered.update(mix)
        return tuple(
            ModelStats(
                model=m,
                attempts=n,
                answered=answered[m],
                failed=dict(self._failed[m].most_common()),
                cost_usd=self._model_cost[m],
            )
            for m, n in self._attempts.most_common()
        )

    def _team_budgets(self, start: float | None) -> tuple[TeamBudget, ...]:
        out = []
        for name, team in sorted(self._teams.items()):
            labeler = PeriodLabeler(str(self._budget.period) if self._budget else None, self._tz)
            series, peak, label = period_series(team.points, start or 0.0, labeler)
            out.append(
                TeamBudget(
                    team=name,
                    requests=team.requests,
                    spent_usd=math.fsum(team.points.v),  # peak_period_usd sums the same way
                    peak_period_usd=peak,
                    period_label=label,
                    limit_usd=self._budget.limit_usd(name) if self._budget else None,
                    refused=team.refused,
                    downgraded=team.downgraded,
                    series=series,
                )
            )
        return tuple(out)


def _score(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0:
        return float(value)
    return None


def _overall(quality: tuple[QualityStats, ...]) -> float | None:
    known = sum(q.known for q in quality)
    return sum(q.mean * q.known for q in quality) / known if known else None


def _percentiles(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {f"p{q:g}": percentile_of_sorted(ordered, q) for q in PERCENTILES}


def aggregate(
    decisions: Iterable[Decision], budgets: Sequence[Budget] = (), timezone: str = "UTC"
) -> ReportData:
    """`ReportData` of `decisions` (consumed one at a time)."""
    acc = ReportAggregator(budgets, timezone)
    for d in decisions:
        acc.add(d)
    return acc.result()


__all__ = [
    "Histogram",
    "ModelStats",
    "QualityStats",
    "ReportAggregator",
    "ReportData",
    "Series",
    "TeamBudget",
    "aggregate",
]
