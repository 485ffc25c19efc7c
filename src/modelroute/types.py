"""Plain request/response records shared by the core, the backends and the adapters.

Everything here is a frozen dataclass built from the standard library only, so that
`import modelroute` stays cheap. Token counts are integers (tokens); times are seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelroute.errors import InvalidRequest

JSONDict = dict[str, Any]


def _kind(value: Any) -> str:
    return type(value).__name__


def _optional_str_problem(name: str, value: Any) -> tuple[str, str] | None:
    if value is None or isinstance(value, str):
        return None
    return name, f"expected str or None, got {_kind(value)}"


def _content_problem(content: Any) -> tuple[str, str] | None:
    """(field, problem) of a message's content, or None when it has an OpenAI shape: a
    string, None, or a list of content parts (dicts with a string `type`; a `text` part's
    `text` is a string)."""
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "content", f"expected str or list of content parts, got {_kind(content)}"
    for j, part in enumerate(content):
        if not isinstance(part, Mapping):
            return f"content[{j}]", f"expected a content part (a dict), got {_kind(part)}"
        kind = part.get("type")
        if not isinstance(kind, str):
            return f"content[{j}].type", f"expected str, got {_kind(kind)}"
        if kind == "text" and not isinstance(part.get("text"), str):
            return f"content[{j}].text", f"expected str, got {_kind(part.get('text'))}"
    return None


def _message_problem(message: Message) -> tuple[str, str] | None:
    """(field, problem) of the first field of `message` with the wrong type, or None."""
    if not isinstance(message.role, str):
        return "role", f"expected str, got {_kind(message.role)}"
    problem = _content_problem(message.content)
    problem = problem or _optional_str_problem("name", message.name)
    problem = problem or _optional_str_problem("tool_call_id", message.tool_call_id)
    if problem is not None or message.tool_calls is None:
        return problem
    if not isinstance(message.tool_calls, tuple | list):
        return "tool_calls", f"expected a list of tool calls, got {_kind(message.tool_calls)}"
    for j, call in enumerate(message.tool_calls):
        if not isinstance(call, Mapping):
            return f"tool_calls[{j}]", f"expected a tool call (a dict), got {_kind(call)}"
    return None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in OpenAI's shape.

    `content` is a string, or a list of content parts (`{"type": "text", ...}`,
    `{"type": "image_url", ...}`) for multimodal input, or None for a pure tool-call turn.
    `tool_calls` are OpenAI-style dicts. Raises `InvalidRequest` (a `ValueError`) naming the
    field when one has the wrong type, e.g. `content: expected str or list of content parts,
    got int`.
    """

    role: str
    content: str | list[JSONDict] | None = None
    name: str | None = None
    tool_calls: tuple[JSONDict, ...] | None = None
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        problem = _message_problem(self)
        if problem is not None:
            raise InvalidRequest(*problem)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build from an OpenAI-style dict (a tuple of content parts or tool calls is taken
        as a list). Raises `InvalidRequest` (a `ValueError`) naming the field when `role` is
        missing or a field has the wrong type; other keys are ignored."""
        if not isinstance(data, Mapping):
            raise InvalidRequest("", f"expected a message dict, got {_kind(data)}")
        if "role" not in data:
            raise InvalidRequest("role", f"missing (keys: {', '.join(map(repr, data))})")
        content, calls = data.get("content"), data.get("tool_calls")
        return cls(
            role=data["role"],
            content=list(content) if isinstance(content, tuple) else content,
            name=data.get("name"),
            tool_calls=tuple(calls) if isinstance(calls, list | tuple) and calls else calls or None,
            tool_call_id=data.get("tool_call_id"),
        )

    def to_dict(self) -> JSONDict:
        """OpenAI-style dict with None fields left out."""
        out: JSONDict = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = list(self.tool_calls)
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @property
    def text(self) -> str:
        """The text parts of `content` joined; images and other parts are ignored."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    @property
    def has_image(self) -> bool:
        """True when a content part is an image."""
        if not isinstance(self.content, list):
            return False
        return any(p.get("type") in ("image_url", "image", "input_image") for p in self.content)


@dataclass(frozen=True, slots=True)
class Request:
    """What the caller asks for, and who asks.

    `json_schema` is a JSON Schema dict the answer must satisfy (structured output);
    `tools` are OpenAI-style tool definitions; `params` carries other provider kwargs
    (e.g. `top_p`) passed through unchanged. `user`, `team`, `task`, `tags` and
    `prompt_version` are routing and accounting metadata, never sent to the provider.
    """

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[JSONDict, ...] | None = None
    json_schema: JSONDict | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None
    team: str | None = None
    task: str | None = None
    tags: tuple[str, ...] = ()
    prompt_version: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, messages: str | Sequence[Message | Mapping[str, Any]], **kwargs: Any) -> Request:
        """Build a request from a prompt string or a list of messages (dicts or Message).

        Raises `InvalidRequest` (a `ValueError`) naming the field of a message of the wrong
        shape, e.g. `messages[2].content: expected str or list of content parts, got int`,
        or for an empty list; `TypeError` for an unknown keyword.

        >>> Request.of("Hello").messages[0].role
        'user'
        """
        if isinstance(messages, str):
            msgs: tuple[Message, ...] = (Message("user", messages),)
        elif isinstance(messages, bytes | bytearray | Mapping) or not isinstance(
            messages, Iterable
        ):
            kind = _kind(messages)
            raise InvalidRequest(
                "messages", f"expected a prompt str or a list of messages, got {kind}"
            )
        else:
            built = []
            for i, m in enumerate(messages):
                try:
                    built.append(m if isinstance(m, Message) else Message.from_dict(m))
                except InvalidRequest as exc:
                    raise exc.within(f"messages[{i}]") from None
            msgs = tuple(built)
        if not msgs:
            raise InvalidRequest("messages", "a request needs at least one message")
        if "tags" in kwargs:
            kwargs["tags"] = tuple(kwargs["tags"])
        if kwargs.get("tools") is not None:
            kwargs["tools"] = tuple(kwargs["tools"])
        return cls(messages=msgs, **kwargs)

    @property
    def needs_tools(self) -> bool:
        """The request offers tools, so the model must support tool calling."""
        return bool(self.tools)

    @property
    def needs_vision(self) -> bool:
        """A message carries an image, so the model must accept image input."""
        return any(m.has_image for m in self.messages)

    @property
    def needs_json_schema(self) -> bool:
        """The caller asks for structured output against a JSON schema."""
        return self.json_schema is not None

    @property
    def last_user_text(self) -> str:
        """Text of the last user message, or "" when there is none."""
        for m in reversed(self.messages):
            if m.role == "user":
                return m.text
        return ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call. `estimated` is True when the provider reported none.

    The detail counts are parts of the totals, never added to them: `cached_input_tokens`
    (cache reads) are part of `input_tokens`, `reasoning_tokens` part of `output_tokens`
    (and priced as output).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    estimated: bool = False
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """input + output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Response:
    """One model's answer.

    `model` is the model name the provider reported (it may carry a version,
    e.g. `gpt-4o-2024-08-06`); `tool_calls` are OpenAI-style dicts.
    """

    text: str
    model: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[JSONDict, ...] = ()
    id: str | None = None
    logprobs: tuple[float, ...] | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed answer from a backend.

    A stream is a sequence of chunks with text deltas; the last chunk may carry
    `usage`, `finish_reason` and the reported `model`.
    """

    text: str = ""
    tool_calls: tuple[JSONDict, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
