"""`modelroute demo --data PATH`: serve recorded real answers (RouterBench-format CSVs).

Each sampled row becomes one request whose per-model answers are the recorded ones
(`<model>|model_response`), scored by the recorded quality (`<model>`), and priced from
the recorded `<model>|total_cost`: the models are configured at `RECORDED_UNIT_USD` per
output token and the server reports each answer's cost as that many output tokens, so
the engine's own pricing (cascade sums, budgets, logs) reproduces the CSV cost exactly.
Token counts in such a log are cost units, not tokens. The baseline cost of a request is
the baseline model's recorded cost for the same row.

Reads the CSVs with `modelroute.offline.data.load_outcomes` (the `ml` extra: numpy).
"""

from __future__ import annotations

import os
from typing import Any

from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.types import Request

RECORDED_UNIT_USD = 1e-8
"""USD per reported output token in data mode: exact to 1e-8 USD per answer."""

TIERS = ("mistralai/mixtral-8x7b-chat", "gpt-3.5-turbo-1106", "gpt-4-1106-preview")
BASELINE = "gpt-4-1106-preview"
TIER_SHARES = (0.5, 0.3)  # shares of requests starting at tier 0 and tier 1; the rest at 2
FAULTS_EVERY: dict[int, dict[str, list[str | int]]] = {
    13: {TIERS[0]: ["429 {Retry-After: 30}"]},
    29: {TIERS[0]: [503]},
    41: {TIERS[1]: ["drop_connection"]},
}  # request number divisible by the key -> faults injected on those models


def recorded_workload(path: str | os.PathLike[str], limit: int = 300) -> dict[str, Any]:
    """A demo workload of up to `limit` rows of the data at `path`, spread evenly over it
    (prompts seen before are skipped), routed over `TIERS` with calibrated thresholds."""
    from modelroute.offline.data import load_outcomes

    table = load_outcomes(os.fspath(path))
    columns = table.columns(TIERS)
    step = max(1, len(table) // max(1, limit))
    seen: set[str] = set()
    requests: list[dict[str, Any]] = []
    for i in range(0, len(table), step):
        prompt = table.prompts[i]
        if prompt in seen or len(requests) >= limit:
            continue
        seen.add(prompt)
        answers = {
            model: {
                "text": table.responses[i][j] if table.responses else "",
                "correct": float(table.quality[i, j]),
                "cost_usd": float(table.cost[i, j]),
            }
            for model, j in zip(TIERS, columns, strict=True)
        }
        n = len(requests) + 1
        faults: dict[str, list[str | int]] = {}
        for every, spec in FAULTS_EVERY.items():
            if n % every == 0:
                faults.update(spec)
        requests.append(
            {
                "route": "data",
                "kind": table.tasks[i] or "data",
                "prompt": prompt,
                "answers": answers,
                "faults": faults,
            }
        )
    return {
        "source": os.fspath(path),
        "skipped_rows": dict(table.skipped),
        "pricing": "recorded",
        "baseline": BASELINE,
        "models": list(TIERS),
        "routes": {
            "data": {
                "models": list(TIERS),
                "strategy": {"type": "threshold", "thresholds": _thresholds(requests)},
                "validators": ["non_empty"],
            }
        },
        "breaker": {"failure_threshold": 3, "cooldown_s": 1.0},
        "requests": requests,
    }


def _thresholds(requests: list[dict[str, Any]]) -> list[float]:
    """Score cut-offs putting `TIER_SHARES` of these prompts on the cheaper tiers (the
    quantiles of their heuristic complexity scores, as RouteLLM calibrates)."""
    scorer = HeuristicComplexity()
    scores = sorted(scorer(Request.of(r["prompt"])) for r in requests)
    if not scores:
        return [0.5, 0.8]
    cuts, share = [], 0.0
    for tier_share in TIER_SHARES:
        share += tier_share
        cuts.append(scores[min(len(scores) - 1, int(share * len(scores)))])
    for i in range(1, len(cuts)):  # thresholds must ascend; ties move to the next tier
        cuts[i] = max(cuts[i], cuts[i - 1])
    return [round(c, 6) for c in cuts]
