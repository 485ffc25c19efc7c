"""Engine overhead per request with no model time, side by side with LiteLLM's Router and
LangChain's `with_fallbacks`.

Every contender answers from memory: modelroute through an in-process backend that returns
at once, `litellm.Router` with `mock_response`, LangChain over `FakeChatModel` (its async
path answers without a thread hop). What a router *adds* is its time minus the bare calls
it makes (the backend call; the failing call plus the answering call when a fallback
fires), computed within each round. The OTel row subtracts the OpenTelemetry SDK's own
cost, measured in the same run by replaying the very spans and metric points the observer
produced straight into an identical SDK setup.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.common import (
    MODELS,
    InstantBackend,
    Scenario,
    catalog,
    interleaved,
    paired,
    stats,
)
from modelroute.breaker import BreakerConfig
from modelroute.errors import ProviderUnavailable
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from modelroute.validators import build_validator

PROMPT = "Summarize the plot of Hamlet in one sentence."
JSON_ANSWER = '{"answer": "A prince avenges his father and everyone dies."}'
VALIDATORS: tuple[str | dict[str, Any], ...] = (
    "non_empty",
    {"min_length": 10},
    "json",
    "no_refusal",
)
NEVER_OPEN = BreakerConfig(failure_threshold=10**9)  # a fallback must fire every time

TARGETS = {
    "ratio_vs_litellm_router": 1 / 100,
    "ratio_vs_langchain_with_fallbacks": 1 / 3,
    "added_us_without_otel": 50.0,
    "otel_own_share_us": 50.0,
}


def _router(
    backend: InstantBackend, *, validators: bool = False, observers: Sequence[object] = ()
) -> Router:
    checks = tuple(build_validator(v, f"validators[{i}]") for i, v in enumerate(VALIDATORS))
    route = Route("chain", MODELS, validators=checks if validators else ())
    return Router(
        [route], backend=backend, catalog=catalog(), breaker=NEVER_OPEN, observers=observers
    )


# -- modelroute -----------------------------------------------------------------------------


def modelroute_scenarios(batch: int) -> list[Scenario]:
    """Bare backend calls, and routed requests through modelroute."""
    request = Request.of(PROMPT)
    ok, failing = InstantBackend(), InstantBackend(failing=frozenset({MODELS[0]}))
    primary, fallback = _router(ok), _router(failing)
    validated = _router(InstantBackend(JSON_ANSWER), validators=True)
    model = primary.catalog.get(MODELS[0])

    async def bare() -> object:
        return await ok.acall(model, request, timeout_s=60.0)

    async def bare_fail() -> object:
        try:
            return await failing.acall(model, request, timeout_s=60.0)
        except ProviderUnavailable as exc:
            return exc

    async def sync_primary() -> object:
        return primary.complete(request)

    return [
        Scenario("mr.bare", bare, batch),
        Scenario("mr.bare_fail", bare_fail, batch),
        Scenario("mr.primary", lambda: primary.acomplete(request), batch),
        Scenario("mr.fallback", lambda: fallback.acomplete(request), batch),
        Scenario("mr.validators", lambda: validated.acomplete(request), batch),
        Scenario("mr.primary_sync", sync_primary, batch),
    ]


def otel_available() -> bool:
    """Whether `modelroute_otel.OTelObserver` and the OTel SDK are importable."""
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        return False
    try:
        from modelroute_otel import OTelObserver  # noqa: F401
    except ImportError:
        return False
    return True


def _otel_providers() -> tuple[Any, Any, Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader


async def otel_scenarios(batch: int) -> list[Scenario]:
    """modelroute with the OTel observer (in-memory span exporter and metric reader), and the
    same spans and metric points written straight into an identical SDK setup."""
    from modelroute_otel import OTelObserver

    tracer_provider, meter_provider, exporter, reader = _otel_providers()
    observer = OTelObserver(tracer_provider, meter_provider, capture_content=False)
    router = _router(InstantBackend(), observers=[observer])
    request = Request.of(PROMPT)
    await router.acomplete(request)
    replay = SdkReplay(exporter.get_finished_spans(), reader.get_metrics_data())

    def clear() -> None:
        exporter.clear()
        replay.exporter.clear()

    async def sdk_only() -> object:
        replay()
        return None

    return [
        Scenario("mr.otel", lambda: router.acomplete(request), batch, before_batch=clear),
        Scenario("otel.sdk", sdk_only, batch, before_batch=clear),
    ]


class SdkReplay:
    """Writes one request's spans and metric points straight into a fresh OTel SDK setup.

    Built from the spans and metrics the observer exported for one request; each call starts
    and ends the same spans (names, kinds, attributes, events, parent, context attach and
    detach of the attempt span) and records the same metric points.
    """

    def __init__(self, spans: Sequence[Any], metrics: Any) -> None:
        tracer_provider, meter_provider, self.exporter, _ = _otel_providers()
        self._tracer = tracer_provider.get_tracer("replay")
        meter = meter_provider.get_meter("replay")
        self._spans = sorted(spans, key=lambda s: s.start_time)
        self._points: list[tuple[Callable[..., None], float, Mapping[str, Any]]] = []
        for resource in metrics.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    histogram = type(metric.data).__name__ == "Histogram"
                    instrument = (
                        meter.create_histogram(metric.name).record
                        if histogram
                        else meter.create_counter(metric.name).add
                    )
                    for point in metric.data.data_points:
                        value = point.sum / max(point.count, 1) if histogram else point.value
                        repeats = point.count if histogram else 1
                        self._points += [(instrument, value, dict(point.attributes))] * repeats

    @property
    def span_count(self) -> int:
        """Spans written per request."""
        return len(self._spans)

    @property
    def metric_points(self) -> int:
        """Metric measurements recorded per request."""
        return len(self._points)

    def __call__(self) -> None:
        from opentelemetry import context, trace

        root, *children = self._spans
        route = self._tracer.start_span(root.name, kind=root.kind, attributes=root.attributes)
        parent = trace.set_span_in_context(route)
        for child in children:
            span = self._tracer.start_span(
                child.name, context=parent, kind=child.kind, attributes=child.attributes
            )
            token = context.attach(trace.set_span_in_context(span))
            for event in child.events:
                span.add_event(event.name, event.attributes)
            span.end()
            context.detach(token)
        for event in root.events:
            route.add_event(event.name, event.attributes)
        route.end()
        for record, value, attributes in self._points:
            record(value, attributes)


# -- LiteLLM --------------------------------------------------------------------------------


def litellm_scenarios(batch: int) -> list[Scenario]:
    """`litellm.acompletion` with `mock_response`, and `litellm.Router` over the same three
    models (fallbacks m-a -> m-b -> m-c, no retries, no cooldowns), primary answering or
    failing (`mock_testing_fallbacks`, LiteLLM's own way to make a fallback fire)."""
    import litellm
    from litellm.router import Router as LiteLLMRouter

    litellm.suppress_debug_info = True  # type: ignore[attr-defined]
    deployments = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_key": "sk-bench-not-a-key",
                "mock_response": "ok",
            },
        }
        for name in MODELS
    ]
    router = LiteLLMRouter(
        model_list=deployments,
        fallbacks=[{MODELS[0]: list(MODELS[1:])}],
        num_retries=0,
        disable_cooldowns=True,
    )
    messages = [{"role": "user", "content": PROMPT}]

    def direct() -> Any:
        return litellm.acompletion(
            model=f"openai/{MODELS[0]}",
            messages=messages,
            api_key="sk-bench-not-a-key",
            mock_response="ok",
        )

    return [
        Scenario("litellm.direct", direct, batch),
        Scenario(
            "litellm.router", lambda: router.acompletion(model=MODELS[0], messages=messages), batch
        ),
        Scenario(
            "litellm.router_fallback",
            lambda: router.acompletion(
                model=MODELS[0], messages=messages, mock_testing_fallbacks=True
            ),
            batch,
        ),
    ]


