"""Cancelled requests leak nothing: no breaker probe, no budget reservation, no rate-limit
slot, no guard ticket, no traced request, and each still yields a `cancelled` decision.

1,000 cancellations per path (async call, async stream cancelled or closed or abandoned,
sync stream closed), in process; then a few dozen over real HTTP, where the provider
server must see every connection closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import ProviderUnavailable
from modelroute.limits import Budget, LimitsGuard, RateLimit
from modelroute.provider_server import NoResponse, ProviderServer, StreamStall
from modelroute.records import Attempt, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request, Response, StreamChunk, Usage

N = 1000
MODELS = ("m-a", "m-b")
PATHS = ["call", "stream_cancel", "stream_aclose", "stream_abandon"]


class CountingGuard:
    """Admits everything; counts tickets still outstanding (admitted, never settled)."""

    def __init__(self) -> None:
        self.outstanding: set[int] = set()
        self.admitted = 0
        self._next = 0

    def admit(self, request: Request, model: ModelInfo) -> object:
        self._next += 1
        self.admitted += 1
        self.outstanding.add(self._next)
        return self._next

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        return self.admit(request, model)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        assert isinstance(ticket, int)
        self.outstanding.remove(ticket)  # KeyError if settled twice

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settle(ticket, attempt)


class ParkedBackend:
    """Calls park until `release` is set (streams after one visible chunk); `fail` makes
    the next call raise a 503. `entered` counts calls that reached the backend."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.fail = False

    def _maybe_fail(self, model: ModelInfo) -> None:
        if self.fail:
            self.fail = False
            raise ProviderUnavailable("503", model=model.name, status_code=503)

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        self._maybe_fail(model)
        self.entered += 1
        await self.release.wait()
        return Response(text="ok", finish_reason="stop", usage=Usage(10, 2))

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        self._maybe_fail(model)
        self.entered += 1
        yield StreamChunk(text="first ")
        await self.release.wait()
        yield StreamChunk(text="rest", finish_reason="stop", usage=Usage(10, 2))

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        self.entered += 1
        yield StreamChunk(text="first ")
        yield StreamChunk(text="rest", finish_reason="stop", usage=Usage(10, 2))


def _catalog() -> Catalog:
    return Catalog(
        ModelInfo(name, input_cost_per_token=1e-6, output_cost_per_token=2e-6) for name in MODELS
    )


def _router(backend: Any, *guards: Any, observers: tuple[Any, ...] = ()) -> Router:
    return Router(
        [Route("r", MODELS)],
        backend=backend,
        catalog=_catalog(),
        sinks=[MemorySink()],
        # one failure opens the breaker and it half-opens at once: every call is a probe
        breaker=BreakerConfig(failure_threshold=1, cooldown_s=0.0, probe_lease_s=None),
        guards=guards,
        observers=observers,
    )


def _observers() -> tuple[Any, ...]:
    try:
        from opentelemetry.sdk.trace import TracerProvider

        from modelroute_otel import OTelObserver
    except ImportError:  # the OTel adapter is optional here
        return ()
    return (OTelObserver(TracerProvider(), capture_content=False),)


async def _wait(predicate: Any) -> None:
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the request never reached the backend")


async def _start(router: Router, path: str) -> list[Any]:
    """Start one request on `path`; returns [its task or None, its stream or None]."""
    request = Request.of("hi", user="u1")
    if path == "call":
        return [asyncio.create_task(router.acomplete(request)), None]
    stream = router.astream(request)
    iterator = stream.__aiter__()
    first = await anext(iterator)
    assert first.text == "first "
    if path == "stream_cancel":

        async def next_chunk() -> StreamChunk:
            return await anext(iterator)

        return [asyncio.create_task(next_chunk()), stream]
    return [None, stream]


