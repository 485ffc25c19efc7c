"""`ModelrouteCallback`: LiteLLM calls (plain and through `litellm.Router`) become modelroute
records. Real HTTP to the local provider server, whose request log counts the calls; one
test replays vcrpy cassettes (cassettes/litellm_integration/README.md)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litellm_helpers import (
    KEY,
    LITELLM_NOISE,
    adecisions,
    deployment,
    restored_callbacks,
    router,
)
from modelroute.breaker import BreakerConfig, BreakerRegistry
from modelroute.catalog import ModelInfo
from modelroute.clock import FakeClock
from modelroute.errors import ProviderUnavailable, RateLimited
from modelroute.provider_server import (
    ModelScript,
    ProviderServer,
    Usage,
    context_length_exceeded,
    rate_limited,
    server_error,
    service_unavailable,
)
from modelroute.records import AttemptOutcome, Decision, RequestOutcome
from modelroute.sinks import JsonlSink, MemorySink
from modelroute.types import Response
from modelroute.types import Usage as TokenUsage
from modelroute_litellm.callback import ModelrouteCallback
from modelroute_litellm.recorder import CallFacts, TraceRecorder

pytestmark = LITELLM_NOISE


@pytest.fixture
def clean_litellm() -> Iterator[None]:
    """LiteLLM's callback lists as they were, after the test."""
    with restored_callbacks():
        yield


CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "litellm_integration"
BILLED = Usage(prompt_tokens=400, completion_tokens=200)
PAIR = {"m-a": ModelScript(), "m-b": ModelScript(usage=BILLED, reported_model="m-b-2026-01-15")}


