"""The sans-IO plan of one request: it decides the next action from the last outcome.

Drivers (`modelroute.drivers`) do the I/O: they perform `Call` and `Sleep` actions and
report outcomes back with `on_response` / `on_error`; the plan answers with the next
action until `Done` or `GiveUp`. One plan serves sync, async and streaming drivers, so
the fallback logic exists exactly once. A plan is used by one request only.
"""

from __future__ import annotations

import functools
import random
from dataclasses import replace
from typing import TYPE_CHECKING

from modelroute.cascade_acceptance import CascadeStep, HeldAnswers, JudgeAnswers
from modelroute.errors import (
    AllAttemptsFailed,
    LimitExceeded,
    ProviderError,
    StreamInterrupted,
    StreamRejected,
)
from modelroute.observer import AttemptStarted, Observers, RequestStarted
from modelroute.plan_actions import Action, Call, Done, GiveUp, Sleep, Verify
from modelroute.plan_cascade import answered_decision, judged_answer, streamed_cascade
from modelroute.plan_records import (
    attempt_record,
    decision_record,
    estimate_usage,
    skipped_record,
)
from modelroute.plan_verifier import judged_attempt, verify_action
from modelroute.reasons import BREAKER_REASONS, FallbackReason
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.strategies.base import Ranking
from modelroute.stream_resume import Resumption
from modelroute.types import Request, Response, Usage

if TYPE_CHECKING:
    from modelroute.breaker import BreakerRegistry
    from modelroute.catalog import Catalog, ModelInfo
    from modelroute.clock import Clock
    from modelroute.privacy import UserRedaction
    from modelroute.route import Route
    from modelroute.validators import Validator

__all__ = ["Action", "Call", "Done", "GiveUp", "Plan", "Sleep", "Verify"]


def _without_repeats(ranking: Ranking) -> Ranking:
    """`ranking` with each model once, whatever the route or ranker lists twice."""
    unique = tuple(dict.fromkeys(ranking.models))
    return ranking if unique == ranking.models else replace(ranking, models=unique)


@functools.lru_cache(maxsize=256)
def _static_ranking(models: tuple[str, ...]) -> Ranking:
    """The ranking of a route without a ranker: the same (frozen) record for every request."""
    return _without_repeats(Ranking(models))


