"""Chat-completion payloads: which reply a script gives, and its JSON and SSE-chunk shapes.

Pure functions, no I/O. Token counts are deterministic: from the script's `Usage` where given,
else estimated as ceil(characters / 4) (at least 1 for a prompt).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelroute.provider_server.faults import ContentOverride, Fault, OmitUsage
from modelroute.provider_server.scripts import AnswerRule, ModelScript, ToolCall, Usage


@dataclass(frozen=True)
class Reply:
    """One answer, before it is shaped as JSON or as SSE chunks.

    model: the `model` field to report. usage: the `usage` block, or None to send none.
    extra: provider-specific fields merged into the message (and the first stream delta).
    logprobs: per-token log probabilities of the answer (non-streaming only), or None.
    """

    model: str
    content: str | None
    tool_calls: tuple[dict[str, Any], ...]
    finish_reason: str
    usage: dict[str, Any] | None
    extra: Mapping[str, Any]
    logprobs: tuple[float, ...] | None = None


def message_text(content: Any) -> str:
    """The text of a message's `content`: a string, or the joined text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def last_user_text(messages: Sequence[Any]) -> str:
    """The text of the last message with role "user" ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4): 0 for "", 1 for up to 4 characters."""
    return math.ceil(len(text) / 4)


def prompt_tokens(messages: Sequence[Any]) -> int:
    """Estimated prompt tokens: ceil(characters of every message's content / 4), at least 1."""
    text = "".join(message_text(m.get("content")) for m in messages if isinstance(m, Mapping))
    return max(1, estimate_tokens(text))


def compose_reply(
    model: str, script: ModelScript, body: Mapping[str, Any], fault: Fault | None
) -> Reply:
    """The reply `script` gives to the request `body`, as changed by `fault` (content, usage)."""
    messages = body.get("messages") or []
    rule = _matching_rule(script, messages)
    content, calls = _scripted_answer(model, script, body, messages, rule)
    finish_reason = "tool_calls" if calls else "stop"
    logprobs = rule.logprobs if rule is not None and not calls else None
    if isinstance(fault, ContentOverride):
        content, calls, logprobs = fault.content, (), None
        finish_reason = fault.finish_reason or "stop"
    wire_calls = tuple(_wire_tool_call(call, i) for i, call in enumerate(calls))
    usage = None
    if not isinstance(fault, OmitUsage):
        completion_text = (content or "") + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in wire_calls
        )
        given = rule.usage if rule is not None and rule.usage is not None else script.usage
        usage = _usage(given, prompt_tokens(messages), estimate_tokens(completion_text))
    return Reply(
        model=script.reported_model or model,
        content=content,
        tool_calls=wire_calls,
        finish_reason=finish_reason,
        usage=usage,
        extra=script.message_extra,
        logprobs=logprobs,
    )


def completion_body(reply: Reply, completion_id: str, created: int) -> dict[str, Any]:
    """The non-streaming `chat.completion` JSON object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = list(reply.tool_calls)
    message.update(reply.extra)
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": _wire_logprobs(reply.logprobs),
                "finish_reason": reply.finish_reason,
            }
        ],
    }
    if reply.usage is not None:
        body["usage"] = reply.usage
    return body


def stream_chunks(
    reply: Reply,
    completion_id: str,
    created: int,
    *,
    chunks: int | None,
    include_usage: bool,
) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a stream, in order, without the `[DONE]` sentinel.

    Content comes in `split_text(content, chunks)` pieces, the first delta also carrying the role;
    then one chunk per tool call (and one with its arguments); then an empty delta with the
    finish_reason; then, when `include_usage` and usage is reported, a chunk with empty `choices`.
    """

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            out["usage"] = None
        return out

    deltas: list[dict[str, Any]] = []
    if reply.content is not None:
        deltas.extend({"content": piece} for piece in split_text(reply.content, chunks))
    for i, call in enumerate(reply.tool_calls):
        function = {"name": call["function"]["name"], "arguments": ""}
        head = {"index": i, "id": call["id"], "type": "function", "function": function}
        deltas.append({"tool_calls": [head]})
        args = {"index": i, "function": {"arguments": call["function"]["arguments"]}}
        deltas.append({"tool_calls": [args]})
    role = {"role": "assistant", **reply.extra}
    if deltas:
        deltas[0] = {**role, **deltas[0]}
    else:  # no content to send: a role-only delta ("content": "" for an empty answer)
        deltas.append({**role, "content": ""} if reply.content == "" else role)
    out = [chunk(delta) for delta in deltas]
    out.append(chunk({}, reply.finish_reason))
    if include_usage and reply.usage is not None:
        out.append({**chunk({}), "choices": [], "usage": reply.usage})
    return out


def split_text(text: str, chunks: int | None) -> list[str]:
    """Split `text` into stream pieces.

    One piece per word (with its trailing whitespace) when `chunks` is None, else `chunks` pieces
    of near-equal length (fewer if the text is shorter); "" gives [].
    """
    if not text:
        return []
    if chunks is None:
        words = re.findall(r"\S+\s*", text)
        if not words:
            return [text]
        lead = text[: len(text) - len(text.lstrip())]
        words[0] = lead + words[0]
        return words
    count = min(chunks, len(text))
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def new_completion_id() -> str:
    """A fresh `chatcmpl-...` id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _matching_rule(script: ModelScript, messages: Sequence[Any]) -> AnswerRule | None:
    text = last_user_text(messages)
    return next((r for r in script.rules if r.when in text), None)


def _scripted_answer(
    model: str,
    script: ModelScript,
    body: Mapping[str, Any],
    messages: Sequence[Any],
    rule: AnswerRule | None,
) -> tuple[str | None, tuple[ToolCall, ...]]:
    wants_tools = bool(body.get("tools")) and not (
        messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "tool"
    )
    calls = (
        (rule.tool_calls if rule and rule.tool_calls else script.tool_calls) if wants_tools else ()
    )
    if calls:
        return None, calls
    if rule is not None and rule.answer is not None:
        return rule.answer, ()
    return (script.answer if script.answer is not None else f"Hello from {model}."), ()


def _wire_tool_call(call: ToolCall, index: int) -> dict[str, Any]:
    arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
    return {
        "id": call.id or f"call_{uuid.uuid4().hex[:12]}_{index}",
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _wire_logprobs(values: tuple[float, ...] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    content: list[dict[str, Any]] = [
        {"token": f"t{i}", "logprob": v, "bytes": None, "top_logprobs": []}
        for i, v in enumerate(values)
    ]
    return {"content": content}


def _usage(given: Usage | None, prompt_estimate: int, completion_estimate: int) -> dict[str, Any]:
    given = given or Usage()
    prompt = _first(given.prompt_tokens, prompt_estimate)
    completion = _first(given.completion_tokens, completion_estimate)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _first(given.total_tokens, prompt + completion),
    }
    if given.prompt_tokens_details is not None:
        usage["prompt_tokens_details"] = dict(given.prompt_tokens_details)
    if given.completion_tokens_details is not None:
        usage["completion_tokens_details"] = dict(given.completion_tokens_details)
    return usage


def _first(value: int | None, default: int) -> int:
    return default if value is None else value
