"""`RouterRunnable`: a modelroute route as a LangChain Runnable over chat models or chains.

    router = RouterRunnable.from_models({"m-a": chat_a, "m-b": chat_b})
    chain = prompt | router | StrOutputParser()

`invoke`, `ainvoke`, `batch`, `abatch`, `stream`, `astream`, `transform`, `atransform` and
`astream_events` all run through `RouteEngine` (one core engine, no copied loops). The
router run is a chain run; each attempt is its child run (see `attempts`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Self

from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import BaseModel, ConfigDict, SkipValidation, model_validator

from modelroute.catalog import Catalog
from modelroute.config import RouterConfig, load_config
from modelroute.errors import ConfigError
from modelroute.route import Route
from modelroute.router import Router
from modelroute_langchain.backend import LangChainBackend, warn_on_own_retries
from modelroute_langchain.binding import Binding, json_schema_of, openai_tools
from modelroute_langchain.capabilities import complete_config
from modelroute_langchain.engine import RouteEngine

__all__ = ["RouterRunnable"]


def _check_covers(router: Router, backend: LangChainBackend) -> None:
    """Every model a route names has a LangChain candidate (else `ConfigError`)."""
    for route in router.routes.values():
        for i, name in enumerate(route.models):
            if name not in backend.models:
                path = f"routes.{route.name}.models[{i}]"
                raise ConfigError(path, f"no LangChain model named {name!r} was given")


class RoutedRunnable(BaseModel):
    """What `RouterRunnable` and `RoutedChatModel` share: fields, construction, binding,
    and the Runnable methods, each a thin call into `RouteEngine`.

    `router` is a `modelroute.Router` whose backend is a `LangChainBackend` (or pass
    `backend`); `route` picks one of its routes (None: the router's choice; a call's
    `config["metadata"]["modelroute_route"]` overrides it); `binding` holds the tools or
    schema bound with `bind_tools` / `with_structured_output`.
    """

    router: Annotated[Router, SkipValidation]
    backend: Annotated[LangChainBackend, SkipValidation] = None  # type: ignore[assignment]
    route: str | None = None
    binding: Annotated[Binding, SkipValidation] = Binding()

    model_config = ConfigDict(arbitrary_types_allowed=True)

    if TYPE_CHECKING:  # provided by the Runnable class each subclass also derives from

        def _call_with_config(self, *args: Any, **kwargs: Any) -> Any: ...
        async def _acall_with_config(self, *args: Any, **kwargs: Any) -> Any: ...
        def _transform_stream_with_config(self, *args: Any, **kwargs: Any) -> Any: ...
        def _atransform_stream_with_config(self, *args: Any, **kwargs: Any) -> Any: ...

    @model_validator(mode="after")
    def _backend_from_router(self) -> Self:
        if self.backend is None:
            if not isinstance(self.router.backend, LangChainBackend):
                raise ValueError("the router's backend is not a LangChainBackend: pass `backend`")
            self.backend = self.router.backend
        return self

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_models(
        cls,
        models: Mapping[str, Runnable[Any, Any]],
        *,
        route: Route | Sequence[str] | None = None,
        catalog: Catalog | None = None,
        **router_options: Any,
    ) -> Self:
        """A router over `models` (route model name -> chat model or runnable).

        `route` is a `Route`, or model names in fallback order (default: `models` in
        order, as route `default`). `catalog` gives prices and capabilities; models it
        lacks get an entry with detected capabilities and no prices. `router_options`
        go to `modelroute.Router` (`sinks`, `clock`, `breaker`, `baseline`, `guards`...).
        """
        backend = LangChainBackend(models)
        warn_on_own_retries(models)
        if not isinstance(route, Route):
            route = Route("default", tuple(route or models))
        router = Router(
            [route], backend=backend, catalog=backend.catalog(catalog), **router_options
        )
        _check_covers(router, backend)
        return cls(router=router, backend=backend)

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig,
        models: Mapping[str, Runnable[Any, Any]],
        *,
        route: str | None = None,
        **router_options: Any,
    ) -> Self:
        """A router from modelroute's YAML config (a path, a dict or a `RouterConfig`)
        whose models are `models`. Route models the config does not declare (and LiteLLM's
        map does not know) get detected capabilities and no prices. `route` picks a route
        (default: the config's default); `router_options` go to `Router.from_config`
        (`clock`, `sinks`). Raises `ConfigError` naming the path of a model without a
        LangChain candidate."""
        backend = LangChainBackend(models)
        warn_on_own_retries(models)
        cfg = complete_config(load_config(config), models)
        router = Router.from_config(cfg, backend=backend, **router_options)
        _check_covers(router, backend)
        return cls(router=router, backend=backend, route=route)

    # -- binding ------------------------------------------------------------------------

    def with_route(self, route: str) -> Self:
        """This router on another of its routes."""
        return self.model_copy(update={"route": route})

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Self:
        """Every candidate with `bind_tools(tools, **kwargs)`. Requests then need tools, so
        candidates that cannot do them are skipped (or fail with `CapabilityMissing`)."""
        return self.model_copy(
            update={
                "backend": self.backend.with_tools(tools, **kwargs),
                "binding": replace(self.binding, tools=openai_tools(tools)),
            }
        )

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> RouterRunnable:
        """A router answering with `schema` objects: every candidate gets
        `with_structured_output(<schema's JSON Schema>, **kwargs)` (a dict, so the provider
        SDK does not parse the answer itself); an answer that is not valid JSON for the
        schema falls back (`invalid_output:json_schema`); the caller gets the validated
        object (a pydantic instance for a pydantic schema), or `{"raw", "parsed",
        "parsing_error"}` with `include_raw`. Streams yield the one final object."""
        json_schema = json_schema_of(schema)
        binding = replace(
            self.binding, schema=schema, json_schema=json_schema, include_raw=include_raw
        )
        return RouterRunnable(
            router=self.router,
            backend=self.backend.with_structured_output(json_schema, **kwargs),
            route=self.route,
            binding=binding,
        )

    # -- the Runnable methods -----------------------------------------------------------

    @property
    def engine(self) -> RouteEngine:
        """The engine calls go through."""
        return RouteEngine(self.router, self.backend, self.route, self.binding)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Route one input."""
        return self._call_with_config(self.engine.invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Route one input, async."""
        return await self._acall_with_config(self.engine.ainvoke, input, config, **kwargs)

    # The streaming methods return LangChain's own stream helpers directly (no generator of
    # ours in between), so closing the caller's stream closes every layer at once.

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Route a streamed input; yields the answering candidate's chunks."""
        stream: Iterator[Any] = self._transform_stream_with_config(
            input, self.engine.transform, config, **kwargs
        )
        return stream

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Route one input; yields the answering candidate's chunks. Falls back only before
        the first visible chunk; a later failure raises `StreamInterrupted`."""
        return self.transform(iter([input]), config, **kwargs)

    def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async twin of `transform`."""
        stream: AsyncIterator[Any] = self._atransform_stream_with_config(
            input, self.engine.atransform, config, **kwargs
        )
        return stream

    def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async twin of `stream` (with time-to-first-token and stall limits)."""
        return self.atransform(_one(input), config, **kwargs)


async def _one(value: Any) -> AsyncIterator[Any]:
    yield value


class RouterRunnable(RoutedRunnable, RunnableSerializable[Any, Any]):
    """A modelroute route as a Runnable: each call goes to the first candidate that gives an
    acceptable answer, through the core engine (breakers, retries, limits, validators,
    records and sinks included).

    Build it with `from_models` or `from_config` (fields: see `RoutedRunnable`). Chat-model
    candidates return the answering `AIMessage` (provider-neutral, with the decision's
    facts under `response_metadata["modelroute"]`); chain candidates return their output.
    """

    @property
    def InputType(self) -> Any:
        """Any input the candidates take (messages, a prompt value, a string, a dict)."""
        return Any

    @property
    def OutputType(self) -> Any:
        """The answering candidate's output type."""
        return Any
