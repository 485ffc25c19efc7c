"""modelroute's LangChain adapter: routes as Runnables, as a chat model, as agent middleware.

>>> from modelroute_langchain import RouterRunnable, RoutedChatModel
>>> # router = RouterRunnable.from_models({"m-a": chat_a, "m-b": chat_b})
>>> # chain = prompt | router | StrOutputParser()

- `RouterRunnable` - a route over chat models or chains, as a LangChain Runnable.
- `RoutedChatModel` - the same behind the chat-model interface (agents, tools).
- `ModelRouteMiddleware` - routes the model calls of a `create_agent` agent.
- `LangChainBackend` - a modelroute `Backend` over named LangChain runnables.
- `map_error` - LangChain and provider exceptions into modelroute's `ProviderError` tree.

Test aids (`ScriptedChatModel`, `RunCollector`) are in `modelroute_langchain.testing`.
Needs the `langchain` extra. Every call goes through the core engine (`modelroute.Router`).
`ModelRouteMiddleware` is imported on first use (it loads `langchain.agents` and LangGraph).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelroute_langchain.backend import LangChainBackend
from modelroute_langchain.chat_model import RoutedChatModel
from modelroute_langchain.errors import (
    CapabilityMissing,
    ControlFlow,
    InvalidChainOutput,
    map_error,
)
from modelroute_langchain.runnable import RoutedRunnable, RouterRunnable

if TYPE_CHECKING:
    from modelroute_langchain.middleware import ModelRouteMiddleware

__all__ = [
    "CapabilityMissing",
    "ControlFlow",
    "InvalidChainOutput",
    "LangChainBackend",
    "ModelRouteMiddleware",
    "RoutedChatModel",
    "RoutedRunnable",
    "RouterRunnable",
    "map_error",
]


def __getattr__(name: str) -> Any:
    if name == "ModelRouteMiddleware":
        from modelroute_langchain.middleware import ModelRouteMiddleware

        return ModelRouteMiddleware
    raise AttributeError(f"module 'modelroute_langchain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
