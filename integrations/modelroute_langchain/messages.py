"""From LangChain input to a modelroute `Request`, and back to LangChain messages.

The request is what the engine judges (capabilities, context window, budgets, validators);
the candidates themselves receive the caller's LangChain messages (or, for chains, the
caller's input unchanged), so nothing is lost in the round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig

from modelroute.types import JSONDict, Request

__all__ = ["METADATA_KEYS", "request_messages", "to_chat_messages", "to_request"]

METADATA_KEYS: Mapping[str, str] = {
    "modelroute_user": "user",
    "modelroute_team": "team",
    "modelroute_task": "task",
    "modelroute_prompt_version": "prompt_version",
}
"""Run-config metadata keys copied onto the request (accounting and routing, never sent)."""


def to_chat_messages(value: Any) -> list[BaseMessage] | None:
    """`value` as chat messages: a prompt value, a string (one human message), a message,
    a sequence of message-likes, or an agent's model request (its system message and
    messages). None when it is none of these (a chain's dict input)."""
    agent_messages = getattr(value, "messages", None)
    if isinstance(agent_messages, list) and hasattr(value, "system_message"):
        system = value.system_message
        return [system, *agent_messages] if system is not None else list(agent_messages)
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        try:
            return convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError):
            return None
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def to_request(
    value: Any,
    messages: Sequence[BaseMessage] | None,
    *,
    config: RunnableConfig | None = None,
    tools: tuple[JSONDict, ...] | None = None,
    json_schema: JSONDict | None = None,
) -> Request:
    """The request the engine routes. A chain's non-message input becomes one user message
    holding its JSON (used for token estimates only). `modelroute_user`, `_team`, `_task` and
    `_prompt_version` in the run config's metadata fill the request's accounting fields."""
    if messages is not None:
        dicts: list[Any] = list(convert_to_openai_messages(list(messages)))
    else:
        dicts = [{"role": "user", "content": _as_text(value)}]
    metadata = (config or {}).get("metadata") or {}
    extras = {
        field: str(metadata[key]) for key, field in METADATA_KEYS.items() if metadata.get(key)
    }
    return Request.of(dicts, tools=tools, json_schema=json_schema, **extras)


def request_messages(request: Request) -> list[BaseMessage]:
    """The request's messages as LangChain messages (for the plain `Backend` interface)."""
    return convert_to_messages([m.to_dict() for m in request.messages])
