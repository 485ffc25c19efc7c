"""`BreakerTransitionSink`: circuit-breaker transitions as a metric and span events.

Breakers report transitions to the Router's sinks (not to observers), so this is a
`modelroute.sinks.Sink`: `Router(..., sinks=[BreakerTransitionSink(meter_provider)])`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace

from modelroute.records import BreakerTransition, Decision
from modelroute_otel import attributes as a
from modelroute_otel.metrics import BreakerMetrics

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider


class BreakerTransitionSink:
    """Counts breaker transitions (`modelroute.breaker.transitions`) and, when the current
    span is the attempt span of the same model (a failure or a probe's success moved the
    breaker during that call), adds a `modelroute.breaker.transition` event to it."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self._metrics = BreakerMetrics(meter_provider)

    def emit(self, decision: Decision) -> None:
        """Decisions are traced by `OTelObserver`; nothing to do here."""

    def emit_transition(self, transition: BreakerTransition) -> None:
        """Count the transition; note it on the attempt span that caused it."""
        self._metrics.record(transition)
        span = trace.get_current_span()
        if not span.is_recording():
            return
        attrs = getattr(span, "attributes", None) or {}
        if attrs.get(a.MR_MODEL) != transition.model:
            return  # not inside that model's call (e.g. a cooldown ending before one)
        span.add_event(
            a.EVENT_BREAKER_TRANSITION,
            {
                a.MR_BREAKER_FROM: transition.from_state,
                a.MR_BREAKER_TO: transition.to_state,
                a.MR_BREAKER_REASON: transition.reason,
            },
        )
