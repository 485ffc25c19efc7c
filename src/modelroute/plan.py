"""The sans-IO plan of one request: it decides the next action from the last outcome.

Drivers (`modelroute.drivers`) do the I/O: they perform `Call` and `Sleep` actions and
report outcomes back with `on_response` / `on_error`; the plan answers with the next
action until `Done` or `GiveUp`. One plan serves sync, async and streaming drivers, so
the fallback logic exists exactly once. A plan is used by one request only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from modelroute.errors import (
    AllAttemptsFailed,
    LimitExceeded,
    ModelRouteError,
    ProviderError,
    StreamInterrupted,
)
from modelroute.observer import AttemptStarted, Observers, RequestStarted
from modelroute.reasons import BREAKER_REASONS, FallbackReason
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.strategies.base import Ranking
from modelroute.types import Request, Response, Usage

if TYPE_CHECKING:
    from modelroute.breaker import Admission, BreakerRegistry
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.clock import Clock
    from modelroute.privacy import UserRedaction
    from modelroute.route import Route
    from modelroute.validators import Validator


@dataclass(frozen=True, slots=True)
class Call:
    """Call `model` now, with at most `timeout_s` seconds (None = no limit)."""

    model: ModelInfo
    index: int
    retry: int
    timeout_s: float | None
    admission: Admission
    started_at: float


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait `seconds`, then ask the plan for the next action with `resume()`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done:
    """The request succeeded with `response`; `decision` records how."""

    response: Response
    decision: Decision


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The request failed; raise `error` (it carries the decision and every attempt)."""

    error: ModelRouteError
    decision: Decision


@dataclass(frozen=True, slots=True)
class Verify:
    """Ask the verifier model `judge` about `response`, the answer of `call`; report the
    judge's answer (or error) with `on_verdict`."""

    call: Call
    response: Response
    judge: ModelInfo
    request: Request
    timeout_s: float | None


Action = Call | Sleep | Verify | Done | GiveUp


