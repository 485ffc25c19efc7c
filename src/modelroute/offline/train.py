"""Fit routers on recorded outcomes and calibrate them on the same (training) rows.

- `train_classifier`: the prompt-only baseline (TF-IDF + one logistic regression per
  model); its price of cost is calibrated on out-of-fold predictions.
- `train_cascade`: per-task cascades with learned verifiers over cheap models' answers
  (see `modelroute.offline.plans`).
- `train_router`: either, or (`kind="auto"`) both, keeping the one that meets the target
  at the lower cross-validated cost.

Only the rows given are used: split off held-out rows before calling these. Quality
targets are cross-checked on random halves of these same rows (`HALVINGS` of them; see
`modelroute.offline.calibrate`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from modelroute.errors import ModelRouteError
from modelroute.offline.calibrate import (
    Calibration,
    Half,
    OperatingPoint,
    Target,
    best_calibration,
)
from modelroute.offline.cascade import CascadeRouter, Plan
from modelroute.offline.classifier import PromptClassifier, prompt_text
from modelroute.offline.data import OutcomeTable
from modelroute.offline.evidence import FloatArray, parse_answers
from modelroute.offline.plans import TaskData, prune, search_task
from modelroute.offline.probability import fit_probability, one_thread, probability

Kind = Literal["auto", "cascade", "classifier"]
Router = CascadeRouter | PromptClassifier
Progress = Callable[[str], None]
_PRICES = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 80)])
HALVINGS = 3  # random halvings of the training rows for calibration's cross-checks


def halvings(n: int, seed: int, count: int = HALVINGS) -> FloatArray:
    """(2 * count, n) 0/1 weights: each halving's first half, then its second half."""
    rng = np.random.default_rng([seed, 7919])
    out = np.zeros((2 * count, n))
    for r in range(count):
        first = rng.permutation(n) < n // 2
        out[2 * r] = first
        out[2 * r + 1] = ~first
    return out


def default_baseline(table: OutcomeTable) -> str:
    """The model with the best mean quality (ties: the costlier one)."""
    q = table.quality.mean(axis=0)
    c = np.nan_to_num(table.cost.mean(axis=0), nan=0.0)
    return table.models[int(np.lexsort((c, q))[-1])]


def relative_cost(table: OutcomeTable, baseline: int) -> FloatArray:
    """Costs in units of the baseline's mean cost per query. Without prices, a call to
    the baseline costs 1 and any other call 0 (cost then counts strong-model calls)."""
    if not table.has_costs:
        out = np.zeros_like(table.quality)
        out[:, baseline] = 1.0
        return out
    mean = float(table.cost[:, baseline].mean())
    return table.cost / (mean if mean > 0 else 1.0)


