"""The records a `Plan` writes: each `Attempt` (priced) and the request's final `Decision`.

Pure builders over the plan's state; the plan appends the attempts and tells observers.
Costs are USD (the catalog's per-token prices times the usage); times are the plan clock's
seconds, with `started_at` fields on the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.records_fast import new_attempt, new_decision
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
    return new_attempt(
        index,
        model.name,
        model.provider,
        AttemptOutcome.SKIPPED,
        str(reason),
        0,  # retry
        None,  # error_type
        detail,  # error_message
        None,  # status_code
        None,  # retry_after_s
        0.0,  # latency_s
        None,  # ttft_s
        None,  # usage
        0.0,  # cost_usd
        None,  # baseline_cost_usd
        None,  # response_model
        None,  # finish_reason
        None,  # priced_as
        False,  # substituted
        False,  # price_unknown
        (),  # verdicts
        None,  # verifier_model
        0.0,  # verifier_cost_usd
        plan.clock.wall(),  # started_at
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
    now = plan.clock.now()
    if usage is None:
        cost, baseline_cost, priced_as, substituted, unknown = 0.0, None, None, False, False
    else:
        # priced as the model the provider says served the call (see Catalog.served_by);
        # with no reported name that is the requested model, so the lookup is skipped
        served = plan.catalog.served_by(model, response_model) if response_model else None
        priced = model if served is None else served.model
        cost, priced_as = priced.cost(usage), priced.name
        baseline = plan.baseline
        baseline_cost = baseline.cost(usage) if baseline else None
        substituted = served is not None and served.substituted
        unknown = served is not None and not served.known
    if error is None:
        error_type, status_code, retry_after_s = None, None, None
    else:
        error_type, error_message = type(error).__name__, error.message
        status_code, retry_after_s = error.status_code, error.retry_after
    return new_attempt(
        call.index,
        model.name,
        model.provider,
        outcome,
        reason,
        call.retry,
        error_type,
        error_message,
        status_code,
        retry_after_s,
        now - call.started_at,  # latency_s
        ttft_s,
        usage,
        cost,
        baseline_cost,
        response_model,
        finish_reason,
        priced_as,
        substituted,
        unknown,  # price_unknown
        verdicts,
        None,  # verifier_model
        0.0,  # verifier_cost_usd
        plan.started_wall + (call.started_at - plan.started_at),  # started_at
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
    answered = attempts[-1] if outcome.succeeded else None
    req, route, ranking, baseline = plan.request, plan.route, plan.ranking, plan.baseline
    user = req.user
    return new_decision(
        plan.request_id,
        route.name,
        route.strategy,
        ranking.models,  # candidates
        tuple(attempts),
        outcome,
        answered.model if answered else None,  # responding_model
        answered.provider if answered else None,  # responding_provider
        baseline.name if baseline else None,  # baseline_model
        sum([a.cost_usd for a in attempts]),  # cost_usd
        answered.baseline_cost_usd if answered else None,
        plan.clock.now() - plan.started_at,  # latency_s
        plan.started_wall,  # started_at
        plan.redact_user(user) if plan.redact_user else user,
        req.team,
        req.task,
        req.tags,
        req.prompt_version,
        plan.stream,
        ranking.reason or None,  # strategy_reason
        ranking.score,
        ranking.threshold,
        ranking.tier,
        route.require_human_review,  # requires_human_review
        plan.routed_from,
        resumed is not None and (answered is not None or resumed.by_several_models),  # resumed
        tuple(resumed.segments) if resumed is not None else (),  # segments
        None,  # shadow_of
        {},  # extra
    )