class Plan:
    """Decides, for one request, which model to call next and when to stop."""

    def __init__(
        self,
        *,
        request_id: str,
        route: Route,
        request: Request,
        catalog: Catalog,
        breakers: BreakerRegistry,
        clock: Clock,
        validators: tuple[Validator, ...],
        baseline: ModelInfo | None = None,
        stream: bool = False,
        rng: random.Random | None = None,
        observers: Observers | None = None,
        routed_from: str | None = None,
        redact_user: UserRedaction | None = None,
    ) -> None:
        self.request_id = request_id
        self.route = route
        self.request = request
        self.catalog = catalog
        self.breakers = breakers
        self.clock = clock
        self.validators = validators
        self.baseline = baseline
        self.stream = stream
        self._rng = rng or random.Random()
        self.observers = observers or Observers()
        self.routed_from = routed_from
        self.redact_user = redact_user  # records show its pseudonym of the request's user
        self._attempts: list[Attempt] = []
        ranking = (
            route.ranker.rank(request, route.models, catalog)
            if route.ranker is not None
            else Ranking(route.models)
        )
        # each model is a candidate once, whatever the route or ranker lists twice
        self.ranking = replace(ranking, models=tuple(dict.fromkeys(ranking.models)))
        self._queue = list(self.ranking.models)
        self._pending_retry: tuple[ModelInfo, int] | None = None
        self._pending_verify: tuple[tuple[Verdict, ...], Usage, float | None] | None = None
        self._regenerations = 0
        self.started_at = clock.now()
        self.started_wall = clock.wall()
        self.started = False  # set by `start()`: the request was announced to observers
        deadline = route.timeouts.deadline_s
        self._deadline = None if deadline is None else self.started_at + deadline

    # -- the protocol drivers use ------------------------------------------------

    def start(self) -> Action:
        """The first action."""
        self._announce()
        return self._next_candidate()

    def _announce(self) -> None:
        self.started = True
        if self.observers:
            self.observers.request_started(
                RequestStarted(
                    self.request_id,
                    self.route.name,
                    self.route.strategy,
                    self.ranking.models,
                    self.request,
                    self.stream,
                    self.started_at,
                )
            )

    def resume(self) -> Action:
        """The action after a `Sleep`."""
        if self._pending_retry is None:
            return self._next_candidate()
        model, retry = self._pending_retry
        self._pending_retry = None
        return self._call_or_skip(model, retry) or self._next_candidate()

    def on_response(
        self,
        call: Call,
        response: Response,
        *,
        ttft_s: float | None = None,
        committed: bool = False,
    ) -> Action:
        """Report an answer. `committed` = a stream already released chunks to the caller."""
        now = self.clock.now()
        if self.observers:
            self.observers.attempt_response(self.request_id, call.index, response)
        usage = response.usage or self._estimate_usage(call.model, response)
        validators = self.validators + self.route.tier_validators.get(call.model.name, ())
        verdicts = tuple(v(response, self.request) for v in validators)
        failed = next((v for v in verdicts if not v.ok), None)
        self.breakers.get(call.model.name).on_success(now, call.admission)
        verifier = self.route.verifier
        if failed is None and verifier is not None and not committed:
            self._pending_verify = (verdicts, usage, ttft_s)
            judge = self.catalog.get(verifier.model, f"routes.{self.route.name}.verifier.model")
            judge_request = verifier.judge_request(self.request, response)
            return Verify(call, response, judge, judge_request, self._timeout(now))
        attempt = self._attempt(
            call,
            AttemptOutcome.OK if failed is None else AttemptOutcome.INVALID,
            reason=None if failed is None else FallbackReason.invalid_output(failed.name),
            usage=usage,
            response_model=response.model,
            verdicts=verdicts,
            ttft_s=ttft_s,
            error_message=None if failed is None else failed.detail,
            finish_reason=response.finish_reason,
        )
        self._record(attempt)
        if failed is None:
            decision = self._conclude(RequestOutcome.for_success(self._attempts))
            return Done(response, decision)
        if committed:
            return self._interrupted(response.text, f"invalid_output:{failed.name}")
        return self._next_candidate()

    def on_verdict(
        self, verify: Verify, judge: Response | None, error: Exception | None = None
    ) -> Action:
        """Report the verifier's answer (`judge`), or the `error` its call raised."""
        verifier = self.route.verifier
        assert verifier is not None and self._pending_verify is not None
        verdicts, usage, ttft_s = self._pending_verify
        self._pending_verify = None
        call, response = verify.call, verify.response
        if judge is not None:
            verdict = verifier.parse(judge)
            judge_usage = judge.usage or self._estimate_usage(verify.judge, judge, verify.request)
            judge_cost = verify.judge.cost(judge_usage)
        else:
            verdict = verifier.unavailable(error or RuntimeError("no verdict"))
            judge_cost = 0.0
        attempt = self._attempt(
            call,
            AttemptOutcome.OK if verdict.ok else AttemptOutcome.REJECTED,
            reason=None if verdict.ok else FallbackReason.VERIFIER_REJECTED.value,
            usage=usage,
            response_model=response.model,
            verdicts=(*verdicts, verdict),
            ttft_s=ttft_s,
            error_message=None if verdict.ok else verdict.detail,
            finish_reason=response.finish_reason,
        )
        attempt = replace(
            attempt,
            cost_usd=attempt.cost_usd + judge_cost,
            verifier_model=verify.judge.name,
            verifier_cost_usd=judge_cost,
        )
        self._record(attempt)
        if verdict.ok:
            return Done(response, self._conclude(RequestOutcome.for_success(self._attempts)))
        self._regenerations += 1
        if self._regenerations > verifier.max_regenerations:
            return self._give_up(RequestOutcome.EXHAUSTED)
        if verifier.escalate:
            return self._next_candidate()
        return self._call_or_skip(call.model, call.retry + 1) or self._next_candidate()

    def on_error(
        self,
        call: Call,
        error: ProviderError,
        *,
        ttft_s: float | None = None,
        partial_text: str | None = None,
    ) -> Action:
        """Report a failed call. `partial_text` is what a stream already released."""
        now = self.clock.now()
        reason = error.reason
        breaker = self.breakers.get(call.model.name)
        if reason in BREAKER_REASONS:
            breaker.on_failure(now, call.admission, error.retry_after)
        else:
            breaker.release(call.admission)
        committed = partial_text is not None
        outcome = AttemptOutcome.INTERRUPTED if committed else AttemptOutcome.ERROR
        attempt = self._attempt(
            call,
            outcome,
            reason=reason.value,
            error=error,
            ttft_s=ttft_s,
            usage=None,
        )
        self._record(attempt)
        if partial_text is not None:
            return self._interrupted(partial_text, reason.value)
        if not self.route.fallback.falls_back(reason):
            return self._give_up(RequestOutcome.TERMINAL_ERROR, cause=error)
        delay = self.route.retry.delay_before_retry(
            reason, call.retry + 1, error.retry_after, self._rng.random()
        )
        if delay is not None and not self._past_deadline(now + delay):
            self._pending_retry = (call.model, call.retry + 1)
            return Sleep(delay)
        return self._next_candidate()

    def on_refused(self, call: Call, error: LimitExceeded) -> Action:
        """A guard (rate limit, budget) refused `call` before it was made."""
        self.breakers.get(call.model.name).release(call.admission)
        self._skip(call.model, error.reason, str(error))
        if error.fallback:
            return self._next_candidate()
        decision = self._conclude(RequestOutcome.REFUSED)
        error.decision = decision
        return GiveUp(error, decision)

    def on_cancel(
        self, call: Call, partial: Response | None = None, *, ttft_s: float | None = None
    ) -> Decision:
        """The caller cancelled during `call` (cancelled its task, closed or dropped its
        stream): free its breaker slot, count nothing against the model. `partial` is what a
        stream had received by then: its tokens were billed, so they are recorded and priced
        (estimated, and flagged so, when the provider had not reported usage yet)."""
        self.breakers.get(call.model.name).release(call.admission)
        usage = None
        if partial is not None:
            usage = partial.usage or self._estimate_usage(call.model, partial, min_output=0)
        attempt = self._attempt(
            call,
            AttemptOutcome.CANCELLED,
            reason=FallbackReason.CANCELLED.value,
            usage=usage,
            response_model=partial.model if partial is not None else None,
            ttft_s=ttft_s,
        )
        self._record(attempt)
        return self._conclude(RequestOutcome.CANCELLED)

    def on_dropped(self) -> Decision | None:
        """The caller dropped a stream it never read: nothing was sent, so the request is
        recorded as cancelled with no attempt. None when the request had started (its own
        end reports it)."""
        if self.started:
            return None
        self._announce()
        return self._conclude(RequestOutcome.CANCELLED)

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Attempts so far, in order."""
        return tuple(self._attempts)

    # -- internals --------------------------------------------------------------

    def _next_candidate(self) -> Action:
        while self._queue:
            name = self._queue.pop(0)
            model = self.catalog.get(name, f"routes.{self.route.name}.models")
            action = self._call_or_skip(model, 0)
            if action is not None:
                return action
        return self._give_up(RequestOutcome.EXHAUSTED)

    def _call_or_skip(self, model: ModelInfo, retry: int) -> Action | None:
        now = self.clock.now()
        if self._past_deadline(now):
            self._skip(model, FallbackReason.DEADLINE, "request deadline passed")
            self._queue.clear()
            return None
        missing = model.missing_capability(self.request)
        if missing is None and self.stream and not model.supports_streaming:
            missing = "streaming"
        if missing is not None:
            self._skip(model, FallbackReason.CAPABILITY, f"model lacks {missing}")
            return None
        if model.max_input_tokens is not None:
            tokens = self.catalog.estimate_input_tokens(model.name, self.request)
            if tokens > model.max_input_tokens:
                detail = f"~{tokens} input tokens > context window {model.max_input_tokens}"
                self._skip(model, FallbackReason.CONTEXT_WINDOW, detail)
                return None
        admission = self.breakers.get(model.name).try_acquire(now)
        if not admission.allowed:
            self._skip(model, FallbackReason.CIRCUIT_OPEN, f"breaker {admission.state}")
            return None
        call = Call(model, len(self._attempts), retry, self._timeout(now), admission, now)
        if self.observers:
            self.observers.attempt_started(
                AttemptStarted(
                    self.request_id,
                    call.index,
                    retry,
                    model,
                    call.timeout_s,
                    breaker_state=admission.state.value,
                )
            )
        return call

    def _timeout(self, now: float) -> float | None:
        limit = self.route.timeouts.attempt_s
        if self._deadline is None:
            return limit
        remaining = max(0.0, self._deadline - now)
        return remaining if limit is None else min(limit, remaining)

    def _past_deadline(self, at: float) -> bool:
        return self._deadline is not None and at >= self._deadline

    def _record(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)
        if self.observers:
            self.observers.attempt_finished(self.request_id, attempt)

    def _conclude(self, outcome: RequestOutcome) -> Decision:
        decision = self._decision(outcome)
        if self.observers:
            self.observers.request_finished(decision)
        return decision

    def _skip(self, model: ModelInfo, reason: str, detail: str) -> None:
        self._record(
            Attempt(
                index=len(self._attempts),
                model=model.name,
                provider=model.provider,
                outcome=AttemptOutcome.SKIPPED,
                reason=str(reason),
                error_message=detail,
                started_at=self.clock.wall(),
            )
        )

    def _attempt(
        self,
        call: Call,
        outcome: AttemptOutcome,
        *,
        reason: str | None,
        usage: Usage | None,
        error: ProviderError | None = None,
        response_model: str | None = None,
        verdicts: tuple[Verdict, ...] = (),
        ttft_s: float | None = None,
        error_message: str | None = None,
        finish_reason: str | None = None,
    ) -> Attempt:
        model = call.model
        # priced as the model the provider says served the call (see Catalog.served_by)
        served = self.catalog.served_by(model, response_model) if usage is not None else None
        priced = served.model if served is not None else model
        return Attempt(
            index=call.index,
            model=model.name,
            provider=model.provider,
            outcome=outcome,
            reason=reason,
            retry=call.retry,
            error_type=type(error).__name__ if error is not None else None,
            error_message=error.message if error is not None else error_message,
            status_code=error.status_code if error is not None else None,
            retry_after_s=error.retry_after if error is not None else None,
            latency_s=self.clock.now() - call.started_at,
            ttft_s=ttft_s,
            usage=usage,
            cost_usd=priced.cost(usage) if usage is not None else 0.0,
            baseline_cost_usd=(
                self.baseline.cost(usage) if usage is not None and self.baseline else None
            ),
            response_model=response_model,
            finish_reason=finish_reason,
            priced_as=priced.name if usage is not None else None,
            substituted=served is not None and served.substituted,
            price_unknown=served is not None and not served.known,
            verdicts=verdicts,
            started_at=self.started_wall + (call.started_at - self.started_at),
        )

    def _estimate_usage(
        self,
        model: ModelInfo,
        response: Response,
        request: Request | None = None,
        *,
        min_output: int = 1,
    ) -> Usage:
        tokens_in = self.catalog.estimate_input_tokens(model.name, request or self.request)
        return Usage(tokens_in, max(min_output, -(-len(response.text) // 4)), estimated=True)

    def _decision(self, outcome: RequestOutcome) -> Decision:
        answered = self._attempts[-1] if outcome.succeeded else None
        baseline_cost = None
        if answered is not None and answered.baseline_cost_usd is not None:
            baseline_cost = answered.baseline_cost_usd
        req = self.request
        return Decision(
            request_id=self.request_id,
            route=self.route.name,
            strategy=self.route.strategy,
            candidates=self.ranking.models,
            strategy_reason=self.ranking.reason or None,
            score=self.ranking.score,
            threshold=self.ranking.threshold,
            tier=self.ranking.tier,
            requires_human_review=self.route.require_human_review,
            routed_from=self.routed_from,
            attempts=tuple(self._attempts),
            outcome=outcome,
            responding_model=answered.model if answered else None,
            responding_provider=answered.provider if answered else None,
            baseline_model=self.baseline.name if self.baseline else None,
            cost_usd=sum(a.cost_usd for a in self._attempts),
            baseline_cost_usd=baseline_cost,
            latency_s=self.clock.now() - self.started_at,
            started_at=self.started_wall,
            user=self.redact_user(req.user) if self.redact_user else req.user,
            team=req.team,
            task=req.task,
            tags=req.tags,
            prompt_version=req.prompt_version,
            stream=self.stream,
        )

    def _give_up(self, outcome: RequestOutcome, cause: ProviderError | None = None) -> GiveUp:
        """Fail the request; `cause` is the error that stopped it (e.g. the caller's 400)."""
        decision = self._conclude(outcome)
        error = AllAttemptsFailed(decision)
        error.__cause__ = cause
        return GiveUp(error, decision)

    def _interrupted(self, partial_text: str, cause: str) -> GiveUp:
        decision = self._conclude(RequestOutcome.INTERRUPTED)
        return GiveUp(StreamInterrupted(partial_text, decision, cause), decision)
