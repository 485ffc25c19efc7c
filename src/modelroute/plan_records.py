"""The records a `Plan` writes: each `Attempt` (priced) and the request's final `Decision`.

Pure builders over the plan's state; the plan appends the attempts and tells observers.
Costs are USD (the catalog's per-token prices times the usage); times are the plan clock's
seconds, with `started_at` fields on the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.types import Request, Response, Usage

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.errors import ProviderError
    from modelroute.plan import Plan
    from modelroute.plan_actions import Call
    from modelroute.stream_resume import Resumption


def skipped_record(plan: Plan, index: int, model: ModelInfo, reason: str, detail: str) -> Attempt:
    """The attempt number `index` of a model skipped before any call (`reason`: why, e.g.
    `circuit_open`; `detail`: the specifics)."""
    return Attempt(
        index=index,
        model=model.name,
        provider=model.provider,
        outcome=AttemptOutcome.SKIPPED,
        reason=str(reason),
        error_message=detail,
        started_at=plan.clock.wall(),
    )


def attempt_record(
    plan: Plan,
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
    """The attempt `call` made, ended with `outcome`; priced (USD) from `usage` when given."""
    model = call.model
    # priced as the model the provider says served the call (see Catalog.served_by); with
    # no reported name that is the requested model, so the lookup is skipped
    served = (
        plan.catalog.served_by(model, response_model)
        if usage is not None and response_model
        else None
    )
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
        latency_s=plan.clock.now() - call.started_at,
        ttft_s=ttft_s,
        usage=usage,
        cost_usd=priced.cost(usage) if usage is not None else 0.0,
        baseline_cost_usd=(
            plan.baseline.cost(usage) if usage is not None and plan.baseline else None
        ),
        response_model=response_model,
        finish_reason=finish_reason,
        priced_as=priced.name if usage is not None else None,
        substituted=served is not None and served.substituted,
        price_unknown=served is not None and not served.known,
        verdicts=verdicts,
        started_at=plan.started_wall + (call.started_at - plan.started_at),
    )


def estimate_usage(
    plan: Plan,
    model: ModelInfo,
    response: Response,
    request: Request | None = None,
    *,
    min_output: int = 1,
) -> Usage:
    """Estimated usage of `response` (about 4 characters a token; at least `min_output`
    output tokens) to `request` (default: the plan's request)."""
    tokens_in = plan.catalog.estimate_input_tokens(model.name, request or plan.request)
    return Usage(tokens_in, max(min_output, -(-len(response.text) // 4)), estimated=True)


def decision_record(
    plan: Plan,
    outcome: RequestOutcome,
    attempts: Sequence[Attempt],
    resumed: Resumption | None,
) -> Decision:
    """The request's `Decision` after `attempts` (in order), ended with `outcome`; `resumed`
    is the plan's resumption of a broken stream, if any."""
    succeeded = outcome.succeeded
    answered = attempts[-1] if succeeded else None
    req, route, ranking = plan.request, plan.route, plan.ranking
    return Decision(
        request_id=plan.request_id,
        route=route.name,
        strategy=route.strategy,
        candidates=ranking.models,
        strategy_reason=ranking.reason or None,
        score=ranking.score,
        threshold=ranking.threshold,
        tier=ranking.tier,
        requires_human_review=route.require_human_review,
        routed_from=plan.routed_from,
        attempts=tuple(attempts),
        outcome=outcome,
        responding_model=answered.model if answered else None,
        responding_provider=answered.provider if answered else None,
        baseline_model=plan.baseline.name if plan.baseline else None,
        cost_usd=sum([a.cost_usd for a in attempts]),
        baseline_cost_usd=answered.baseline_cost_usd if answered else None,
        latency_s=plan.clock.now() - plan.started_at,
        started_at=plan.started_wall,
        user=plan.redact_user(req.user) if plan.redact_user else req.user,
        team=req.team,
        task=req.task,
        tags=req.tags,
        prompt_version=req.prompt_version,
        stream=plan.stream,
        resumed=succeeded and resumed is not None,
        segments=tuple(resumed.segments) if resumed is not None else (),
    )
