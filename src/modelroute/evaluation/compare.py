"""The comparison across models: quality, cost and latency per model, and per kind of
prompt the cheapest model that is good enough.

Read from the results file (decision-log lines) with the report's streaming reader; the
last line of each (prompt, model) pair wins, so reruns that retried failures count once.
"Good enough" for a kind: the cheapest model (mean cost per prompt) whose quality is at
least `target` times the best model's quality on that kind.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from modelroute.records import Decision
from modelroute.report.data import DecisionLog, LogStats
from modelroute.summary import percentile


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model over the prompt set. `quality` is the mean score over `scored` answers
    (None: none scored); costs USD (`cost_per_prompt` averages every attempted prompt);
    latencies seconds."""

    model: str
    prompts: int
    answered: int
    scored: int
    quality: float | None
    cost_usd: float
    cost_per_prompt: float
    latency_p50_s: float
    latency_p95_s: float


@dataclass(frozen=True, slots=True)
class KindResult:
    """One kind of prompt: each model's quality and mean cost on it, and the cheapest
    model within `target` of the best (`good_enough`, None when nothing was scored)."""

    kind: str
    prompts: int
    quality: Mapping[str, float | None]
    cost_per_prompt: Mapping[str, float]
    good_enough: str | None
    best: str | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every model and kind, in the order the models were given."""

    models: tuple[ModelResult, ...]
    kinds: tuple[KindResult, ...]
    target: float
    stats: LogStats

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "target": self.target,
            "models": {
                m.model: {
                    "prompts": m.prompts,
                    "answered": m.answered,
                    "scored": m.scored,
                    "quality": m.quality,
                    "cost_usd": m.cost_usd,
                    "cost_per_prompt_usd": m.cost_per_prompt,
                    "latency_p50_s": m.latency_p50_s,
                    "latency_p95_s": m.latency_p95_s,
                }
                for m in self.models
            },
            "kinds": {
                k.kind: {
                    "prompts": k.prompts,
                    "quality": dict(k.quality),
                    "cost_per_prompt_usd": dict(k.cost_per_prompt),
                    "good_enough": k.good_enough,
                    "best": k.best,
                }
                for k in self.kinds
            },
            "bad_lines": self.stats.bad,
        }


def _latest(decisions: Iterable[Decision], ids: set[str], models: set[str]) -> list[Decision]:
    latest: dict[tuple[str, str], Decision] = {}
    for d in decisions:
        pid = str(d.extra.get("prompt_id"))
        if pid in ids and d.route in models:
            latest[(pid, d.route)] = d
    return list(latest.values())


def _quality(ds: Sequence[Decision]) -> tuple[float | None, int]:
    scores = [
        float(q)
        for d in ds
        if isinstance(q := d.extra.get("quality"), int | float) and math.isfinite(q)
    ]
    return (sum(scores) / len(scores) if scores else None), len(scores)


def _model_result(model: str, ds: Sequence[Decision]) -> ModelResult:
    answered = [d for d in ds if d.outcome.succeeded]
    quality, scored = _quality(ds)
    cost = math.fsum(d.cost_usd for d in ds)
    latencies = [d.latency_s for d in answered]
    return ModelResult(
        model=model,
        prompts=len(ds),
        answered=len(answered),
        scored=scored,
        quality=quality,
        cost_usd=cost,
        cost_per_prompt=cost / len(ds) if ds else 0.0,
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
    )


def _kind_result(
    kind: str, by_model: Mapping[str, Sequence[Decision]], models: Sequence[str], target: float
) -> KindResult:
    quality = {m: _quality(by_model.get(m, ()))[0] for m in models}
    cost = {
        m: math.fsum(d.cost_usd for d in ds) / len(ds) if (ds := by_model.get(m, ())) else 0.0
        for m in models
    }
    scored = {m: q for m, q in quality.items() if q is not None}
    best = max(scored, key=lambda m: (scored[m], -cost[m]), default=None)
    good = None
    if best is not None:
        enough = [m for m, q in scored.items() if q >= target * scored[best]]
        good = min(enough, key=lambda m: cost[m])
    prompts = max((len(ds) for ds in by_model.values()), default=0)
    return KindResult(kind, prompts, quality, cost, good, best)


def compare(
    results: str | os.PathLike[str],
    models: Sequence[str],
    prompt_ids: Iterable[str],
    *,
    target: float = 0.95,
) -> Comparison:
    """The comparison of `models` on the prompts `prompt_ids` from the results file."""
    log = DecisionLog(results)
    rows = _latest(log, set(prompt_ids), set(models))
    per_model: defaultdict[str, list[Decision]] = defaultdict(list)
    per_kind: defaultdict[str, defaultdict[str, list[Decision]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for d in rows:
        per_model[d.route].append(d)
        per_kind[str(d.extra.get("kind", "all"))][d.route].append(d)
    return Comparison(
        models=tuple(_model_result(m, per_model.get(m, [])) for m in models),
        kinds=tuple(_kind_result(k, per_kind[k], models, target) for k in sorted(per_kind)),
        target=target,
        stats=log.stats,
    )
