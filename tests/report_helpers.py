"""Generated decision logs for the report tests: varied, seeded, written by `JsonlSink`."""

from __future__ import annotations

import random
from pathlib import Path

from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.sinks import JsonlSink
from modelroute.types import Usage

MODELS = ("nano", "mini", "strong")
PRICE = {"nano": 1e-7, "mini": 4e-7, "strong": 2.5e-6}  # USD per token, baseline = strong
REASONS = ("rate_limited", "unavailable", "invalid_output:low_confidence", "circuit_open")
TEAMS = ("support", "research", None)
T0 = 1_764_000_000.0  # 2025-11-24, epoch seconds


def _attempt(i: int, model: str, reason: str | None, rng: random.Random) -> Attempt:
    skipped = reason == "circuit_open"
    usage = None if skipped else Usage(rng.randint(10, 500), rng.randint(1, 400))
    cost = 0.0 if usage is None else usage.total_tokens * PRICE[model]
    if reason is None:
        outcome = AttemptOutcome.OK
    elif skipped:
        outcome = AttemptOutcome.SKIPPED
    elif reason.startswith("invalid_output"):
        outcome = AttemptOutcome.INVALID
    else:
        outcome = AttemptOutcome.ERROR
    return Attempt(
        index=i,
        model=model,
        provider="test",
        outcome=outcome,
        reason=reason,
        latency_s=0.0 if skipped else rng.uniform(0.01, 2.0),
        usage=usage,
        cost_usd=cost,
        baseline_cost_usd=None if usage is None else usage.total_tokens * PRICE["strong"],
        verdicts=(Verdict("empty", True),) if reason is None else (),
    )


def make_decision(n: int, rng: random.Random) -> Decision:
    """One varied decision: fallbacks, failures, refusals, teams, known quality or not."""
    start = rng.randrange(len(MODELS))
    chain = MODELS[start:]
    attempts: list[Attempt] = []
    for model in chain:
        reason = rng.choice(REASONS) if rng.random() < 0.3 else None
        attempts.append(_attempt(len(attempts), model, reason, rng))
        if reason is None:
            break
    team = rng.choice(TEAMS)
    answered = attempts[-1].reason is None
    if rng.random() < 0.03:  # a budget refused the request before any call
        attempts = [Attempt(0, chain[0], "test", AttemptOutcome.SKIPPED, reason="budget_exceeded")]
        outcome, answered = RequestOutcome.REFUSED, False
    elif answered:
        outcome = RequestOutcome.for_success(attempts)
    else:
        outcome = RequestOutcome.EXHAUSTED
    last = attempts[-1]
    extra: dict[str, object] = {}
    if answered and rng.random() < 0.7:
        extra = {"quality": float(rng.random() < 0.9), "baseline_quality": 1.0}
    return Decision(
        request_id=f"req-{n}",
        route=rng.choice(("chat", "extract")),
        strategy="threshold",
        candidates=chain,
        attempts=tuple(attempts),
        outcome=outcome,
        responding_model=last.model if answered else None,
        baseline_model="strong",
        cost_usd=sum(a.cost_usd for a in attempts),
        baseline_cost_usd=last.baseline_cost_usd if answered else None,
        latency_s=sum(a.latency_s for a in attempts),
        started_at=T0 + n * rng.uniform(0.5, 1.5),
        team=team,
        tier=chain[0],
        extra=extra,
    )


def write_log(path: Path, count: int, seed: int = 1) -> list[Decision]:
    """Write `count` generated decisions (and one breaker transition) to `path`."""
    from modelroute.records import BreakerTransition

    rng = random.Random(seed)
    sink = JsonlSink(path)
    decisions = [make_decision(n, rng) for n in range(count)]
    for i, d in enumerate(decisions):
        sink.emit(d)
        if i == count // 2:
            sink.emit_transition(BreakerTransition("nano", "closed", "open", T0 + i, "3 failures"))
    return decisions