# -- LangChain ------------------------------------------------------------------------------


def langchain_scenarios(batch: int) -> list[Scenario]:
    """`FakeChatModel.ainvoke` alone, failing alone, and under `with_fallbacks` over two more
    fake models, with the primary answering or failing."""
    from langchain_core.language_models.fake_chat_models import FakeChatModel
    from langchain_core.outputs import ChatResult

    class FailingChatModel(FakeChatModel):
        """A fake chat model whose every call fails (a provider outage)."""

        async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise ConnectionError("503 overloaded")

    primary, failing = FakeChatModel(), FailingChatModel()
    fallbacks = [FakeChatModel(), FakeChatModel()]
    chain, broken = primary.with_fallbacks(fallbacks), failing.with_fallbacks(fallbacks)

    async def bare_fail() -> object:
        try:
            return await failing.ainvoke(PROMPT)
        except ConnectionError as exc:
            return exc

    return [
        Scenario("lc.bare", lambda: primary.ainvoke(PROMPT), batch),
        Scenario("lc.bare_fail", bare_fail, batch),
        Scenario("lc.with_fallbacks", lambda: chain.ainvoke(PROMPT), batch),
        Scenario("lc.with_fallbacks_fallback", lambda: broken.ainvoke(PROMPT), batch),
    ]


# -- the benchmark --------------------------------------------------------------------------

