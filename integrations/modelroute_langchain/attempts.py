"""One routed call's backend: every attempt runs its candidate as a child run of the router
run, with the caller's config passed down.

An `AttemptRunner` is made per call (never shared, so concurrent calls keep apart). It is
both the modelroute `Backend` the engine calls and an observer: the engine tells it which
attempt comes next (`attempt_started`), so each child run is tagged `modelroute:attempt:<i>`
and `modelroute:model:<name>`, with the same values in its metadata (`modelroute_attempt`,
`modelroute_retry`, `modelroute_model`; inherited by runs nested inside a chain). It keeps
what each candidate returned, so the caller gets the candidate's own message or object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncRunManager,
    BaseCallbackHandler,
    BaseCallbackManager,
    CallbackManager,
)
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from modelroute.catalog import ModelInfo
from modelroute.observer import AttemptStarted
from modelroute.types import Request, Response, StreamChunk, Usage
from modelroute_langchain.errors import ControlFlow, map_error
from modelroute_langchain.replies import add_usage, to_response, to_stream_chunk, usage_of

if TYPE_CHECKING:
    from modelroute_langchain.backend import LangChainBackend

__all__ = ["AttemptRunner", "CallContext"]


@dataclass(frozen=True)
class CallContext:
    """The caller's side of one routed call.

    `config` is the router run's config and `parent` its run manager (None outside a
    LangChain run); `chat_input` the input as chat messages (what chat-model candidates
    get), `raw_input` the input as given (what other runnables get); `kwargs` go to chat
    models' `invoke`; `structured` reads function-calling answers as JSON text.
    """

    config: RunnableConfig | None = None
    parent: Any = None
    chat_input: Sequence[BaseMessage] | None = None
    raw_input: Any = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    structured: bool = False


def _child_manager(parent: Any) -> BaseCallbackManager:
    """A callback manager for runs under `parent`: its `get_child()` for a chain run; built
    the same way for an LLM run (the facade's `_generate` path), which has none."""
    if hasattr(parent, "get_child"):
        manager: BaseCallbackManager = parent.get_child()
        return manager
    cls = AsyncCallbackManager if isinstance(parent, AsyncRunManager) else CallbackManager
    manager = cls(handlers=[], parent_run_id=parent.run_id)
    manager.set_handlers(parent.inheritable_handlers)
    manager.add_tags(parent.inheritable_tags)
    manager.add_metadata(parent.inheritable_metadata)
    return manager


class UsageCollector(BaseCallbackHandler):
    """Sums the usage of every LLM run inside one attempt (a chain's answer is often a plain
    string that carries none) and keeps the last reported model name."""

    run_inline = True

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration):
                    message = generation.message
                    self.usage = add_usage(self.usage, usage_of(message))
                    self.model = message.response_metadata.get("model_name") or self.model


