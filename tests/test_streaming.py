"""Streams fall back only before the first visible chunk; later failures are typed."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from helpers import catalog, collect_stream
from modelroute.catalog import ModelInfo
from modelroute.clock import FakeClock
from modelroute.errors import ProviderUnavailable, StreamBroken, StreamInterrupted
from modelroute.policies import Timeouts
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request, Response, StreamChunk, Usage

MODES = ["sync", "async"]
END = StreamChunk(finish_reason="stop", usage=Usage(10, 5))


class StreamScript:
    """Backend whose streams follow a per-model list of chunks or exceptions."""

    def __init__(self, script: dict[str, list[StreamChunk | Exception]]) -> None:
        self.script = script
        self.calls: list[str] = []

    def _items(self, model: ModelInfo) -> list[StreamChunk | Exception]:
        self.calls.append(model.name)
        return self.script[model.name]

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        for item in self._items(model):
            if isinstance(item, Exception):
                raise item
            yield item

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        for item in self._items(model):
            if isinstance(item, Exception):
                raise item
            yield item

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        raise NotImplementedError

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        raise NotImplementedError


def router_for(script: dict[str, list[StreamChunk | Exception]], **route_kw: object) -> Router:
    route = Route("r1", ("m-a", "m-b"), **route_kw)  # type: ignore[arg-type]
    return Router([route], backend=StreamScript(script), catalog=catalog(), clock=FakeClock())


@pytest.mark.parametrize("mode", MODES)
def test_error_before_first_chunk_falls_back(mode: str) -> None:
    router = router_for(
        {"m-a": [ProviderUnavailable("503", status_code=503)], "m-b": [StreamChunk("hi"), END]}
    )
    chunks, decision = collect_stream(router, mode, "q")
    assert "".join(c.text for c in chunks) == "hi"
    assert decision.responding_model == "m-b"  # type: ignore[attr-defined]
    assert decision.fallback_reasons == ("unavailable",)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_whitespace_only_stream_is_rejected_whole(mode: str) -> None:
    seen: list[str] = []
    router = router_for(
        {"m-a": [StreamChunk(" "), StreamChunk("\n"), END], "m-b": [StreamChunk("real"), END]}
    )
    chunks, decision = collect_stream(router, mode, "q", on_chunk=seen.append)
    assert seen == ["real", ""]  # nothing of the rejected stream reached the caller
    assert decision.fallback_reasons == ("invalid_output:empty",)  # type: ignore[attr-defined]
    assert chunks[-1].usage == Usage(10, 5)


@pytest.mark.parametrize("mode", MODES)
def test_failure_after_first_chunk_raises_interrupted_with_partial_text(mode: str) -> None:
    router = router_for(
        {
            "m-a": [
                StreamChunk("Hello "),
                StreamChunk("wor"),
                StreamBroken("cut", status_code=None),
            ],
            "m-b": [StreamChunk("never"), END],
        }
    )
    with pytest.raises(StreamInterrupted) as info:
        collect_stream(router, mode, "q")
    assert info.value.partial_text == "Hello wor"
    assert info.value.decision.outcome == RequestOutcome.INTERRUPTED
    assert info.value.attempts[-1].outcome == AttemptOutcome.INTERRUPTED
    assert router.backend.calls == ["m-a"]  # type: ignore[attr-defined]


def test_first_token_timeout_falls_back_in_async_streams() -> None:
    class Slow(StreamScript):
        async def astream(
            self, model: ModelInfo, request: Request, *, timeout_s: float | None
        ) -> AsyncIterator[StreamChunk]:
            self.calls.append(model.name)
            if model.name == "m-a":
                await asyncio.sleep(5)
            yield StreamChunk("fast")
            yield END

    route = Route("r1", ("m-a", "m-b"), timeouts=Timeouts(first_token_s=0.05))
    router = Router([route], backend=Slow({}), catalog=catalog(), clock=FakeClock())
    chunks, decision = collect_stream(router, "async", "q")
    assert "".join(c.text for c in chunks) == "fast"
    assert decision.fallback_reasons == ("first_token_timeout",)  # type: ignore[attr-defined]


def test_stall_after_first_chunk_is_interrupted_not_silently_truncated() -> None:
    class Stalls(StreamScript):
        async def astream(
            self, model: ModelInfo, request: Request, *, timeout_s: float | None
        ) -> AsyncIterator[StreamChunk]:
            yield StreamChunk("partial")
            await asyncio.sleep(5)
            yield END

    route = Route("r1", ("m-a", "m-b"), timeouts=Timeouts(stall_s=0.05))
    router = Router([route], backend=Stalls({}), catalog=catalog(), clock=FakeClock())
    with pytest.raises(StreamInterrupted) as info:
        collect_stream(router, "async", "q")
    assert info.value.partial_text == "partial"
    assert info.value.attempts[-1].reason == "stream_stalled"


# -- the caller stops early: a cancellation, recorded (BC-12) --------------------------------

WORDS = [StreamChunk("tok "), StreamChunk("tok "), StreamChunk("tok "), END]


def _stop_after_two(router: Router, mode: str) -> None:
    """Read two chunks, then leave the stream's `with` / `async with` block."""
    if mode == "sync":
        with router.stream("hi") as stream:
            chunks = iter(stream)
            next(chunks), next(chunks)
        return

    async def go() -> None:
        async with router.astream("hi") as stream:
            chunks = stream.__aiter__()
            await anext(chunks), await anext(chunks)

    asyncio.run(go())


@pytest.mark.parametrize("mode", MODES)
def test_leaving_the_block_cancels_with_the_tokens_received_estimated(mode: str) -> None:
    sink = MemorySink()
    router = router_for({"m-a": WORDS, "m-b": WORDS})
    router.sinks = (sink,)
    _stop_after_two(router, mode)
    (decision,) = sink.decisions
    (attempt,) = decision.attempts
    assert decision.outcome == RequestOutcome.CANCELLED
    assert (attempt.model, attempt.outcome, attempt.reason) == (
        "m-a",
        AttemptOutcome.CANCELLED,
        "cancelled",
    )
    usage = attempt.usage
    assert usage is not None and usage.estimated and usage.output_tokens == 2  # "tok tok "
    assert attempt.cost_usd == pytest.approx(usage.input_tokens * 1e-6 + 2 * 4e-6)
    assert router.breakers.get("m-a").snapshot()["consecutive_failures"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_dropped_unread_is_recorded_as_cancelled_without_a_call(mode: str) -> None:
    sink = MemorySink()
    backend = StreamScript({"m-a": WORDS, "m-b": WORDS})
    router = Router([Route("r1", ("m-a",))], backend=backend, catalog=catalog(), clock=FakeClock())
    router.sinks = (sink,)
    stream = router.stream("hi") if mode == "sync" else router.astream("hi")
    del stream
    gc.collect()
    (decision,) = sink.decisions
    assert (decision.outcome, decision.attempts, decision.cost_usd) == (
        RequestOutcome.CANCELLED,
        (),
        0,
    )
    assert backend.calls == []
    read = router.stream("hi")  # a stream read to its end is recorded once, by its end
    assert "".join(c.text for c in read) == "tok tok tok "
    del read
    gc.collect()
    assert [d.outcome for d in sink.decisions] == [RequestOutcome.CANCELLED, RequestOutcome.SUCCESS]
