"""Replay a YAML route config on recorded outcomes.

Each row becomes a `Request` (its prompt as the user message, its `eval_name` as the
task). The config's router picks the route (rules, task, default) and the route's
strategy ranks its models, exactly as online. Then the ranked models are walked in
order, each recorded answer judged by the route's validators (plus per-model tier
validators and what the request implies): the first answer that passes is returned,
and every model tried is paid for. No provider is called: the backend refuses calls.
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

from modelroute.errors import ModelRouteError, UnknownModelError
from modelroute.offline.data import OutcomeTable
from modelroute.offline.metrics import Outcome
from modelroute.types import Request, Response
from modelroute.validators import AllOf, MinConfidence, Validator

if TYPE_CHECKING:
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

    def prepare(self, table: OutcomeTable) -> list[int]:
        """Check every routed model is in the data; returns the model name -> column map
        as a list aligned with `table.models`."""
        for route in self.router.routes.values():
            for i, model in enumerate(route.models):
                if model not in table.models:
                    raise UnknownModelError(f"data (routes.{route.name}.models[{i}])", model)
        return list(range(len(table.models)))

    def run_prepared(self, table: OutcomeTable, prep: Any, lam: float | None) -> Outcome:
        """Walk each row's ranked chain over the recorded answers."""
        n = len(table)
        answered = np.zeros(n, dtype=np.int64)
        quality = np.zeros(n)
        cost = np.zeros(n)
        calls = np.zeros(n, dtype=np.int64)
        strong = np.zeros(n, dtype=bool)
        for i in range(n):
            request = Request.of(table.prompts[i], task=table.tasks[i] or None)
            route = self.router.resolve_route(request, None)
            tried = self._walk(table, i, request, route)
            last = tried[-1]
            answered[i] = last[0]
            quality[i] = table.quality[i, last[0]] if last[1] else 0.0
            cost[i] = sum(table.cost[i, j] for j, _ in tried)
            calls[i] = len(tried)
            strong[i] = any(table.models[j] == self._baseline for j, _ in tried)
        return Outcome(answered, quality, cost, calls, strong)

    def _walk(
        self, table: OutcomeTable, row: int, request: Request, route: Route
    ) -> Sequence[tuple[int, bool]]:
        from modelroute.validators import validators_for_request

        ranker = route.ranker
        order = (
            ranker.rank(request, route.models, self.router.catalog).models
            if ranker is not None
            else route.models
        )
        base = (*route.validators, *validators_for_request(request))
        tiers = getattr(route, "tier_validators", {})
        tried: list[tuple[int, bool]] = []
        for model in dict.fromkeys(order):
            j = table.column(model)
            text = table.responses[row][j] if table.responses is not None else "(recorded)"
            response = Response(text=text, model=model)
            ok = all(v(response, request).ok for v in (*base, *tiers.get(model, ())))
            tried.append((j, ok))
            if ok:
                break
        return tried
