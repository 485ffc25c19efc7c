"""Routing decision cost per prompt: the heuristic complexity scorer, the threshold ranking
that uses it, input-token estimates for the context-window check, and the trained router
when `modelroute.strategies.trained` exists.

Each figure is the median over rounds of the mean time per call (µs) over a batch.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from bench.common import MODELS, catalog, stats
from modelroute.catalog import estimate_tokens
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.types import Request

PROMPTS = {
    "short": "What is the capital of France?",
    "medium": (
        "Compare the trade-offs between optimistic and pessimistic locking in a database that "
        "serves a booking system with heavy contention on popular dates. Explain why each one "
        "fails under load, and step by step design a scheme that avoids double bookings."
    ),
    "code": (
        "Refactor this function so it runs in linear time:\n```python\n"
        "def pairs(xs):\n    out = []\n    for a in xs:\n        for b in xs:\n"
        "            if a + b == 10:\n                out.append((a, b))\n    return out\n```"
    ),
    "long": "Summarize the following report.\n" + "The quarterly numbers rose again. " * 600,
}


def _time(call: Callable[[], object], batch: int, rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - start) / batch * 1e6)
    return stats(samples[1:])  # the first round warms caches up


def _litellm_counter() -> Callable[[str, Request], int] | None:
    if importlib.util.find_spec("litellm") is None:
        return None
    from modelroute_litellm import litellm_token_counter

    counter: Callable[[str, Request], int] = litellm_token_counter
    return counter


def run(quick: bool = False) -> dict[str, Any]:
    """Per-prompt costs (µs) of every decision component."""
    rounds, batch = (3, 200) if quick else (9, 2000)
    scorer = HeuristicComplexity()
    ranker = ScoreThreshold(scorer, (0.3, 0.6))
    models = catalog()
    counter = _litellm_counter()
    rows: dict[str, dict[str, Any]] = {}
    for name, text in PROMPTS.items():
        request = Request.of(text)
        row: dict[str, Any] = {
            "chars": len(text),
            "score": scorer(request),
            "heuristic_score_us": _time(partial(scorer, request), batch, rounds),
            "threshold_rank_us": _time(
                partial(ranker.rank, request, MODELS, models), batch, rounds
            ),
            "estimate_tokens_us": _time(partial(estimate_tokens, "m", request), batch, rounds),
        }
        if counter is not None:
            row["litellm_token_counter_us"] = _time(
                partial(counter, "openai/m-a", request), max(1, batch // 20), rounds
            )
        rows[name] = row
    trained = importlib.util.find_spec("modelroute.strategies.trained") is not None
    return {
        "prompts": rows,
        "trained_router": None if not trained else "present: not timed by this harness yet",
        "notes": [] if trained else ["modelroute.strategies.trained does not exist: not timed"],
    }


def summary(result: Mapping[str, Any]) -> list[str]:
    """Lines for the console summary."""
    lines = ["decision cost (median µs per prompt)"]
    for name, row in result["prompts"].items():
        counted = row.get("litellm_token_counter_us")
        heuristic, rank = row["heuristic_score_us"]["median"], row["threshold_rank_us"]["median"]
        lines.append(
            f"  {name} ({row['chars']} chars): heuristic {heuristic:.1f}, threshold rank "
            f"{rank:.1f}, token estimate {row['estimate_tokens_us']['median']:.1f}"
            + (f", litellm.token_counter {counted['median']:.0f}" if counted else "")
        )
    lines += [f"  note: {n}" for n in result["notes"]]
    return lines
