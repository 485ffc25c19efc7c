"""One LiteLLM request as it unfolds: its hops, their `Attempt`s, and its `Decision`.

A hop is one HTTP call LiteLLM makes (the first try, a retry, a fallback). `RequestTrace`
holds a request's open and ended hops and turns them into records; it does no locking and
calls nothing outside itself (`recorder.TraceRecorder` does both). Times are seconds on the
recorder's clock (`now`) and epoch seconds (`wall`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelroute.catalog import ModelInfo
from modelroute.errors import ProviderError
from modelroute.reasons import TERMINAL_REASONS, FallbackReason
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome
from modelroute.types import Request, Response
from modelroute_litellm.journal import Pick


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One LiteLLM call as the recorder needs it.

    `trace_id` is shared by every hop of one request; `call_id` is this hop's. `group` is
    the Router model group (None for a plain `litellm.completion`); `model` the LiteLLM
    model called (e.g. `openai/gpt-4o-mini`), `info` its prices and limits.
    """

    trace_id: str
    call_id: str
    model: str
    info: ModelInfo
    group: str | None = None
    deployment_id: str | None = None
    request: Request | None = None
    stream: bool = False

    @property
    def hop_key(self) -> str:
        """The hop's identity: call id and model (the LiteLLM 1.108 proxy gives every hop of a
        request the same call id)."""
        return f"{self.call_id}|{self.model}"


@dataclass
class Hop:
    """A hop that has started: its attempt index, same-model retry count, fallback depth."""

    facts: CallFacts
    index: int
    retry: int
    depth: int
    started: float
    started_wall: float