def _folds(n: int, folds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % max(2, min(folds, n))


def _fit_heads(texts: list[str], quality: FloatArray) -> tuple[object, list[object]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True
    )
    x = vectorizer.fit_transform(texts)
    return vectorizer, [fit_probability(x, quality[:, j]) for j in range(quality.shape[1])]


def _predict(vectorizer: object, heads: list[object], texts: list[str]) -> FloatArray:
    x = vectorizer.transform(texts)  # type: ignore[attr-defined]
    return np.column_stack([probability(h, x) for h in heads])


def train_classifier(
    table: OutcomeTable,
    *,
    baseline: str | None = None,
    target: Target | None = None,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> PromptClassifier:
    """Fit the prompt-only router and calibrate its price of cost for `target`
    (default: 95% of the baseline's quality) on out-of-fold predictions."""
    with one_thread():
        return _train_classifier(table, baseline, target, folds, seed, progress)


def _train_classifier(
    table: OutcomeTable,
    baseline: str | None,
    target: Target | None,
    folds: int,
    seed: int,
    progress: Progress | None,
) -> PromptClassifier:
    _check_rows(table)
    base = baseline or default_baseline(table)
    b = table.column(base, "--baseline")
    cost = relative_cost(table, b)
    texts = [prompt_text(p, t) for p, t in zip(table.prompts, table.tasks, strict=True)]
    fold_of = _folds(len(table), folds, seed)
    oof = np.zeros_like(table.quality)
    for f in np.unique(fold_of):
        fit, held = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        vec, heads = _fit_heads([texts[i] for i in fit], table.quality[fit])
        oof[held] = _predict(vec, heads, [texts[i] for i in held])
        if progress is not None:
            progress(f"classifier fold {f + 1}/{len(np.unique(fold_of))}")
    mean_cost = cost.mean(axis=0)
    subsets = np.vstack([np.ones(len(table)), halvings(len(table), seed)])
    parts = [[{"*": _price_points(oof, mean_cost, table, cost, b, w)}] for w in subsets]
    calibration = _calibrate(parts, subsets, table, b, target)
    vectorizer, heads = _fit_heads(texts, table.quality)
    return PromptClassifier(table.models, base, vectorizer, heads, mean_cost, calibration)


def _price_points(
    probs: FloatArray,
    mean_cost: FloatArray,
    table: OutcomeTable,
    cost: FloatArray,
    b: int,
    weight: FloatArray,
) -> list[OperatingPoint]:
    """The classifier's out-of-fold operating point at each price of cost, summed over
    the rows of 0/1 `weight`."""
    rows = np.arange(len(table))
    points = []
    for lam in _PRICES:
        pick = np.argmax(probs - lam * mean_cost[None, :], axis=1)
        quality = float(table.quality[rows, pick] @ weight)
        spent = float(cost[rows, pick] @ weight)
        strong = float((pick == b) @ weight)
        points.append(OperatingPoint("*", float(lam), int(weight.sum()), quality, spent, strong))
    return points


def _calibrate(
    parts: list[list[dict[str, list[OperatingPoint]]]],
    subsets: FloatArray,
    table: OutcomeTable,
    b: int,
    target: Target | None,
) -> Calibration:
    """Calibrate on `parts[0]` (all rows: `subsets[0]` is all ones) with the halves that
    follow as cross-checks. `parts[k]`: the points summed over the rows of `subsets[k]`,
    as {group: points} dicts (merged here)."""
    base_quality = subsets @ table.quality[:, b]
    merged = [{g: p for d in part for g, p in d.items()} for part in parts]
    halves = [
        (
            Half(merged[k], int(subsets[k].sum()), float(base_quality[k])),
            Half(merged[k + 1], int(subsets[k + 1].sum()), float(base_quality[k + 1])),
        )
        for k in range(1, len(parts), 2)
    ]
    return Calibration.fit(
        merged[0],
        target or Target(quality=0.95),
        rows=len(table),
        baseline_quality=float(base_quality[0]),
        halves=halves,
    )


def train_cascade(
    table: OutcomeTable,
    *,
    baseline: str | None = None,
    target: Target | None = None,
    folds: int = 5,
    seed: int = 0,
    max_cheap: int = 3,
    max_cost_share: float = 0.25,
    progress: Progress | None = None,
) -> CascadeRouter:
    """Fit per-task cascades with learned verifiers and calibrate them for `target`
    (default: 95% of the baseline's quality). Needs recorded answers.

    Plans call up to `max_cheap` cheap models (those under `max_cost_share` of the
    baseline's mean cost). The plan families "at most k cheap models", k = 1 ..
    `max_cheap`, are each calibrated (with cross-checks) and the one meeting the target
    at the lowest cross-validated cost is kept: a larger family fits the training rows
    better but is also more optimistic about them. Raises `ModelRouteError` without
    answers or with fewer than 10 rows."""
    with one_thread():
        return _train_cascade(
            table, baseline, target, folds, seed, max_cheap, max_cost_share, progress
        )


def _train_cascade(
    table: OutcomeTable,
    baseline: str | None,
    target: Target | None,
    folds: int,
    seed: int,
    max_cheap: int,
    max_cost_share: float,
    progress: Progress | None,
) -> CascadeRouter:
    _check_rows(table)
    if table.responses is None:
        raise ModelRouteError("a cascade needs recorded answers (`<model>|model_response`)")
    base = baseline or default_baseline(table)
    b = table.column(base, "--baseline")
    cost = relative_cost(table, b)
    parsed = parse_answers(table.responses)
    tasks = np.asarray(table.tasks, dtype=object)
    # halves stratified by task: each task's rows are halved on their own
    subsets = np.vstack([np.ones(len(table)), np.zeros((2 * HALVINGS, len(table)))])
    parts: list[list[dict[str, list[OperatingPoint]]]] = [[] for _ in subsets]
    verifiers = {}
    for name in sorted(set(table.tasks)):
        rows = np.flatnonzero(tasks == name)
        subsets[1:, rows] = halvings(rows.size, seed)
        data = TaskData(name, parsed.take(rows), table.quality[rows], cost[rows], table.models, b)
        task_points, verifiers[name] = search_task(
            data,
            folds=folds,
            seed=seed,
            max_cheap=max_cheap,
            max_cost_share=max_cost_share,
            subsets=subsets[1:, rows],
            progress=progress,
        )
        for k, pts in enumerate(task_points):
            parts[k].append({name: pts})
    families = _families(parts, subsets, table, b, target, max_cheap, progress)
    calibration = best_calibration(families, target or Target(quality=0.95))
    kept = {
        name: prune(v, [p.setting for f in families for p in f.frontiers[name]])  # type: ignore[misc]
        for name, v in verifiers.items()
    }
    return CascadeRouter(table.models, base, kept, calibration, families=families)


def _cheap_stages(point: OperatingPoint, baseline: str) -> int:
    plan = point.setting
    assert isinstance(plan, Plan)
    return sum(1 for m in plan.stages if m != baseline)


def _families(
    parts: list[list[dict[str, list[OperatingPoint]]]],
    subsets: FloatArray,
    table: OutcomeTable,
    b: int,
    target: Target | None,
    max_cheap: int,
    progress: Progress | None,
) -> tuple[Calibration, ...]:
    """Calibrate each family "plans with at most k cheap models", k = 1 .. `max_cheap`
    (smallest first). The router keeps them all and picks the best one per target
    (`calibrate.best_calibration`): a 100% target may want another family than 95%."""
    base = table.models[b]
    out: list[Calibration] = []
    for k in range(1, max(1, max_cheap) + 1):
        family = [
            [
                {g: [p for p in pts if _cheap_stages(p, base) <= k] for g, pts in d.items()}
                for d in part
            ]
            for part in parts
        ]
        calibration = _calibrate(family, subsets, table, b, target)
        c = calibration.choice
        if progress is not None:
            progress(f"plans with <= {k} cheap models: cv cost {c.cost:.3f}, met {c.target_met}")
        out.append(calibration)
    return tuple(out)


def train_router(
    table: OutcomeTable,
    *,
    kind: Kind = "auto",
    baseline: str | None = None,
    target: Target | None = None,
    progress: Progress | None = None,
    **options: int,
) -> Router:
    """Train the router `kind`; `auto` trains both (the cascade only when the data has
    answers) and keeps the one that meets the target at the lower cross-validated cost."""
    if kind == "classifier" or (kind == "auto" and table.responses is None):
        return train_classifier(
            table, baseline=baseline, target=target, progress=progress, **options
        )
    cascade = train_cascade(table, baseline=baseline, target=target, progress=progress, **options)
    if kind == "cascade":
        return cascade
    classifier = train_classifier(
        table, baseline=baseline, target=target, progress=progress, **options
    )
    return cascade if _rank_key(cascade) <= _rank_key(classifier) else classifier


def _rank_key(router: Router) -> tuple[bool, float, float]:
    c = router.calibration.choice
    if c.target.strong_share is not None:  # under the cap: the best quality, then cheaper
        return (not c.target_met, -c.quality if c.target_met else c.strong_share, c.cost)
    return (not c.target_met, c.cost if c.target_met else -c.quality, -c.quality)


def _check_rows(table: OutcomeTable) -> None:
    if len(table) < 10:
        raise ModelRouteError(f"need at least 10 usable rows to train, got {len(table)}")
