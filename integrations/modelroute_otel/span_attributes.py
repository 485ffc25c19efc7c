"""Pure functions from modelroute's records to span attributes (None values dropped).

Attempt spans get the GenAI semantic-convention names plus `modelroute.*`; the route span
gets only `modelroute.*`. Nothing here reads request params, metadata or keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry.util.types import AttributeValue

from modelroute.records import Attempt, AttemptOutcome, Decision
from modelroute_otel import attributes as a
from modelroute_otel.content import redact

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.observer import AttemptStarted, RequestStarted
    from modelroute.types import Request, Response

Attributes = dict[str, AttributeValue]

CANCELLED = "cancelled"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def clean(pairs: Iterable[tuple[str, AttributeValue | None]]) -> Attributes:
    """A dict of the pairs whose value is not None."""
    return {key: value for key, value in pairs if value is not None}


def request_model(model: ModelInfo) -> str:
    """`gen_ai.request.model`: the name the provider sees (a LiteLLM target such as
    `openai/gpt-4o-mini` loses its provider prefix)."""
    if model.target and "/" in model.target:
        return model.target.split("/", 1)[1]
    return model.call_name


@lru_cache(maxsize=256)
def server_of(api_base: str | None) -> tuple[str | None, int | None]:
    """(`server.address`, `server.port`) of a base URL; user info and path are dropped."""
    if not api_base:
        return None, None
    try:
        parts = urlsplit(api_base if "//" in api_base else f"//{api_base}")
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None, None
    return parts.hostname, port


def call_attributes(model: ModelInfo) -> Attributes:
    """The low-cardinality GenAI attributes an attempt's span and metrics share."""
    address, port = server_of(model.api_base)
    return clean(
        (
            (a.GEN_AI_OPERATION_NAME, a.OPERATION_CHAT),
            (a.GEN_AI_PROVIDER_NAME, a.provider_name(model.provider)),
            (a.GEN_AI_REQUEST_MODEL, request_model(model)),
            (a.SERVER_ADDRESS, address),
            (a.SERVER_PORT, port),
        )
    )


def attempt_start(event: AttemptStarted, request: Request, stream: bool) -> Attributes:
    """Attempt-span attributes known before the call, beyond `call_attributes`."""
    return clean(
        (
            (a.GEN_AI_REQUEST_MAX_TOKENS, request.max_tokens),
            (a.GEN_AI_REQUEST_TEMPERATURE, request.temperature),
            (a.GEN_AI_REQUEST_STREAM, stream or None),
            (a.MR_MODEL, event.model.name),
            (a.MR_ATTEMPT_INDEX, event.index),
            (a.MR_ATTEMPT_RETRY, event.retry),
            (a.MR_BREAKER_STATE, event.breaker_state),
        )
    )


def attempt_response(response: Response) -> Attributes:
    """Attempt-span attributes read from the answer itself."""
    reasons = (response.finish_reason,) if response.finish_reason else None
    return clean(((a.GEN_AI_RESPONSE_ID, response.id), (a.GEN_AI_RESPONSE_FINISH_REASONS, reasons)))


def error_type(attempt: Attempt) -> str | None:
    """`error.type` of a failed attempt: the error class, else the fallback reason."""
    if attempt.outcome in (AttemptOutcome.OK, AttemptOutcome.SKIPPED, AttemptOutcome.CANCELLED):
        return None  # a cancellation: the caller stopped it, not an error of the call
    if attempt.reason == CANCELLED:  # records written before the `cancelled` outcome
        return None
    return attempt.error_type or attempt.reason or "unknown"