@dataclass
class RequestTrace:
    """The state of one LiteLLM request until its `Decision` is made.

    `journal_key` is the id the strategy's picks are kept under; `route` the requested
    group (or model); `answered` / `gave_up` say whether it has ended for good.
    """

    trace_id: str
    journal_key: str
    route: str
    request: Request | None
    stream: bool
    started: float
    started_wall: float
    last_event: float
    attempts: list[Attempt] = field(default_factory=list)
    open_hops: dict[str, Hop] = field(default_factory=dict)  # by `CallFacts.hop_key`
    ended_hops: set[str] = field(default_factory=set)
    groups: list[str] = field(default_factory=list)
    hops: list[dict[str, object]] = field(default_factory=list)
    answered: bool = False
    gave_up: bool = False
    ended: float | None = None

    @property
    def done(self) -> bool:
        """It has ended for good and no hop is still open."""
        return (self.answered or self.gave_up) and not self.open_hops

    def _next_index(self) -> int:
        return len(self.attempts) + len(self.open_hops)

    def add_skips(self, picks: list[Pick], wall: float) -> list[Attempt]:
        """Skipped-deployment attempts for the strategy's `picks`, appended and returned."""
        skips = []
        for pick in picks:
            for skip in pick.skipped:
                attempt = Attempt(
                    index=self._next_index(),
                    model=skip.model,
                    provider=skip.provider,
                    outcome=AttemptOutcome.SKIPPED,
                    reason=skip.reason,
                    error_message=skip.detail,
                    started_at=wall,
                )
                self.attempts.append(attempt)
                skips.append(attempt)
        return skips

    def open(self, facts: CallFacts, now: float, wall: float) -> Hop:
        """Start a hop (a retry when the same model ran before in this request)."""
        group = facts.group or facts.model
        if group not in self.groups:
            self.groups.append(group)
        hop = Hop(
            facts,
            index=self._next_index(),
            retry=sum(1 for h in self.hops if h["model"] == facts.model),
            depth=self.groups.index(group),
            started=now,
            started_wall=wall,
        )
        self.open_hops[facts.hop_key] = hop
        self.ended_hops.discard(facts.hop_key)
        self.last_event = now
        self.hops.append(
            {
                "call_id": facts.call_id,
                "model": facts.model,
                "model_group": facts.group,
                "deployment_id": facts.deployment_id,
                "fallback_depth": hop.depth,
            }
        )
        return hop

    def close(
        self,
        hop: Hop,
        now: float,
        *,
        response: Response | None = None,
        cost_usd: float = 0.0,
        ttft_s: float | None = None,
        error: ProviderError | None = None,
        baseline: ModelInfo | None = None,
    ) -> Attempt:
        """End `hop` with an answer or an error; returns its attempt."""
        self.open_hops.pop(hop.facts.hop_key, None)
        self.ended_hops.add(hop.facts.hop_key)
        facts = hop.facts
        usage = response.usage if response is not None else None
        attempt = Attempt(
            index=hop.index,
            model=facts.model,
            provider=facts.info.provider,
            outcome=AttemptOutcome.OK if error is None else AttemptOutcome.ERROR,
            reason=None if error is None else error.reason.value,
            retry=hop.retry,
            error_type=type(error).__name__ if error is not None else None,
            error_message=error.message if error is not None else None,
            status_code=error.status_code if error is not None else None,
            retry_after_s=error.retry_after if error is not None else None,
            latency_s=max(0.0, now - hop.started),
            ttft_s=ttft_s,
            usage=usage,
            cost_usd=cost_usd,
            baseline_cost_usd=baseline.cost(usage) if usage is not None and baseline else None,
            response_model=response.model if response is not None else None,
            finish_reason=response.finish_reason if response is not None else None,
            started_at=hop.started_wall,
        )
        self.attempts.append(attempt)
        self.last_event = self.ended = now
        self.answered = self.answered or response is not None
        return attempt

    def close_open_hops(self, now: float) -> None:
        """End hops LiteLLM never reported the end of (an unknown failure)."""
        for hop in list(self.open_hops.values()):
            error = ProviderError("no end event from LiteLLM", model=hop.facts.model)
            self.close(hop, now, error=error)

    def decision(self, pick: Pick | None, baseline: ModelInfo | None) -> Decision:
        """The request's `Decision`; `pick` is the strategy's first pick, if any."""
        attempts = tuple(sorted(self.attempts, key=lambda a: a.index))
        answered = next((a for a in reversed(attempts) if a.outcome == AttemptOutcome.OK), None)
        req = self.request
        end = self.ended if self.ended is not None else self.last_event
        return Decision(
            request_id=self.trace_id,
            route=self.route,
            strategy=pick.strategy if pick is not None else "litellm",
            candidates=(
                pick.candidates
                if pick is not None
                else tuple(dict.fromkeys(a.model for a in attempts))
            ),
            attempts=attempts,
            outcome=outcome_of(attempts, answered),
            responding_model=answered.model if answered else None,
            responding_provider=answered.provider if answered else None,
            baseline_model=baseline.name if baseline else None,
            cost_usd=sum(a.cost_usd for a in attempts),
            baseline_cost_usd=answered.baseline_cost_usd if answered else None,
            latency_s=max(0.0, end - self.started),
            started_at=self.started_wall,
            user=req.user if req else None,
            team=req.team if req else None,
            task=req.task if req else None,
            tags=req.tags if req else (),
            prompt_version=req.prompt_version if req else None,
            stream=self.stream,
            strategy_reason=(pick.reason or None) if pick is not None else None,
            score=pick.score if pick is not None else None,
            threshold=pick.threshold if pick is not None else None,
            tier=pick.tier if pick is not None else None,
            extra={"litellm": {"trace_id": self.trace_id, "hops": list(self.hops)}},
        )


def outcome_of(attempts: tuple[Attempt, ...], answered: Attempt | None) -> RequestOutcome:
    """Success (after fallback or not), the caller's own error, or exhausted."""
    if answered is not None:
        return RequestOutcome.for_success(attempts)
    last = next((a for a in reversed(attempts) if a.reason is not None), None)
    if last is not None and FallbackReason.class_of(last.reason or "") in TERMINAL_REASONS:
        return RequestOutcome.TERMINAL_ERROR
    return RequestOutcome.EXHAUSTED
