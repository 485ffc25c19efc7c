"""Shared test helpers: a catalog with the field-case price table, a scripted backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from modelroute.backend import FakeBackend
from modelroute.catalog import Catalog, ModelInfo
from modelroute.router import RoutedResponse, Router
from modelroute.types import Request, Response, StreamChunk, Usage

PER_M = 1e-6

PRICES = {  # USD per 1M tokens: input, output (../shared/cases/field-cases.md)
    "m-a": (1.00, 4.00),
    "m-b": (2.00, 8.00),
    "m-c": (0.50, 1.50),
    "m-strong": (5.00, 20.00),
}


def catalog(**overrides: dict[str, object]) -> Catalog:
    """Catalog of the price-table models (streaming, tools, json schema, 128k window)."""
    models = []
    for name, (inp, out) in PRICES.items():
        fields: dict[str, object] = {
            "input_cost_per_token": inp * PER_M,
            "output_cost_per_token": out * PER_M,
            "provider": "local",
            "max_input_tokens": 128_000,
        }
        fields.update(overrides.get(name.replace("-", "_"), {}))
        models.append(ModelInfo(name=name, **fields))  # type: ignore[arg-type]
    return Catalog(models)


Script = dict[str, list[object]]


def scripted(script: Script) -> FakeBackend:
    """A FakeBackend answering per model from a queue: each item is a text, a Response
    or an exception to raise; the last item repeats."""

    def handler(model: ModelInfo, request: Request) -> Response | str:
        queue = script[model.name]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            return Response(text=item, model=model.name, usage=Usage(100, 50))
        assert isinstance(item, Response)
        return item

    return FakeBackend(handler)


def run(
    router: Router, mode: str, request: Request | str, route: str | None = None
) -> RoutedResponse:
    """Run one request through the sync or async path."""
    if mode == "sync":
        return router.complete(request, route=route)
    return asyncio.run(router.acomplete(request, route=route))


def collect_stream(
    router: Router, mode: str, request: Request | str, on_chunk: Callable[[str], None] | None = None
) -> tuple[list[StreamChunk], object]:
    """Consume a stream (sync or async); return its chunks and the decision."""
    if mode == "sync":
        s = router.stream(request)
        chunks = []
        for c in s:
            chunks.append(c)
            if on_chunk:
                on_chunk(c.text)
        return chunks, s.decision

    async def go() -> tuple[list[StreamChunk], object]:
        s = router.astream(request)
        out = []
        async for c in s:
            out.append(c)
            if on_chunk:
                on_chunk(c.text)
        return out, s.decision

    return asyncio.run(go())
