"""Routers over real HTTP for the field cases (tests/field/): the LiteLLM backend pointed at
the local provider server, models called as `openai/<name>`, priced from the field-case table
(../shared/cases/field-cases.md, USD per 1M tokens).

`ask(router, mode, request)` runs one request through any of the four paths (sync, async,
sync stream, async stream) and returns the text, the decision and the chunks the caller saw.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from helpers import PER_M
from modelroute.backend import Backend
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import Clock, FakeClock
from modelroute.errors import ModelRouteError
from modelroute.provider_server import ProviderServer
from modelroute.records import Decision
from modelroute.route import Route
from modelroute.router import RoutedResponse, Router
from modelroute.sinks import MemorySink
from modelroute.types import Request, Response, StreamChunk
from modelroute_litellm import LiteLLMBackend

T = TypeVar("T")

MODES = ("sync", "async", "stream", "astream")
CALL_MODES = ("sync", "async")
STREAM_MODES = ("stream", "astream")

KEY = "sk-local"

PRICES: Mapping[str, tuple[float, float, float | None]] = {  # input, output, cached input
    "m-a": (1.00, 4.00, None),
    "m-b": (2.00, 8.00, None),
    "m-c": (0.50, 1.50, None),
    "m-mid": (2.00, 8.00, 0.50),
    "m-strong": (5.00, 20.00, None),
    "m-small": (1.00, 4.00, None),  # BC-10
    "m-large": (5.00, 20.00, None),  # BC-10
    "m-q": (2.00, 10.00, None),  # BC-05
}

FILTERS = [
    # noise from LiteLLM's own pydantic models, not from modelroute
    "ignore::DeprecationWarning:litellm",
    "ignore:Items? .* `ReadOnly` qualifier:UserWarning",
]


def model(name: str, **fields: Any) -> ModelInfo:
    """The catalog entry of provider-server model `name`, priced from `PRICES`."""
    inp, out, cached = PRICES[name]
    base: dict[str, Any] = {
        "target": f"openai/{name}",
        "provider": "local",
        "input_cost_per_token": inp * PER_M,
        "output_cost_per_token": out * PER_M,
        "cached_input_cost_per_token": None if cached is None else cached * PER_M,
    }
    base.update(fields)
    return ModelInfo(name=name, **base)


def catalog(names: Iterable[str] = PRICES) -> Catalog:
    """A catalog of `names` (every priced model by default)."""
    return Catalog(model(n) for n in names)


@dataclass
class Setup:
    """A router over the provider server, with its sink and clock."""

    router: Router
    sink: MemorySink
    clock: Clock


def make_router(
    srv: ProviderServer,
    routes: Iterable[Route],
    *,
    clock: Clock | None = None,
    names: Iterable[str] = PRICES,
    wrap: Callable[[Backend], Backend] | None = None,
    **kwargs: Any,
) -> Setup:
    """A router over `srv` through `LiteLLMBackend` (fake clock unless given); `wrap`, when
    given, wraps the backend (e.g. to hold an answer until the test's condition holds)."""
    sink = MemorySink()
    clock = clock or FakeClock()
    backend: Backend = LiteLLMBackend(api_base=srv.base_url, api_key=KEY)
    router = Router(
        routes,
        backend=wrap(backend) if wrap else backend,
        catalog=catalog(names),
        sinks=[sink],
        clock=clock,
        seed=7,
        **kwargs,
    )
    return Setup(router, sink, clock)


@dataclass
class Answer:
    """What the caller got: the text, the tool calls, every chunk seen (streams) and the
    decision record."""

    text: str
    tool_calls: tuple[dict[str, Any], ...]
    chunks: list[StreamChunk]
    decision: Decision
    response: Response | None = None


def ask(router: Router, mode: str, request: Request | str) -> Answer:
    """One request through the `mode` path; raises what the router raises."""
    if mode == "sync":
        out = router.complete(request)
        return Answer(out.text, out.response.tool_calls, [], out.decision, out.response)
    if mode == "async":
        out = asyncio.run(_with_litellm_logging(router.acomplete(request)))
        return Answer(out.text, out.response.tool_calls, [], out.decision, out.response)
    if mode == "stream":
        stream = router.stream(request)
        chunks = list(stream)
        assert stream.decision is not None
        return _streamed(chunks, stream.decision)
    if mode == "astream":

        async def consume() -> Answer:
            astream = router.astream(request)
            chunks = [c async for c in astream]
            assert astream.decision is not None
            return _streamed(chunks, astream.decision)

        return asyncio.run(_with_litellm_logging(consume()))
    raise ValueError(f"unknown mode {mode!r}")


async def _with_litellm_logging(work: Coroutine[Any, Any, T]) -> T:
    """`work`, then LiteLLM's logging for it: LiteLLM runs its callbacks as tasks on this
    loop (some queued a few loop turns after the call returns), and `asyncio.run` closes the
    loop next; left queued, they would run (with a LiteLLM warning) on the next loop."""
    try:
        return await work
    finally:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as worker

        for _ in range(3):
            await asyncio.sleep(0.01)
            await worker.flush()


def _streamed(chunks: list[StreamChunk], decision: Decision) -> Answer:
    calls = tuple(call for c in chunks for call in c.tool_calls)
    return Answer("".join(c.text for c in chunks), calls, chunks, decision)


Outcome = RoutedResponse | ModelRouteError


def burst(mode: str, calls: Sequence[tuple[Router, Request]]) -> list[Outcome]:
    """Send every `(router, request)` at once and return each answer or the modelroute error
    it raised, in order. `async`: one event loop, `asyncio.gather`; `sync`: one thread per
    call, released together by a barrier."""
    if mode == "async":

        async def all_at_once() -> list[Outcome]:
            async def one(router: Router, request: Request) -> Outcome:
                try:
                    return await router.acomplete(request)
                except ModelRouteError as exc:
                    return exc

            return list(await asyncio.gather(*(one(r, q) for r, q in calls)))

        return asyncio.run(all_at_once())
    if mode != "sync":
        raise ValueError(f"unknown mode {mode!r}")
    barrier = threading.Barrier(len(calls))

    def one_thread(call: tuple[Router, Request]) -> Outcome:
        router, request = call
        barrier.wait()
        try:
            return router.complete(request)
        except ModelRouteError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one_thread, calls))
