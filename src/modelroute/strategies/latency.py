"""Fastest model first, by a moving estimate of latency or time to first token."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from modelroute.catalog import Catalog
from modelroute.records import Attempt, AttemptOutcome
from modelroute.strategies.base import Ranking
from modelroute.types import Request


class LatencyTracker:
    """Exponentially weighted moving averages of latency and TTFT per model (seconds).

    Register it as a router observer (`Router(..., observers=[tracker])`): it learns from
    every finished attempt. Failed attempts count as `penalty_s` so a model that times
    out does not look fast. `alpha` is the weight of the newest sample.
    """

    def __init__(self, alpha: float = 0.2, penalty_s: float = 30.0) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.penalty_s = penalty_s
        self._lock = threading.Lock()
        self._latency: dict[str, float] = {}
        self._ttft: dict[str, float] = {}

    def _update(self, table: dict[str, float], model: str, sample: float) -> None:
        old = table.get(model)
        table[model] = sample if old is None else old + self.alpha * (sample - old)

    def observe(self, model: str, latency_s: float, ttft_s: float | None = None) -> None:
        """Record one sample."""
        with self._lock:
            self._update(self._latency, model, latency_s)
            if ttft_s is not None:
                self._update(self._ttft, model, ttft_s)

    def attempt_finished(self, request_id: str, attempt: Attempt) -> None:
        """Observer hook: learn from a finished attempt (skips are ignored)."""
        if attempt.outcome == AttemptOutcome.SKIPPED or attempt.reason == "cancelled":
            return
        if attempt.outcome in (AttemptOutcome.OK, AttemptOutcome.INVALID):
            self.observe(attempt.model, attempt.latency_s, attempt.ttft_s)
        else:
            self.observe(attempt.model, max(attempt.latency_s, self.penalty_s))

    def estimate(self, model: str, metric: str = "latency") -> float | None:
        """Current estimate in seconds, or None before the first sample."""
        with self._lock:
            table = self._ttft if metric == "ttft" else self._latency
            return table.get(model)


@dataclass(frozen=True, slots=True)
class Fastest:
    """Order models by the tracker's estimate (`latency` or `ttft`), fastest first.

    Models without samples go first (explore), in route order.
    """

    tracker: LatencyTracker = field(default_factory=LatencyTracker)
    metric: str = "latency"
    name: str = "fastest"

    def __post_init__(self) -> None:
        if self.metric not in ("latency", "ttft"):
            raise ValueError(f"metric must be 'latency' or 'ttft', got {self.metric!r}")

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """Models sorted by estimated seconds (unknown first)."""

        def key(model: str) -> float:
            est = self.tracker.estimate(model, self.metric)
            return -math.inf if est is None else est

        ordered = tuple(sorted(models, key=key))
        return Ranking(ordered, reason=f"lowest estimated {self.metric} first")
