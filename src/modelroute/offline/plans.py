"""Cascade plans for one task, scored by cross-validation on training rows.

The pool of cheap models is every model whose mean cost on the task is under
`max_cost_share` of the baseline's. Candidate plans call a subset of the pool (at most
`max_cheap` models, cheapest first), then stop, or end with the baseline (own answer, or
a vote over every answer). Verifiers for each called set are fitted on k-1 folds and
score the held-out fold, so every plan and threshold gets an honest out-of-fold
operating point; the final verifiers are then fitted on all the task's training rows.
The same out-of-fold decisions are also summed over given subsets of the rows (halves of
the training rows, for calibration's cross-checks; see `modelroute.offline.calibrate`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from modelroute.offline.calibrate import OperatingPoint
from modelroute.offline.cascade import Plan, TaskVerifier
from modelroute.offline.evidence import (
    FloatArray,
    IntArray,
    ParsedAnswers,
    best_per_row,
    candidates,
    letter_log_priors,
    task_kind,
)
from modelroute.offline.probability import fit_probability, probability

Progress = Callable[[str], None]
_QUANTILES = np.linspace(0.0, 1.0, 41)


@dataclass(frozen=True, slots=True)
class TaskData:
    """One task's training rows, seen through the router's models: parsed answers,
    quality, cost in baseline units, and the baseline's index."""

    name: str
    parsed: ParsedAnswers
    quality: FloatArray
    cost: FloatArray
    models: tuple[str, ...]
    baseline: int

    def take(self, rows: IntArray) -> ParsedAnswers:
        """Parsed answers of `rows`."""
        return self.parsed.take(rows)


def called_sets(task: TaskData, max_cheap: int, max_cost_share: float) -> list[tuple[int, ...]]:
    """Cheap subsets (cheapest first), each also followed by the baseline, and the
    baseline alone."""
    mean = task.cost.mean(axis=0)
    pool = [j for j in np.argsort(mean, kind="stable") if j != task.baseline]
    pool = [int(j) for j in pool if mean[j] < max_cost_share * mean[task.baseline]]
    sets: list[tuple[int, ...]] = []
    for size in range(1, min(max_cheap, len(pool)) + 1):
        sets.extend(itertools.combinations(pool, size))
    return [*sets, *((*s, task.baseline) for s in sets), (task.baseline,)]


def _fit_verifier(task: TaskData, rows: IntArray, called: tuple[int, ...], kind: str) -> object:
    parsed = task.take(rows)
    cands = candidates(kind, parsed, called, letter_log_priors(parsed))  # type: ignore[arg-type]
    return fit_probability(cands.features, task.quality[rows][cands.row, cands.model])


def out_of_fold(
    task: TaskData, called: tuple[int, ...], folds: IntArray, kind: str
) -> tuple[FloatArray, IntArray]:
    """Out-of-fold best P(right) and model per row for one called set."""
    n = len(task.parsed)
    best = np.zeros(n)
    model = np.zeros(n, dtype=np.int64)
    for f in np.unique(folds):
        fit_rows = np.flatnonzero(folds != f)
        held = np.flatnonzero(folds == f)
        verifier = _fit_verifier(task, fit_rows, called, kind)
        priors = letter_log_priors(task.take(fit_rows))
        parsed = task.take(held)
        cands = candidates(kind, parsed, called, priors)  # type: ignore[arg-type]
        p, m = best_per_row(cands, probability(verifier, cands.features), held.size)
        best[held], model[held] = p, m
    return best, model


