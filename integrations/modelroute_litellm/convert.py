"""Conversions between modelroute records and LiteLLM's call kwargs and answers.

- `completion_kwargs`: a `Request` (+ model, timeout, credentials) -> kwargs for
  `litellm.completion` / `litellm.acompletion`, with retries off at every layer.
- `to_response`: a LiteLLM `ModelResponse` -> `Response`.
- `StreamState`: folds LiteLLM stream chunks (`ModelResponseStream`) into `StreamChunk`s and
  the final chunk (finish_reason, usage, model).

LiteLLM objects are read by attribute or key, so plain dicts (e.g. from a cassette) work too.
Importing this module does not import LiteLLM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelroute.catalog import ModelInfo
from modelroute.types import JSONDict, Request, Response, StreamChunk, Usage

FORCED_KWARGS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "timeout",
        "num_retries",
        "max_retries",
        "retry_policy",
        "fallbacks",
        "context_window_fallback_dict",
    }
)
"""Kwargs the backend always sets itself; a request's `params` cannot override them."""

UsageEstimator = Callable[[str], Usage]
"""(answer text) -> estimated Usage, for answers whose provider reported no usage."""


def json_schema_format(schema: Mapping[str, Any], name: str = "response") -> JSONDict:
    """OpenAI's `response_format` for structured output against `schema` (strict mode)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": dict(schema), "strict": True},
    }


def completion_kwargs(
    model: ModelInfo,
    request: Request,
    *,
    timeout_s: float | None,
    api_base: str | None = None,
    api_key: str | None = None,
    stream: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Kwargs for `litellm.(a)completion`.

    `model=model.call_name`; messages as OpenAI dicts; `max_tokens`, `temperature`, `tools`
    and `response_format` (from `json_schema`) only when set; `request.params` and `extra`
    passed through (they cannot override `FORCED_KWARGS`); `timeout=timeout_s` (seconds)
    when given; `num_retries=0`, `max_retries=0` and a zero `retry_policy` so neither LiteLLM
    (even with a global `litellm.num_retries`) nor the openai client retries, and LiteLLM's
    own fallbacks are never configured per call. Streams add `stream=True` and
    `stream_options={"include_usage": True}`.
    Routing metadata (user, team, task, tags, prompt_version, metadata) is never sent.
    """
    kwargs: dict[str, Any] = {}
    if extra:
        kwargs.update(extra)
    kwargs.update(request.params)
    for key in FORCED_KWARGS:
        kwargs.pop(key, None)
    kwargs["model"] = model.call_name
    kwargs["messages"] = [m.to_dict() for m in request.messages]
    if request.max_tokens is not None:
        kwargs["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.tools:
        kwargs["tools"] = [dict(t) for t in request.tools]
    if request.json_schema is not None:
        kwargs["response_format"] = json_schema_format(request.json_schema)
    if api_base is not None:
        kwargs["api_base"] = api_base
    if api_key is not None:
        kwargs["api_key"] = api_key
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    kwargs["num_retries"] = 0
    kwargs["max_retries"] = 0
    # LiteLLM's sync wrapper reads `num_retries or litellm.num_retries`, so a 0 alone would
    # not beat a global `litellm.num_retries`; a retry policy of 0 for every error does.
    kwargs["retry_policy"] = {"DefaultRetries": 0}
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def get(obj: Any, name: str, default: Any = None) -> Any:
    """`obj[name]` for a mapping, else `getattr(obj, name)`; `default` when missing or None."""
    if obj is None:
        return default
    value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return default if value is None else value


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def usage_from(obj: Any) -> Usage | None:
    """`Usage` from a LiteLLM/OpenAI usage block, or None when there is none or it is all zero
    (LiteLLM fills an all-zero block when the provider sent none).

    Detail counts are parts of the totals, as OpenAI reports them: `cached_input_tokens` is
    `prompt_tokens_details.cached_tokens` (part of `prompt_tokens`; image and audio tokens are
    parts too and have no price of their own), `reasoning_tokens` is
    `completion_tokens_details.reasoning_tokens` (part of `completion_tokens`). An
    Anthropic-shaped block (`input_tokens` without the cache reads and writes, which are
    reported beside it) is folded into the same shape: input = all three, cached = the reads.
    """
    if obj is None:
        return None
    if get(obj, "prompt_tokens") is None and get(obj, "input_tokens") is not None:
        return _anthropic_usage(obj)
    input_tokens = _as_int(get(obj, "prompt_tokens"))
    output_tokens = _as_int(get(obj, "completion_tokens"))
    if input_tokens == 0 and output_tokens == 0:
        return None
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=_as_int(get(get(obj, "prompt_tokens_details"), "cached_tokens")),
        reasoning_tokens=_as_int(get(get(obj, "completion_tokens_details"), "reasoning_tokens")),
    )


def _anthropic_usage(obj: Any) -> Usage | None:
    reads = _as_int(get(obj, "cache_read_input_tokens"))
    input_tokens = _as_int(get(obj, "input_tokens")) + reads
    input_tokens += _as_int(get(obj, "cache_creation_input_tokens"))
    output_tokens = _as_int(get(obj, "output_tokens"))
    if input_tokens == 0 and output_tokens == 0:
        return None
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cached_input_tokens=reads)


