"""OTelObserver over real HTTP: Router -> LiteLLMBackend -> the local provider server, with a
fallback firing (m-a answers 503, m-b answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import StatusCode

from modelroute.catalog import Catalog, ModelInfo
from modelroute.provider_server import (
    ModelScript,
    ProviderServer,
    Usage,
    service_unavailable,
)
from modelroute.records import Decision
from modelroute.route import Route
from modelroute.router import Router
from modelroute_litellm import LiteLLMBackend
from otel_helpers import Otel, attrs

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]

KEY = "sk-local-otel-test-51c0"  # a dummy key: the local server accepts any
SCRIPTS = {
    "m-a": ModelScript(answer="unused"),
    "m-b": ModelScript(
        answer="Paris.",
        usage=Usage(prompt_tokens=40, completion_tokens=3),
        reported_model="m-b-2026-01-01",
    ),
}


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


def routed(srv: ProviderServer, otel: Otel) -> Router:
    models = [
        ModelInfo(
            name=name,
            target=f"openai/{name}",
            provider="openai",
            api_base=srv.base_url,
            input_cost_per_token=1e-6,
            output_cost_per_token=4e-6,
        )
        for name in ("m-a", "m-b")
    ]
    return Router(
        [Route("geo", ("m-a", "m-b"))],
        backend=LiteLLMBackend(api_key=KEY),
        catalog=Catalog(models),
        observers=[otel.observer(capture_content=True)],
    )


async def consume(router: Router, mode: str) -> Decision | None:
    if mode == "async":
        return (await router.acomplete("Capital of France?")).decision
    if mode == "astream":
        stream = router.astream("Capital of France?")
        async for _ in stream:
            pass
        return stream.decision
    if mode == "sync":
        return (await asyncio.to_thread(router.complete, "Capital of France?")).decision

    def sync_stream() -> Decision | None:
        stream = router.stream("Capital of France?")
        for _ in stream:
            pass
        return stream.decision

    return await asyncio.to_thread(sync_stream)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
async def test_fallback_over_http_traces_every_attempt(
    provider_server: ProviderServer, otel: Otel, mode: str
) -> None:
    provider_server.set_faults("m-a", [service_unavailable()])
    router = routed(provider_server, otel)
    with otel.tracer.start_as_current_span("web request") as caller:
        before = otel_context.get_current()
        decision = await consume(router, mode)
        assert otel_context.get_current() is before
    assert decision is not None and decision.responding_model == "m-b"
    assert provider_server.calls("m-a") == provider_server.calls("m-b") == 1

    route = otel.route()
    assert route.parent is not None and route.parent.span_id == caller.get_span_context().span_id
    r = attrs(route)
    assert r["modelroute.route"] == "geo"
    assert r["modelroute.fallback.reasons"] == ["unavailable"]
    assert r["modelroute.models.attempted"] == ["m-a", "m-b"]
    assert r["modelroute.response.model"] == "m-b"
    assert r["modelroute.outcome"] == "success_after_fallback"
    assert r["modelroute.cost.usd"] == pytest.approx(40 * 1e-6 + 3 * 4e-6)
    assert not any(k.startswith("gen_ai.") for k in r)

    failed, answered = otel.attempts(route)
    assert failed.status.status_code == StatusCode.ERROR
    f = attrs(failed)
    assert (f["error.type"], f["http.response.status_code"]) == ("ProviderUnavailable", 503)
    assert f["modelroute.fallback.reason"] == "unavailable"
    a = attrs(answered)
    host, port = provider_server.base_url.split("//")[1].split("/")[0].split(":")
    assert a["server.address"] == host and a["server.port"] == int(port)
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "m-b"
    assert a["gen_ai.response.model"] == "m-b-2026-01-01"
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (40, 3)
    assert a["modelroute.cost.usd"] == pytest.approx(r["modelroute.cost.usd"])
    assert "Paris." in a["gen_ai.output.messages"]
    if mode in ("sync", "async"):
        assert str(a["gen_ai.response.id"]).startswith("chatcmpl")
    dumped = str([attrs(s) for s in otel.spans()])
    assert KEY not in dumped
    await provider_server.wait_idle_async()