@pytest.fixture(params=["async", "sync"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def ask(target: Any, mode: str, **kwargs: Any) -> Any:
    """`target.acompletion`, or the sync `completion` in a worker thread."""
    if mode == "async":
        return await target.acompletion(**kwargs)
    return await asyncio.to_thread(target.completion, **kwargs)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def callback(sink: MemorySink, clean_litellm: None) -> Iterator[ModelrouteCallback]:
    """A callback in `litellm.callbacks` for this test only."""
    import litellm

    cb = ModelrouteCallback(sinks=[sink])
    litellm.callbacks = [cb]
    yield cb


def hi() -> list[dict[str, str]]:
    return [{"role": "user", "content": "hi"}]


def pair_router(srv: ProviderServer, **settings: Any) -> Any:
    url = srv.base_url
    return router(
        [deployment("primary", "m-a", url), deployment("backup", "m-b", url)],
        fallbacks=[{"primary": ["backup"]}],
        **settings,
    )


# -- one fallback --------------------------------------------------------------------------


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_429_on_primary_falls_back_and_records_rate_limited_and_the_fallback_cost(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink, mode: str
) -> None:
    provider_server.set_faults("m-a", [rate_limited(retry_after=7)])
    response = await ask(pair_router(provider_server), mode, model="primary", messages=hi())
    (decision,) = await adecisions(sink, 1)

    litellm_cost = response._hidden_params["response_cost"]
    assert litellm_cost == pytest.approx(400 * 2e-6 + 200 * 8e-6, abs=1e-12)  # m-b's prices
    limited, served = decision.attempts
    assert (limited.model, limited.outcome, limited.reason) == (
        "openai/m-a",
        AttemptOutcome.ERROR,
        "rate_limited",
    )
    assert (limited.status_code, limited.retry_after_s, limited.cost_usd) == (429, 7.0, 0.0)
    assert limited.error_type == "RateLimited" and limited.usage is None
    assert (served.model, served.outcome, served.reason) == ("openai/m-b", AttemptOutcome.OK, None)
    assert served.cost_usd == litellm_cost
    assert served.usage == TokenUsage(400, 200)
    assert served.response_model == "m-b-2026-01-15"
    assert decision.cost_usd == litellm_cost  # every attempt summed: the failed one cost 0
    assert decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert decision.responding_model == "openai/m-b"
    assert decision.request_id == decision.extra["litellm"]["trace_id"]
    assert [h["fallback_depth"] for h in decision.extra["litellm"]["hops"]] == [0, 1]
    assert decision.fallback_reasons == ("rate_limited",)
    assert (provider_server.calls("m-a"), provider_server.calls("m-b")) == (1, 1)


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_router_call_with_one_fallback_lists_both_attempts_and_totals_match_litellm(
    provider_server: ProviderServer, clean_litellm: None, tmp_path: Path
) -> None:
    import litellm

    sink = MemorySink()
    log = tmp_path / "decisions.jsonl"
    litellm.callbacks = [ModelrouteCallback(sinks=[sink, JsonlSink(log)])]
    provider_server.set_faults("m-a", [service_unavailable()])
    response = await pair_router(provider_server).acompletion(model="primary", messages=hi())
    (decision,) = await adecisions(sink, 1)

    failed, served = decision.attempts
    assert (failed.reason, failed.status_code, failed.usage, failed.cost_usd) == (
        "unavailable",
        503,
        None,
        0.0,
    )
    assert served.usage is not None
    assert (served.usage.input_tokens, served.usage.output_tokens) == (400, 200)
    assert served.cost_usd == pytest.approx(0.0024, abs=1e-12)
    assert decision.cost_usd == response._hidden_params["response_cost"]
    (line,) = log.read_text(encoding="utf-8").splitlines()
    logged = json.loads(line)
    assert logged["type"] == "decision"
    assert logged["fallback_reasons"] == ["unavailable"]
    assert logged["cost_usd"] == decision.cost_usd
    assert KEY not in log.read_text(encoding="utf-8")


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_a_context_window_error_goes_to_the_larger_model(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink, mode: str
) -> None:
    url = provider_server.base_url
    llm_router = router(
        [deployment("small", "m-a", url), deployment("big", "m-b", url)],
        context_window_fallbacks=[{"small": ["big"]}],
    )
    provider_server.set_faults("m-a", [context_length_exceeded()])
    await ask(llm_router, mode, model="small", messages=hi())
    (decision,) = await adecisions(sink, 1)
    assert [(a.model, a.reason, a.status_code, a.cost_usd > 0) for a in decision.attempts] == [
        ("openai/m-a", "context_window", 400, False),
        ("openai/m-b", None, None, True),
    ]
    assert decision.route == "small"
    assert (provider_server.calls("m-a"), provider_server.calls("m-b")) == (1, 1)


@pytest.mark.parametrize(
    "provider_server",
    [{"m-a": ModelScript(fault=server_error(500)), "m-b": ModelScript(fault=server_error(502))}],
    indirect=True,
)
async def test_exhausted_fallbacks_end_the_request_without_waiting(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink
) -> None:
    with pytest.raises(Exception, match="error while processing"):
        await pair_router(provider_server).acompletion(model="primary", messages=hi())
    (decision,) = await adecisions(sink, 1)  # LiteLLM's failed-fallback event ended it
    assert decision.outcome == RequestOutcome.EXHAUSTED
    assert [(a.model, a.status_code) for a in decision.attempts] == [
        ("openai/m-a", 500),
        ("openai/m-b", 502),
    ]
    assert decision.responding_model is None and decision.cost_usd == 0.0


# -- retries, streams, plain calls ---------------------------------------------------------


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_litellm_retries_are_attempts_of_the_same_model(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink
) -> None:
    provider_server.set_faults("m-a", [service_unavailable()])
    llm_router = pair_router(provider_server, num_retries=1, retry_after=0)
    await llm_router.acompletion(model="primary", messages=hi())
    (decision,) = await adecisions(sink, 1)
    assert [(a.model, a.retry, a.reason) for a in decision.attempts] == [
        ("openai/m-a", 0, "unavailable"),
        ("openai/m-a", 1, None),
    ]
    assert provider_server.calls("m-a") == 2


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_a_streamed_answer_is_recorded_with_its_usage_and_cost(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink
) -> None:
    stream = await pair_router(provider_server).acompletion(
        model="backup", messages=hi(), stream=True, stream_options={"include_usage": True}
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    (decision,) = await adecisions(sink, 1)
    (attempt,) = decision.attempts
    assert text == "Hello from m-b."
    assert decision.stream is True
    assert attempt.usage is not None and attempt.usage.output_tokens == 200
    assert attempt.cost_usd == pytest.approx(0.0024, abs=1e-12)
    assert attempt.ttft_s is not None


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_plain_litellm_calls_are_recorded_and_a_failure_ends_at_once(
    provider_server: ProviderServer, callback: ModelrouteCallback, sink: MemorySink, mode: str
) -> None:
    import litellm

    call = {"model": "openai/m-b", "api_base": provider_server.base_url, "api_key": KEY}
    prices = {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}
    await ask(litellm, mode, messages=hi(), **call, **prices)
    provider_server.set_faults("m-b", [service_unavailable()])
    with pytest.raises(Exception, match="overloaded"):
        await ask(litellm, mode, messages=hi(), **call, num_retries=0)
    ok, failed = await adecisions(sink, 2)
    assert (ok.route, ok.strategy, ok.outcome) == ("openai/m-b", "litellm", RequestOutcome.SUCCESS)
    assert ok.attempts[0].cost_usd == pytest.approx(0.0024, abs=1e-12)
    assert failed.outcome == RequestOutcome.EXHAUSTED
    assert [a.reason for a in failed.attempts] == ["unavailable"]


@pytest.mark.parametrize(
    "provider_server", [{"m-a": ModelScript(fault=service_unavailable())}], indirect=True
)
async def test_breakers_are_fed_without_the_strategy(
    provider_server: ProviderServer, sink: MemorySink, clean_litellm: None
) -> None:
    import litellm

    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2))
    litellm.callbacks = [ModelrouteCallback(sinks=[sink], breakers=breakers)]
    call = {"model": "openai/m-a", "api_base": provider_server.base_url, "api_key": KEY}
    for _ in range(2):
        with pytest.raises(Exception, match="overloaded"):
            await litellm.acompletion(messages=hi(), num_retries=0, **call)
    await adecisions(sink, 2)
    assert breakers.get("openai/m-a").snapshot()["state"] == "open"


@pytest.mark.parametrize("provider_server", [PAIR], indirect=True)
async def test_a_failing_sink_never_reaches_the_caller(
    provider_server: ProviderServer, clean_litellm: None, caplog: pytest.LogCaptureFixture
) -> None:
    import litellm

    class Broken:
        def emit(self, decision: Decision) -> None:
            raise RuntimeError("sink down")

    good = MemorySink()
    litellm.callbacks = [ModelrouteCallback(sinks=[Broken(), good])]
    response = await pair_router(provider_server).acompletion(model="backup", messages=hi())
    assert response.choices[0].message.content == "Hello from m-b."
    await adecisions(good, 1)
    assert "sink down" in caplog.text


# -- cassettes -----------------------------------------------------------------------------


@pytest.fixture
def cassette_target(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Any]]:
    """(record mode, api_base, server or None): records against the live local server with
    `MODELROUTE_RECORD=1`, else replays with nothing listening at the address."""
    if os.environ.get("MODELROUTE_RECORD") == "1":
        srv = ProviderServer(PAIR)
        with srv.running():
            yield "all", srv.base_url, srv
    else:
        yield "none", "http://127.0.0.1:9/v1", None  # discard port: a leak fails to connect


