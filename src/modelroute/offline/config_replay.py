"""Replay a YAML route config on recorded outcomes.

Each row becomes a `Request` (its prompt as the user message, its `eval_name` as the
task). The config's router picks the route (rules, task, default) and the route's
strategy ranks its models, exactly as online. Then the ranked models are walked in
order, each recorded answer judged by the route's validators (plus per-model tier
validators and what the request implies): the first answer that passes is returned,
and every model tried is paid for. A route whose strategy is a trained cascade
(`strategy: {type: trained, path: cascade.bin}`) runs as online: after each valid answer
the cascade's judge accepts (returning the best answer so far, possibly an earlier
stage's) or escalates to the next stage. No provider is called: the backend refuses calls.

Route models are matched to the data's model columns as a trained strategy matches its
names: by config name, then `target`, then `target` without its `provider/` prefix.

Faults, retries, breakers and input-size overflow routes are not simulated. Neither are
a route's `verifier` (a second model's judgement was not recorded), its `shadow` (never
returned) nor `min_confidence` validators (recorded answers have no logprobs, so they
pass): `ConfigRouter.ignored` lists the ones a config uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from modelroute.errors import ModelRouteError
from modelroute.offline.data import MissingColumnError, OutcomeTable
from modelroute.offline.metrics import Outcome
from modelroute.types import Request, Response
from modelroute.validators import AllOf, MinConfidence, Validator

if TYPE_CHECKING:
    from modelroute.cascade_acceptance import JudgeAnswers
    from modelroute.catalog import ModelInfo
    from modelroute.route import Route
    from modelroute.router import Router


def _uses_min_confidence(validator: Validator) -> bool:
    if isinstance(validator, MinConfidence):
        return True
    return isinstance(validator, AllOf) and any(map(_uses_min_confidence, validator.validators))


def ignored_features(route: Route) -> list[str]:
    """What replay cannot simulate in `route`, one line each (empty: nothing ignored)."""
    where = f"routes.{route.name}"
    out = []
    if route.verifier is not None:
        out.append(f"{where}.verifier ignored: no verifier judgement was recorded")
    if route.shadow is not None:
        out.append(f"{where}.shadow ignored: shadow answers are never returned")
    validators = (*route.validators, *(v for t in route.tier_validators.values() for v in t))
    if any(map(_uses_min_confidence, validators)):
        out.append(
            f"{where}: min_confidence validators ignored (pass): recorded answers have no logprobs"
        )
    return out


def _callable_models(route: Route) -> set[str]:
    """The route models a request may call: all of them, except under a trained cascade,
    which calls only its plans' stages and its baseline."""
    needed = getattr(route.ranker, "needed_models", None)
    if needed is None:
        return set(route.models)
    names: dict[str, str] = dict(getattr(route.ranker, "names", {}) or {})
    return {m for m in route.models if names.get(m, m) in set(needed)}


def _no_calls(model: ModelInfo, request: Request) -> Response:
    raise ModelRouteError("replay calls no model")


