"""Every span, event, attribute and metric name modelroute's telemetry writes, in one place.

The GenAI names follow the OpenTelemetry GenAI semantic conventions (moved out of core
semconv 1.42 into https://github.com/open-telemetry/semantic-conventions-genai). They are
still moving, so they are spelled out here rather than imported from the incubating
semconv package; a test checks them against the installed `opentelemetry-semantic-conventions`.
Attempt spans carry GenAI names plus `modelroute.*`; route spans carry only `modelroute.*`,
so backends that sum `gen_ai.usage.*` never count a call twice.
"""

from __future__ import annotations

from typing import Final

# -- span and event names ---------------------------------------------------------------------

ROUTE_SPAN_PREFIX: Final = "modelroute.route"
"""Route span name: `modelroute.route {route}` (kind INTERNAL)."""
OPERATION_CHAT: Final = "chat"
"""`gen_ai.operation.name` of every attempt; attempt span name: `chat {gen_ai.request.model}`."""
EVENT_CANDIDATE_SKIPPED: Final = "modelroute.candidate.skipped"
"""Event on the route span for a candidate never called (breaker open, capability, budget)."""
EVENT_BREAKER_TRANSITION: Final = "modelroute.breaker.transition"
"""Event on the current (attempt) span when a breaker changes state."""

# -- GenAI semantic conventions (attempt spans and gen_ai.* metrics) ---------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# Opt-in cost aliases for tools that read other names (attempt spans only).
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
"""Langfuse reads a generation's cost from this name."""
LLM_COST_TOTAL: Final = "llm.cost.total"
"""Phoenix / OpenInference read an LLM span's cost from this name."""

# -- modelroute attributes on attempt spans ---------------------------------------------------

MR_MODEL: Final = "modelroute.model"
"""The route's name for the model (the catalog name; `gen_ai.request.model` is what is sent)."""
MR_ATTEMPT_INDEX: Final = "modelroute.attempt.index"
MR_ATTEMPT_RETRY: Final = "modelroute.attempt.retry"
MR_ATTEMPT_OUTCOME: Final = "modelroute.attempt.outcome"
MR_FALLBACK_REASON: Final = "modelroute.fallback.reason"
MR_COST_USD: Final = "modelroute.cost.usd"
MR_BASELINE_COST_USD: Final = "modelroute.baseline.cost.usd"
MR_BREAKER_STATE: Final = "modelroute.breaker.state"
MR_VALIDATORS_PASSED: Final = "modelroute.validators.passed"
MR_VALIDATORS_FAILED: Final = "modelroute.validators.failed"
MR_USAGE_ESTIMATED: Final = "modelroute.usage.estimated"
MR_ESTIMATED_INPUT_TOKENS: Final = "modelroute.usage.estimated.input_tokens"
MR_ESTIMATED_OUTPUT_TOKENS: Final = "modelroute.usage.estimated.output_tokens"
MR_RETRY_AFTER_S: Final = "modelroute.retry_after.s"
MR_SKIP_DETAIL: Final = "modelroute.skip.detail"

# -- modelroute attributes on route spans -----------------------------------------------------

MR_ROUTE: Final = "modelroute.route"
MR_REQUEST_ID: Final = "modelroute.request.id"
MR_STRATEGY: Final = "modelroute.strategy"
MR_STRATEGY_REASON: Final = "modelroute.strategy.reason"
MR_TIER: Final = "modelroute.tier"
MR_SCORE: Final = "modelroute.score"
MR_THRESHOLD: Final = "modelroute.threshold"
MR_CANDIDATES: Final = "modelroute.candidates"
MR_MODELS_ATTEMPTED: Final = "modelroute.models.attempted"
MR_RESPONSE_MODEL: Final = "modelroute.response.model"
MR_RESPONSE_PROVIDER: Final = "modelroute.response.provider"
MR_FALLBACK_COUNT: Final = "modelroute.fallback.count"
MR_FALLBACK_REASONS: Final = "modelroute.fallback.reasons"
MR_OUTCOME: Final = "modelroute.outcome"
MR_BASELINE_MODEL: Final = "modelroute.baseline.model"
MR_SAVING_USD: Final = "modelroute.saving.usd"
MR_STREAM: Final = "modelroute.stream"
MR_TEAM: Final = "modelroute.team"
MR_USER: Final = "modelroute.user"  # the record's user: a pseudonym when users are redacted
MR_TASK: Final = "modelroute.task"
MR_TAGS: Final = "modelroute.tags"
MR_PROMPT_VERSION: Final = "modelroute.prompt_version"

# -- breaker transitions (event and metric attributes) ---------------------------------------

MR_BREAKER_FROM: Final = "modelroute.breaker.from_state"
MR_BREAKER_TO: Final = "modelroute.breaker.to_state"
MR_BREAKER_REASON: Final = "modelroute.breaker.reason"
MR_PROVIDER: Final = "modelroute.provider"

# -- metrics --------------------------------------------------------------------------------

METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_COST: Final = "modelroute.cost"
METRIC_FALLBACKS: Final = "modelroute.fallbacks"
METRIC_REQUESTS: Final = "modelroute.requests"
METRIC_REQUEST_DURATION: Final = "modelroute.request.duration"
METRIC_BREAKER_TRANSITIONS: Final = "modelroute.breaker.transitions"

# -- environment ------------------------------------------------------------------------------

ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# -- provider names ---------------------------------------------------------------------------

PROVIDER_NAMES: Final = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai-language-models": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}
"""LiteLLM provider labels whose well-known `gen_ai.provider.name` value differs."""


def provider_name(provider: str | None) -> str | None:
    """The `gen_ai.provider.name` value of a catalog provider label (unknown labels as is)."""
    if provider is None:
        return None
    return PROVIDER_NAMES.get(provider, provider)
