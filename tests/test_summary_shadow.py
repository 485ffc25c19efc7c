"""Shadow copies stay out of the caller-facing totals but their spend is reported."""

from __future__ import annotations

from helpers import catalog
from modelroute.backend import FakeBackend
from modelroute.report.aggregate import aggregate
from modelroute.report.html import headline
from modelroute.route import Route
from modelroute.router import Router
from modelroute.shadow import Shadow
from modelroute.sinks import MemorySink
from modelroute.summary import summarize
from modelroute.types import Request


def test_shadow_decisions_are_counted_apart_from_requests() -> None:
    sink = MemorySink()
    route = Route("default", ("m-a", "m-b"), shadow=Shadow("m-strong", fraction=1.0))
    router = Router(
        [route],
        backend=FakeBackend(lambda model, request: f"answer from {model.name}"),
        catalog=catalog(),
        sinks=[sink],
        baseline="m-strong",
    )
    for i in range(3):
        router.complete(Request.of(f"question {i}", user=f"u{i}"))
    assert router.drain_shadows(timeout_s=60)
    decisions = list(sink.decisions)
    shadows = [d for d in decisions if d.shadow_of is not None]
    assert len(shadows) == 3 and all(d.responding_model == "m-strong" for d in shadows)

    s = summarize(decisions)
    primary_cost = sum(d.cost_usd for d in decisions if d.shadow_of is None)
    assert (s.requests, s.answered, s.shadow_calls) == (3, 3, 3)
    assert s.cost_usd == primary_cost
    assert s.shadow_cost_usd == sum(d.cost_usd for d in shadows) > 0
    assert s.responding_models == {"m-a": 3}

    data = aggregate(decisions)
    assert data.summary.requests == 3
    assert "m-strong" not in data.route_mix["default"]
    assert any(label.startswith("shadow copies") for label, _ in headline(data))
