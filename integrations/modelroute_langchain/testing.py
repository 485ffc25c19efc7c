"""Test aids for routes in LangChain code: a scripted chat model and a run collector.

LangChain's own fake chat models cannot bind tools and report no usage when streaming;
`ScriptedChatModel` answers from a script, can bind tools, streams word by word with usage
on the last chunk, and raises scripted exceptions, so fallbacks, tool calls and usage
accounting can be tested offline. `RunCollector` keeps every finished run, to assert on
the run tree (parent ids, tags, metadata).

    model = ScriptedChatModel(model="m-a", replies=[TimeoutError("slow"), "Hello."])
    runs = RunCollector()
    router.invoke("hi", {"callbacks": [runs]})
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

__all__ = ["RunCollector", "ScriptedChatModel"]

Reply = str | AIMessage | BaseException


class ScriptedChatModel(BaseChatModel):
    """A chat model answering from `replies`, one per call, the last one repeating.

    A reply is a text, a full `AIMessage` (e.g. with tool calls), or an exception to raise.
    Answers report `model` as `model_name`, `finish_reason` "stop" (or "tool_calls"), and
    usage: `input_tokens` and one output token per word unless the message has its own.
    When tools are bound (or passed) and the last message is not a tool result,
    `tool_reply` is answered instead, if set. `calls` counts the calls made.
    """

    model: str = "scripted"
    replies: list[Any] = Field(default_factory=lambda: ["Hello."])
    tool_reply: AIMessage | None = None
    input_tokens: int = 10
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> int:
        """How many calls were made."""
        return self._calls

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (in OpenAI's format) like a real chat model does."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self._calls += 1
        wants_tool = kwargs.get("tools") and not isinstance(messages[-1], ToolMessage)
        if wants_tool and self.tool_reply is not None:
            reply: Reply = self.tool_reply
        else:
            reply = self.replies[min(self._calls - 1, len(self.replies) - 1)]
        if isinstance(reply, BaseException):
            raise reply
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        words = len(message.text.split())
        usage = message.usage_metadata or UsageMetadata(
            input_tokens=self.input_tokens,
            output_tokens=words,
            total_tokens=self.input_tokens + words,
        )
        finish = "tool_calls" if message.tool_calls else "stop"
        metadata = {"model_name": self.model, "finish_reason": finish}
        return message.model_copy(update={"usage_metadata": usage, "response_metadata": metadata})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages, kwargs)
        pieces = re.findall(r"\S+\s*|\s+", message.text) if message.text else []
        for piece in pieces:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        tool_chunks = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
            for i, c in enumerate(message.tool_calls)
        ]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=message.id,
                tool_call_chunks=tool_chunks,  # type: ignore[arg-type]
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )


class RunCollector(BaseTracer):
    """Keeps every run (LLM, chain, tool...) as it finishes, in `runs`."""

    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        """Nothing to persist: runs are kept as they end."""

    def _end_trace(self, run: Run) -> None:
        self.runs.append(run)
        super()._end_trace(run)

    def named(self, name: str) -> list[Run]:
        """The finished runs called `name`, in the order they ended."""
        return [run for run in self.runs if run.name == name]

    def children(self, parent: Run) -> list[Run]:
        """The finished runs whose parent is `parent`, in the order they started."""
        kids = [run for run in self.runs if run.parent_run_id == parent.id]
        return sorted(kids, key=lambda run: run.start_time)
