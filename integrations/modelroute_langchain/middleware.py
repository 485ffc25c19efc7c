"""`ModelRouteMiddleware`: an agent middleware that routes each model call of an agent built
with `langchain.agents.create_agent` through a modelroute route.

    agent = create_agent(
        ChatOpenAI(model="m-a"), tools=[lookup],
        middleware=[ModelRouteMiddleware.from_models({"m-a": chat_a, "m-b": chat_b})],
    )

Each model call is a router run (named `ModelRouteMiddleware`) in the agent's trace; each
attempt is a child run named after its model that calls the agent's own model handler with
that candidate, so the agent binds its tools and response format to every candidate the
same way, and inner middleware runs per attempt. The answer's message carries the
decision's facts in `response_metadata["modelroute"]` like `RoutedChatModel`'s. Agents
call models with `invoke`, so fallbacks happen on whole answers (a token stream the agent
relays through callbacks is not held back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain.agents.middleware.types import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from modelroute.catalog import Catalog
from modelroute.route import Route
from modelroute.router import Router
from modelroute_langchain.backend import LangChainBackend, warn_on_own_retries
from modelroute_langchain.binding import Binding, openai_tools
from modelroute_langchain.engine import RouteEngine

__all__ = ["ModelRouteMiddleware"]

Handler = Callable[[ModelRequest], ModelResponse]
AsyncHandler = Callable[[ModelRequest], Awaitable[ModelResponse]]


class ModelRouteMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """Routes an agent's model calls over `models` (route model name -> chat model) through
    `router` (its routes name those models; `route` picks one, None: the router's choice).
    Build both at once with `from_models`."""

    def __init__(
        self,
        router: Router,
        models: Mapping[str, BaseChatModel],
        *,
        route: str | None = None,
    ) -> None:
        super().__init__()
        self.router = router
        self.models = dict(models)
        self.route = route

    @classmethod
    def from_models(
        cls,
        models: Mapping[str, BaseChatModel],
        *,
        route: Route | None = None,
        catalog: Catalog | None = None,
        **router_options: Any,
    ) -> ModelRouteMiddleware:
        """A middleware over `models` in order (or `route`), capabilities detected for
        models `catalog` lacks; `router_options` go to `modelroute.Router`."""
        backend = LangChainBackend(models)
        warn_on_own_retries(models)
        route = route or Route("default", tuple(models))
        router = Router(
            [route], backend=backend, catalog=backend.catalog(catalog), **router_options
        )
        return cls(router, models)

    def _routed(self, request: ModelRequest, attempt: Callable[[BaseChatModel], Any]) -> Any:
        """The router run for one model call: a runnable over one attempt runnable per model
        (`attempt(model)` is a sync or async function of the request)."""
        candidates: dict[str, Runnable[Any, Any]] = {
            name: RunnableLambda(attempt(model), name=name) for name, model in self.models.items()
        }
        tools = openai_tools(request.tools) if request.tools else None
        engine = RouteEngine(self.router, LangChainBackend(candidates), self.route, Binding(tools))
        return RunnableLambda(engine.invoke, afunc=engine.ainvoke, name=type(self).__name__)

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> ModelResponse:
        """Answer the model call through the route (sync agents)."""

        def attempt(model: BaseChatModel) -> Handler:
            return lambda req: handler(req.override(model=model))

        response: ModelResponse = self._routed(request, attempt).invoke(request)
        return response

    async def awrap_model_call(self, request: ModelRequest, handler: AsyncHandler) -> ModelResponse:
        """Answer the model call through the route (async agents)."""

        def attempt(model: BaseChatModel) -> AsyncHandler:
            async def call(req: ModelRequest) -> ModelResponse:
                return await handler(req.override(model=model))

            return call

        response: ModelResponse = await self._routed(request, attempt).ainvoke(request)
        return response
