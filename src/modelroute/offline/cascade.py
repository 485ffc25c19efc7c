"""A trained cascade, simulated on recorded answers: cheap models first, accept when the
learned verifier says the answer is likely right, else escalate.

Each task has its own plan (`Plan`): models called one after another, cheapest first;
after each non-final call the verifier of that task and called set scores the candidate
answers (see `modelroute.offline.evidence`) and the best one is accepted when its
probability reaches the plan's threshold. The last stage always answers: with its own
answer, or (`vote_at_end`) with the best-scored candidate among everything called. A
query's cost is the sum of every model it called. Tasks unseen in training go straight
to the baseline model.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from modelroute.errors import ModelRouteError
from modelroute.offline.calibrate import Calibration, Target, best_calibration
from modelroute.offline.data import OutcomeTable
from modelroute.offline.evidence import (
    FloatArray,
    IntArray,
    ParsedAnswers,
    TaskKind,
    best_per_row,
    candidates,
    parse_answers,
)
from modelroute.offline.metrics import Outcome
from modelroute.offline.probability import probability


@dataclass(frozen=True, slots=True)
class Plan:
    """Models to call in order; accept a non-final answer when P(right) >= `threshold`
    (inf: never; every stage is called). `vote_at_end`: the final answer is the best
    candidate over all answers received, not just the last one."""

    stages: tuple[str, ...]
    threshold: float = math.inf
    vote_at_end: bool = False

    def __str__(self) -> str:
        if len(self.stages) == 1:
            accept = ""
        elif math.isinf(self.threshold):
            accept = " (call all, accept none early)"
        else:
            accept = f" (accept p>={self.threshold:.3f})"
        vote = " [vote]" if self.vote_at_end else ""
        return " -> ".join(self.stages) + accept + vote


@dataclass(slots=True)
class TaskVerifier:
    """One task's evidence model: answer kind, each model's letter log-priors (rows =
    the router's models), a fitted acceptance model per called set (in call order), and
    whether text answers are described with their code agreement (`agreement`; routers
    saved before it existed unpickle without it and are read as False)."""

    kind: TaskKind
    priors: FloatArray
    acceptors: dict[tuple[str, ...], Any] = field(default_factory=dict)
    agreement: bool = True

    @property
    def uses_agreement(self) -> bool:
        """The feature set the acceptance models were fitted on (False for old files)."""
        return bool(getattr(self, "agreement", False))

    def best(
        self, parsed: ParsedAnswers, called: tuple[str, ...], index: Mapping[str, int]
    ) -> tuple[FloatArray, IntArray]:
        """Per row, the best candidate's P(right) and its model (router index)."""
        if called not in self.acceptors:
            raise ModelRouteError(f"no acceptance model for the called set {called}")
        cands = candidates(
            self.kind,
            parsed,
            [index[m] for m in called],
            self.priors,
            agreement=self.uses_agreement,
        )
        scores = probability(self.acceptors[called], cands.features)
        return best_per_row(cands, scores, len(parsed))


@dataclass(slots=True)
class _Prepared:
    """A table seen through the router's models: column map, per-task rows and parsed
    answers, and a cache of verifier scores per (task, called set)."""

    columns: list[int]
    rows: dict[str, IntArray]
    parsed: dict[str, ParsedAnswers]
    cache: dict[tuple[str, tuple[str, ...]], tuple[FloatArray, IntArray]] = field(
        default_factory=dict
    )


class CascadeRouter:
    """Per-task cascades over recorded answers (see the module docstring).

    `families`: the calibrations of nested plan families ("at most k cheap models"),
    smallest first; `retarget` picks the best family for each target among them
    (empty: routers saved before they existed, which retarget `calibration` alone)."""

    kind: ClassVar[str] = "cascade"

    def __init__(
        self,
        models: Sequence[str],
        baseline: str,
        verifiers: Mapping[str, TaskVerifier],
        calibration: Calibration,
        *,
        families: Sequence[Calibration] = (),
    ) -> None:
        self.models = tuple(models)
        self.baseline = baseline
        self.verifiers = dict(verifiers)
        self.calibration = calibration
        self.families = tuple(families)
        self._index = {m: j for j, m in enumerate(self.models)}

    def retarget(self, target: Target) -> CascadeRouter:
        """The same router calibrated for another target (no data needed): the plan
        family that serves `target` best (see `calibrate.rank_key`) at its price."""
        families: tuple[Calibration, ...] = getattr(self, "families", ())
        calibration = (
            best_calibration(families, target) if families else self.calibration.retarget(target)
        )
        return CascadeRouter(
            self.models, self.baseline, self.verifiers, calibration, families=families
        )

    def plans(self, lam: float | None = None) -> dict[str, Plan]:
        """Each task's plan at price `lam` (default: the calibrated one)."""
        settings: Mapping[str, Hashable] = self.calibration.settings(lam)
        return {task: plan for task, plan in settings.items() if isinstance(plan, Plan)}

    def accept_probability(self, task: str, answers: Mapping[str, str]) -> tuple[float, str]:
        """Online use: P(right) of the best of `answers` (model -> text, in call order)
        and the model whose answer it is. Raises `ModelRouteError` when the task or the
        called set has no acceptance model."""
        verifier = self.verifiers.get(task)
        if verifier is None:
            raise ModelRouteError(f"no verifier for task {task!r}")
        parsed = parse_answers([[answers.get(m, "") for m in self.models]])
        p, model = verifier.best(parsed, tuple(answers), self._index)
        return float(p[0]), self.models[int(model[0])]

    def needed_models(self) -> tuple[str, ...]:
        """The models any of its plans (at any price) may call, and the baseline (for
        unseen tasks): the columns replay needs."""
        stages = [
            stage
            for points in self.calibration.frontiers.values()
            for point in points
            if isinstance(point.setting, Plan)
            for stage in point.setting.stages
        ]
        return tuple(dict.fromkeys([*stages, self.baseline]))

    def prepare(self, table: OutcomeTable) -> _Prepared:
        """Map the table's columns. Raises `UnknownModelError` for a model a plan calls
        (or the baseline) that the table lacks; a model no plan calls may be absent."""
        needed = set(table.columns(self.needed_models(), "the cascade router calls it"))
        base = table.column(self.baseline)
        columns = [table.models.index(m) if m in table.models else base for m in self.models]
        assert needed <= set(columns)
        if table.responses is None:
            raise ModelRouteError("a cascade needs recorded answers (`<model>|model_response`)")
        tasks = np.asarray(table.tasks, dtype=object)
        rows: dict[str, IntArray] = {}
        parsed: dict[str, ParsedAnswers] = {}
        for task in sorted(set(table.tasks)):
            idx = np.flatnonzero(tasks == task).astype(np.int64)
            rows[task] = idx
            if task in self.verifiers:
                parsed[task] = parse_answers(
                    [[table.responses[i][c] for c in columns] for i in idx]
                )
        return _Prepared(columns, rows, parsed)

    def run(self, table: OutcomeTable, lam: float | None = None) -> Outcome:
        """Simulate the cascade on every row at price `lam` (default: calibrated)."""
        return self.run_prepared(table, self.prepare(table), lam)

    def run_prepared(self, table: OutcomeTable, prep: _Prepared, lam: float | None) -> Outcome:
        """`run` on a prepared table (reuses verifier scores across prices)."""
        n = len(table)
        out = _Accumulator(n)
        plans = self.plans(lam)
        for task, idx in prep.rows.items():
            plan = plans.get(task) if task in prep.parsed else None
            self._run_task(table, prep, task, idx, plan or Plan((self.baseline,)), out)
        return out.outcome(prep.columns)

    def _run_task(
        self,
        table: OutcomeTable,
        prep: _Prepared,
        task: str,
        idx: IntArray,
        plan: Plan,
        out: _Accumulator,
    ) -> None:
        undecided = np.ones(idx.size, dtype=bool)
        spent = np.zeros(idx.size)
        strong = False
        for t, name in enumerate(plan.stages):
            j = self._index[name]
            spent = spent + table.cost[idx, prep.columns[j]]
            strong = strong or name == self.baseline
            final = t == len(plan.stages) - 1
            if final and not plan.vote_at_end:
                pick = np.full(idx.size, j, dtype=np.int64)
                accept = undecided
            else:
                p, pick = self._scores(prep, task, plan.stages[: t + 1])
                accept = undecided if final else undecided & (p >= plan.threshold)
            out.decide(idx[accept], pick[accept], spent[accept], t + 1, strong)
            undecided = undecided & ~accept
            if not undecided.any():
                break
        self._fill_quality(table, prep, out, idx)

    def _scores(
        self, prep: _Prepared, task: str, called: tuple[str, ...]
    ) -> tuple[FloatArray, IntArray]:
        key = (task, called)
        if key not in prep.cache:
            prep.cache[key] = self.verifiers[task].best(prep.parsed[task], called, self._index)
        return prep.cache[key]

    @staticmethod
    def _fill_quality(
        table: OutcomeTable, prep: _Prepared, out: _Accumulator, idx: IntArray
    ) -> None:
        cols = np.asarray(prep.columns, dtype=np.int64)[out.model[idx]]
        out.quality[idx] = table.quality[idx, cols]


class _Accumulator:
    """Per-row results filled in task by task (model = router index)."""

    def __init__(self, n: int) -> None:
        self.model = np.zeros(n, dtype=np.int64)
        self.quality = np.zeros(n)
        self.cost = np.zeros(n)
        self.calls = np.zeros(n, dtype=np.int64)
        self.strong = np.zeros(n, dtype=bool)

    def decide(
        self, rows: IntArray, model: IntArray, cost: FloatArray, calls: int, strong: bool
    ) -> None:
        self.model[rows] = model
        self.cost[rows] = cost
        self.calls[rows] = calls
        self.strong[rows] = strong

    def outcome(self, columns: list[int]) -> Outcome:
        answered = np.asarray(columns, dtype=np.int64)[self.model]
        return Outcome(answered, self.quality, self.cost, self.calls, self.strong)
