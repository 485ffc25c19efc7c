"""`setup()`: tracer and meter providers exporting over OTLP, configured from the standard
environment variables, returned to the caller (global providers only when asked).

Read here, from `environ` (default `os.environ`), and passed to the stock exporters
explicitly: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or `grpc`; the Python exporters
do not read it themselves) and its `_TRACES_`/`_METRICS_` variants,
`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS` and its signal variants, `OTEL_SERVICE_NAME`, and
`OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none` (backends that take traces only,
such as Phoenix and Langfuse, need the second). Explicit
arguments win over the environment. The exporters still read their TLS, timeout and
compression variables from the process environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

OtlpProtocol = Literal["http/protobuf", "grpc"]
Signal = Literal["traces", "metrics"]

PROTOCOLS: tuple[OtlpProtocol, ...] = ("http/protobuf", "grpc")
DEFAULT_ENDPOINTS: dict[OtlpProtocol, str] = {
    "http/protobuf": "http://localhost:4318",
    "grpc": "http://localhost:4317",
}


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The providers `setup()` built. Pass them to `OTelObserver`; call `shutdown()` at exit
    (it flushes what is still buffered)."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered now; True when both providers succeeded."""
        traces = self.tracer_provider.force_flush(timeout_millis)
        return self.meter_provider.force_flush(timeout_millis) and traces

    def shutdown(self) -> None:
        """Flush and stop both providers."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@dataclass(frozen=True, slots=True)
class Exporter:
    """Where one signal goes, as resolved from arguments and environment."""

    protocol: OtlpProtocol
    endpoint: str
    headers: dict[str, str]


def setup(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
    metric_readers: Sequence[MetricReader] | None = None,
    metrics_interval_s: float = 60.0,
    batch: bool = True,
    sampler: Sampler | None = None,
    set_global: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """Build a tracer provider and a meter provider and return them.

    - `endpoint`: OTLP base URL (`http://host:4318` for HTTP, `http://host:4317` for gRPC);
      over HTTP the signal paths `/v1/traces` and `/v1/metrics` are appended.
    - `protocol`: `http/protobuf` or `grpc` (ValueError otherwise).
    - `headers`: added to every export (e.g. `{"x-honeycomb-team": key}`).
    - `span_exporter` / `metric_readers`: use these instead of OTLP (e.g. an in-memory
      exporter in tests); `metric_readers=[]` turns metrics off.
    - `sampler`: the tracer provider's sampler (None: the SDK's, which reads
      `OTEL_TRACES_SAMPLER`).
    - `batch`: export spans in the background (False: synchronously as each ends).
    - `set_global`: also install both providers as the process-wide globals.
    """
    env = os.environ if environ is None else environ
    resource = Resource.create(_resource_attributes(service_name, env))
    tracer_provider = TracerProvider(resource=resource, sampler=sampler)
    if span_exporter is None and not _disabled("traces", env):
        span_exporter = _span_exporter(_resolve("traces", endpoint, protocol, headers, env))
    if span_exporter is not None:
        processor: SpanProcessor = (
            BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
        )
        tracer_provider.add_span_processor(processor)
    if metric_readers is None and _disabled("metrics", env):
        metric_readers = []
    if metric_readers is None:
        exporter = _metric_exporter(_resolve("metrics", endpoint, protocol, headers, env))
        interval_ms = metrics_interval_s * 1000
        metric_readers = [
            PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
        ]
    meter_provider = MeterProvider(resource=resource, metric_readers=list(metric_readers))
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)


def _disabled(signal: Signal, env: Mapping[str, str]) -> bool:
    """`OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none` turn a signal off."""
    return env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() == "none"


def _resource_attributes(service_name: str | None, env: Mapping[str, str]) -> dict[str, str]:
    name = service_name or env.get("OTEL_SERVICE_NAME")
    return {SERVICE_NAME: name} if name else {}


def _resolve(
    signal: Signal,
    endpoint: str | None,
    protocol: str | None,
    headers: Mapping[str, str] | None,
    env: Mapping[str, str],
) -> Exporter:
    """Protocol, endpoint and headers of one signal: arguments, then the signal's own
    variable, then the general one, then the OTLP defaults."""
    upper = signal.upper()
    chosen = (
        protocol
        or env.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if chosen not in PROTOCOLS:
        raise ValueError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, got {chosen!r}")
    proto: OtlpProtocol = "grpc" if chosen == "grpc" else "http/protobuf"
    own = env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
    if endpoint is None and own:
        url = own  # a signal's own endpoint is used as is
    else:
        base = endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINTS[proto]
        url = base if proto == "grpc" else f"{base.rstrip('/')}/v1/{signal}"
    merged = parse_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    merged.update(parse_headers(env.get(f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", "")))
    merged.update(headers or {})
    return Exporter(proto, url, merged)


def parse_headers(value: str) -> dict[str, str]:
    """`k1=v1,k2=v2` (values URL-encoded) as a dict; malformed items are skipped."""
    out: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if sep and key.strip():
            out[key.strip().lower()] = unquote(val.strip())
    return out


def _span_exporter(target: Exporter) -> SpanExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=target.endpoint, headers=target.headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=target.endpoint, headers=target.headers)


def _metric_exporter(target: Exporter) -> MetricExporter:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=target.endpoint, headers=target.headers)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=target.endpoint, headers=target.headers)
