"""A trained cascade used online: a strategy that ranks a request's stages and judges the
answers after each one.

Wraps a `modelroute.offline.cascade.CascadeRouter` (made by `modelroute train --kind
cascade`). Per request, the task (`Request.task`) selects the task's plan: its stages,
cheapest first, are the ranking (route models outside the plan are not called). After
each valid answer the plan asks `judge`: a non-final stage is accepted when the learned
verifier's P(right) of the best answer so far reaches the plan's threshold (the answer
returned is then that best answer, possibly an earlier stage's), else the request
escalates (`low_confidence`); the final stage answers with its own text, or with the
best-scored candidate when the plan votes at the end. When the final stage gives no
valid answer (it failed, was skipped or its answer was invalid), the best-scored held
answer is returned. Tasks unseen in training (or without a task) go to the baseline
model only. A `Route` built with a cascade checks that every model it may call is a
route model (`check_route`). Needs the `ml` extra; loading unpickles the file, so load
only routers you trust.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from modelroute.cascade_acceptance import CascadeStep
from modelroute.errors import ConfigError, ModelRouteError
from modelroute.strategies.base import Ranking
from modelroute.strategies.trained import load_router_file

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
        `ConfigError` (naming `path`) for a missing or unreadable file and for a file
        holding a classifier (load that with `TrainedRouter.load`), `RouterFileError` for a
        file that is not a router (all `ModelRouteError`s and `ValueError`s)."""
        from modelroute.offline.cascade import CascadeRouter

        router = load_router_file(path)
        if not isinstance(router, CascadeRouter):
            raise ConfigError(
                "",
                f"{path}: a {router.kind} router, not a cascade; load it with "
                "modelroute.strategies.trained.TrainedRouter.load",
            )
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

    @property
    def route_models(self) -> tuple[str, ...]:
        """`needed_models` by their route names: the models a route must list."""
        back = {known: model for model, known in self.names.items()}
        return tuple(back.get(m, m) for m in self.needed_models)

    def check_route(self, models: tuple[str, ...]) -> None:
        """Called by `Route` when built: raises `ValueError` naming the models a request
        may call (a plan's stage or the baseline, by route name) that `models` lacks."""
        missing = [m for m in self.route_models if m not in models]
        if missing:
            raise ValueError(
                f"the cascade calls {missing}, which are not among the route's models "
                f"{list(models)} (every plan's stages and the baseline, for unseen tasks, "
                f"must be route models: {list(self.route_models)})"
            )

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
        """The task's stages that are route models, in call order (`Route` refuses a
        route lacking one; see `check_route`). The reason names the plan in route names,
        e.g. `task 'quiz': small -> mid -> large (accept p>=0.703)`."""
        stages, plan = self.stages(request.task)
        called = tuple(m for m in stages if m in models)
        if plan is None:
            task = request.task
            why = "no task" if task is None else f"task {task!r} unseen in training"
            return Ranking(called, reason=f"{why}: baseline only")
        threshold = None if math.isinf(plan.threshold) else plan.threshold
        shown = replace(plan, stages=stages)  # the plan as the route names its models
        return Ranking(called, reason=f"task {request.task!r}: {shown}", threshold=threshold)

    def judge(self, request: Request, answers: Mapping[str, str], final: bool) -> CascadeStep:
        """Accept or escalate after the newest of `answers` (route name -> text, in call
        order); see `modelroute.cascade_acceptance.AnswerJudge`."""
        if not answers:
            raise ValueError("judge needs at least one answer")
        newest = list(answers)[-1]
        stages, plan = self.stages(request.task)
        if plan is None:
            return CascadeStep(True, newest, detail="unseen task: the baseline answers")
        # `final` without the last stage's answer: it failed, was skipped or was invalid
        last_answered = newest == stages[-1]
        if final and last_answered and not plan.vote_at_end:
            return CascadeStep(True, newest, detail="final stage: its own answer")
        if not final and math.isinf(plan.threshold):
            why = "the plan accepts no early answer"
            return CascadeStep(False, detail=why, code="no_early_accept")
        scored = self._score(request.task or "", answers)
        if scored is None:
            if final:
                why = "final stage: no verifier for this set"
                if not last_answered:
                    why = f"no answer from the final stage, no verifier for this set: {newest}"
                return CascadeStep(True, newest, detail=why)
            why = "no acceptance model for this called set"
            return CascadeStep(False, detail=why, code="no_verifier")
        p, pick = scored
        if final:
            why = "final vote" if last_answered else "no answer from the final stage, best held"
            return CascadeStep(True, pick, p, detail=f"{why}: {pick} P(right)={p:.3f}")
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
