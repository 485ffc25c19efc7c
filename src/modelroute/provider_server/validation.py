"""Checks a strict provider makes on the messages it receives (pure functions, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def ends_with_prefill(messages: Sequence[Any]) -> bool:
    """True when the last message has role "assistant" (an assistant prefill)."""
    return (
        bool(messages)
        and isinstance(messages[-1], dict)
        and messages[-1].get("role") == ("assistant")
    )


def history_problem(messages: Sequence[Any]) -> str | None:
    """The first way `messages` departs from standard OpenAI chat history, or None if it does not.

    Standard means: known roles with no unknown keys; assistant content that is text, text parts or
    null; tool calls with `id`, `type` "function" and `function` {`name`, `arguments` as a JSON
    string}; every tool message answering a tool-call id seen earlier.
    """
    seen_call_ids: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            return f"{where}: not an object"
        role = message.get("role")
        allowed = _ALLOWED_KEYS.get(role) if isinstance(role, str) else None
        if allowed is None:
            return f"{where}: unknown role {role!r}"
        unknown = sorted(set(message) - allowed)
        if unknown:
            return f"{where}: unknown keys {unknown} for role {role!r}"
        if role == "assistant":
            problem = _assistant_problem(message, where, seen_call_ids)
        elif role == "tool":
            problem = _tool_problem(message, where, seen_call_ids)
        else:
            problem = None
        if problem:
            return problem
    return None


def _assistant_problem(message: dict[str, Any], where: str, seen: set[str]) -> str | None:
    content = message.get("content")
    if not (content is None or isinstance(content, str) or _text_parts(content)):
        return f"{where}.content: must be text, text parts or null"
    calls = message.get("tool_calls")
    if calls is None:
        return None
    if not isinstance(calls, list):
        return f"{where}.tool_calls: must be a list"
    for j, call in enumerate(calls):
        problem = _tool_call_problem(call, f"{where}.tool_calls[{j}]")
        if problem:
            return problem
        seen.add(call["id"])
    return None


def _tool_call_problem(call: Any, where: str) -> str | None:
    if not isinstance(call, dict) or set(call) != {"id", "type", "function"}:
        return f"{where}: must have exactly the keys id, type, function"
    if not isinstance(call["id"], str) or not call["id"]:
        return f"{where}.id: must be a non-empty string"
    if call["type"] != "function":
        return f"{where}.type: must be 'function'"
    function = call["function"]
    if not isinstance(function, dict) or set(function) != {"name", "arguments"}:
        return f"{where}.function: must have exactly the keys name, arguments"
    if not isinstance(function["name"], str) or not isinstance(function["arguments"], str):
        return f"{where}.function: name and arguments must be strings"
    try:
        json.loads(function["arguments"])
    except ValueError:
        return f"{where}.function.arguments: not a JSON string"
    return None


def _tool_problem(message: dict[str, Any], where: str, seen: set[str]) -> str | None:
    call_id = message.get("tool_call_id")
    if call_id not in seen:
        return f"{where}.tool_call_id: {call_id!r} answers no earlier tool call"
    return None


def _text_parts(content: Any) -> bool:
    return isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" for part in content
    )
