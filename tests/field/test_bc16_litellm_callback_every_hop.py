"""BC-16: the LiteLLM callback sees context-window fallbacks and every failed hop.

A `litellm.Router` (LiteLLM 1.110.2, the pinned version) pointed at the local provider server,
with modelroute's `ModelrouteCallback` in `litellm.callbacks` (no modelroute routing: LiteLLM
routes, modelroute records). Groups `small` = openai/m-small (4k context), `big` =
openai/m-big, `x`/`y`/`z` = openai/m-x, m-y, m-z; context-window fallbacks {small: [big]},
generic fallbacks {x: [y, z]}. Faults: m-small 400 `context_length_exceeded`, m-x 500,
m-y 503; m-big and m-z answer. R1 goes to `small` with a ~6k-token prompt, R2 to `x`.

The server's request log, not modelroute's record, counts the calls. Case labels ->
modelroute: `context_window` -> `context_window`, `server_error` -> `unavailable` (the
5xx class), `ok` -> no reason. The OTel check uses modelroute's `OTelObserver` as the
callback's observer, with in-memory exporters. The offline variant replaces the server with
LiteLLM's `mock_response` (500 and 503 both mock as LiteLLM's `InternalServerError`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from litellm_helpers import (
    LITELLM_NOISE,
    adecisions,
    deployment,
    restored_callbacks,
    router,
)
from modelroute.provider_server import (
    ModelScript,
    ProviderServer,
    Usage,
    context_length_exceeded,
    server_error,
    service_unavailable,
)
from modelroute.records import AttemptOutcome, Decision, RequestOutcome
from modelroute.sinks import MemorySink
from modelroute_litellm.callback import ModelrouteCallback
from otel_helpers import Otel

pytestmark = LITELLM_NOISE


@pytest.fixture
def clean_litellm() -> Iterator[None]:
    """LiteLLM's callback lists as they were, after the test."""
    with restored_callbacks():
        yield


SCRIPTS = {
    "m-small": ModelScript(fault=context_length_exceeded(max_tokens=4096, requested=6004)),
    "m-big": ModelScript(
        answer="big answer", usage=Usage(prompt_tokens=6004, completion_tokens=50)
    ),
    "m-x": ModelScript(fault=server_error(500)),
    "m-y": ModelScript(fault=service_unavailable()),
    "m-z": ModelScript(answer="z answer", usage=Usage(prompt_tokens=10, completion_tokens=5)),
}
LONG_PROMPT = "word " * 6000  # ~6k tokens, more than m-small's 4k window
FALLBACKS = {"fallbacks": [{"x": ["y", "z"]}], "context_window_fallbacks": [{"small": ["big"]}]}


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


@pytest.fixture
def recorded(otel: Otel, clean_litellm: None) -> MemorySink:
    """modelroute's callback in LiteLLM's callbacks, feeding a sink and the OTel observer."""
    import litellm

    sink = MemorySink()
    litellm.callbacks = [ModelrouteCallback(sinks=[sink], observers=[otel.observer()])]
    return sink


async def send(llm_router: Any, mode: str, group: str, text: str, trace_id: str) -> Any:
    kwargs = {
        "model": group,
        "messages": [{"role": "user", "content": text}],
        "litellm_trace_id": trace_id,
    }
    if mode == "async":
        return await llm_router.acompletion(**kwargs)
    return await asyncio.to_thread(llm_router.completion, **kwargs)