DERIVED: dict[str, Callable[[Mapping[str, float]], float]] = {
    "mr.added_primary_us": lambda r: r["mr.primary"] - r["mr.bare"],
    "mr.added_fallback_us": lambda r: r["mr.fallback"] - r["mr.bare_fail"] - r["mr.bare"],
    "mr.added_validators_us": lambda r: r["mr.validators"] - r["mr.bare"],
    "mr.added_primary_sync_us": lambda r: r["mr.primary_sync"] - r["mr.bare"],
    "litellm.router_layer_us": lambda r: r["litellm.router"] - r["litellm.direct"],
    "lc.added_primary_us": lambda r: r["lc.with_fallbacks"] - r["lc.bare"],
    "lc.added_fallback_us": lambda r: (
        r["lc.with_fallbacks_fallback"] - r["lc.bare_fail"] - r["lc.bare"]
    ),
    "mr.otel_added_us": lambda r: r["mr.otel"] - r["mr.primary"],
    "mr.otel_own_share_us": lambda r: r["mr.otel"] - r["mr.primary"] - r["otel.sdk"],
    "ratio.primary_vs_litellm_router": lambda r: (
        (r["mr.primary"] - r["mr.bare"]) / r["litellm.router"]
    ),
    "ratio.fallback_vs_litellm_router": lambda r: (
        (r["mr.fallback"] - r["mr.bare_fail"] - r["mr.bare"]) / r["litellm.router_fallback"]
    ),
    "ratio.primary_vs_langchain": lambda r: (
        (r["mr.primary"] - r["mr.bare"]) / (r["lc.with_fallbacks"] - r["lc.bare"])
    ),
    "ratio.fallback_vs_langchain": lambda r: (
        (r["mr.fallback"] - r["mr.bare_fail"] - r["mr.bare"])
        / (r["lc.with_fallbacks_fallback"] - r["lc.bare_fail"] - r["lc.bare"])
    ),
}


async def measure(quick: bool = False) -> dict[str, Any]:
    """Run every scenario in interleaved rounds; return raw per-round samples (µs per call),
    their statistics, the derived figures (computed within each round) and target checks."""
    rounds = 5 if quick else 11
    fast, slow = (200, 10) if quick else (1000, 25)
    scenarios = modelroute_scenarios(fast)
    notes = []
    if otel_available():
        scenarios += await otel_scenarios(fast // 2)
    else:
        notes.append("OTel rows skipped: modelroute_otel.OTelObserver is not importable")
    scenarios += litellm_scenarios(slow)
    scenarios += langchain_scenarios(fast // 4)
    samples = await interleaved(scenarios, rounds)
    derived = {}
    for name, combine in DERIVED.items():
        try:
            derived[name] = stats(paired(samples, combine))
        except KeyError:  # a row that was skipped
            continue
    return {
        "rounds": rounds,
        "batches": {s.name: s.batch for s in scenarios},
        "per_call_us": {name: stats(values) for name, values in samples.items()},
        "derived": derived,
        "targets": _targets(derived),
        "samples_us": samples,
        "notes": notes,
    }


def _targets(derived: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    def check(figure: str, limit: float) -> dict[str, Any]:
        value = derived.get(figure, {}).get("median")
        return {
            "figure": figure,
            "median": value,
            "limit": limit,
            "met": value is not None and value <= limit,
        }

    return {
        "primary_vs_litellm_router": check(
            "ratio.primary_vs_litellm_router", TARGETS["ratio_vs_litellm_router"]
        ),
        "fallback_vs_litellm_router": check(
            "ratio.fallback_vs_litellm_router", TARGETS["ratio_vs_litellm_router"]
        ),
        "primary_vs_langchain": check(
            "ratio.primary_vs_langchain", TARGETS["ratio_vs_langchain_with_fallbacks"]
        ),
        "fallback_vs_langchain": check(
            "ratio.fallback_vs_langchain", TARGETS["ratio_vs_langchain_with_fallbacks"]
        ),
        "added_without_otel": check("mr.added_primary_us", TARGETS["added_us_without_otel"]),
        "otel_own_share": check("mr.otel_own_share_us", TARGETS["otel_own_share_us"]),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The overhead benchmark's results (see `measure`)."""
    import asyncio

    return asyncio.run(measure(quick))


def summary(result: Mapping[str, Any]) -> list[str]:
    """Lines for the console summary."""
    per_call, derived = result["per_call_us"], result["derived"]

    def med(key: str) -> str:
        table = derived if key in derived else per_call
        return f"{table[key]['median']:.1f}" if key in table else "n/a"

    lines = [
        f"overhead (median of {result['rounds']} rounds, µs per request)",
        f"  modelroute added: primary {med('mr.added_primary_us')}, "
        f"one fallback {med('mr.added_fallback_us')}, "
        f"validators {med('mr.added_validators_us')}, sync {med('mr.added_primary_sync_us')}",
        f"  OTel: added {med('mr.otel_added_us')}, SDK replay {med('otel.sdk')}, "
        f"own share {med('mr.otel_own_share_us')}",
        f"  litellm.Router {med('litellm.router')} (fallback {med('litellm.router_fallback')}), "
        f"acompletion alone {med('litellm.direct')}",
        f"  LangChain with_fallbacks added {med('lc.added_primary_us')} "
        f"(fallback {med('lc.added_fallback_us')})",
    ]
    for name, target in result["targets"].items():
        value = target["median"]
        shown = "n/a" if value is None else f"{value:.4g}"
        verdict = "ok" if target["met"] else "MISSED"
        lines.append(f"  target {name}: {shown} <= {target['limit']:.4g} {verdict}")
    lines += [f"  note: {n}" for n in result["notes"]]
    return lines