def tool_call_dict(call: Any, *, with_index: bool = False) -> JSONDict:
    """An OpenAI-style plain dict of one tool call (or a stream delta of one, `with_index`).

    Shape: `{"id", "type", "function": {"name", "arguments"}}`, plus `"index"` for deltas;
    fields the provider did not send (None) are left out.
    """
    out: JSONDict = {}
    if with_index:
        out["index"] = _as_int(get(call, "index"))
    call_id = get(call, "id")
    if call_id is not None:
        out["id"] = str(call_id)
    call_type = get(call, "type")
    if call_type is not None:
        out["type"] = str(call_type)
    function = get(call, "function")
    if function is not None:
        fn: JSONDict = {}
        name = get(function, "name")
        if name is not None:
            fn["name"] = str(name)
        arguments = get(function, "arguments")
        if arguments is not None:
            fn["arguments"] = str(arguments)
        out["function"] = fn
    return out


def _logprobs(choice: Any) -> tuple[float, ...] | None:
    content = get(get(choice, "logprobs"), "content")
    if not isinstance(content, Sequence) or isinstance(content, str) or not content:
        return None
    values = [get(item, "logprob") for item in content]
    return tuple(float(v) for v in values if isinstance(v, (int, float)))


def _provider_model(obj: Any) -> str | None:
    hidden = getattr(obj, "_hidden_params", None)
    if isinstance(hidden, Mapping):
        reported = hidden.get("provider_response_model")
        if isinstance(reported, str) and reported:
            return reported
    model = get(obj, "model")
    return str(model) if model else None


def to_response(response: Any, *, estimate_usage: UsageEstimator | None = None) -> Response:
    """A `Response` from a LiteLLM `ModelResponse` (or an OpenAI-shaped dict).

    `text` is the first choice's content ("" when None); `model` the provider-reported model;
    `usage` the provider's, else `estimate_usage(text)` (which marks it `estimated=True`),
    else None. Tool calls become plain dicts; `refusal` is `message.refusal` when present.
    """
    choices = get(response, "choices", [])
    choice = choices[0] if choices else None
    message = get(choice, "message")
    content = get(message, "content")
    text = content if isinstance(content, str) else ""
    calls = tuple(tool_call_dict(c) for c in get(message, "tool_calls", []) or [])
    usage = usage_from(get(response, "usage"))
    if usage is None and estimate_usage is not None:
        usage = estimate_usage(text + "".join(_call_text(c) for c in calls))
    refusal = get(message, "refusal")
    response_id = get(response, "id")
    finish = get(choice, "finish_reason")
    return Response(
        text=text,
        model=_provider_model(response),
        finish_reason=str(finish) if finish is not None else None,
        usage=usage,
        tool_calls=calls,
        id=str(response_id) if response_id is not None else None,
        logprobs=_logprobs(choice),
        refusal=str(refusal) if refusal else None,
    )


def _call_text(call: JSONDict) -> str:
    function = call.get("function") or {}
    return str(function.get("name", "")) + str(function.get("arguments", ""))


@dataclass
class StreamState:
    """Folds LiteLLM stream chunks into modelroute `StreamChunk`s.

    `feed(chunk)` returns the `StreamChunk` for a chunk that carries text or tool-call deltas
    (None otherwise) and remembers finish_reason, usage and model; `final(...)` builds the
    closing chunk. `text` is the streamed text; `output_text` adds tool-call names and
    arguments (for usage estimates).
    """

    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    parts: list[str] = field(default_factory=list)
    call_parts: list[str] = field(default_factory=list)
    chunks_seen: int = 0

    @property
    def text(self) -> str:
        """The streamed text so far."""
        return "".join(p for p in self.parts if p)

    def feed(self, chunk: Any) -> StreamChunk | None:
        """Remember what `chunk` tells about the stream; the delta to yield, if any."""
        self.chunks_seen += 1
        model = _provider_model(chunk)
        if model and (self.model is None or _hidden_model(chunk)):
            self.model = model
        usage = usage_from(get(chunk, "usage"))
        if usage is not None:
            self.usage = usage
        choices = get(chunk, "choices", []) or []
        if not choices:
            return None
        choice = choices[0]
        finish = get(choice, "finish_reason")
        if finish is not None:
            self.finish_reason = str(finish)
        delta = get(choice, "delta")
        content = get(delta, "content")
        text = content if isinstance(content, str) else ""
        calls = tuple(
            tool_call_dict(c, with_index=True) for c in get(delta, "tool_calls", []) or []
        )
        if not text and not calls:
            return None
        self.parts.append(text)
        self.call_parts.extend(_call_text(c) for c in calls)
        return StreamChunk(text=text, tool_calls=calls)

    @property
    def output_text(self) -> str:
        """Streamed text plus tool-call names and arguments (what output tokens were spent on)."""
        return self.text + "".join(self.call_parts)

    def final(self, *, usage_reported: bool = True) -> StreamChunk:
        """The closing chunk: finish_reason, model and usage (None when `usage_reported` is
        False: the caller then estimates)."""
        return StreamChunk(
            finish_reason=self.finish_reason,
            usage=self.usage if usage_reported else None,
            model=self.model,
        )


def _hidden_model(obj: Any) -> bool:
    hidden = getattr(obj, "_hidden_params", None)
    return isinstance(hidden, Mapping) and bool(hidden.get("provider_response_model"))
