"""The verifier step of a `Plan` (see `modelroute.verifier.Verifier`): the `Verify` action
for an answer that passed the validators, and the attempt record of the judge's verdict.

The verdict's attempt costs the answer plus the judge's call (USD; the judge's usage is
estimated when its provider reported none). A judge that failed gives the verifier's
`unavailable` verdict, accepting or rejecting as its `fail_open` says.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from modelroute.plan_actions import Verify
from modelroute.plan_records import attempt_record, estimate_usage
from modelroute.reasons import FallbackReason
from modelroute.records import Attempt, AttemptOutcome, Verdict

if TYPE_CHECKING:
    from modelroute.plan import Plan
    from modelroute.plan_actions import Call
    from modelroute.types import Response, Usage
    from modelroute.verifier import Verifier


def verify_action(
    plan: Plan, verifier: Verifier, call: Call, response: Response, timeout_s: float | None
) -> Verify:
    """Ask `verifier`'s judge model about `response`, the answer of `call`, within
    `timeout_s` seconds (None = no limit). Raises `UnknownModelError` for a judge the
    catalog lacks."""
    judge = plan.catalog.get(verifier.model, f"routes.{plan.route.name}.verifier.model")
    judge_request = verifier.judge_request(plan.request, response)
    return Verify(call, response, judge, judge_request, timeout_s)


def judged_attempt(
    plan: Plan,
    verifier: Verifier,
    verify: Verify,
    judge: Response | None,
    error: Exception | None,
    pending: tuple[tuple[Verdict, ...], Usage, float | None],
) -> tuple[Attempt, Verdict]:
    """The attempt of `verify.call` with the judge's verdict (from its answer `judge`, or
    the `error` its call raised), and that verdict. `pending` holds the answer's validator
    verdicts, usage and time to first token (seconds)."""
    verdicts, usage, ttft_s = pending
    call, response = verify.call, verify.response
    if judge is not None:
        verdict = verifier.parse(judge)
        judge_usage = judge.usage or estimate_usage(plan, verify.judge, judge, verify.request)
        judge_cost = verify.judge.cost(judge_usage)
    else:
        verdict = verifier.unavailable(error or RuntimeError("no verdict"))
        judge_cost = 0.0
    attempt = attempt_record(
        plan,
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
    return attempt, verdict