def _points(
    task: TaskData,
    stages: tuple[int, ...],
    vote: bool,
    oof: dict[tuple[int, ...], tuple[FloatArray, IntArray]],
    subsets: FloatArray,
) -> list[list[OperatingPoint]]:
    """Operating points of one plan over the threshold grid (vectorized over thresholds),
    summed over each row subset (rows of `subsets`: 0/1 weights per row)."""
    n = len(task.parsed)
    rows = np.arange(n)
    h = subsets.shape[0]
    cheap_stages = len(stages) - 1
    grid = np.array([np.inf])
    if cheap_stages:  # thresholds at quantiles of the scores seen, where they are dense
        seen = np.concatenate([oof[stages[: t + 1]][0] for t in range(cheap_stages)])
        grid = np.concatenate([np.unique(np.quantile(seen, _QUANTILES)), grid])
    undecided = np.ones((grid.size, n), dtype=bool)
    quality = np.zeros((grid.size, h))
    cost = np.zeros((grid.size, h))
    strong = np.zeros((grid.size, h))
    spent = np.zeros(n)
    for t, j in enumerate(stages):
        spent = spent + task.cost[:, j]
        final = t == len(stages) - 1
        if final and not vote:
            p, pick = np.ones(n), np.full(n, j, dtype=np.int64)
        else:
            p, pick = oof[stages[: t + 1]]
        accept = undecided if final else undecided & (p[None, :] >= grid[:, None])
        q = task.quality[rows, pick]
        quality += (accept * q[None, :]) @ subsets.T
        cost += (accept * spent[None, :]) @ subsets.T
        if task.baseline in stages[: t + 1]:
            strong += accept @ subsets.T
        undecided &= ~accept
    names = tuple(task.models[j] for j in stages)
    plans = [Plan(names, float(g), vote) for g in grid]
    return [
        [
            OperatingPoint(task.name, plan, int(size), float(q), float(c), float(s))
            for plan, q, c, s in zip(plans, quality[:, k], cost[:, k], strong[:, k], strict=True)
        ]
        for k, size in enumerate(subsets.sum(axis=1))
    ]


def search_task(
    task: TaskData,
    *,
    folds: int,
    seed: int,
    max_cheap: int,
    max_cost_share: float,
    subsets: FloatArray | None = None,
    progress: Progress | None = None,
) -> tuple[list[list[OperatingPoint]], TaskVerifier]:
    """Every candidate plan's out-of-fold operating points, summed over all rows (first
    list) and over each row subset (rows of `subsets`, 0/1 weights per row: one more
    list each), and the task's verifier fitted on all its rows (acceptance models for
    every called set that needs one)."""
    n = len(task.parsed)
    kind = task_kind(task.parsed)
    rng = np.random.default_rng(seed)
    fold_of = (rng.permutation(n) % max(2, min(folds, n))).astype(np.int64)
    sets = called_sets(task, max_cheap, max_cost_share)
    oof: dict[tuple[int, ...], tuple[FloatArray, IntArray]] = {}
    all_rows = np.arange(n, dtype=np.int64)
    verifier = TaskVerifier(kind, letter_log_priors(task.parsed))
    for called in sets:
        if called == (task.baseline,):
            continue
        oof[called] = out_of_fold(task, called, fold_of, kind)
        names = tuple(task.models[j] for j in called)
        verifier.acceptors[names] = _fit_verifier(task, all_rows, called, kind)
    if progress is not None:
        progress(f"task {task.name!r}: {kind}, {n} rows, {len(sets)} called sets")
    weights = np.ones((1, n))
    if subsets is not None:
        weights = np.vstack([weights, subsets])
    points: list[list[OperatingPoint]] = [[] for _ in range(weights.shape[0])]
    for called in sets:
        for vote in (False, True) if len(called) > 1 else (False,):
            for k, part in enumerate(_points(task, called, vote, oof, weights)):
                points[k] += part
    return points, verifier


def prune(verifier: TaskVerifier, plans: Sequence[Plan]) -> TaskVerifier:
    """Keep only the acceptance models that `plans` use."""
    needed: set[tuple[str, ...]] = set()
    for plan in plans:
        last = len(plan.stages) if plan.vote_at_end else len(plan.stages) - 1
        needed.update(plan.stages[: t + 1] for t in range(last))
    kept = {k: v for k, v in verifier.acceptors.items() if k in needed}
    return TaskVerifier(verifier.kind, verifier.priors, kept, verifier.uses_agreement)
