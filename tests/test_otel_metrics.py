"""Metrics: GenAI client metrics with the conventions' buckets, modelroute counters, and
only low-cardinality attributes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers import run
from modelroute.errors import ProviderUnavailable, RateLimited
from modelroute.types import Response, Usage
from modelroute_otel import DURATION_BUCKETS, TOKEN_BUCKETS
from otel_helpers import Otel, make_router

ALLOWED = {
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.token.type",
    "server.address",
    "server.port",
    "error.type",
    "modelroute.route",
    "modelroute.model",
    "modelroute.provider",
    "modelroute.fallback.reason",
    "modelroute.outcome",
    "modelroute.response.model",
}


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


def traffic(otel: Otel) -> None:
    """Three requests: a 503 then m-b, a 429 then m-b, and m-a answering first."""
    answer = Response(text="ok", model="m-a-v1", usage=Usage(1000, 100, cached_input_tokens=10))
    script: dict[str, list[object]] = {
        "m-a": [ProviderUnavailable("503", status_code=503), RateLimited("429"), answer],
        "m-b": [Response(text="from b", model="m-b")],  # no usage: the engine estimates it
    }
    router = make_router(script, [otel.observer()])
    for _ in range(3):
        run(router, "sync", "hi")


def test_genai_metrics_names_units_and_buckets(otel: Otel) -> None:
    traffic(otel)
    metrics = otel.metrics()
    assert metrics["gen_ai.client.operation.duration"].unit == "s"
    assert metrics["gen_ai.client.token.usage"].unit == "{token}"
    duration = otel.points("gen_ai.client.operation.duration")[0]
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert tuple(otel.points("gen_ai.client.token.usage")[0].explicit_bounds) == TOKEN_BUCKETS
    assert DURATION_BUCKETS[0] == 0.01 and DURATION_BUCKETS[-1] == 81.92
    assert TOKEN_BUCKETS[0] == 1 and TOKEN_BUCKETS[-1] == 67108864


def test_duration_is_recorded_per_call_with_error_type(otel: Otel) -> None:
    traffic(otel)
    by_key = {
        (p.attributes["gen_ai.request.model"], p.attributes.get("error.type")): p.count
        for p in otel.points("gen_ai.client.operation.duration")
    }
    assert by_key == {
        ("m-a", "ProviderUnavailable"): 1,
        ("m-a", "RateLimited"): 1,
        ("m-a", None): 1,
        ("m-b", None): 2,
    }


def test_token_usage_by_type(otel: Otel) -> None:
    traffic(otel)
    sums = {
        (p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p.sum
        for p in otel.points("gen_ai.client.token.usage")
    }
    assert sums[("m-a", "input")] == 1000
    assert sums[("m-a", "output")] == 100
    assert ("m-b", "input") not in sums  # m-b's usage is estimated: not reported as tokens


def test_cost_fallback_and_request_counters(otel: Otel) -> None:
    traffic(otel)
    cost = {p.attributes["modelroute.model"]: p.value for p in otel.points("modelroute.cost")}
    assert cost["m-a"] == pytest.approx(1000 * 1e-6 + 100 * 4e-6)
    assert cost["m-b"] > 0
    fallbacks = {
        p.attributes["modelroute.fallback.reason"]: p.value
        for p in otel.points("modelroute.fallbacks")
    }
    assert fallbacks == {"unavailable": 1, "rate_limited": 1}
    requests = {
        p.attributes["modelroute.outcome"]: p.value for p in otel.points("modelroute.requests")
    }
    assert requests == {"success_after_fallback": 2, "success": 1}
    assert sum(p.count for p in otel.points("modelroute.request.duration")) == 3


def test_metric_attributes_are_low_cardinality(otel: Otel) -> None:
    traffic(otel)
    for name in otel.metrics():
        for point in otel.points(name):
            assert set(point.attributes) <= ALLOWED, name
