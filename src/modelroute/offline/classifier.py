"""A prompt-only router: TF-IDF features and one logistic regression per model predict
the chance that each model answers well; the router picks the model maximizing
`P(good) - lam * mean cost` (cost in units of the baseline's mean cost per query).

`lam` is the calibrated price of cost: 0 picks the model most likely to be right,
a large price the cheapest. Training scores a grid of prices out-of-fold (each an
operating point whose setting is its grid price); calibration picks one point and sets
`lam` inside the range of trade-off prices (summed quality against summed cost) at which
that point is the best (its middle, or 0 for the best-quality point), so `lam` and the
point's grid price differ slightly: the router routes at `lam`. The prompt is prefixed
with its task label, so the task is a feature too. Sees only the prompt, so it can route
online before any call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from modelroute.offline.calibrate import Calibration, Target
from modelroute.offline.data import OutcomeTable
from modelroute.offline.evidence import FloatArray, IntArray
from modelroute.offline.metrics import Outcome
from modelroute.offline.probability import Constant

MAX_PROMPT_CHARS = 4096
"""The classifier reads this many leading characters of a prompt (training and routing
alike), so its decision cost stops growing with the prompt: TF-IDF over a 20,000-character
prompt took ~3 ms, over 4,096 well under 1 ms (bench/decision_cost.py). RouterBench prompts
are at most ~4,300 characters, so training on them is all but unchanged."""


def prompt_text(prompt: str, task: str | None) -> str:
    """What the vectorizer sees: the task label, then the first `MAX_PROMPT_CHARS` of the
    prompt."""
    return f"task:{task or '-'}\n{prompt[:MAX_PROMPT_CHARS]}"


class PromptClassifier:
    """Picks one model per prompt (see the module docstring)."""

    kind: ClassVar[str] = "classifier"

    def __init__(
        self,
        models: Sequence[str],
        baseline: str,
        vectorizer: Any,
        heads: Sequence[Any],
        mean_cost: FloatArray,
        calibration: Calibration,
    ) -> None:
        self.models = tuple(models)
        self.baseline = baseline
        self.vectorizer = vectorizer
        self.heads = list(heads)
        self.mean_cost = np.asarray(mean_cost, dtype=np.float64)
        self.calibration = calibration

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_stacked", None)  # a cache, rebuilt on first use
        return state

    @property
    def lam(self) -> float:
        """The calibrated price of cost. A choice priced on strong-model calls (a
        strong-share target) routes at its point's grid price of cost instead."""
        choice = self.calibration.choice
        if choice.price_axis != "cost" and len(choice.points) == 1:
            (point,) = choice.points.values()
            if isinstance(point.setting, float | int):
                return float(point.setting)
        return float(choice.lam)

    def retarget(self, target: Target) -> PromptClassifier:
        """The same router calibrated for another target (no data needed)."""
        return PromptClassifier(
            self.models,
            self.baseline,
            self.vectorizer,
            self.heads,
            self.mean_cost,
            self.calibration.retarget(target),
        )

    def predict(self, prompts: Sequence[str], tasks: Sequence[str | None]) -> FloatArray:
        """(queries, models) predicted P(good answer)."""
        x = self.vectorizer.transform(
            [prompt_text(p, t) for p, t in zip(prompts, tasks, strict=True)]
        )
        weights, bias = self._linear()
        return np.asarray(1.0 / (1.0 + np.exp(-(x @ weights + bias))), dtype=np.float64)

    def _linear(self) -> tuple[FloatArray, FloatArray]:
        """All heads as one (features, models) weight matrix and bias (one sparse product
        per prompt instead of one scikit-learn call per model). A constant head has zero
        weights and the logit of its probability as bias."""
        cached: tuple[FloatArray, FloatArray] | None = getattr(self, "_stacked", None)
        if cached is not None:
            return cached
        width = len(self.vectorizer.vocabulary_)
        weights = np.zeros((width, len(self.heads)))
        bias = np.zeros(len(self.heads))
        for j, head in enumerate(self.heads):
            if isinstance(head, Constant):
                p = min(max(head.p, 1e-9), 1 - 1e-9)
                bias[j] = np.log(p / (1 - p))
            else:
                weights[:, j] = head.coef_[0]
                bias[j] = head.intercept_[0]
        self._stacked = (weights, bias)
        return self._stacked

    def utility(self, probs: FloatArray, lam: float | None = None) -> FloatArray:
        """P(good) minus the priced mean cost, per query and model."""
        price = self.lam if lam is None else lam
        return probs - price * self.mean_cost[None, :]

    def pick(self, probs: FloatArray, lam: float | None = None) -> IntArray:
        """The chosen model (router index) per query."""
        return np.asarray(np.argmax(self.utility(probs, lam), axis=1), dtype=np.int64)

    def run(self, table: OutcomeTable, lam: float | None = None) -> Outcome:
        """Route every row once (one call each)."""
        return self.run_prepared(table, self.prepare(table), lam)

    def prepare(self, table: OutcomeTable) -> tuple[list[int], FloatArray]:
        """Column map and predictions (reused across prices)."""
        columns = table.columns(self.models, "the router was trained on it and may pick it")
        return columns, self.predict(table.prompts, table.tasks)

    def run_prepared(
        self, table: OutcomeTable, prep: tuple[list[int], FloatArray], lam: float | None
    ) -> Outcome:
        """`run` with predictions made once."""
        columns, probs = prep
        cols = np.asarray(columns, dtype=np.int64)[self.pick(probs, lam)]
        rows = np.arange(len(table))
        strong = cols == table.column(self.baseline)
        return Outcome(
            cols,
            table.quality[rows, cols],
            table.cost[rows, cols],
            np.ones(len(table), dtype=np.int64),
            strong,
        )

    def strong_scores(self, table: OutcomeTable) -> FloatArray:
        """How much better the baseline is predicted to be than the best other model
        (for RouteLLM's PGR: high scores go to the strong model first)."""
        probs = self.predict(table.prompts, table.tasks)
        b = self.models.index(self.baseline)
        others = np.delete(probs, b, axis=1)
        return probs[:, b] - (others.max(axis=1) if others.size else 0.0)
