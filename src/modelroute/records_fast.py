"""Fast constructors of the plan's records: `new_attempt` and `new_decision`.

A frozen dataclass's generated `__init__` binds its keyword arguments by name and sets each
field through `object.__setattr__`: ~3.5 µs for an `Attempt` (24 fields) and ~4.5 µs for a
`Decision` (29 fields), built once or more per request. The plan builds them through these
positional twins instead, at about half the cost. The records are the same in every way
(equal, hashed, pickled, copied and printed alike): only the way in differs. Every field is
given, in declaration order (tests/test_records_fast.py checks the order against
`dataclasses.fields`); nothing is checked or converted, so `Decision.segments` must already
be a tuple of `Segment`.
"""

from __future__ import annotations

from typing import Any

from modelroute.records import (
    Attempt,
    AttemptOutcome,
    Decision,
    RequestOutcome,
    Segment,
    Verdict,
)
from modelroute.types import Usage

_new = object.__new__
_set = object.__setattr__


def new_attempt(
    index: int,
    model: str,
    provider: str | None,
    outcome: AttemptOutcome,
    reason: str | None,
    retry: int,
    error_type: str | None,
    error_message: str | None,
    status_code: int | None,
    retry_after_s: float | None,
    latency_s: float,
    ttft_s: float | None,
    usage: Usage | None,
    cost_usd: float,
    baseline_cost_usd: float | None,
    response_model: str | None,
    finish_reason: str | None,
    priced_as: str | None,
    substituted: bool,
    price_unknown: bool,
    verdicts: tuple[Verdict, ...],
    verifier_model: str | None,
    verifier_cost_usd: float,
    started_at: float,
) -> Attempt:
    """`Attempt(...)` with every field given positionally, in declaration order."""
    self: Attempt = _new(Attempt)
    _set(self, "index", index)
    _set(self, "model", model)
    _set(self, "provider", provider)
    _set(self, "outcome", outcome)
    _set(self, "reason", reason)
    _set(self, "retry", retry)
    _set(self, "error_type", error_type)
    _set(self, "error_message", error_message)
    _set(self, "status_code", status_code)
    _set(self, "retry_after_s", retry_after_s)
    _set(self, "latency_s", latency_s)
    _set(self, "ttft_s", ttft_s)
    _set(self, "usage", usage)
    _set(self, "cost_usd", cost_usd)
    _set(self, "baseline_cost_usd", baseline_cost_usd)
    _set(self, "response_model", response_model)
    _set(self, "finish_reason", finish_reason)
    _set(self, "priced_as", priced_as)
    _set(self, "substituted", substituted)
    _set(self, "price_unknown", price_unknown)
    _set(self, "verdicts", verdicts)
    _set(self, "verifier_model", verifier_model)
    _set(self, "verifier_cost_usd", verifier_cost_usd)
    _set(self, "started_at", started_at)
    return self


def new_decision(
    request_id: str,
    route: str,
    strategy: str,
    candidates: tuple[str, ...],
    attempts: tuple[Attempt, ...],
    outcome: RequestOutcome,
    responding_model: str | None,
    responding_provider: str | None,
    baseline_model: str | None,
    cost_usd: float,
    baseline_cost_usd: float | None,
    latency_s: float,
    started_at: float,
    user: str | None,
    team: str | None,
    task: str | None,
    tags: tuple[str, ...],
    prompt_version: str | None,
    stream: bool,
    strategy_reason: str | None,
    score: float | None,
    threshold: float | None,
    tier: str | None,
    requires_human_review: bool,
    routed_from: str | None,
    resumed: bool,
    segments: tuple[Segment, ...],
    shadow_of: str | None,
    extra: dict[str, Any],
) -> Decision:
    """`Decision(...)` with every field given positionally, in declaration order."""
    self: Decision = _new(Decision)
    _set(self, "request_id", request_id)
    _set(self, "route", route)
    _set(self, "strategy", strategy)
    _set(self, "candidates", candidates)
    _set(self, "attempts", attempts)
    _set(self, "outcome", outcome)
    _set(self, "responding_model", responding_model)
    _set(self, "responding_provider", responding_provider)
    _set(self, "baseline_model", baseline_model)
    _set(self, "cost_usd", cost_usd)
    _set(self, "baseline_cost_usd", baseline_cost_usd)
    _set(self, "latency_s", latency_s)
    _set(self, "started_at", started_at)
    _set(self, "user", user)
    _set(self, "team", team)
    _set(self, "task", task)
    _set(self, "tags", tags)
    _set(self, "prompt_version", prompt_version)
    _set(self, "stream", stream)
    _set(self, "strategy_reason", strategy_reason)
    _set(self, "score", score)
    _set(self, "threshold", threshold)
    _set(self, "tier", tier)
    _set(self, "requires_human_review", requires_human_review)
    _set(self, "routed_from", routed_from)
    _set(self, "resumed", resumed)
    _set(self, "segments", segments)
    _set(self, "shadow_of", shadow_of)
    _set(self, "extra", extra)
    return self
