"""Facts read from what a candidate returns: LangChain messages (and chain outputs) as
modelroute `Response`s and `StreamChunk`s, and the normalized message the caller gets.

Read from an `AIMessage`: usage from `usage_metadata` (cache reads are a subset of the
input tokens), the reported model from `response_metadata` (`model_name`, `model` or
`model_id`), the finish reason (`finish_reason`, `stop_reason` or `done_reason`), token
logprobs (OpenAI's `logprobs.content[].logprob`), and a refusal from a `refusal` content
block or OpenAI's `additional_kwargs["refusal"]`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from pydantic import BaseModel

from modelroute.types import JSONDict, Response, StreamChunk, Usage

__all__ = [
    "add_usage",
    "answer_message",
    "normalized",
    "to_response",
    "to_stream_chunk",
    "usage_of",
    "with_answer",
]

_MODEL_KEYS = ("model_name", "model", "model_id")
_FINISH_KEYS = ("finish_reason", "stop_reason", "done_reason")
_KEPT_KWARGS = frozenset({"refusal"})


def usage_of(message: Any) -> Usage | None:
    """Usage from a message's `usage_metadata`, or None when it has none."""
    meta = getattr(message, "usage_metadata", None)
    if not meta:
        return None
    details = meta.get("input_token_details") or {}
    return Usage(
        input_tokens=int(meta.get("input_tokens") or 0),
        output_tokens=int(meta.get("output_tokens") or 0),
        cached_input_tokens=int(details.get("cache_read") or 0),
    )


def add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    """`total` + `more` (a stream's usage arrives in deltas that add up)."""
    if more is None or total is None:
        return total or more
    return Usage(
        total.input_tokens + more.input_tokens,
        total.output_tokens + more.output_tokens,
        total.cached_input_tokens + more.cached_input_tokens,
    )


def _first_str(data: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _logprobs(metadata: dict[str, Any]) -> tuple[float, ...] | None:
    logprobs = metadata.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    values = [t["logprob"] for t in content if isinstance(t, dict) and "logprob" in t]
    return tuple(float(v) for v in values) or None


def _refusal(message: BaseMessage) -> str | None:
    refusal = message.additional_kwargs.get("refusal")
    if isinstance(refusal, str) and refusal:
        return refusal
    if isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, dict) and block.get("type") == "refusal":
                return str(block.get("refusal") or "refused")
    return None


def _openai_tool_calls(message: AIMessage) -> tuple[JSONDict, ...]:
    return tuple(
        {
            "id": call.get("id"),
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        for call in message.tool_calls
    )


def _message_response(message: BaseMessage, *, structured: bool) -> Response:
    metadata = dict(message.response_metadata)
    calls = _openai_tool_calls(message) if isinstance(message, AIMessage) else ()
    text = message.text
    if structured and calls and not text.strip():
        # function-calling structured output: the answer is the first call's arguments
        text, calls = calls[0]["function"]["arguments"], ()
    return Response(
        text=text,
        model=_first_str(metadata, _MODEL_KEYS),
        finish_reason=_first_str(metadata, _FINISH_KEYS),
        usage=usage_of(message),
        tool_calls=calls,
        id=message.id,
        logprobs=_logprobs(metadata),
        refusal=_refusal(message),
    )


def to_response(raw: Any, *, structured: bool = False) -> Response:
    """A `Response` for what a candidate returned: an answer `answer_message` finds, another
    message, a string, a pydantic object, or any JSON-able value (its JSON is the text).
    `structured` reads a function-calling answer's arguments as the text, so the engine's
    JSON-schema validator judges them."""
    message = answer_message(raw)
    if message is not None:
        return _message_response(message, structured=structured)
    if isinstance(raw, BaseMessage):
        return _message_response(raw, structured=structured)
    if raw is None:
        return Response(text="")
    if isinstance(raw, str):
        return Response(text=raw)
    if isinstance(raw, BaseModel):
        return Response(text=raw.model_dump_json())
    try:
        return Response(text=json.dumps(raw, default=str))
    except (TypeError, ValueError):
        return Response(text=str(raw))


def answer_message(raw: Any) -> AIMessage | None:
    """The answering `AIMessage` inside what a candidate returned: the message itself, the
    `"raw"` of a `with_structured_output(include_raw=True)` dict, or the last `AIMessage` of
    an agent's `ModelResponse` (`result`, also inside an `ExtendedModelResponse`)."""
    if isinstance(raw, AIMessage):
        return raw
    if isinstance(raw, dict):
        inner = raw.get("raw")
        return inner if isinstance(inner, AIMessage) else None
    result = getattr(getattr(raw, "model_response", raw), "result", None)
    if isinstance(result, list):
        return next((m for m in reversed(result) if isinstance(m, AIMessage)), None)
    return None


def with_answer(raw: Any, old: AIMessage, new: AIMessage) -> Any:
    """`raw` with its answering message `old` (from `answer_message`) replaced by `new`."""
    if raw is old:
        return new
    if isinstance(raw, dict):
        return {**raw, "raw": new}
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        if hasattr(raw, "model_response"):
            return dataclasses.replace(
                raw, model_response=with_answer(raw.model_response, old, new)
            )
        result = getattr(raw, "result", None)
        if isinstance(result, list):
            return dataclasses.replace(raw, result=[new if m is old else m for m in result])
    return raw


def _tool_call_deltas(chunk: AIMessageChunk) -> tuple[JSONDict, ...]:
    return tuple(
        {
            "index": part.get("index"),
            "id": part.get("id"),
            "type": "function",
            "function": {"name": part.get("name"), "arguments": part.get("args") or ""},
        }
        for part in chunk.tool_call_chunks
    )


def to_stream_chunk(raw: Any) -> StreamChunk:
    """A `StreamChunk` for one streamed piece (usage is added by the caller, which sums
    the deltas). Non-message pieces count as text: a string as is, anything else as JSON."""
    if isinstance(raw, BaseMessage):
        metadata = dict(raw.response_metadata)
        calls = _tool_call_deltas(raw) if isinstance(raw, AIMessageChunk) else ()
        return StreamChunk(
            text=raw.text,
            tool_calls=calls,
            finish_reason=_first_str(metadata, _FINISH_KEYS),
            model=_first_str(metadata, _MODEL_KEYS),
        )
    return StreamChunk(text=to_response(raw).text)


def normalized(message: AIMessage) -> AIMessage:
    """`message` in the provider-neutral shape the next turn can send to any model: text
    content (a list of provider blocks becomes its text), standard tool calls, usage and
    response metadata kept; provider-specific `additional_kwargs` dropped (a refusal kept)."""
    kept = {k: v for k, v in message.additional_kwargs.items() if k in _KEPT_KWARGS and v}
    update: dict[str, Any] = {"additional_kwargs": kept}
    if not isinstance(message.content, str):
        update["content"] = message.text
    return message.model_copy(update=update)
