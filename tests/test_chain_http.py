"""The foundation's acceptance chain over real HTTP through LiteLLM: A answers 429 with
Retry-After, B answers JSON that breaks the requested schema, C answers well."""

from __future__ import annotations

import pytest

from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import FakeClock
from modelroute.provider_server import ModelScript, ProviderServer, rate_limited
from modelroute.provider_server.faults import ContentOverride
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

GOOD = '{"name": "Ada", "age": 36}'
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
SCRIPTS = {m: ModelScript(answer=GOOD) for m in ("m-a", "m-b", "m-c")}
PRICES = {"m-a": (1.0, 4.0), "m-b": (2.0, 8.0), "m-c": (0.5, 1.5), "m-strong": (5.0, 20.0)}


def router_for(srv: ProviderServer) -> Router:
    catalog = Catalog(
        ModelInfo(
            name,
            provider="local",
            target=f"openai/{name}",
            api_base=srv.base_url,
            input_cost_per_token=inp * 1e-6,
            output_cost_per_token=out * 1e-6,
        )
        for name, (inp, out) in PRICES.items()
    )
    return Router(
        [Route("extract", ("m-a", "m-b", "m-c"))],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=catalog,
        baseline="m-strong",
        clock=FakeClock(),
    )


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_rate_limited_then_invalid_schema_then_ok(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [rate_limited(retry_after=30)])
    srv.set_faults("m-b", [ContentOverride('{"name": "Ada", "age": "thirty-six"}')])
    router = router_for(srv)
    request = Request.of("Extract: Ada, 36", json_schema=SCHEMA)
    out = router.complete(request) if mode == "sync" else await router.acomplete(request)

    assert out.text == GOOD
    d = out.decision
    assert d.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert [a.model for a in d.attempts] == ["m-a", "m-b", "m-c"]
    assert [a.reason or "ok" for a in d.attempts] == [
        "rate_limited",
        "invalid_output:json_schema",
        "ok",
    ]
    assert [a.outcome for a in d.attempts] == [
        AttemptOutcome.ERROR,
        AttemptOutcome.INVALID,
        AttemptOutcome.OK,
    ]
    a, b, c = d.attempts
    assert (a.status_code, a.retry_after_s, a.cost_usd) == (429, 30.0, 0.0)
    for attempt, (inp, outp) in ((b, PRICES["m-b"]), (c, PRICES["m-c"])):
        assert attempt.usage is not None and not attempt.usage.estimated
        assert attempt.usage.input_tokens > 0 and attempt.usage.output_tokens > 0
        expected = (attempt.usage.input_tokens * inp + attempt.usage.output_tokens * outp) * 1e-6
        assert attempt.cost_usd == pytest.approx(expected, abs=1e-12)
    assert d.cost_usd == pytest.approx(b.cost_usd + c.cost_usd, abs=1e-12)
    assert c.baseline_cost_usd is not None and c.baseline_cost_usd > c.cost_usd
    # the server's own log: one call per model, no hidden retries
    assert [srv.calls(m) for m in ("m-a", "m-b", "m-c")] == [1, 1, 1]