async def _cancel(started: list[Any], path: str) -> None:
    """Cancel, close or abandon a started request (the list is emptied)."""
    task, stream = started
    started.clear()
    if path in ("call", "stream_cancel"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elif path == "stream_aclose":
        await stream.aclose()
    else:  # abandoned: every reference dropped; the event loop finalizes the generator
        del task, stream
        for _ in range(5):
            await asyncio.sleep(0)


@pytest.mark.parametrize("path", PATHS)
def test_sequential_cancellations_release_the_probe_every_time(path: str) -> None:
    backend, guard = ParkedBackend(), CountingGuard()
    router = _router(backend, guard)
    breaker = router.breakers.get(MODELS[0])

    async def main() -> None:
        backend.fail, backend.release = True, asyncio.Event()
        backend.release.set()
        await router.acomplete("trip the breaker")  # m-a fails, m-b answers
        backend.release.clear()
        assert breaker.snapshot()["state"] == "open"
        for i in range(N):
            started = await _start(router, path)
            await _wait(lambda i=i: backend.entered > i + 1)
            assert breaker.snapshot()["probes_in_flight"] == 1, f"request {i} is no probe"
            await _cancel(started, path)
            await _wait(lambda: not guard.outstanding)
            assert breaker.snapshot()["probes_in_flight"] == 0, f"request {i} kept its probe"
        backend.release.set()
        assert (await router.acomplete("healthy again")).text == "ok"

    asyncio.run(main())
    assert breaker.snapshot()["state"] == "closed"
    decisions = router.sinks[0].decisions  # type: ignore[attr-defined]
    cancelled = [d for d in decisions if d.outcome == RequestOutcome.CANCELLED]
    assert len(cancelled) == N
    assert all(d.attempts[-1].reason == "cancelled" for d in cancelled)


@pytest.mark.parametrize("path", ["call", "stream_cancel"])
def test_concurrent_cancellations_release_budgets_rate_slots_and_traces(path: str) -> None:
    backend, counting = ParkedBackend(), CountingGuard()
    limits = LimitsGuard(
        _catalog(),
        rates=[RateLimit("user", 3600.0, requests=N)],
        budgets=[Budget("user", 100.0)],
    )
    observers = _observers()
    router = _router(backend, counting, limits, observers=observers)

    async def park_all() -> list[list[Any]]:
        started = [await _start(router, path) for _ in range(N)]
        await _wait(lambda: backend.entered >= len(started))
        return started

    async def main() -> None:
        parked = await park_all()
        assert limits.budget_usage("user", "u1").reserved_usd > 0
        for started in parked:
            await _cancel(started, path)
        del parked
        await _wait(lambda: not counting.outstanding)
        # every rate slot is free again: N more requests are admitted, none refused
        backend.entered = 0
        again = await park_all()
        backend.release.set()
        for task, stream in again:  # released: each ends normally
            if task is not None:
                await task
            if stream is not None:
                async for _ in stream:
                    pass

    asyncio.run(main())
    assert not counting.outstanding
    usage = limits.budget_usage("user", "u1")
    assert usage.reserved_usd == pytest.approx(0.0, abs=1e-12)
    assert router.breakers.get(MODELS[0]).snapshot()["probes_in_flight"] == 0
    for observer in observers:
        assert observer.inflight == 0
    decisions = router.sinks[0].decisions  # type: ignore[attr-defined]
    assert sum(d.outcome == RequestOutcome.CANCELLED for d in decisions) >= N


def test_closing_sync_streams_releases_everything() -> None:
    backend, guard = ParkedBackend(), CountingGuard()
    router = _router(backend, guard)
    for _ in range(N):
        stream = router.stream("hi")
        assert next(iter(stream)).text == "first "
        stream.close()
    assert not guard.outstanding and guard.admitted == N
    decisions = router.sinks[0].decisions  # type: ignore[attr-defined]
    assert [d.outcome for d in decisions] == [RequestOutcome.CANCELLED] * N


# -- over real HTTP -------------------------------------------------------------------------

HTTP_N = 40


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_cancelled_http_requests_close_their_connections(
    provider_server: ProviderServer, stream: bool
) -> None:
    from modelroute_litellm import LiteLLMBackend

    server = provider_server
    fault = StreamStall(after_chunks=1) if stream else NoResponse()
    server.set_default_fault("m-a", fault)
    catalog = Catalog(
        ModelInfo(name, target=f"openai/{name}", input_cost_per_token=1e-6) for name in MODELS
    )
    guard = CountingGuard()
    router = Router(
        [Route("r", MODELS)],
        backend=LiteLLMBackend(api_base=server.base_url, api_key="sk-cancel-not-a-key"),
        catalog=catalog,
        guards=[guard],
    )

    async def one() -> None:
        if stream:
            async for _ in router.astream("hi"):
                pass
        else:
            await router.acomplete("hi")

    async def main() -> None:
        tasks = [asyncio.create_task(one()) for _ in range(HTTP_N)]
        seen = await server.wait_for_async(lambda rs: len(rs) >= HTTP_N, timeout=60)
        assert seen, f"the server saw {server.calls('m-a')} of {HTTP_N} requests"
        await asyncio.sleep(0.2)  # let stalled streams deliver their first chunk
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert await server.wait_idle_async(timeout=30)

    asyncio.run(main())
    records = server.requests("m-a")
    assert len(records) == HTTP_N and all(r.disconnected for r in records)
    assert server.calls("m-b") == 0
    assert not guard.outstanding and guard.admitted == HTTP_N
