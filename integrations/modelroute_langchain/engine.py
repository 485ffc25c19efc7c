"""The one body behind every LangChain entry point: a call goes through the core router.

`RouteEngine.invoke` / `ainvoke` / `transform` / `atransform` are what `RouterRunnable`
and `RoutedChatModel` hand to LangChain's `_call_with_config` and
`_transform_stream_with_config` (sync, async, batch, stream, astream and astream_events
all end up here), so the fallback loop is the core's, once. Each call:

1. turns the input into a modelroute `Request` (plus the bound tools / JSON schema);
2. runs it through `modelroute.Router` with a per-call `AttemptRunner` as backend and
   observer, so every attempt is a child run of the router run;
3. adds the decision's facts to the router run's metadata and to the answer's
   `response_metadata`, and returns the candidate's own (normalized) message, its
   structured object, or a chain's output as is.

A failure raises the core's typed error (`AllAttemptsFailed`, `StreamInterrupted`,
`LimitExceeded`...), or re-raises a LangGraph control-flow signal unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig

from modelroute.errors import ModelRouteError
from modelroute.records import Decision
from modelroute.router import Router
from modelroute.types import Request, Response, StreamChunk
from modelroute_langchain.attempts import AttemptRunner, CallContext
from modelroute_langchain.backend import LangChainBackend
from modelroute_langchain.binding import Binding
from modelroute_langchain.messages import to_chat_messages, to_request
from modelroute_langchain.metadata import add_run_metadata, route_chunk, with_route_metadata
from modelroute_langchain.replies import answer_message, normalized, with_answer

__all__ = ["ROUTE_KEY", "RouteEngine"]

ROUTE_KEY = "modelroute_route"
"""Run-config metadata key naming the route for one call (overrides the bound route)."""


@dataclass(frozen=True)
class _Call:
    request: Request
    runner: AttemptRunner
    route: str | None


def _joined(inputs: Iterator[Any] | list[Any]) -> Any:
    """The whole input from a stream of input chunks (added up when they add, else last)."""
    final: Any = None
    seen = False
    for chunk in inputs:
        if not seen:
            final, seen = chunk, True
            continue
        try:
            final = final + chunk
        except TypeError:
            final = chunk
    return final


@dataclass(frozen=True)
class RouteEngine:
    """Routes LangChain calls through `router` over `backend`'s candidates.

    `route` names the route (None: the router's choice); `binding` carries the tools or
    structured-output schema bound to every candidate.
    """

    router: Router
    backend: LangChainBackend
    route: str | None = None
    binding: Binding = field(default_factory=Binding)

    # -- entry points (signatures as LangChain's helpers expect) -------------------------

    def invoke(self, input: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        """One call, sync."""
        call = self._start(input, run_manager, config, kwargs)
        try:
            routed = self.router.complete(
                call.request, route=call.route, backend=call.runner, observers=(call.runner,)
            )
        except ModelRouteError as exc:
            self._fail(call, exc, run_manager)
        return self._output(call, routed.response, routed.decision, run_manager)

    async def ainvoke(
        self, input: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> Any:
        """One call, async."""
        call = self._start(input, run_manager, config, kwargs)
        try:
            routed = await self.router.acomplete(
                call.request, route=call.route, backend=call.runner, observers=(call.runner,)
            )
        except ModelRouteError as exc:
            self._fail(call, exc, run_manager)
        return self._output(call, routed.response, routed.decision, run_manager)

    def transform(
        self, inputs: Iterator[Any], run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        """One streamed call, sync: the winning candidate's own chunks, then a last chunk
        with the decision's facts (message streams only). A structured-output route yields
        its one parsed object."""
        input = _joined(inputs)
        if self.binding.structured:
            yield self.invoke(input, run_manager, config, **kwargs)
            return
        call = self._start(input, run_manager, config, kwargs)
        stream = self.router.stream(
            call.request, route=call.route, backend=call.runner, observers=(call.runner,)
        )
        try:
            yield from self._pieces(call, stream)
        except ModelRouteError as exc:
            self._fail(call, exc, run_manager)
        finally:
            stream.close()
        yield from self._closing(stream.decision, run_manager)

    async def atransform(
        self, inputs: AsyncIterator[Any], run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """One streamed call, async (see `transform`)."""
        input = _joined([chunk async for chunk in inputs])
        if self.binding.structured:
            yield await self.ainvoke(input, run_manager, config, **kwargs)
            return
        call = self._start(input, run_manager, config, kwargs)
        stream = self.router.astream(
            call.request, route=call.route, backend=call.runner, observers=(call.runner,)
        )
        try:
            async for chunk in stream:
                raw = call.runner.raw_chunk(chunk)
                if raw is not None:
                    yield self._shaped_chunk(raw)
        except ModelRouteError as exc:
            self._fail(call, exc, run_manager)
        finally:
            await stream.aclose()
        for last in self._closing(stream.decision, run_manager):
            yield last

    # -- internals ----------------------------------------------------------------------

    def _start(
        self, input: Any, run_manager: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> _Call:
        messages = to_chat_messages(input)
        binding = self.binding
        request = to_request(
            input, messages, config=config, tools=binding.tools, json_schema=binding.json_schema
        )
        context = CallContext(
            config=config,
            parent=run_manager,
            chat_input=messages,
            raw_input=input,
            kwargs=kwargs,
            structured=binding.structured,
        )
        route = ((config or {}).get("metadata") or {}).get(ROUTE_KEY) or self.route
        return _Call(request, self.backend.attempts(context), route)

    def _fail(self, call: _Call, error: ModelRouteError, run_manager: Any) -> NoReturn:
        add_run_metadata(run_manager, getattr(error, "decision", None))
        if call.runner.control_flow is not None:
            raise call.runner.control_flow from None
        raise error

    def _output(self, call: _Call, response: Response, decision: Decision, run_manager: Any) -> Any:
        add_run_metadata(run_manager, decision)
        raw = call.runner.raw_output(response)
        message = answer_message(raw)
        if message is not None:
            shaped = with_route_metadata(normalized(message), decision)
            raw, message = with_answer(raw, message, shaped), shaped
        if not self.binding.structured:
            return raw
        parsed = self.binding.parse(response.text)
        if self.binding.include_raw:
            return {"raw": message, "parsed": parsed, "parsing_error": None}
        return parsed

    def _pieces(self, call: _Call, stream: Iterable[StreamChunk]) -> Iterator[Any]:
        for chunk in stream:
            raw = call.runner.raw_chunk(chunk)
            if raw is not None:
                yield self._shaped_chunk(raw)

    def _shaped_chunk(self, raw: Any) -> Any:
        return normalized(raw) if isinstance(raw, AIMessageChunk) else raw

    def _closing(self, decision: Decision | None, run_manager: Any) -> list[Any]:
        add_run_metadata(run_manager, decision)
        if decision is None or not self._streams_messages():
            return []
        return [route_chunk(decision)]

    def _streams_messages(self) -> bool:
        return all(self.backend.is_chat_model(name) for name in self.backend.models)
