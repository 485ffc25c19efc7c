"""In-memory OpenTelemetry for the otel tests: providers passed in, never global."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import SpanKind

from helpers import catalog, scripted
from modelroute.backend import Backend
from modelroute.clock import FakeClock
from modelroute.route import Route
from modelroute.router import Router
from modelroute_otel import OTelObserver

ROUTE_PREFIX = "modelroute.route "


class Otel:
    """A tracer provider exporting to memory and a meter provider with an in-memory reader."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(sampler=sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests")

    def observer(self, **kwargs: Any) -> OTelObserver:
        """An observer writing to these providers."""
        return OTelObserver(self.tracer_provider, self.meter_provider, **kwargs)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    # -- spans -----------------------------------------------------------------------------

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def routes(self) -> list[ReadableSpan]:
        """Route spans, in the order they ended."""
        return [s for s in self.spans() if s.name.startswith(ROUTE_PREFIX)]

    def route(self) -> ReadableSpan:
        """The one route span (fails when there is not exactly one)."""
        (route,) = self.routes()
        return route

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Spans whose parent is `parent`, by start time."""
        assert parent.context is not None
        kids = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def attempts(self, route: ReadableSpan | None = None) -> list[ReadableSpan]:
        """The attempt spans under `route` (the one route span by default)."""
        kids = self.children(route or self.route())
        assert all(k.kind == SpanKind.CLIENT for k in kids)
        return kids

    # -- metrics ---------------------------------------------------------------------------

    def metrics(self) -> dict[str, Metric]:
        data = self.reader.get_metrics_data()
        out: dict[str, Metric] = {}
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = metric
        return out

    def points(self, name: str) -> list[Any]:
        """The data points of metric `name` ([] when it was never recorded)."""
        metric = self.metrics().get(name)
        return list(metric.data.data_points) if metric is not None else []


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (sequences as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()}


def make_router(
    backend: Backend | dict[str, list[object]],
    observers: Sequence[object],
    models: tuple[str, ...] = ("m-a", "m-b"),
    **kwargs: Any,
) -> Router:
    """A router over the price-table catalog with one route `r1`, a fake clock and the
    baseline `m-strong`. `backend` is a backend or a `helpers.scripted` script."""
    route = kwargs.pop("route", None) or Route("r1", models)
    return Router(
        [route],
        backend=scripted(backend) if isinstance(backend, dict) else backend,
        catalog=kwargs.pop("catalog", None) or catalog(),
        clock=FakeClock(),
        baseline="m-strong",
        observers=observers,
        **kwargs,
    )
