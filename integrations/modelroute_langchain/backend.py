"""`LangChainBackend`: a modelroute `Backend` over named LangChain chat models or runnables.

Give it to `modelroute.Router` (or `Router.from_config(..., backend=...)`) and routes name
its models. Called through the plain `Backend` interface it turns the `Request` into
LangChain messages; `RouterRunnable` and `RoutedChatModel` call it per request through
`attempts(...)` instead, so candidates get the caller's own input and run as child runs.
Like every backend it never retries: the engine owns retries and fallbacks (set the chat
models' own `max_retries=0` to keep retries from multiplying).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import SecretStr

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import ModelNotFound
from modelroute.types import Request, Response, StreamChunk
from modelroute_langchain.attempts import AttemptRunner, CallContext
from modelroute_langchain.capabilities import (
    can_bind_tools,
    can_structure,
    catalog_for,
    chat_model_of,
)
from modelroute_langchain.errors import CapabilityMissing
from modelroute_langchain.messages import request_messages

__all__ = ["LangChainBackend", "warn_on_own_retries"]

logger = logging.getLogger("modelroute")

Rebind = Callable[[Runnable[Any, Any]], Runnable[Any, Any]]


def _rebound(runnable: Runnable[Any, Any], fn: Rebind) -> Runnable[Any, Any]:
    """`fn` applied to the chat model inside `runnable`'s bindings, the bindings kept."""
    if isinstance(runnable, RunnableBinding):
        return runnable.model_copy(update={"bound": _rebound(runnable.bound, fn)})
    return fn(runnable)


def _secrets(runnable: Runnable[Any, Any]) -> tuple[str, ...]:
    chat = chat_model_of(runnable)
    if chat is None:
        return ()
    values = (getattr(chat, name, None) for name in type(chat).model_fields)
    return tuple(v.get_secret_value() for v in values if isinstance(v, SecretStr))


def warn_on_own_retries(models: Mapping[str, Runnable[Any, Any]]) -> list[str]:
    """Log a warning for each chat model that retries by itself (a `max_retries` field that
    is above 0, or None: the SDK's default, 2 for OpenAI's): its retries multiply the
    route's. Returns the names warned about."""
    names = []
    for name, runnable in models.items():
        chat = chat_model_of(runnable)
        if chat is None or "max_retries" not in type(chat).model_fields:
            continue
        retries = chat.max_retries  # type: ignore[attr-defined]
        if retries is None or retries > 0:
            names.append(name)
            logger.warning(
                "model %r retries by itself (max_retries=%s): set max_retries=0 so its "
                "retries do not multiply the route's",
                name,
                retries,
            )
    return names


class LangChainBackend:
    """A modelroute `Backend` over `models`: route model name -> LangChain runnable.

    A chat model (possibly inside `bind`/`with_config` bindings) gets chat messages;
    any other runnable (a chain) gets the caller's input as is. `lacking` names models
    that could not be bound to the tools or schema a router was bound to: calling one
    fails with `CapabilityMissing` and the engine moves on.
    """

    def __init__(
        self,
        models: Mapping[str, Runnable[Any, Any]],
        *,
        lacking: Mapping[str, str] | None = None,
    ) -> None:
        if not models:
            raise ValueError("a LangChainBackend needs at least one model")
        self._models = dict(models)
        self._lacking = dict(lacking or {})
        self._secrets = {name: _secrets(r) for name, r in self._models.items()}

    def __repr__(self) -> str:
        return f"LangChainBackend(models={sorted(self._models)!r})"

    @property
    def models(self) -> Mapping[str, Runnable[Any, Any]]:
        """The candidates by route model name (read-only)."""
        return MappingProxyType(self._models)

    def candidate(self, name: str) -> Runnable[Any, Any]:
        """The runnable for `name`. Raises `CapabilityMissing` for a model that could not be
        bound, `ModelNotFound` for a name this backend does not have."""
        if name in self._lacking:
            raise CapabilityMissing(f"{name} cannot do {self._lacking[name]}", model=name)
        try:
            return self._models[name]
        except KeyError:
            raise ModelNotFound(f"no LangChain model named {name!r}", model=name) from None

    def is_chat_model(self, name: str) -> bool:
        """`name` is a chat model (gets chat messages), not a chain."""
        runnable = self._models.get(name)
        return runnable is not None and chat_model_of(runnable) is not None

    def streams_usage(self, name: str) -> bool:
        """`name`'s chat model reports usage in streams when asked (`stream_usage=True`)."""
        chat = chat_model_of(self._models[name])
        return chat is not None and "stream_usage" in type(chat).model_fields

    def secrets(self, name: str) -> tuple[str, ...]:
        """`name`'s credentials (its chat model's secret fields), scrubbed from errors."""
        return self._secrets.get(name, ())

    def catalog(self, base: Catalog | None = None) -> Catalog:
        """`base` plus an entry (detected capabilities, no prices) for each model it lacks."""
        return catalog_for(self._models, base)

    # -- binding ------------------------------------------------------------------------

    def _bound(self, fn: Rebind, can: Callable[[Any], bool], what: str) -> LangChainBackend:
        models: dict[str, Runnable[Any, Any]] = {}
        lacking = dict(self._lacking)
        for name, runnable in self._models.items():
            chat = chat_model_of(runnable)
            if chat is None or not can(chat):
                lacking[name], models[name] = what, runnable
            else:
                models[name] = _rebound(runnable, fn)
        return LangChainBackend(models, lacking=lacking)

    def with_tools(self, tools: Any, **kwargs: Any) -> LangChainBackend:
        """Every chat model with `bind_tools(tools, **kwargs)`; others marked lacking tools."""
        return self._bound(lambda chat: chat.bind_tools(tools, **kwargs), can_bind_tools, "tools")  # type: ignore[attr-defined]

    def with_structured_output(self, schema: Any, **kwargs: Any) -> LangChainBackend:
        """Every chat model with `with_structured_output(schema, include_raw=True, **kwargs)`
        (the raw message is what the engine judges); others marked lacking it. Pass a JSON
        Schema dict: with a pydantic class some SDKs parse (and raise) inside the call."""

        def structure(chat: Runnable[Any, Any]) -> Runnable[Any, Any]:
            return chat.with_structured_output(schema, include_raw=True, **kwargs)  # type: ignore[attr-defined,no-any-return]

        return self._bound(structure, can_structure, "structured output")

    # -- calls --------------------------------------------------------------------------

    def attempts(self, context: CallContext) -> AttemptRunner:
        """The backend of one routed call (see `AttemptRunner`)."""
        return AttemptRunner(self, context)

    def _plain(self, request: Request) -> AttemptRunner:
        messages = request_messages(request)
        kwargs: dict[str, Any] = dict(request.params)
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        context = CallContext(chat_input=messages, raw_input=messages, kwargs=kwargs)
        return self.attempts(context)

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """One call through the plain `Backend` interface (the request's messages)."""
        return self._plain(request).call(model, request, timeout_s=timeout_s)

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """Async twin of `call`."""
        return await self._plain(request).acall(model, request, timeout_s=timeout_s)

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        """Stream through the plain `Backend` interface."""
        return self._plain(request).stream(model, request, timeout_s=timeout_s)

    def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        """Async twin of `stream`."""
        return self._plain(request).astream(model, request, timeout_s=timeout_s)
