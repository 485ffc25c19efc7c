"""Totals over decisions: cost with routing vs the baseline, fallbacks, model mix, latency.

`SummaryAccumulator` takes decisions one at a time (a 1M-line log never sits in memory
whole: it keeps one float per request, for the latency percentiles); `summarize` runs it
over an iterable. The report (`modelroute.report`) and the demo read their headline
numbers from here, so every place prints the same figures.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelroute.records import Decision, RequestOutcome


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return percentile_of_sorted(ordered, q)


def percentile_of_sorted(ordered: Sequence[float], q: float) -> float:
    """`percentile` of values already sorted ascending (sort once, ask many quantiles)."""
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals of a set of decisions. Costs in USD, latencies in seconds.

    `baseline_cost_usd` sums, over answered requests, what the answer would have cost on
    the baseline model; `saving_pct` is 100 * (1 - cost / baseline cost) over those.
    `refused` counts requests a rate limit or budget stopped before any call (they are
    part of `failed`). `fallback_reasons` counts attempts by reason.
    Shadow copies (`Decision.shadow_of` set; see `modelroute.shadow`) are not requests of
    anyone: they are counted only in `shadow_calls` and `shadow_cost_usd` (their spend is
    real, so `cost_usd` does not include it and the saving is not flattered or hurt by it).
    """

    requests: int
    answered: int
    failed: int
    cost_usd: float
    baseline_cost_usd: float
    saving_pct: float | None
    fallback_requests: int
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    responding_models: dict[str, int] = field(default_factory=dict)
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    refused: int = 0
    shadow_calls: int = 0
    shadow_cost_usd: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "requests": self.requests,
            "answered": self.answered,
            "failed": self.failed,
            "refused": self.refused,
            "cost_usd": self.cost_usd,
            "baseline_cost_usd": self.baseline_cost_usd,
            "saving_pct": self.saving_pct,
            "fallback_requests": self.fallback_requests,
            "fallback_reasons": self.fallback_reasons,
            "responding_models": self.responding_models,
            "latency_p50_s": self.latency_p50_s,
            "latency_p95_s": self.latency_p95_s,
            "shadow_calls": self.shadow_calls,
            "shadow_cost_usd": self.shadow_cost_usd,
        }


class SummaryAccumulator:
    """Builds a `Summary` from decisions added one at a time."""

    def __init__(self) -> None:
        self.requests = 0
        self.answered = 0
        self.refused = 0
        self.cost_usd = 0.0
        self.priced_cost_usd = 0.0  # cost of answered requests that have a baseline cost
        self.baseline_cost_usd = 0.0
        self.fallback_requests = 0
        self.reasons: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.latencies: array[float] = array("d")
        self.shadow_calls = 0
        self.shadow_cost_usd = 0.0

    def add(self, d: Decision) -> None:
        """Count one decision (a shadow copy only in the shadow totals)."""
        if d.shadow_of is not None:
            self.shadow_calls += 1
            self.shadow_cost_usd += d.cost_usd
            return
        self.requests += 1
        self.cost_usd += d.cost_usd
        self.latencies.append(d.latency_s)
        reasons = d.fallback_reasons
        if reasons:
            self.fallback_requests += 1
            self.reasons.update(reasons)
        if d.outcome == RequestOutcome.REFUSED:
            self.refused += 1
        if not d.outcome.succeeded:
            return
        self.answered += 1
        if d.responding_model:
            self.models[d.responding_model] += 1
        if d.baseline_cost_usd is not None:
            self.priced_cost_usd += d.cost_usd
            self.baseline_cost_usd += d.baseline_cost_usd

    def summary(self) -> Summary:
        """The totals so far."""
        baseline = self.baseline_cost_usd
        saving = 100.0 * (1.0 - self.priced_cost_usd / baseline) if baseline > 0 else None
        ordered = sorted(self.latencies)
        return Summary(
            requests=self.requests,
            answered=self.answered,
            failed=self.requests - self.answered,
            cost_usd=self.cost_usd,
            baseline_cost_usd=baseline,
            saving_pct=saving,
            fallback_requests=self.fallback_requests,
            fallback_reasons=dict(self.reasons.most_common()),
            responding_models=dict(self.models.most_common()),
            latency_p50_s=percentile_of_sorted(ordered, 50),
            latency_p95_s=percentile_of_sorted(ordered, 95),
            refused=self.refused,
            shadow_calls=self.shadow_calls,
            shadow_cost_usd=self.shadow_cost_usd,
        )


def summarize(decisions: Iterable[Decision]) -> Summary:
    """Totals over `decisions` (consumed one at a time)."""
    acc = SummaryAccumulator()
    for d in decisions:
        acc.add(d)
    return acc.summary()