class AttemptRunner:
    """The `Backend` (and observer) of one routed call; see the module docstring."""

    def __init__(self, backend: LangChainBackend, context: CallContext) -> None:
        self.backend = backend
        self.context = context
        self.control_flow: BaseException | None = None
        self._index: int | None = None
        self._retry = 0
        self._outputs: dict[int, tuple[Response, Any]] = {}
        self._chunks: dict[int, tuple[StreamChunk, Any]] = {}

    # -- observer -----------------------------------------------------------------------

    def attempt_started(self, event: AttemptStarted) -> None:
        """Remember which attempt the next call is."""
        self._index, self._retry = event.index, event.retry

    # -- what the caller gets back ------------------------------------------------------

    def raw_output(self, response: Response) -> Any:
        """What the candidate returned for `response` (the response itself if unknown)."""
        kept = self._outputs.get(id(response))
        return kept[1] if kept is not None and kept[0] is response else response

    def raw_chunk(self, chunk: StreamChunk) -> Any:
        """The candidate's own piece behind `chunk`, or None for a chunk made here."""
        kept = self._chunks.get(id(chunk))
        return kept[1] if kept is not None and kept[0] is chunk else None

    # -- the Backend protocol -----------------------------------------------------------

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """Invoke the candidate once. Raises `ProviderError` subclasses."""
        runnable, config, collector = self._prepare(model)
        try:
            raw = runnable.invoke(self._input(model), config, **self._kwargs(model))
        except Exception as exc:
            raise self._failure(exc, model) from None
        return self._answer(raw, collector)

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """Async twin of `call`."""
        runnable, config, collector = self._prepare(model)
        try:
            raw = await runnable.ainvoke(self._input(model), config, **self._kwargs(model))
        except Exception as exc:
            raise self._failure(exc, model) from None
        return self._answer(raw, collector)

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        """Stream the candidate; usage deltas are summed into each chunk's `usage`."""
        runnable, config, collector = self._prepare(model)
        total: list[Usage | None] = [None]
        pieces = runnable.stream(self._input(model), config, **self._kwargs(model, True))
        try:
            for raw in pieces:
                yield self._piece(raw, total)
        except Exception as exc:
            raise self._failure(exc, model) from None
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        yield from self._tail(collector, total[0])

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        """Async twin of `stream`."""
        runnable, config, collector = self._prepare(model)
        total: list[Usage | None] = [None]
        pieces = runnable.astream(self._input(model), config, **self._kwargs(model, True))
        try:
            async for raw in pieces:
                yield self._piece(raw, total)
        except Exception as exc:
            raise self._failure(exc, model) from None
        finally:
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                await aclose()
        for chunk in self._tail(collector, total[0]):
            yield chunk

    # -- internals ----------------------------------------------------------------------

    def _prepare(
        self, model: ModelInfo
    ) -> tuple[Runnable[Any, Any], RunnableConfig, UsageCollector]:
        runnable = self.backend.candidate(model.name)
        collector = UsageCollector()
        return runnable, self._child_config(model.name, collector), collector

    def _child_config(self, name: str, collector: UsageCollector) -> RunnableConfig:
        tags = [f"modelroute:model:{name}"]
        metadata: dict[str, Any] = {"modelroute_model": name, "modelroute_retry": self._retry}
        if self._index is not None:
            tags.insert(0, f"modelroute:attempt:{self._index}")
            metadata["modelroute_attempt"] = self._index
        parent = self.context.parent
        if parent is None:
            return RunnableConfig(tags=tags, metadata=metadata, callbacks=[collector])
        callbacks = _child_manager(parent)
        callbacks.add_tags(tags, inherit=False)
        callbacks.add_metadata(metadata)
        callbacks.add_handler(collector)
        return patch_config(self.context.config, callbacks=callbacks)

    def _input(self, model: ModelInfo) -> Any:
        context = self.context
        if context.chat_input is not None and self.backend.is_chat_model(model.name):
            return list(context.chat_input)
        return context.raw_input

    def _kwargs(self, model: ModelInfo, streaming: bool = False) -> dict[str, Any]:
        if not self.backend.is_chat_model(model.name):
            return {}
        kwargs = dict(self.context.kwargs)
        if streaming and self.backend.streams_usage(model.name):
            kwargs.setdefault("stream_usage", True)
        return kwargs

    def _failure(self, exc: Exception, model: ModelInfo) -> Exception:
        error = map_error(exc, model=model.name, secrets=self.backend.secrets(model.name))
        if isinstance(error, ControlFlow):
            self.control_flow = exc
        return error

    def _answer(self, raw: Any, collector: UsageCollector) -> Response:
        response = to_response(raw, structured=self.context.structured)
        if response.usage is None and collector.usage is not None:
            response = replace(response, usage=collector.usage)
        if response.model is None and collector.model is not None:
            response = replace(response, model=collector.model)
        self._outputs[id(response)] = (response, raw)
        return response

    def _piece(self, raw: Any, total: list[Usage | None]) -> StreamChunk:
        chunk = to_stream_chunk(raw)
        usage = usage_of(raw)
        if usage is not None:
            total[0] = add_usage(total[0], usage)
            chunk = replace(chunk, usage=total[0])
        self._chunks[id(chunk)] = (chunk, raw)
        return chunk

    def _tail(self, collector: UsageCollector, streamed: Usage | None) -> list[StreamChunk]:
        """A closing chunk with the usage the LLM runs reported, when the pieces had none."""
        if streamed is not None or collector.usage is None:
            return []
        return [StreamChunk(usage=collector.usage, model=collector.model)]