def check_records(r1: Decision, r2: Decision, cost1: float, cost2: float) -> None:
    assert [(a.model, a.outcome, a.reason, a.cost_usd) for a in r1.attempts] == [
        ("openai/m-small", AttemptOutcome.ERROR, "context_window", 0.0),
        ("openai/m-big", AttemptOutcome.OK, None, cost1),
    ]
    assert [(a.model, a.reason) for a in r2.attempts] == [
        ("openai/m-x", "unavailable"),
        ("openai/m-y", "unavailable"),
        ("openai/m-z", None),
    ]
    assert [h["fallback_depth"] for h in r2.extra["litellm"]["hops"]] == [0, 1, 2]
    for decision, cost in ((r1, cost1), (r2, cost2)):
        assert sum(a.outcome == AttemptOutcome.OK for a in decision.attempts) == 1
        assert decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
        assert decision.cost_usd == cost > 0  # the served attempt's cost is LiteLLM's own


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_every_hop_and_the_context_window_fallback_are_recorded(
    provider_server: ProviderServer, recorded: MemorySink, otel: Otel, mode: str
) -> None:
    url = provider_server.base_url
    groups = [("small", "m-small"), ("big", "m-big"), ("x", "m-x"), ("y", "m-y"), ("z", "m-z")]
    model_list = [
        deployment(g, m, url, max_input_tokens=4096 if m == "m-small" else 128_000)
        for g, m in groups
    ]
    llm_router = router(model_list, **FALLBACKS)

    out1 = await send(llm_router, mode, "small", LONG_PROMPT, f"bc16-r1-{mode}")
    out2 = await send(llm_router, mode, "x", "hello", f"bc16-r2-{mode}")
    r1, r2 = await adecisions(recorded, 2)

    assert out1.choices[0].message.content == "big answer"
    assert out2.choices[0].message.content == "z answer"
    # the server's log is the source of truth for calls
    assert {m: provider_server.calls(m) for _, m in groups} == dict.fromkeys(
        ("m-small", "m-big", "m-x", "m-y", "m-z"), 1
    )
    # one decision per logical request, keyed by LiteLLM's per-request trace id
    assert (r1.request_id, r2.request_id) == (f"bc16-r1-{mode}", f"bc16-r2-{mode}")
    check_records(
        r1, r2, out1._hidden_params["response_cost"], out2._hidden_params["response_cost"]
    )
    assert r1.attempts[0].status_code == 400
    assert [a.status_code for a in r2.attempts] == [500, 503, None]

    # OTel: one request span per request, with 2 and 3 attempt children, each in one trace
    routes = sorted(otel.routes(), key=lambda s: s.start_time or 0)
    assert len(routes) == 2
    assert [len(otel.attempts(route)) for route in routes] == [2, 3]
    traces = {s.context.trace_id for s in otel.spans() if s.context is not None}
    assert len(traces) == 2
    for route in routes:
        assert route.context is not None
        kids = otel.attempts(route)
        assert {k.context.trace_id for k in kids if k.context} == {route.context.trace_id}


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_offline_variant_with_litellm_mock_responses(recorded: MemorySink, mode: str) -> None:
    mocks = {
        "m-small": "litellm.ContextWindowExceededError",
        "m-big": "big answer",
        "m-x": "litellm.InternalServerError",
        "m-y": "litellm.InternalServerError",
        "m-z": "z answer",
    }
    model_list = []
    for group, model in (("small", "m-small"), ("big", "m-big"), ("x", "m-x"), ("y", "m-y")):
        model_list.append(deployment(group, model, "http://127.0.0.1:9/v1"))
    model_list.append(deployment("z", "m-z", "http://127.0.0.1:9/v1"))
    for entry in model_list:
        model = entry["litellm_params"]["model"].split("/", 1)[1]
        entry["litellm_params"]["mock_response"] = mocks[model]
    llm_router = router(model_list, **FALLBACKS)

    out1 = await send(llm_router, mode, "small", LONG_PROMPT, f"bc16-off-r1-{mode}")
    out2 = await send(llm_router, mode, "x", "hello", f"bc16-off-r2-{mode}")
    r1, r2 = await adecisions(recorded, 2)
    assert (r1.request_id, r2.request_id) == (f"bc16-off-r1-{mode}", f"bc16-off-r2-{mode}")
    check_records(
        r1, r2, out1._hidden_params["response_cost"], out2._hidden_params["response_cost"]
    )
