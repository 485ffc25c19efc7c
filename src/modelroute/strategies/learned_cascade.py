"""A trained cascade used online: a strategy that ranks a request's stages and judges the
answers after each one.

Wraps a `modelroute.offline.cascade.CascadeRouter` (made by `modelroute train --kind
cascade`). Per request, the task (`Request.task`) selects the task's plan: its stages,
cheapest first, are the ranking (route models outside the plan are not called). After
each valid answer the plan asks `judge`: a non-final stage is accepted when the learned
verifier's P(right) of the best answer so far reaches the plan's threshold (the answer
returned is then that best answer, possibly an earlier stage's), else the request
escalates (`low_confidence`); the final stage answers with its own text, or with the
best-scored candidate when the plan votes at the end. Tasks unseen in training (or
without a task) go to the baseline model only. Needs the `ml` extra; loading unpickles
the file, so load only routers you trust.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelroute.cascade_acceptance import CascadeStep
from modelroute.errors import ModelRouteError
from modelroute.strategies.base import Ranking

if TYPE_CHECKING:
    from modelroute.catalog import Catalog
    from modelroute.offline.cascade import CascadeRouter
    from modelroute.offline.cascade import Plan as CascadePlan
    from modelroute.types import Request


@dataclass(frozen=True, slots=True)
class LearnedCascade:
    """A trained per-task cascade as a route strategy and answer judge.

    `router`: the trained cascade; `lam`: its price of cost (None = calibrated);
    `names`: route model name -> the name the router knows it by (empty = the same
    names). Frozen and read-only: routes and threads may share one.
    """

    router: CascadeRouter
    lam: float | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    name: str = "cascade"
    _plans: Mapping[str, CascadePlan] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plans", self.router.plans(self.lam))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        lam: float | None = None,
        names: Mapping[str, str] | None = None,
    ) -> LearnedCascade:
        """Load a cascade router file saved by `modelroute train --kind cascade`. Raises
        `ValueError` for a file holding another kind of router, `RouterFileError` (a
        `ValueError`) for a file that is not a router, `OSError` when unreadable."""
        from modelroute.offline.artifact import load_router
        from modelroute.offline.cascade import CascadeRouter

        router = load_router(path)
        if not isinstance(router, CascadeRouter):
            raise ValueError(f"{path}: a {router.kind} router, not a cascade")
        return cls(router, lam, dict(names or {}))

    @property
    def models(self) -> tuple[str, ...]:
        """The model names the router was trained on."""
        return self.router.models

    @property
    def needed_models(self) -> tuple[str, ...]:
        """The trained names any request may call: every plan's stages and the baseline
        (for unseen tasks), each once."""
        stages = [s for plan in self._plans.values() for s in plan.stages]
        return tuple(dict.fromkeys([*stages, self.router.baseline]))

    def renamed(self, names: Mapping[str, str]) -> LearnedCascade:
        """The same cascade for a route naming the router's models differently
        (`names`: route name -> trained name)."""
        return LearnedCascade(self.router, self.lam, dict(names), self.name)

    def stages(self, task: str | None) -> tuple[tuple[str, ...], CascadePlan | None]:
        """The route names of `task`'s stages, in call order, and its plan (None for an
        unseen task: the baseline alone)."""
        plan = self._plans.get(task) if task is not None else None
        trained = plan.stages if plan is not None else (self.router.baseline,)
        back = {known: model for model, known in self.names.items()}
        return tuple(back.get(s, s) for s in trained), plan

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """The task's stages that are route models, in call order (a stage the route lacks
        is left out; a YAML config refuses such a route)."""
        stages, plan = self.stages(request.task)
        stages = tuple(m for m in stages if m in models)
        if plan is None:
            why = f"task {request.task!r} unseen in training: baseline only"
            return Ranking(stages, reason=why)
        threshold = None if math.isinf(plan.threshold) else plan.threshold
        return Ranking(stages, reason=f"task {request.task!r}: {plan}", threshold=threshold)

    def judge(self, request: Request, answers: Mapping[str, str], final: bool) -> CascadeStep:
        """Accept or escalate after the newest of `answers` (route name -> text, in call
        order); see `modelroute.cascade_acceptance.AnswerJudge`."""
        if not answers:
            raise ValueError("judge needs at least one answer")
        newest = list(answers)[-1]
        plan = self._plans.get(request.task) if request.task is not None else None
        if plan is None:
            return CascadeStep(True, newest, detail="unseen task: the baseline answers")
        if final and not plan.vote_at_end:
            return CascadeStep(True, newest, detail="final stage: its own answer")
        if not final and math.isinf(plan.threshold):
            why = "the plan accepts no early answer"
            return CascadeStep(False, detail=why, code="no_early_accept")
        scored = self._score(request.task or "", answers)
        if scored is None:
            if final:
                return CascadeStep(True, newest, detail="final stage: no verifier for this set")
            why = "no acceptance model for this called set"
            return CascadeStep(False, detail=why, code="no_verifier")
        p, pick = scored
        if final:
            return CascadeStep(True, pick, p, detail=f"final vote: {pick} P(right)={p:.3f}")
        if p >= plan.threshold:
            detail = f"accepted {pick}: P(right)={p:.3f} >= {plan.threshold:.3f}"
            return CascadeStep(True, pick, p, plan.threshold, detail)
        detail = f"low_confidence: P(right)={p:.3f} < {plan.threshold:.3f} (best {pick})"
        return CascadeStep(False, None, p, plan.threshold, detail)

    def _score(self, task: str, answers: Mapping[str, str]) -> tuple[float, str] | None:
        """P(right) of the best answer and its route model; None when the router has no
        acceptance model for the called set."""
        known = {self.names.get(m, m): text for m, text in answers.items()}
        try:
            p, best = self.router.accept_probability(task, known)
        except (ModelRouteError, KeyError):
            return None
        back = {k: m for m, k in self.names.items()}
        return p, back.get(best, best)
