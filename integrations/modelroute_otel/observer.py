"""`OTelObserver`: one route span per request, one child span per provider call.

Span layout (names and attributes in `modelroute_otel.attributes`):

    <caller's current span>
    └── modelroute.route {route}        INTERNAL, modelroute.* only
        ├── chat {model}                CLIENT, attempt 0 (GenAI conventions + modelroute.*)
        └── chat {model}                CLIENT, attempt 1 ...

Candidates that are never called (breaker open, missing capability, context window,
deadline) are `modelroute.candidate.skipped` events on the route span, not spans, so
"one child span per attempt" counts provider calls only. A call a guard (budget, rate
limit) refuses after its span opened keeps that short span, marked
`modelroute.attempt.outcome=skipped`, and gets the event as well.

While a provider call runs its span is the current span (attached to the OTel context),
so provider and framework instrumentation nest under it; it is detached when the attempt
ends. In a stream that is between chunks too: work done while consuming a stream nests
under the attempt producing it. Close streams you stop early (`aclose()`/`close()`), or
the attempt span stays current in your task until the stream is garbage-collected.
Hooks never raise: a telemetry failure is logged and the user's call carries on.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from modelroute import __version__
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome
from modelroute_otel import attributes as a
from modelroute_otel import span_attributes as sa
from modelroute_otel.content import capture_from_env, input_messages, output_messages
from modelroute_otel.inflight import InFlight
from modelroute_otel.metrics import SCOPE, RouteMetrics

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from modelroute.observer import AttemptStarted, RequestStarted
    from modelroute.types import Request, Response

logger = logging.getLogger("modelroute.otel")

P = ParamSpec("P")

DEFAULT_MAX_INFLIGHT = 10_000


def _never_raises(
    hook: Callable[Concatenate[OTelObserver, P], None],
) -> Callable[Concatenate[OTelObserver, P], None]:
    """Telemetry must never reach the user's call: log a hook's failure and carry on."""

    @functools.wraps(hook)
    def guarded(self: OTelObserver, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception:  # telemetry must never break the user's call
            logger.exception("modelroute_otel: %s failed", hook.__name__)

    return guarded


def _detach(token: contextvars.Token[Context]) -> None:
    # What `opentelemetry.context.detach` does, minus its error log when the token was made
    # in another context (an abandoned async stream that the event loop closes in a new
    # task): there the caller's context cannot be restored from here anyway.
    try:
        token.var.reset(token)
    except (ValueError, RuntimeError):
        logger.debug("modelroute_otel: attempt context closed from another context")


@dataclass(slots=True, eq=False)
class _Call:
    """An attempt whose provider call is running."""

    index: int
    span: Span
    attributes: sa.Attributes  # shared with the metrics
    token: contextvars.Token[Context]
    answer: sa.Attributes | None = None  # from the answer; set with the end's attributes


@dataclass(slots=True, eq=False)
class _Route:
    """A request being traced."""

    span: Span
    parent: Context  # the caller's context with the route span: parent of attempt spans
    route: str
    request: Request
    stream: bool
    candidates: tuple[str, ...]  # as set on the span at its start
    call: _Call | None = None


class OTelObserver:
    """Traces modelroute requests and records their metrics (a `modelroute.observer.Observer`).

    Pass it to `Router(..., observers=[OTelObserver(...)])`.

    - `tracer_provider` / `meter_provider`: where spans and metrics go; None uses the
      global providers (set elsewhere, e.g. by `setup(set_global=True)`).
    - `capture_content`: record messages and answers on attempt spans
      (`gen_ai.input.messages` / `gen_ai.output.messages`). None reads
      `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` once, now; off by default.
    - `cost_aliases`: also write each attempt's cost as `gen_ai.usage.cost` (Langfuse) and
      `llm.cost.total` (Phoenix/OpenInference).
    - `max_inflight`: most requests followed at once; past it the oldest unfinished one is
      ended (status ERROR) and forgotten, so state stays bounded whatever happens.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
        cost_aliases: bool = False,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        self._metrics = RouteMetrics(meter_provider)
        self.capture_content = capture_from_env() if capture_content is None else capture_content
        self.cost_aliases = cost_aliases
        self._requests: InFlight[_Route] = InFlight(max_inflight, self._evict)

    @property
    def inflight(self) -> int:
        """Number of requests started and not yet finished."""
        return len(self._requests)

    # -- the Observer protocol ----------------------------------------------------------------

    @_never_raises
    def request_started(self, event: RequestStarted) -> None:
        """Open the route span under the caller's current span."""
        span = self._tracer.start_span(
            f"{a.ROUTE_SPAN_PREFIX} {event.route}",
            kind=SpanKind.INTERNAL,
            attributes=sa.route_start(event),
        )
        state = _Route(
            span,
            trace.set_span_in_context(span),
            event.route,
            event.request,
            event.stream,
            event.candidates,
        )
        self._requests.put(event.request_id, state)

    @_never_raises
    def attempt_started(self, event: AttemptStarted) -> None:
        """Open the attempt span under the route span and make it current."""
        state = self._requests.get(event.request_id)
        if state is None:
            return
        if state.call is not None:  # never reported as finished: close it first
            self._close_call(state, None)
        shared = sa.call_attributes(event.model)
        attrs = {**shared, **sa.attempt_start(event, state.request, state.stream)}
        model = attrs.get(a.GEN_AI_REQUEST_MODEL, event.model.name)
        span = self._tracer.start_span(
            f"{a.OPERATION_CHAT} {model}",
            context=state.parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
        )
        if self.capture_content and span.is_recording():
            span.set_attribute(a.GEN_AI_INPUT_MESSAGES, input_messages(state.request))
        token = otel_context.attach(trace.set_span_in_context(span))
        state.call = _Call(event.index, span, shared, token)

    @_never_raises
    def attempt_response(self, request_id: str, index: int, response: Response) -> None:
        """Add what only the answer knows: response id, finish reason, content if captured.

        Kept until the attempt ends and set with its other end attributes (one SDK call)."""
        state = self._requests.get(request_id)
        call = state.call if state is not None else None
        if call is None or call.index != index or not call.span.is_recording():
            return
        answer = sa.attempt_response(response)
        if self.capture_content:
            answer[a.GEN_AI_OUTPUT_MESSAGES] = output_messages(response)
        call.answer = answer

    @_never_raises
    def attempt_finished(self, request_id: str, attempt: Attempt) -> None:
        """End the attempt span (or record a skip on the route span) and its metrics."""
        state = self._requests.get(request_id)
        if state is None:
            return
        call = state.call if state.call is not None and state.call.index == attempt.index else None
        if call is not None:
            self._close_call(state, attempt)
        if attempt.outcome == AttemptOutcome.SKIPPED and state.span.is_recording():
            state.span.add_event(a.EVENT_CANDIDATE_SKIPPED, sa.skip_event(attempt))
        self._metrics.record_attempt(state.route, attempt, call.attributes if call else None)

    @_never_raises
    def request_finished(self, decision: Decision) -> None:
        """End the route span with the decision's attributes; record the request metrics."""
        state = self._requests.pop(decision.request_id)
        if state is None:
            return
        try:
            if state.call is not None:
                self._close_call(state, None)
            span = state.span
            if span.is_recording():
                attributes = sa.route_end(decision)
                if decision.candidates == state.candidates:  # set at the start already
                    del attributes[a.MR_CANDIDATES]
                span.set_attributes(attributes)
                if not decision.outcome.succeeded and decision.outcome != RequestOutcome.CANCELLED:
                    span.set_status(Status(StatusCode.ERROR, decision.outcome.value))
            span.end()
        finally:
            self._metrics.record_request(decision)

    # -- internals ----------------------------------------------------------------------------

    def _close_call(self, state: _Route, attempt: Attempt | None, *, detach: bool = True) -> None:
        """End the running attempt's span and restore the caller's context."""
        call, state.call = state.call, None
        if call is None:
            return
        try:
            span = call.span
            if attempt is None:
                if call.answer:
                    span.set_attributes(call.answer)
                span.set_status(Status(StatusCode.ERROR, "attempt end was never reported"))
            elif span.is_recording():
                end = sa.attempt_end(attempt, cost_aliases=self.cost_aliases)
                span.set_attributes({**call.answer, **end} if call.answer else end)
                if sa.error_type(attempt) is not None:
                    span.set_status(Status(StatusCode.ERROR, sa.status_description(attempt)))
            span.end()
        finally:
            if detach:
                _detach(call.token)

    def _evict(self, state: _Route) -> None:
        """A request that never finished fell out of the bounded map: end its spans.

        Its context token is dropped, not reset: this runs in some other request's flow,
        whose current context must not be touched."""
        try:
            self._close_call(state, None, detach=False)
            state.span.set_status(Status(StatusCode.ERROR, "request end was never reported"))
            state.span.end()
        except Exception:  # telemetry must never break the user's call
            logger.exception("modelroute_otel: evicting a request failed")
