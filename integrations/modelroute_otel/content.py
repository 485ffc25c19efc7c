"""Message content on spans: off by default, in the GenAI conventions' JSON shape when on.

Capture is decided once, when the observer is built: the explicit argument wins, else
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`, `1`, `yes`, or the
util-genai modes `SPAN_ONLY` / `SPAN_AND_EVENT`). Only messages and answers are captured:
never request params, metadata, headers or keys. Key-like strings are redacted from
every text this package records (captured content and error messages alike); image data
is never copied and URLs lose their query strings (pre-signed URLs carry credentials).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelroute.types import Message, Request, Response
from modelroute_otel.attributes import ENV_CAPTURE_CONTENT

_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})

_SECRET = re.compile(
    r"(?i)(?:\bsk-[A-Za-z0-9_\-]{8,}"  # OpenAI/Anthropic-style keys
    r"|\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"  # Authorization header values
    r"|\b(?:api[_-]?key|x-api-key|authorization)\s*[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic)\s+)?[^\s\"',}]{6,})"
)
REDACTED = "[REDACTED]"

JSONPart = dict[str, Any]


def capture_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment opts in to content capture (read once, at setup)."""
    value = (os.environ if environ is None else environ).get(ENV_CAPTURE_CONTENT, "")
    return value.strip().lower() in _ON


def redact(text: str) -> str:
    """`text` with API-key-like substrings replaced by `[REDACTED]`."""
    return _SECRET.sub(REDACTED, text)


def input_messages(request: Request) -> str:
    """`gen_ai.input.messages`: the request's messages as a JSON array."""
    return _dumps([_message(m) for m in request.messages])


def output_messages(response: Response) -> str:
    """`gen_ai.output.messages`: the answer as a one-message JSON array."""
    parts: list[JSONPart] = []
    if response.text:
        parts.append({"type": "text", "content": response.text})
    parts.extend(_tool_call(c) for c in response.tool_calls)
    message = {"role": "assistant", "parts": parts, "finish_reason": response.finish_reason or ""}
    return _dumps([message])


def _dumps(value: object) -> str:
    return redact(json.dumps(value, ensure_ascii=False, default=str))


def _message(message: Message) -> JSONPart:
    parts: list[JSONPart] = []
    if message.role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.text}
        )
    elif isinstance(message.content, str):
        parts.append({"type": "text", "content": message.content})
    elif message.content:
        parts.extend(_part(p) for p in message.content)
    parts.extend(_tool_call(c) for c in message.tool_calls or ())
    out: JSONPart = {"role": message.role, "parts": parts}
    if message.name:
        out["name"] = message.name
    return out


def _part(part: Mapping[str, Any]) -> JSONPart:
    kind = str(part.get("type", ""))
    if kind == "text":
        return {"type": "text", "content": str(part.get("text", ""))}
    if kind in ("image_url", "input_image", "image"):
        raw = part.get("image_url", part.get("url", ""))
        url = str(raw.get("url", "") if isinstance(raw, Mapping) else raw)
        if url.startswith("data:"):
            mime = url[5:].split(";", 1)[0].split(",", 1)[0]
            return {"type": "blob", "modality": "image", "mime_type": mime or None}
        return {"type": "uri", "modality": "image", "uri": _strip_query(url)}
    return {"type": kind or "unknown"}


def _tool_call(call: Mapping[str, Any]) -> JSONPart:
    function = call.get("function") or {}
    arguments: Any = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: keep the string
            arguments = json.loads(arguments)
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": arguments,
    }


def _strip_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
