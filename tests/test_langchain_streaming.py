"""Streaming through RouterRunnable and RoutedChatModel over real HTTP: fall back before the
first visible chunk, time-to-first-token and stall limits, a typed error after it, and a
stream the caller abandons still ends with its record."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI

from modelroute.errors import StreamInterrupted
from modelroute.policies import Timeouts
from modelroute.provider_server import (
    ContentOverride,
    ModelScript,
    ProviderServer,
    SlowFirstToken,
    StreamCut,
    StreamStall,
)
from modelroute.records import RequestOutcome
from modelroute.route import Route
from modelroute.sinks import MemorySink
from modelroute_langchain import RoutedChatModel, RouterRunnable
from modelroute_langchain.testing import RunCollector

WORDS = "one two three four five six seven eight nine ten"
SLOW_S = 60.0  # m-a's first token with SlowFirstToken: far past any limit the tests set
SCRIPTS = {name: ModelScript(answer=WORDS if name == "m-a" else None) for name in ("m-a", "m-b")}


def chat(srv: ProviderServer, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key="sk-local", max_retries=0)


def router_for(srv: ProviderServer, sink: MemorySink, **timeouts: float) -> RouterRunnable:
    route = Route("default", ("m-a", "m-b"), timeouts=Timeouts(**timeouts))
    models = {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}
    return RouterRunnable.from_models(models, route=route, sinks=[sink])


def collect(router: RouterRunnable, mode: str, received: list[str]) -> None:
    """Stream "hi" through `mode`, appending each chunk's text to `received`."""
    if mode == "stream":
        for chunk in router.stream("hi"):
            received.append(chunk.text)
        return

    async def go() -> None:
        async for chunk in router.astream("hi"):
            received.append(chunk.text)

    asyncio.run(go())


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_cut_after_the_first_chunk_raises_stream_interrupted(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    srv.set_faults("m-a", [StreamCut(after_chunks=4)])
    received: list[str] = []

    with pytest.raises(StreamInterrupted) as interrupted:
        collect(router_for(srv, sink), mode, received)

    assert received and "".join(received) == interrupted.value.partial_text
    assert WORDS.startswith(interrupted.value.partial_text.strip())
    assert srv.calls("m-b") == 0  # committed: no fallback after the caller saw text
    (decision,) = sink.decisions
    assert decision.outcome == RequestOutcome.INTERRUPTED


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("content", ["", "  \n "])
def test_an_empty_stream_falls_back_before_the_caller_sees_anything(
    provider_server: ProviderServer, mode: str, content: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    srv.set_faults("m-a", [ContentOverride(content=content)])
    received: list[str] = []

    collect(router_for(srv, sink), mode, received)

    assert "".join(received) == "Hello from m-b."  # nothing of m-a's reached the caller
    (decision,) = sink.decisions
    assert decision.fallback_reasons == ("invalid_output:empty",)
    assert srv.calls("m-b") == 1


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_a_slow_first_token_falls_back_within_the_route_limit(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    sink = MemorySink()
    srv.set_faults("m-a", [SlowFirstToken(seconds=SLOW_S)])
    # the limit also bounds m-b's first token: room for a loaded machine
    router = router_for(srv, sink, first_token_s=2.0)
    started = time.monotonic()

    text = "".join([c.text async for c in router.astream("hi")])

    assert text == "Hello from m-b."
    assert time.monotonic() - started < SLOW_S / 2  # gave up on m-a long before it answered
    assert sink.decisions[0].fallback_reasons == ("first_token_timeout",)
    assert await srv.wait_idle_async()
    assert srv.requests("m-a")[0].disconnected


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_a_stall_after_the_first_chunk_raises_stream_interrupted(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    sink = MemorySink()
    srv.set_faults("m-a", [StreamStall(after_chunks=3)])
    # m-a's first chunks must each arrive within the limit: room for a loaded machine
    router = router_for(srv, sink, stall_s=1.0)

    with pytest.raises(StreamInterrupted) as interrupted:
        async for _ in router.astream("hi"):
            pass

    assert interrupted.value.attempts[0].reason == "stream_stalled"
    assert interrupted.value.partial_text
    assert srv.calls("m-b") == 0


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_streams_ask_for_usage_and_end_with_the_decision(provider_server: ProviderServer) -> None:
    srv = provider_server
    sink = MemorySink()
    srv.set_faults("m-a", [503])

    chunks: list[Any] = list(router_for(srv, sink).stream("hi"))

    assert srv.requests("m-b")[0].body["stream_options"] == {"include_usage": True}
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.usage_metadata is not None and merged.usage_metadata["output_tokens"] > 0
    facts = merged.response_metadata["modelroute"]
    assert (facts["requested_model"], facts["fallback_reasons"]) == ("m-b", ["unavailable"])
    ok = sink.decisions[0].attempts[-1]
    assert ok.usage is not None and not ok.usage.estimated


@pytest.mark.parametrize(
    "provider_server", [{"m-a": ModelScript(answer=WORDS, chunk_delay=0.02)}], indirect=True
)
async def test_an_abandoned_facade_stream_ends_its_runs_and_writes_its_record(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    sink = MemorySink()
    model = RoutedChatModel.from_models({"m-a": chat(srv, "m-a")}, sinks=[sink])
    runs = RunCollector()
    received = []

    async with contextlib.aclosing(model.astream("hi", {"callbacks": [runs]})) as stream:
        async for chunk in stream:
            received.append(chunk)
            if len(received) == 3:
                break

    (decision,) = sink.decisions
    assert decision.outcome == RequestOutcome.CANCELLED
    assert {run.name for run in runs.runs} == {"ChatOpenAI", "RoutedChatModel"}
    assert all(run.end_time is not None for run in runs.runs)
    assert await srv.wait_idle_async()
    assert srv.requests("m-a")[0].disconnected
