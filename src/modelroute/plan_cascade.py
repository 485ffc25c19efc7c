"""The cascade step of a `Plan` (see `modelroute.cascade_acceptance`): the attempt record
of a judged answer, and the decision of a request answered with a held answer.

A judged attempt carries the `cascade` verdict (its detail holds P(right) and the
threshold). It is `ok` when the judge accepted, else `rejected` with the reason
`verifier_rejected:<code>` (e.g. `verifier_rejected:low_confidence`). The decision names
the model that wrote the returned text as its responding model (the picked attempt's
model, not necessarily the last one called), puts the verifier's P(right) of the returned
answer in `Decision.score` (None when nothing was scored; the plan's cut is in
`Decision.threshold`) and records the step in `Decision.extra["cascade"]`: `picked`,
`probability`, `threshold`, `detail`, `calls`. The decision's cost still sums every call.

Attempt records are never rewritten: an answer first escalated (`rejected`,
`verifier_rejected:low_confidence`) and picked later (accepted by a later stage's
judgement, or the best held answer when the final stage failed) keeps its `rejected`
record; `Decision.answering_attempt` finds the attempt whose text was returned.

A streamed request cannot be judged before its text reaches the caller, so a cascade
streams from its last (strongest) stage, the others as fallbacks, strongest first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from modelroute.plan_records import attempt_record
from modelroute.reasons import FallbackReason
from modelroute.records import Attempt, AttemptOutcome, Decision
from modelroute.strategies.base import Ranking

if TYPE_CHECKING:
    from modelroute.cascade_acceptance import CascadeStep
    from modelroute.plan import Plan
    from modelroute.plan_actions import Call
    from modelroute.records import Verdict
    from modelroute.types import Response, Usage


def judged_answer(
    plan: Plan,
    call: Call,
    response: Response,
    step: CascadeStep,
    usage: Usage,
    verdicts: tuple[Verdict, ...],
    ttft_s: float | None,
) -> Attempt:
    """The attempt of `call`, whose valid answer `response` the cascade judged with `step`
    (`verdicts`: the validators'; `usage`: tokens; `ttft_s`: seconds to first token)."""
    reason = None if step.accept else f"{FallbackReason.VERIFIER_REJECTED.value}:{step.code}"
    return attempt_record(
        plan,
        call,
        AttemptOutcome.OK if step.accept else AttemptOutcome.REJECTED,
        reason=reason,
        usage=usage,
        response_model=response.model,
        verdicts=(*verdicts, step.verdict),
        ttft_s=ttft_s,
        error_message=None if step.accept else step.detail,
        finish_reason=response.finish_reason,
    )


def answered_decision(decision: Decision, answered: Attempt, step: CascadeStep) -> Decision:
    """`decision` answered with the text of `answered` (the picked attempt), with the
    cascade step recorded in `extra["cascade"]`."""
    summary = {
        "picked": answered.model,
        "probability": step.probability,
        "threshold": step.threshold,
        "detail": step.detail,
        "calls": len(decision.models_attempted),
    }
    return replace(
        decision,
        responding_model=answered.model,
        responding_provider=answered.provider,
        baseline_cost_usd=answered.baseline_cost_usd,
        score=step.probability,
        extra={**decision.extra, "cascade": summary},
    )


def streamed_cascade(ranking: Ranking) -> Ranking:
    """A cascade's `ranking` for a streamed request: its stages strongest first."""
    reason = f"{ranking.reason}; streamed: no stage can be judged, the last stage first"
    return replace(ranking, models=ranking.models[::-1], reason=reason.lstrip("; "))