async def test_cassette_replay_of_a_router_fallback(
    cassette_target: tuple[str, str, Any], callback: ModelrouteCallback, sink: MemorySink, mode: str
) -> None:
    """Sync calls go through httpx, async ones through LiteLLM's aiohttp transport; vcrpy
    intercepts both, so both replay offline."""
    import vcr

    record_mode, api_base, srv = cassette_target
    if srv is not None:
        srv.set_faults("m-a", [rate_limited(retry_after=7)])
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        match_on=["method", "scheme", "host", "path"],
        filter_headers=["authorization", "api-key", "x-api-key"],
        decode_compressed_response=True,
    )
    llm_router = router(
        [deployment("primary", "m-a", api_base), deployment("backup", "m-b", api_base)],
        fallbacks=[{"primary": ["backup"]}],
    )
    name = f"router_fallback_{mode}.yaml"
    with recorder.use_cassette(name) as cassette:
        await ask(llm_router, mode, model="primary", messages=hi())
    (decision,) = await adecisions(sink, 1)
    assert [(a.model, a.reason) for a in decision.attempts] == [
        ("openai/m-a", "rate_limited"),
        ("openai/m-b", None),
    ]
    assert decision.cost_usd == pytest.approx(0.0024, abs=1e-12)
    assert cassette.play_count == (0 if record_mode == "all" else 2)
    stored = (CASSETTES / name).read_text(encoding="utf-8")
    assert KEY not in stored and "authorization" not in stored.lower()


# -- the recorder alone (no LiteLLM): ordering, duplicates, end of a silent failure ---------


def facts(call: str, model: str = "openai/m-a", group: str | None = "g") -> CallFacts:
    return CallFacts("t1", call, model, ModelInfo(model, provider="openai"), group=group)


def test_a_late_failure_report_is_waited_for_and_duplicates_are_dropped() -> None:
    sink = MemorySink()
    rec = TraceRecorder(sinks=[sink], clock=FakeClock())
    rec.begin(facts("c1"))
    rec.begin(facts("c2", "openai/m-b"))
    answer = Response("ok", usage=TokenUsage(10, 5))
    rec.succeeded(facts("c2", "openai/m-b"), answer, cost_usd=0.5)
    assert sink.decisions == []  # c1 has not reported its end yet
    error = ProviderUnavailable("503", status_code=503)
    rec.failed(facts("c1"), error)
    rec.failed(facts("c1"), error)  # the same hop on a second LiteLLM path
    (decision,) = sink.decisions
    assert [(a.index, a.model, a.reason) for a in decision.attempts] == [
        (0, "openai/m-a", "unavailable"),
        (1, "openai/m-b", None),
    ]
    rec.failed(facts("c1"), error)  # a very late report opens nothing new
    assert rec.flush() == 0 and len(sink.decisions) == 1


def test_a_failed_request_without_an_end_signal_is_recorded_after_settle_s() -> None:
    sink = MemorySink()
    clock = FakeClock()
    rec = TraceRecorder(sinks=[sink], clock=clock, settle_s=30.0)
    rec.begin(facts("c1"))
    rec.failed(facts("c1"), RateLimited("429", status_code=429))
    clock.advance(29.0)
    rec.begin(CallFacts("t2", "c9", "openai/m-c", ModelInfo("openai/m-c")))
    assert sink.decisions == []
    clock.advance(1.0)
    rec.succeeded(
        CallFacts("t2", "c9", "openai/m-c", ModelInfo("openai/m-c")), Response("x"), cost_usd=0.0
    )
    first, second = sink.decisions
    assert (first.request_id, first.outcome) == ("t2", RequestOutcome.SUCCESS)
    assert (second.request_id, second.outcome) == ("t1", RequestOutcome.EXHAUSTED)
    assert second.fallback_reasons == ("rate_limited",)
