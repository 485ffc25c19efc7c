"""Totals over decisions: cost with routing vs the baseline, fallbacks, model mix, latency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from modelroute.records import Decision


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals of a set of decisions. Costs in USD, latencies in seconds.

    `baseline_cost_usd` sums, over answered requests, what the answer would have cost on
    the baseline model; `saving_pct` is 100 * (1 - cost / baseline cost) over those.
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

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "requests": self.requests,
            "answered": self.answered,
            "failed": self.failed,
            "cost_usd": self.cost_usd,
            "baseline_cost_usd": self.baseline_cost_usd,
            "saving_pct": self.saving_pct,
            "fallback_requests": self.fallback_requests,
            "fallback_reasons": self.fallback_reasons,
            "responding_models": self.responding_models,
            "latency_p50_s": self.latency_p50_s,
            "latency_p95_s": self.latency_p95_s,
        }


def summarize(decisions: Iterable[Decision]) -> Summary:
    """Totals over `decisions`."""
    items = list(decisions)
    answered = [d for d in items if d.outcome.succeeded]
    reasons: Counter[str] = Counter(r for d in items for r in d.fallback_reasons)
    models: Counter[str] = Counter(d.responding_model for d in answered if d.responding_model)
    priced = [d for d in answered if d.baseline_cost_usd is not None]
    cost_priced = sum(d.cost_usd for d in priced)
    baseline = sum(d.baseline_cost_usd or 0.0 for d in priced)
    saving = 100.0 * (1.0 - cost_priced / baseline) if baseline > 0 else None
    latencies = [d.latency_s for d in items]
    return Summary(
        requests=len(items),
        answered=len(answered),
        failed=len(items) - len(answered),
        cost_usd=sum(d.cost_usd for d in items),
        baseline_cost_usd=baseline,
        saving_pct=saving,
        fallback_requests=sum(1 for d in items if d.fallback_count),
        fallback_reasons=dict(reasons.most_common()),
        responding_models=dict(models.most_common()),
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
    )