class ConfigRouter:
    """A route config, replayable like a trained router (no calibration, no curve)."""

    kind: ClassVar[str] = "config"

    def __init__(self, router: Router, baseline: str | None = None) -> None:
        self.router = router
        default = router.baseline.name if router.baseline is not None else None
        self._baseline = baseline or default

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ConfigRouter:
        """Load the config; raises `ConfigError` naming the bad path."""
        from modelroute.backend import FakeBackend
        from modelroute.router import Router

        return cls(Router.from_config(path, backend=FakeBackend(_no_calls)))

    @property
    def ignored(self) -> list[str]:
        """One line per route feature replay does not simulate (see the module docstring)."""
        return [line for route in self.router.routes.values() for line in ignored_features(route)]

    @property
    def baseline(self) -> str:
        """The config's `baseline`; raises when it has none (pass one to `replay`)."""
        if self._baseline is None:
            raise ModelRouteError("the config names no baseline model: pass --baseline")
        return self._baseline

    def prepare(self, table: OutcomeTable) -> dict[str, int]:
        """Match every routed model to a data column (config name, then `target`, then
        `target` without its provider prefix). Returns route model name -> column.
        Raises `MissingColumnError` naming the route path, the names tried and the data's
        model columns."""
        columns: dict[str, int] = {}
        for route in self.router.routes.values():
            callable_ = _callable_models(route)
            for i, model in enumerate(route.models):
                if model in columns or model not in callable_:
                    continue
                tried = self._names(model)
                found = [table.models.index(n) for n in tried if n in table.models]
                if not found:
                    why = (
                        "config replay matches each route model to a data model column by its "
                        f"config name or its `target` (tried {tried})"
                    )
                    path = f"data (routes.{route.name}.models[{i}])"
                    raise MissingColumnError(path, model, table.missing(model, why))
                columns[model] = found[0]
        return columns

    def _names(self, model: str) -> list[str]:
        """The data column names `model` may go by, in order of preference."""
        names = [model]
        target = self.router.catalog.get(model).target if model in self.router.catalog else None
        if target:
            names += [target, target.rsplit("/", 1)[-1]]
        return list(dict.fromkeys(names))

    def run_prepared(self, table: OutcomeTable, prep: Any, lam: float | None) -> Outcome:
        """Walk each row's ranked chain over the recorded answers."""
        columns: dict[str, int] = prep
        n = len(table)
        answered = np.zeros(n, dtype=np.int64)
        quality = np.zeros(n)
        cost = np.zeros(n)
        calls = np.zeros(n, dtype=np.int64)
        strong = np.zeros(n, dtype=bool)
        base = self._baseline_column(table, columns)
        for i in range(n):
            request = Request.of(table.prompts[i], task=table.tasks[i] or None)
            route = self.router.resolve_route(request, None)
            tried, pick = self._walk(table, i, request, route, columns)
            answered[i] = pick if pick is not None else tried[-1]
            quality[i] = table.quality[i, pick] if pick is not None else 0.0
            cost[i] = sum(table.cost[i, j] for j in tried)
            calls[i] = len(tried)
            strong[i] = base in tried
        return Outcome(answered, quality, cost, calls, strong)

    def data_name(self, table: OutcomeTable, model: str) -> str:
        """The data column `model` (a config name, or a data column name) matches, or
        `model` itself when none does."""
        names = [n for n in self._names(model) if n in table.models]
        return names[0] if names else model

    def _baseline_column(self, table: OutcomeTable, columns: dict[str, int]) -> int | None:
        if self._baseline is None:
            return None
        if self._baseline in columns:
            return columns[self._baseline]
        name = self.data_name(table, self._baseline)
        return table.models.index(name) if name in table.models else None

    def _walk(
        self, table: OutcomeTable, row: int, request: Request, route: Route, columns: dict[str, int]
    ) -> tuple[Sequence[int], int | None]:
        """The columns called, in order, and the column whose answer is returned (None:
        no answer passed)."""
        from modelroute.validators import validators_for_request

        ranker = route.ranker
        order = (
            ranker.rank(request, route.models, self.router.catalog).models
            if ranker is not None
            else route.models
        )
        judge: JudgeAnswers | None = getattr(ranker, "judge", None)  # a trained cascade
        base = (*route.validators, *validators_for_request(request))
        tiers = getattr(route, "tier_validators", {})
        tried: list[int] = []
        held: dict[str, str] = {}  # a cascade's valid answers so far, in call order
        queue = list(dict.fromkeys(order))
        for k, model in enumerate(queue):
            j = columns[model]
            text = table.responses[row][j] if table.responses is not None else "(recorded)"
            response = Response(text=text, model=model)
            ok = all(v(response, request).ok for v in (*base, *tiers.get(model, ())))
            tried.append(j)
            if not ok:
                continue
            if judge is None:
                return tried, j
            held[model] = text
            step = judge(request, held, k == len(queue) - 1)
            if step.accept and step.pick is not None:
                return tried, columns[step.pick]
        if held and judge is not None:  # later stages failed: the best answer so far
            step = judge(request, held, True)
            return tried, columns[step.pick or list(held)[-1]]
        return tried, None