class Plan:
    """Decides, for one request, which model to call next and when to stop."""

    # one plan per request: slots make it cheaper to build and to read
    __slots__ = (
        "_attempts",
        "_deadline",
        "_held",
        "_judge",
        "_observed",
        "_pending_retry",
        "_pending_verify",
        "_queue",
        "_regenerations",
        "_resumed",
        "_rng",
        "baseline",
        "breakers",
        "catalog",
        "clock",
        "observers",
        "ranking",
        "redact_user",
        "request",
        "request_id",
        "route",
        "routed_from",
        "started",
        "started_at",
        "started_wall",
        "stream",
        "validators",
    )

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
        self.observers = observers if observers is not None else Observers()
        self._observed = bool(self.observers)  # checked before building each event
        self.routed_from = routed_from
        self.redact_user = redact_user  # records show its pseudonym of the request's user
        self._attempts: list[Attempt] = []
        self._judge: JudgeAnswers | None = None
        self._held: HeldAnswers | None = None  # a cascade's valid answers so far
        if route.ranker is None:
            self.ranking = _static_ranking(tuple(route.models))
        else:
            ranking = route.ranker.rank(request, route.models, catalog)
            self.ranking = _without_repeats(ranking)
            judge = getattr(route.ranker, "judge", None)  # a cascade judges every answer
            if judge is not None and stream:  # the caller sees text before it can be judged
                self.ranking = streamed_cascade(self.ranking)
            elif judge is not None:
                self._judge, self._held = judge, HeldAnswers()
        self._queue = list(self.ranking.models)
        self._pending_retry: tuple[ModelInfo, int] | None = None
        self._pending_verify: tuple[tuple[Verdict, ...], Usage, float | None] | None = None
        self._regenerations = 0
        self._resumed: Resumption | None = None  # set when a broken stream is continued
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
        if self._observed:
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
        if self._observed:
            self.observers.attempt_response(self.request_id, call.index, response)
        usage = response.usage or estimate_usage(self, call.model, response, call.request)
        own_text, response = response.text, self._joined(response)
        validators = self.validators
        tier = self.route.tier_validators
        if tier:  # most routes have no per-model validators
            validators += tier.get(call.model.name, ())
        request = self.request
        verdicts = tuple([v(response, request) for v in validators])
        failed = next((v for v in verdicts if not v.ok), None)
        self.breakers.get(call.model.name).on_success(now, call.admission)
        if failed is None and self._judge is not None and not committed:
            return self._judged(call, response, usage, verdicts, ttft_s)
        verifier = self.route.verifier
        if failed is None and verifier is not None and not committed:
            self._pending_verify = (verdicts, usage, ttft_s)
            return verify_action(self, verifier, call, response, self._timeout(now))
        attempt = attempt_record(
            self,
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
            if self._resumed is not None:
                self._resumed.add(call.model.name, call.index, own_text)
            decision = self._conclude(RequestOutcome.for_success(self._attempts))
            return Done(response, decision)
        if committed:
            # the stream finished, text reached the caller: a typed rejection, no fallback
            reason = f"invalid_output:{failed.name}"
            return self._interrupted(response.text, reason, rejected=True)
        return self._next_candidate()

    def on_verdict(
        self, verify: Verify, judge: Response | None, error: Exception | None = None
    ) -> Action:
        """Report the verifier's answer (`judge`), or the `error` its call raised."""
        verifier = self.route.verifier
        assert verifier is not None and self._pending_verify is not None
        pending, self._pending_verify = self._pending_verify, None
        call, response = verify.call, verify.response
        attempt, verdict = judged_attempt(self, verifier, verify, judge, error, pending)
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
        resumable: bool = True,
    ) -> Action:
        """Report a failed call. `partial_text` is what this stream attempt already released
        to the caller; with the route's `resume_streams` on (and `resumable`: no tool call
        was released) the answer continues on the next model, else `StreamInterrupted`.
        A continuation that fails before any text moves on like any fallback, whatever the
        reason; one refused with a 400 to its prefill first asks the same model again with
        the continue instruction (see `Resumption.refused_prefill`)."""
        now = self.clock.now()
        reason = error.reason
        breaker = self.breakers.get(call.model.name)
        if reason in BREAKER_REASONS:
            breaker.on_failure(now, call.admission, error.retry_after)
        else:
            breaker.release(call.admission)
        committed = partial_text is not None
        outcome = AttemptOutcome.INTERRUPTED if committed else AttemptOutcome.ERROR
        resume = partial_text is not None and resumable and self.route.resume_streams
        attempt = attempt_record(
            self,
            call,
            outcome,
            reason=reason.value,
            error=error,
            ttft_s=ttft_s,
            # a resumed answer is paid in parts: price what this attempt sent (estimated)
            usage=self._partial_usage(call, partial_text) if resume else None,
        )
        self._record(attempt)
        if partial_text is not None:
            if resume:
                return self._resume(call, partial_text)
            return self._interrupted(self._delivered(partial_text), reason.value)
        if self._resumed is not None:  # a continuation failed before sending any text
            if reason == FallbackReason.BAD_REQUEST and self._resumed.refused_prefill(call.model):
                # taken as a refused prefill: the same model once more, with the instruction
                return self._call_or_skip(call.model, call.retry + 1) or self._next_candidate()
        elif not self.route.fallback.falls_back(reason):
            # (not for a continuation: its request is ours, and the caller holds part of
            # the answer, so any failure moves on to the next model)
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
        message, user = str(error), self.request.user
        if self.redact_user is not None and user:  # the record never holds the raw user id
            message = message.replace(user, self.redact_user(user) or "")
        self._skip(call.model, error.reason, message)
        if error.fallback:
            return self._next_candidate()
        if self._resumed is not None:  # the caller already has part of the answer
            return self._interrupted(self._resumed.text, error.reason)
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
            usage = partial.usage or estimate_usage(self, call.model, partial, min_output=0)
        attempt = attempt_record(
            self,
            call,
            AttemptOutcome.CANCELLED,
            reason=FallbackReason.CANCELLED.value,
            usage=usage,
            response_model=partial.model if partial is not None else None,
            ttft_s=ttft_s,
        )
        self._record(attempt)
        if self._resumed is not None and partial is not None:  # a continuation was cut short
            self._resumed.stopped(call.model.name, call.index, partial.text)
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
            model = self._model(name)
            action = self._call_or_skip(model, 0)
            if action is not None:
                return action
        if self._held:  # a cascade whose later stages failed: the best answer so far
            assert self._judge is not None and self._held is not None
            return self._answer(self._judge(self.request, self._held.texts(), True))
        return self._give_up(RequestOutcome.EXHAUSTED)

    # -- cascades (see modelroute.cascade_acceptance) ------------------------------

    def _judged(
        self,
        call: Call,
        response: Response,
        usage: Usage,
        verdicts: tuple[Verdict, ...],
        ttft_s: float | None,
    ) -> Action:
        """Hold a valid answer, ask the judge, record the attempt; accept or escalate."""
        assert self._judge is not None and self._held is not None
        self._held.add(call.model.name, response, call.index)
        step = self._judge(self.request, self._held.texts(), not self._queue)
        self._record(judged_answer(self, call, response, step, usage, verdicts, ttft_s))
        return self._answer(step) if step.accept else self._next_candidate()

    def _answer(self, step: CascadeStep) -> Done:
        """End the request with the held answer `step` picked."""
        assert self._held is not None and step.pick is not None
        response, index = self._held.get(step.pick)
        outcome = RequestOutcome.for_success(self._attempts)
        decision = decision_record(self, outcome, self._attempts, self._resumed)
        decision = answered_decision(decision, self._attempts[index], step)
        if self._observed:
            self.observers.request_finished(decision)
        return Done(response, decision)

    def _model(self, name: str) -> ModelInfo:
        if name in self.catalog:  # the path is formatted only for an unknown name
            return self.catalog.get(name)
        return self.catalog.get(name, f"routes.{self.route.name}.models")

    def _call_or_skip(self, model: ModelInfo, retry: int) -> Action | None:
        now = self.clock.now()
        if self._past_deadline(now):
            self._skip(model, FallbackReason.DEADLINE, "request deadline passed")
            self._queue.clear()
            return None
        request = self._request_for(model)
        missing = model.missing_capability(request)
        if missing is None and self.stream and not model.supports_streaming:
            missing = "streaming"
        if missing is not None:
            self._skip(model, FallbackReason.CAPABILITY, f"model lacks {missing}")
            return None
        if model.max_input_tokens is not None:  # counted only when a cheap bound does not fit
            tokens = self.catalog.input_tokens_over(model.name, request, model.max_input_tokens)
            if tokens is not None:
                detail = f"~{tokens} input tokens > context window {model.max_input_tokens}"
                self._skip(model, FallbackReason.CONTEXT_WINDOW, detail)
                return None
        admission = self.breakers.get(model.name).try_acquire(now)
        if not admission.allowed:
            self._skip(model, FallbackReason.CIRCUIT_OPEN, f"breaker {admission.state}")
            return None
        call = Call(model, len(self._attempts), retry, self._timeout(now), admission, now, request)
        if self._observed:
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
        if self._observed:
            self.observers.attempt_finished(self.request_id, attempt)

    def _conclude(self, outcome: RequestOutcome) -> Decision:
        decision = decision_record(self, outcome, self._attempts, self._resumed)
        if self._observed:
            self.observers.request_finished(decision)
        return decision

    def _skip(self, model: ModelInfo, reason: str, detail: str) -> None:
        self._record(skipped_record(self, len(self._attempts), model, reason, detail))

    def _give_up(self, outcome: RequestOutcome, cause: ProviderError | None = None) -> GiveUp:
        """Fail the request; `cause` is the error that stopped it (e.g. the caller's 400).
        A resumed stream that cannot be finished raises `StreamInterrupted` instead."""
        if self._resumed is not None:
            last = self._attempts[-1].reason if self._attempts else None
            return self._interrupted(self._resumed.text, last or outcome.value)
        decision = self._conclude(outcome)
        error = AllAttemptsFailed(decision)
        error.__cause__ = cause
        return GiveUp(error, decision)

    def _interrupted(self, partial_text: str, cause: str, *, rejected: bool = False) -> GiveUp:
        """`partial_text`: everything the caller received; `rejected`: the stream finished
        but its answer failed a validator (`StreamRejected`)."""
        decision = self._conclude(RequestOutcome.INTERRUPTED)
        error = (StreamRejected if rejected else StreamInterrupted)(partial_text, decision, cause)
        return GiveUp(error, decision)

    # -- resumed streams (see modelroute.stream_resume) ---------------------------

    def _resume(self, call: Call, partial_text: str) -> Action:
        """Continue a stream that broke after `partial_text` on the next candidate."""
        if self._resumed is None:
            self._resumed = Resumption(self.request)
        self._resumed.add(call.model.name, call.index, partial_text)
        return self._next_candidate()

    def _request_for(self, model: ModelInfo) -> Request:
        return self.request if self._resumed is None else self._resumed.request_for(model)

    def _joined(self, response: Response) -> Response:
        return response if self._resumed is None else self._resumed.joined(response)

    def _delivered(self, partial_text: str) -> str:
        """All the caller received: earlier parts of a resumed stream, then `partial_text`."""
        return partial_text if self._resumed is None else self._resumed.text + partial_text

    def _partial_usage(self, call: Call, partial_text: str | None) -> Usage:
        partial = Response(text=partial_text or "")
        return estimate_usage(self, call.model, partial, call.request, min_output=0)

    @property
    def resumed_text(self) -> str:
        """Text the caller received from earlier attempts of a resumed stream ("" if none)."""
        return "" if self._resumed is None else self._resumed.text
