"""`RoutedChatModel`: a modelroute route behind LangChain's chat-model interface, for places
that only take a chat model (`langchain.agents.create_agent`, middleware, tools).

    model = RoutedChatModel.from_models({"m-a": chat_a, "m-b": chat_b})
    agent = create_agent(model, tools=[lookup])

Its `invoke`/`ainvoke`/`stream`/`astream` (and so `batch` and `astream_events`) are the
same engine calls as `RouterRunnable`'s: the facade's run is a chain run and each attempt
is a child LLM run. So usage is reported once, by the calls that spent it: a callback
counting LLM usage sees each provider call once, and the returned `AIMessage` carries the
answering call's `usage_metadata` for code that reads it from messages. (LangChain's lower
level `generate()` goes through `_generate`, the same engine under an LLM run of its own;
there an LLM-usage counter would see the answer twice.)
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig

from modelroute_langchain.runnable import RoutedRunnable

__all__ = ["RoutedChatModel"]


class RoutedChatModel(RoutedRunnable, BaseChatModel):
    """A chat model that answers through a modelroute route (see `RouterRunnable` for the
    fields and construction: `from_models`, `from_config`). `bind_tools` binds every
    candidate; `with_structured_output` returns a `RouterRunnable` answering with objects.
    The answer's `response_metadata` names the responding model (`model_name`) and holds
    the decision's facts under `"modelroute"`."""

    @property
    def _llm_type(self) -> str:
        return "modelroute"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if stop is not None:
            kwargs["stop"] = stop
        message = self.engine.invoke(messages, run_manager, RunnableConfig(), **kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if stop is not None:
            kwargs["stop"] = stop
        message = await self.engine.ainvoke(messages, run_manager, RunnableConfig(), **kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])
