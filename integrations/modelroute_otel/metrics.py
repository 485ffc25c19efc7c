"""Metrics: the GenAI client metrics plus modelroute's cost, fallback, request and breaker
counters. Attributes are low-cardinality only (route, model, provider, reason, outcome,
state): never request ids, users, prompts or error messages.
"""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from modelroute import __version__
from modelroute.records import Attempt, AttemptOutcome, BreakerTransition, Decision
from modelroute_otel import attributes as a
from modelroute_otel.span_attributes import Attributes, error_type

SCOPE = "modelroute"
"""Instrumentation scope name of every tracer and meter this package creates."""

DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""Seconds; the GenAI conventions' advice for `gen_ai.client.operation.duration`."""

TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""Tokens; the GenAI conventions' advice for `gen_ai.client.token.usage`."""


def meter(meter_provider: MeterProvider | None = None) -> metrics.Meter:
    """modelroute's meter from `meter_provider` (the global one when None)."""
    return metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)


class RouteMetrics:
    """Records one request's attempts and outcome into the metric instruments."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        m = meter(meter_provider)
        self.duration = m.create_histogram(
            a.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration (one provider call).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = m.create_histogram(
            a.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Input and output tokens used per provider call.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.cost = m.create_counter(
            a.METRIC_COST, unit="USD", description="Cost of provider calls, from catalog prices."
        )
        self.fallbacks = m.create_counter(
            a.METRIC_FALLBACKS,
            unit="{fallback}",
            description="Attempts that did not answer (skips included), by reason.",
        )
        self.requests = m.create_counter(
            a.METRIC_REQUESTS, unit="{request}", description="Routed requests, by outcome."
        )
        self.request_duration = m.create_histogram(
            a.METRIC_REQUEST_DURATION,
            unit="s",
            description="Duration of a whole routed request (every attempt and backoff).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def record_attempt(self, route: str, attempt: Attempt, call: Attributes | None) -> None:
        """Record one attempt. `call` holds the attempt's GenAI attributes (None for a
        candidate that was never called: only the fallback counter sees it)."""
        if attempt.reason is not None:
            self.fallbacks.add(
                1,
                {
                    a.MR_ROUTE: route,
                    a.MR_MODEL: attempt.model,
                    a.MR_FALLBACK_REASON: attempt.reason,
                },
            )
        if call is None or attempt.outcome == AttemptOutcome.SKIPPED:
            return
        attrs = dict(call)
        attrs[a.MR_ROUTE] = route
        if attempt.response_model:
            attrs[a.GEN_AI_RESPONSE_MODEL] = attempt.response_model
        error = error_type(attempt)
        if error is not None:
            attrs[a.ERROR_TYPE] = error
        self.duration.record(attempt.latency_s, attrs)
        usage = attempt.usage
        if usage is None:
            return
        if not usage.estimated:
            self.tokens.record(
                usage.input_tokens, {**attrs, a.GEN_AI_TOKEN_TYPE: a.TOKEN_TYPE_INPUT}
            )
            self.tokens.record(
                usage.output_tokens, {**attrs, a.GEN_AI_TOKEN_TYPE: a.TOKEN_TYPE_OUTPUT}
            )
        if attempt.cost_usd:
            self.cost.add(
                attempt.cost_usd,
                {
                    a.MR_ROUTE: route,
                    a.MR_MODEL: attempt.model,
                    a.MR_PROVIDER: attempt.provider or "",
                },
            )

    def record_request(self, decision: Decision) -> None:
        """Record one finished request."""
        attrs: Attributes = {a.MR_ROUTE: decision.route, a.MR_OUTCOME: decision.outcome.value}
        if decision.responding_model:
            attrs[a.MR_RESPONSE_MODEL] = decision.responding_model
        self.requests.add(1, attrs)
        self.request_duration.record(
            decision.latency_s, {a.MR_ROUTE: decision.route, a.MR_OUTCOME: decision.outcome.value}
        )


class BreakerMetrics:
    """Counts circuit-breaker transitions by model and state change."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self.transitions = meter(meter_provider).create_counter(
            a.METRIC_BREAKER_TRANSITIONS,
            unit="{transition}",
            description="Circuit breaker state changes.",
        )

    def record(self, transition: BreakerTransition) -> None:
        """Count one transition."""
        self.transitions.add(
            1,
            {
                a.MR_MODEL: transition.model,
                a.MR_BREAKER_FROM: transition.from_state,
                a.MR_BREAKER_TO: transition.to_state,
            },
        )