def attempt_end(attempt: Attempt, *, cost_aliases: bool = False) -> Attributes:
    """Attempt-span attributes known when the attempt ended."""
    out = clean(
        (
            (a.MR_ATTEMPT_OUTCOME, attempt.outcome.value),
            (a.MR_FALLBACK_REASON, attempt.reason),
            (a.GEN_AI_RESPONSE_MODEL, attempt.response_model),
            (a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, attempt.ttft_s),
            (a.ERROR_TYPE, error_type(attempt)),
            (a.HTTP_RESPONSE_STATUS_CODE, attempt.status_code),
            (a.MR_RETRY_AFTER_S, attempt.retry_after_s),
        )
    )
    out[a.MR_COST_USD] = attempt.cost_usd  # 0.0 for a call that reported no usage
    if cost_aliases:
        out[a.GEN_AI_USAGE_COST] = attempt.cost_usd
        out[a.LLM_COST_TOTAL] = attempt.cost_usd
    if attempt.baseline_cost_usd is not None:
        out[a.MR_BASELINE_COST_USD] = attempt.baseline_cost_usd
    usage = attempt.usage
    if usage is not None:
        if usage.estimated:
            out[a.MR_USAGE_ESTIMATED] = True
            out[a.MR_ESTIMATED_INPUT_TOKENS] = usage.input_tokens
            out[a.MR_ESTIMATED_OUTPUT_TOKENS] = usage.output_tokens
        else:
            out[a.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            out[a.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cached_input_tokens:
                out[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached_input_tokens
    passed = [v.name for v in attempt.verdicts if v.ok]
    failed = [v.name for v in attempt.verdicts if not v.ok]
    if passed:
        out[a.MR_VALIDATORS_PASSED] = passed
    if failed:
        out[a.MR_VALIDATORS_FAILED] = failed
    return out


def status_description(attempt: Attempt) -> str:
    """The span status text of a failed attempt: reason and (redacted) error message."""
    detail = (attempt.error_message or "")[:300]
    text = f"{attempt.reason or attempt.outcome.value}: {detail}" if detail else attempt.reason
    return redact(text or attempt.outcome.value)


def skip_event(attempt: Attempt) -> Attributes:
    """Attributes of the route-span event of a candidate that was never called."""
    return clean(
        (
            (a.MR_MODEL, attempt.model),
            (a.MR_PROVIDER, attempt.provider),
            (a.MR_ATTEMPT_INDEX, attempt.index),
            (a.MR_FALLBACK_REASON, attempt.reason),
            (a.MR_SKIP_DETAIL, redact(attempt.error_message) if attempt.error_message else None),
        )
    )


def route_start(event: RequestStarted) -> Attributes:
    """Route-span attributes known when the request starts."""
    request = event.request
    return clean(
        (
            (a.MR_ROUTE, event.route),
            (a.MR_REQUEST_ID, event.request_id),
            (a.MR_STRATEGY, event.strategy),
            (a.MR_CANDIDATES, tuple(event.candidates)),
            (a.MR_STREAM, event.stream),
            (a.MR_TEAM, request.team),
            (a.MR_TASK, request.task),
            (a.MR_TAGS, tuple(request.tags) if request.tags else None),
            (a.MR_PROMPT_VERSION, request.prompt_version),
        )
    )


def route_end(decision: Decision) -> Attributes:
    """Route-span attributes known when the request ends (only `modelroute.*`)."""
    return clean(
        (
            (a.MR_CANDIDATES, tuple(decision.candidates)),
            (a.MR_MODELS_ATTEMPTED, tuple(decision.models_attempted)),
            (a.MR_RESPONSE_MODEL, decision.responding_model),
            (a.MR_RESPONSE_PROVIDER, decision.responding_provider),
            (a.MR_FALLBACK_COUNT, decision.fallback_count),
            (a.MR_FALLBACK_REASONS, tuple(decision.fallback_reasons)),
            (a.MR_OUTCOME, decision.outcome.value),
            (a.MR_USER, decision.user),  # as the record has it (see modelroute.privacy)
            (a.MR_COST_USD, decision.cost_usd),
            (a.MR_BASELINE_MODEL, decision.baseline_model),
            (a.MR_BASELINE_COST_USD, decision.baseline_cost_usd),
            (a.MR_SAVING_USD, decision.saving_usd),
            # set by classifier strategies (records of older cores lack them)
            (a.MR_STRATEGY_REASON, getattr(decision, "strategy_reason", None)),
            (a.MR_TIER, getattr(decision, "tier", None)),
            (a.MR_SCORE, getattr(decision, "score", None)),
            (a.MR_THRESHOLD, getattr(decision, "threshold", None)),
        )
    )
