"""`setup()`: OTEL_* resolution, no globals unless asked, and real OTLP export (HTTP and gRPC)
with the stock exporters to a receiver on 127.0.0.1."""

from __future__ import annotations

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from helpers import run
from modelroute.errors import ProviderUnavailable
from modelroute_otel import OTelObserver, parse_headers, setup
from modelroute_otel.providers import _resolve
from otel_helpers import make_router
from otlp_receiver import OtlpReceiver


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, {}, ("http/protobuf", "http://localhost:4318/v1/traces")),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, {}, ("grpc", "http://localhost:4317")),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.honeycomb.io/"},
            {},
            ("http/protobuf", "https://api.honeycomb.io/v1/traces"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://own:9999/custom",
            },
            {},
            ("http/protobuf", "http://own:9999/custom"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            {},
            ("http/protobuf", "http://localhost:4318/v1/traces"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://own:1/x",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            {"endpoint": "http://arg:4317", "protocol": "grpc"},
            ("grpc", "http://arg:4317"),
        ),
    ],
)
def test_endpoint_and_protocol_resolution(
    env: dict[str, str], args: dict[str, str], expected: tuple[str, str]
) -> None:
    target = _resolve("traces", args.get("endpoint"), args.get("protocol"), None, env)
    assert (target.protocol, target.endpoint) == expected


def test_headers_merge_general_signal_and_explicit() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=abc%3D%3D,x-one=1",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-one=metrics",
    }
    target = _resolve("metrics", None, None, {"x-two": "2"}, env)
    assert target.headers == {"x-honeycomb-team": "abc==", "x-one": "metrics", "x-two": "2"}
    assert target.endpoint == "http://localhost:4318/v1/metrics"


def test_parse_headers_skips_malformed_items() -> None:
    assert parse_headers("a=1, broken ,=x, B = two%20words") == {"a": "1", "b": "two words"}


def test_unknown_protocol_is_an_error() -> None:
    with pytest.raises(ValueError, match="http/json"):
        setup(protocol="http/json", metric_readers=[], environ={})


def test_setup_returns_providers_and_leaves_globals_alone() -> None:
    tracer_before, meter_before = trace.get_tracer_provider(), metrics.get_meter_provider()
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = setup(
        span_exporter=exporter,
        metric_readers=[reader],
        batch=False,
        environ={"OTEL_SERVICE_NAME": "billing-api"},
    )
    assert trace.get_tracer_provider() is tracer_before
    assert metrics.get_meter_provider() is meter_before
    observer = OTelObserver(telemetry.tracer_provider, telemetry.meter_provider)
    run(make_router({"m-a": ["ok"]}, [observer]), "sync", "hi")
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} == {"modelroute.route r1", "chat m-a"}
    assert spans[0].resource.attributes["service.name"] == "billing-api"
    telemetry.shutdown()


def test_service_name_argument_beats_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    exporter = InMemorySpanExporter()
    telemetry = setup(
        service_name="from-arg", span_exporter=exporter, metric_readers=[], batch=False
    )
    telemetry.tracer_provider.get_tracer("t").start_span("x").end()
    assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == "from-arg"
    telemetry.shutdown()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_real_otlp_export_reaches_a_receiver(transport: str) -> None:
    protocol = "grpc" if transport == "grpc" else "http/protobuf"
    with OtlpReceiver(transport) as rx:  # type: ignore[arg-type]
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=test-key",
            "OTEL_SERVICE_NAME": "routing-demo",
        }
        telemetry = setup(environ=env, metrics_interval_s=3600)
        observer = OTelObserver(telemetry.tracer_provider, telemetry.meter_provider)
        router = make_router(
            {"m-a": [ProviderUnavailable("503", status_code=503)], "m-b": ["ok"]}, [observer]
        )
        decision = run(router, "sync", "hi").decision
        telemetry.shutdown()  # flushes spans and metrics

        assert rx.wait_until(lambda: len(rx.spans()) >= 3)
        assert rx.wait_until(lambda: "modelroute.requests" in rx.metric_names())
        spans = {s.name: s for s in rx.spans()}
        route = spans["modelroute.route r1"]
        assert route.kind == SpanKind.INTERNAL.value + 1  # OTLP enums are offset by one
        assert route.resource["service.name"] == "routing-demo"
        assert route.attributes["modelroute.fallback.reasons"] == ["unavailable"]
        assert route.attributes["modelroute.response.model"] == "m-b"
        assert route.attributes["modelroute.cost.usd"] == pytest.approx(decision.cost_usd)
        failed, answered = spans["chat m-a"], spans["chat m-b"]
        assert failed.parent_span_id == answered.parent_span_id == route.span_id
        assert failed.attributes["error.type"] == "ProviderUnavailable"
        assert failed.status_code == 2  # STATUS_CODE_ERROR
        assert answered.attributes["gen_ai.request.model"] == "m-b"
        assert answered.attributes["gen_ai.usage.input_tokens"] == 100
        assert rx.metric_names() >= {
            "gen_ai.client.operation.duration",
            "gen_ai.client.token.usage",
            "modelroute.fallbacks",
        }
        assert all(h.get("x-honeycomb-team") == "test-key" for h in rx.received.headers)


def test_exporter_none_turns_a_signal_off() -> None:
    env = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    telemetry = setup(environ=env)
    observer = OTelObserver(telemetry.tracer_provider, telemetry.meter_provider)
    run(make_router({"m-a": ["ok"]}, [observer]), "sync", "hi")
    assert telemetry.force_flush(1000)
    telemetry.shutdown()  # nothing to export, nowhere to send it: returns at once
