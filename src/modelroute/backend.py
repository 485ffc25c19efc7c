"""The one seam to providers: a `Backend` turns (model, request) into a `Response`.

Backends never retry and never fall back: the engine owns both. They map provider
exceptions into `modelroute.errors.ProviderError` subclasses, so the engine sees one
error tree. `timeout_s` is the per-attempt limit in seconds (None = no limit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol, runtime_checkable

from modelroute.catalog import ModelInfo
from modelroute.types import Request, Response, StreamChunk, Usage


@runtime_checkable
class Backend(Protocol):
    """A provider client. `acall`/`astream` are required; `call`/`stream` are sync twins."""

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """One non-streaming call. Raises ProviderError subclasses."""
        ...

    def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        """One streaming call, as chunks. Raises ProviderError subclasses."""
        ...

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """Sync twin of `acall`."""
        ...

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        """Sync twin of `astream`."""
        ...


Handler = Callable[[ModelInfo, Request], "Response | str"]
"""A FakeBackend handler: return a Response or a plain text, or raise a ProviderError."""


class FakeBackend:
    """An in-process backend for tests of your own routes: `handler(model, request)` answers.

    The handler returns a `Response` or a string (wrapped with estimated usage), or raises
    a `ProviderError` subclass to simulate a failure. Streams split the answer into
    `chunks` pieces. `calls` lists the model names called, in order.

    >>> from modelroute import FakeBackend
    >>> backend = FakeBackend(lambda model, request: f"hello from {model.name}")
    """

    def __init__(self, handler: Handler, *, chunks: int = 3) -> None:
        self.handler = handler
        self.chunks = max(1, chunks)
        self.calls: list[str] = []

    def _answer(self, model: ModelInfo, request: Request) -> Response:
        self.calls.append(model.name)
        out = self.handler(model, request)
        if isinstance(out, Response):
            return out
        tokens_in = sum(len(m.text) for m in request.messages) // 4 + 1
        usage = Usage(input_tokens=tokens_in, output_tokens=len(out) // 4 + 1)
        return Response(text=out, model=model.call_name, finish_reason="stop", usage=usage)

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """Answer with the handler."""
        return self._answer(model, request)

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """Answer with the handler."""
        return self._answer(model, request)

    def _pieces(self, response: Response) -> list[StreamChunk]:
        text = response.text
        size = max(1, -(-len(text) // self.chunks))
        parts = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        chunks = [StreamChunk(text=p) for p in parts]
        last = chunks[-1]
        chunks[-1] = StreamChunk(
            text=last.text,
            tool_calls=response.tool_calls,
            finish_reason=response.finish_reason,
            usage=response.usage,
            model=response.model,
        )
        return chunks

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        """The handler's answer in pieces."""
        yield from self._pieces(self._answer(model, request))

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        """The handler's answer in pieces."""
        for chunk in self._pieces(self._answer(model, request)):
            yield chunk
