"""BC-12: a stream the caller abandons early still ends its spans and writes its record.

Route [m-a]; m-a streams 50 chunks of one token ("tok "), 20 ms apart, usage (10 in / 50
out) on the last chunk. Spans go to an in-memory exporter through modelroute's
`OTelObserver`, and a span processor counts starts and ends. One request per exit path:
1 async `break` then `aclose()`, 2 leaving an `async with` block, 3 the sync stream's
`close()`, 4 a stream created and dropped unread, 5 a stream dropped after 3 chunks, 6 the
LangChain facade's `astream` (over LangChain's `ChatOpenAI`) left after 3 chunks, 7 the
consuming task cancelled, 8 read to the end (control). Paths 1-3 and 5-7 stop after 3 chunks.

Case labels -> modelroute: the attempt outcome `cancelled` is `modelroute.attempt.outcome`
(`AttemptOutcome.CANCELLED`, reason `cancelled`), `ok` is `ok`. Output tokens of a stopped
stream were never reported by the provider: they are estimated from the text received (one
per chunk here), flagged, and on the span as `modelroute.usage.estimated.output_tokens`;
path 8's reported count is `gen_ai.usage.output_tokens`. Path 4 sends nothing (the server log
has no request and so no disconnect): its record is a cancelled request with no attempt and
cost 0, its trace one route span and no attempt span (there was no call to trace), which is
how we read "one attempt span per request" and "a disconnect for paths 1-7" for it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from langchain_openai import ChatOpenAI
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from field_routing import FILTERS, KEY, catalog, make_router
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.records import AttemptOutcome, Decision, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute_langchain import RoutedChatModel
from otel_helpers import ROUTE_PREFIX, Otel, attrs

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

CHUNKS = 50
SCRIPTS = {
    "m-a": ModelScript(
        answer="tok " * CHUNKS,
        chunks=CHUNKS,
        chunk_delay=0.02,
        usage=Usage(prompt_tokens=10, completion_tokens=CHUNKS),
    )
}
STOP_AFTER = 3
WITHIN_S = 1.15  # "within 1 s", with the case's 150 ms clock tolerance
PROMPT_TOKENS = 5  # the catalog's estimate for "hi": ceil(2 / 4) + 4 per message
PRICE_IN, PRICE_OUT = 1e-6, 4e-6  # m-a


class CountingProcessor(SpanProcessor):
    """Counts every span started and ended, exported or not."""

    def __init__(self) -> None:
        self.started = 0
        self.ended = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


class Scene:
    """The router, the facade, their shared sink and telemetry, and the server."""

    def __init__(self, srv: ProviderServer, otel: Otel, counting: CountingProcessor) -> None:
        self.srv, self.otel, self.counting = srv, otel, counting
        self.sink = MemorySink()
        observer = otel.observer()
        self.router: Router = make_router(
            srv, [Route("r", ("m-a",))], names=("m-a",), observers=[observer]
        ).router
        self.router.sinks = (self.sink,)
        chat = ChatOpenAI(model="m-a", base_url=srv.base_url, api_key=KEY, max_retries=0)
        self.facade = RoutedChatModel.from_models(
            {"m-a": chat}, catalog=catalog(("m-a",)), sinks=[self.sink], observers=[observer]
        )


# -- the exit paths: each stops one request its own way ----------------------------------------


async def p1_break_then_aclose(scene: Scene) -> None:
    stream = scene.router.astream("hi")
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == STOP_AFTER:
            break
    await stream.aclose()


async def p2_leave_async_with(scene: Scene) -> None:
    async with scene.router.astream("hi") as stream:
        seen = 0
        async for _ in stream:
            seen += 1
            if seen == STOP_AFTER:
                break


async def p3_sync_close(scene: Scene) -> None:
    def read_three() -> None:
        stream = scene.router.stream("hi")
        chunks = iter(stream)
        for _ in range(STOP_AFTER):
            next(chunks)
        stream.close()

    await asyncio.to_thread(read_three)


async def p4_dropped_unread(scene: Scene) -> None:
    stream = scene.router.astream("hi")
    del stream
    gc.collect()


async def p5_dropped_after_three(scene: Scene) -> None:
    chunks = scene.router.astream("hi").__aiter__()
    for _ in range(STOP_AFTER):
        await anext(chunks)
    del chunks
    gc.collect()


async def p6_langchain_astream(scene: Scene) -> None:
    seen = 0
    async for _ in scene.facade.astream("hi"):
        seen += 1
        if seen == STOP_AFTER:
            break
    gc.collect()


async def p7_task_cancelled(scene: Scene) -> None:
    three = asyncio.Event()

    async def consume() -> None:
        seen = 0
        async for _ in scene.router.astream("hi"):
            seen += 1
            if seen == STOP_AFTER:
                three.set()

    task = asyncio.create_task(consume())
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def p8_read_to_end(scene: Scene) -> None:
    assert len([c async for c in scene.router.astream("hi") if c.text]) == CHUNKS


Path = Callable[[Scene], Awaitable[None]]
PATHS: list[tuple[Path, int | None]] = [  # the path, output tokens on its attempt span
    (p1_break_then_aclose, STOP_AFTER),
    (p2_leave_async_with, STOP_AFTER),
    (p3_sync_close, STOP_AFTER),
    (p4_dropped_unread, None),  # no call, so no attempt span
    (p5_dropped_after_three, STOP_AFTER),
    (p6_langchain_astream, STOP_AFTER),
    (p7_task_cancelled, STOP_AFTER),
    (p8_read_to_end, CHUNKS),
]


# -- checks ------------------------------------------------------------------------------------


async def settled(scene: Scene, decisions: int, spans: int) -> float:
    """Seconds until `decisions` records and `spans` ended spans exist and the server has no
    request in flight; fails past `WITHIN_S`."""
    start = time.monotonic()
    while time.monotonic() - start < WITHIN_S:
        srv_idle = not any(r.in_flight for r in scene.srv.requests())
        if len(scene.sink.decisions) >= decisions and len(scene.otel.spans()) >= spans and srv_idle:
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"not settled within {WITHIN_S} s: {len(scene.sink.decisions)}/{decisions} records, "
        f"{len(scene.otel.spans())}/{spans} spans"
    )


def output_tokens(span: ReadableSpan) -> Any:
    a = attrs(span)
    return a.get("gen_ai.usage.output_tokens", a.get("modelroute.usage.estimated.output_tokens"))


def check_spans(new: list[ReadableSpan], tokens: int | None, outcome: str) -> None:
    routes = [s for s in new if s.name.startswith(ROUTE_PREFIX)]
    calls = [s for s in new if not s.name.startswith(ROUTE_PREFIX)]
    assert len(routes) == 1 and len(calls) == (0 if tokens is None else 1), [s.name for s in new]
    (route,) = routes
    assert attrs(route)["modelroute.outcome"] == ("success" if outcome == "ok" else "cancelled")
    assert route.status.status_code != StatusCode.ERROR
    for call in calls:  # the attempt span: a child of the route span
        assert call.parent is not None and route.context is not None
        assert call.parent.span_id == route.context.span_id
        a = attrs(call)
        assert (a["gen_ai.request.model"], a["modelroute.attempt.outcome"]) == ("m-a", outcome)
        assert output_tokens(call) == tokens
        assert call.status.status_code != StatusCode.ERROR and "error.type" not in a


def check_record(decision: Decision, tokens: int | None, outcome: str) -> None:
    if tokens is None:  # path 4: nothing was sent
        assert (decision.outcome, decision.attempts, decision.cost_usd) == (
            RequestOutcome.CANCELLED,
            (),
            0.0,
        )
        return
    (attempt,) = decision.attempts
    assert attempt.model == "m-a" and attempt.usage is not None
    assert attempt.usage.output_tokens == tokens
    if outcome == "ok":
        assert decision.outcome == RequestOutcome.SUCCESS and not attempt.usage.estimated
        assert attempt.cost_usd == pytest.approx(10 * PRICE_IN + 50 * PRICE_OUT, abs=1e-9)
        return
    assert decision.outcome == RequestOutcome.CANCELLED
    assert (attempt.outcome, attempt.reason) == (AttemptOutcome.CANCELLED, "cancelled")
    assert attempt.usage.estimated and attempt.usage.input_tokens == PROMPT_TOKENS
    assert attempt.cost_usd == pytest.approx(PROMPT_TOKENS * PRICE_IN + tokens * PRICE_OUT)


@pytest.fixture
def otel() -> Iterator[tuple[Otel, CountingProcessor]]:
    telemetry, counting = Otel(), CountingProcessor()
    telemetry.tracer_provider.add_span_processor(counting)
    yield telemetry, counting
    telemetry.shutdown()


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_every_exit_path_ends_its_spans_and_writes_its_record(
    provider_server: ProviderServer, otel: tuple[Otel, CountingProcessor]
) -> None:
    scene = Scene(provider_server, *otel)

    async def main() -> None:
        for number, (path, tokens) in enumerate(PATHS, start=1):
            outcome = "ok" if path is p8_read_to_end else "cancelled"
            spans_before, requests_before = len(scene.otel.spans()), len(scene.srv.requests())
            await path(scene)
            await settled(scene, number, spans_before + (1 if tokens is None else 2))
            new_spans = scene.otel.spans()[spans_before:]
            check_spans(new_spans, tokens, outcome)
            assert scene.counting.started == scene.counting.ended, path.__name__
            check_record(scene.sink.decisions[-1], tokens, outcome)
            sent = scene.srv.requests()[requests_before:]
            if tokens is None:
                assert sent == [], "path 4 made a call"
            else:
                (record,) = sent
                assert record.model == "m-a" and record.stream
                assert record.disconnected is (outcome == "cancelled"), path.__name__

    asyncio.run(main())
    assert len(scene.sink.decisions) == len(PATHS) == 8
    assert scene.counting.started == scene.counting.ended == len(scene.otel.spans()) == 15
