"""Records of what happened: one `Attempt` per model call (or skip), one `Decision` per request.

They are the single source for logs, spans, metrics, reports and tests. Costs are USD,
times are seconds, token counts are tokens. `to_dict()` gives the JSONL log shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from modelroute.types import Usage


class AttemptOutcome(StrEnum):
    """How one attempt ended."""

    OK = "ok"
    ERROR = "error"  # the provider call raised
    INVALID = "invalid"  # an answer came back but a validator rejected it
    SKIPPED = "skipped"  # never called: breaker open, capability or size mismatch
    INTERRUPTED = "interrupted"  # a stream broke after its first chunk reached the caller
    REJECTED = "rejected"  # the verifier model rejected the answer
    CANCELLED = "cancelled"  # the caller cancelled, closed or dropped the call: no verdict


class RequestOutcome(StrEnum):
    """How the whole request ended."""

    SUCCESS = "success"
    SUCCESS_AFTER_FALLBACK = "success_after_fallback"
    EXHAUSTED = "exhausted"  # every candidate failed or was skipped
    TERMINAL_ERROR = "terminal_error"  # the caller's own error stopped the request
    INTERRUPTED = "interrupted"
    REFUSED = "refused"  # a rate limit or budget refused the request before any call
    CANCELLED = "cancelled"  # the caller cancelled or closed the stream

    @property
    def succeeded(self) -> bool:
        """True for outcomes that returned an answer."""
        return self in (RequestOutcome.SUCCESS, RequestOutcome.SUCCESS_AFTER_FALLBACK)

    @staticmethod
    def for_success(attempts: Sequence[Attempt]) -> RequestOutcome:
        """`success` when the first candidate answered, else `success_after_fallback`."""
        for attempt in attempts:
            if attempt.reason is not None:
                return RequestOutcome.SUCCESS_AFTER_FALLBACK
        return RequestOutcome.SUCCESS


@dataclass(frozen=True, slots=True)
class Verdict:
    """A validator's judgement of one answer. `name` is the validator's name."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one model (or one skipped candidate).

    `index` counts attempts within the request from 0; `retry` counts calls to the same
    model (0 = first). `reason` is a `FallbackReason` string (None when ok).
    `latency_s` is wall time of the call, `ttft_s` the time to first token for streams.
    `cost_usd` is this call's cost from the catalog prices; `baseline_cost_usd` what the
    same tokens would have cost on the baseline model (None without a baseline).
    `response_model` is the model name the provider reported and `finish_reason` why its
    answer ended (`stop`, `length`, `tool_calls`...). When the reported name stands for
    another catalog model than `model` (`substituted`), the call is priced at that model's
    rates: `priced_as` names the catalog model whose prices gave `cost_usd`; `price_unknown`
    means the served model is not in the catalog and `cost_usd` is a floor estimate at
    `model`'s prices (see `Catalog.served_by`). With a verifier,
    `verifier_model` judged the answer and `verifier_cost_usd` is the judge call's cost,
    included in `cost_usd`.
    """

    index: int
    model: str
    provider: str | None
    outcome: AttemptOutcome
    reason: str | None = None
    retry: int = 0
    error_type: str | None = None
    error_message: str | None = None
    status_code: int | None = None
    retry_after_s: float | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    baseline_cost_usd: float | None = None
    response_model: str | None = None
    finish_reason: str | None = None
    priced_as: str | None = None
    substituted: bool = False
    price_unknown: bool = False
    verdicts: tuple[Verdict, ...] = ()
    verifier_model: str | None = None
    verifier_cost_usd: float = 0.0
    started_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A circuit breaker changed state at `at` (clock seconds)."""

    model: str
    from_state: str
    to_state: str
    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a streamed answer the caller received: attempt `attempt` (an index into
    `Decision.attempts`) of `model` wrote characters `start` to `end` (end excluded) of it."""

    model: str
    attempt: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything about one routed request.

    `candidates` are the models in the order the route ranked them; `attempts` every
    call and skip in order; `responding_model` the model whose answer was returned.
    `cost_usd` sums every call's cost (a cascade pays for every model it asked);
    `baseline_cost_usd` is what the answer would have cost on the baseline model.
    `score`, `threshold` and `tier` are set by classifier strategies.
    `routed_from` names the route the request was moved away from (too long for it).
    `resumed` is True when a stream broke after the caller saw text and the answer was
    completed by later models (`Route.resume_streams`); `segments` then says which attempt
    wrote which characters of the text the caller received (empty when nothing was resumed).
    `shadow_of` is set on a shadow call's record (see `modelroute.shadow`): the request id
    of the caller's request it copied. Its cost was never part of the caller's answer.
    """

    request_id: str
    route: str
    strategy: str
    candidates: tuple[str, ...]
    attempts: tuple[Attempt, ...]
    outcome: RequestOutcome
    responding_model: str | None = None
    responding_provider: str | None = None
    baseline_model: str | None = None
    cost_usd: float = 0.0
    baseline_cost_usd: float | None = None
    latency_s: float = 0.0
    started_at: float = 0.0
    user: str | None = None
    team: str | None = None
    task: str | None = None
    tags: tuple[str, ...] = ()
    prompt_version: str | None = None
    stream: bool = False
    strategy_reason: str | None = None
    score: float | None = None
    threshold: float | None = None
    tier: str | None = None
    requires_human_review: bool = False
    routed_from: str | None = None
    resumed: bool = False
    segments: tuple[Segment, ...] = ()
    shadow_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a decision read back from a JSON log carries its segments as a list of dicts
        if self.segments:
            segments = tuple(s if isinstance(s, Segment) else Segment(**s) for s in self.segments)
            object.__setattr__(self, "segments", segments)
        elif not isinstance(self.segments, tuple):
            object.__setattr__(self, "segments", ())

    @property
    def fallback_reasons(self) -> tuple[str, ...]:
        """Reasons of every attempt that did not answer, in order."""
        return tuple(a.reason for a in self.attempts if a.reason is not None)

    @property
    def fallback_count(self) -> int:
        """Number of attempts that did not answer (skips included)."""
        return len(self.fallback_reasons)

    @property
    def models_attempted(self) -> tuple[str, ...]:
        """Models actually called, in order (skips excluded)."""
        return tuple(a.model for a in self.attempts if a.outcome != AttemptOutcome.SKIPPED)

    @property
    def answering_attempt(self) -> Attempt | None:
        """The attempt whose answer was returned (None when none was): the last attempt,
        unless a cascade returned an earlier stage's answer, then that stage's last attempt
        (the one of `responding_model`)."""
        if not self.outcome.succeeded or not self.attempts:
            return None
        last = self.attempts[-1]
        if self.responding_model is None or last.model == self.responding_model:
            return last
        mine = (a for a in reversed(self.attempts) if a.model == self.responding_model)
        return next(mine, last)

    @property
    def served_model(self) -> str | None:
        """The model name the provider reported for the returned answer (None if none)."""
        answered = self.answering_attempt
        return answered.response_model if answered is not None else None

    @property
    def saving_usd(self) -> float | None:
        """baseline cost minus actual cost (negative when routing cost more)."""
        if self.baseline_cost_usd is None:
            return None
        return self.baseline_cost_usd - self.cost_usd

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the decision-log line), with derived fields added."""
        out = asdict(self)
        out["fallback_reasons"] = list(self.fallback_reasons)
        out["models_attempted"] = list(self.models_attempted)
        out["served_model"] = self.served_model
        out["saving_usd"] = self.saving_usd
        return out
