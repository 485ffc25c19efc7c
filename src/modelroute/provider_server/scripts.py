"""What each model of the provider server answers, and loading that from a YAML or JSON file.

A script file is a mapping with one key, `models`, mapping each model name to its script (every
key optional; an empty mapping `{}` gives a healthy model answering "Hello from <model>."):

```yaml
models:
  m-a:
    answer: "Paris is the capital of France."     # default answer text
    rules:                                        # first rule whose `when` is a substring of the
      - when: "capital of Italy"                  # last user message wins
        answer: "Rome."
        usage: {completion_tokens: 3}             # this answer's token counts (else the model's)
        logprobs: [-0.02, -0.4]                   # per-token logprobs sent with this answer
    tool_calls:                                   # answered when the request offers `tools`
      - {name: lookup, arguments: {q: weather}, id: call_b_01}
    usage: {prompt_tokens: 400, completion_tokens: 200,
            prompt_tokens_details: {cached_tokens: 100}}
    reported_model: m-a-2026-01-01                # the `model` field the responses carry
    chunks: 5                                     # stream content in 5 chunks (default: by word)
    chunk_delay: 0.02                             # seconds between stream chunks
    message_extra: {reasoning_content: "..."}     # extra provider fields on the message / delta
    strict_history: true                          # 400 on a non-standard tool-call history
    fault: "429 {Retry-After: 2}"                 # sticky default fault
    faults: [503, drop_connection]                # FIFO queue, one per request, before `fault`
  m-b: {}
```
Faults use `fault_specs.parse_fault`'s forms.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from modelroute.provider_server.fault_specs import FaultSpecError, parse_fault
from modelroute.provider_server.faults import Fault

_T = TypeVar("_T")


class ScriptError(ValueError):
    """A script file or mapping that is not valid; the message names the path of the problem."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call in an answer.

    arguments: a JSON object (serialized for the wire) or an already-serialized JSON string.
    id: the call id; None gives a fresh `call_<random>_<index>` in each answer.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts a model reports; a count left None is estimated (total = prompt + completion).

    The details mappings are sent as is, e.g. `prompt_tokens_details={"cached_tokens": 8000}`.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: Mapping[str, int] | None = None
    completion_tokens_details: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"Usage.{name}: expected an int or None, got {value!r}")
            if value is not None and value < 0:
                raise ValueError(f"Usage.{name}: must be >= 0, got {value}")


def as_usage(value: object, field_name: str) -> Usage | None:
    """`value` as a `Usage`: None and `Usage` as is, a mapping of `Usage`'s fields
    (`{"prompt_tokens": 400}`) converted. Raises TypeError naming `field_name` for any
    other type or an unknown key."""
    if value is None or isinstance(value, Usage):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{field_name}: expected a Usage, a mapping or None, got {type(value).__name__}"
        )
    allowed = {f.name for f in dataclasses.fields(Usage)}
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise TypeError(f"{field_name}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    return Usage(**value)


@dataclass(frozen=True)
class AnswerRule:
    """Answer `answer` (or `tool_calls`) when `when` is a substring of the last user message.

    usage: this answer's reported token counts (a `Usage` or a mapping of its fields; None:
        the model script's `usage`).
    logprobs: per-token log probabilities sent as the choice's `logprobs.content` (None: none).
    """

    when: str
    answer: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    logprobs: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "usage", as_usage(self.usage, "AnswerRule.usage"))


@dataclass(frozen=True)
class ModelScript:
    """How one model answers and which faults it starts with.

    answer: the default answer text; None answers "Hello from <model>.".
    rules: checked in order against the last user message; the first match wins.
    tool_calls: answered (with content null, finish_reason "tool_calls") when the request offers
        `tools` and its last message is not a tool result; rules' tool calls likewise.
    usage: reported token counts (a `Usage`, or a mapping of its fields, converted); None
        estimates all of them. Raises TypeError naming `ModelScript.usage` for anything else.
    reported_model: the `model` field of responses (a provider-reported version); None echoes
        the model name.
    chunks: how many content chunks a stream has; None streams one chunk per word.
    chunk_delay: seconds between stream chunks.
    message_extra: extra fields merged into the answer's message (and the first stream delta).
    strict_history: answer 400 when the request's history is not standard OpenAI chat (see
        `validation.history_problem`).
    fault: the sticky default fault (None: healthy).
    faults: the initial fault queue, consumed one per request before the sticky fault applies.
    """

    answer: str | None = None
    rules: tuple[AnswerRule, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    reported_model: str | None = None
    chunks: int | None = None
    chunk_delay: float = 0.0
    message_extra: Mapping[str, Any] = field(default_factory=dict)
    strict_history: bool = False
    fault: Fault | None = None
    faults: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        if self.chunks is not None and self.chunks < 1:
            raise ValueError(f"chunks must be >= 1 or None, got {self.chunks}")
        if self.chunk_delay < 0:
            raise ValueError(f"chunk_delay must be >= 0 seconds, got {self.chunk_delay}")
        object.__setattr__(self, "usage", as_usage(self.usage, "ModelScript.usage"))


def default_scripts() -> dict[str, ModelScript]:
    """Healthy models `m-a`, `m-b` and `m-c`, each answering "Hello from <model>."."""
    return {name: ModelScript() for name in ("m-a", "m-b", "m-c")}


def load_scripts(path: str | os.PathLike[str]) -> dict[str, ModelScript]:
    """Read a script file: JSON when the name ends in `.json`, else YAML."""
    import yaml  # a core dependency, imported only where a file is read

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: not valid {path.suffix or 'YAML'}: {exc}") from exc
    try:
        return scripts_from_dict(data)
    except ScriptError as exc:
        raise ScriptError(f"{path}: {exc}") from exc


def scripts_from_dict(data: Any) -> dict[str, ModelScript]:
    """Build model scripts from a mapping shaped like a script file (`{"models": {...}}`)."""
    if not isinstance(data, Mapping) or set(data) != {"models"}:
        raise ScriptError("a script must be a mapping with exactly one key, 'models'")
    models = data["models"]
    if not isinstance(models, Mapping) or not models:
        raise ScriptError("models: must map at least one model name to its script")
    return {str(name): _model_script(spec, f"models.{name}") for name, spec in models.items()}


def _model_script(spec: Any, path: str) -> ModelScript:
    params = _params(spec, ModelScript, path)
    if "rules" in params:
        params["rules"] = tuple(
            _rule(rule, f"{path}.rules[{i}]") for i, rule in enumerate(_list(params, "rules", path))
        )
    if "tool_calls" in params:
        params["tool_calls"] = _tool_calls(params, path)
    if params.get("usage") is not None:
        params["usage"] = Usage(**_params(params["usage"], Usage, f"{path}.usage"))
    if params.get("fault") is not None:
        params["fault"] = _fault(params["fault"], f"{path}.fault")
    if "faults" in params:
        faults = _list(params, "faults", path)
        params["faults"] = tuple(_fault(f, f"{path}.faults[{i}]") for i, f in enumerate(faults))
    return _construct(ModelScript, params, path)


def _rule(spec: Any, path: str) -> AnswerRule:
    params = _params(spec, AnswerRule, path)
    if "tool_calls" in params:
        params["tool_calls"] = _tool_calls(params, path)
    if params.get("usage") is not None:
        params["usage"] = Usage(**_params(params["usage"], Usage, f"{path}.usage"))
    if params.get("logprobs") is not None:
        values = _list(params, "logprobs", path)
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
            raise ScriptError(f"{path}.logprobs: expected a list of numbers, got {values!r}")
        params["logprobs"] = tuple(float(x) for x in values)
    return _construct(AnswerRule, params, path)


def _tool_calls(params: Mapping[str, Any], path: str) -> tuple[ToolCall, ...]:
    calls = _list(params, "tool_calls", path)
    return tuple(
        _construct(ToolCall, _params(c, ToolCall, f"{path}.tool_calls[{i}]"), path)
        for i, c in enumerate(calls)
    )


def _fault(spec: Any, path: str) -> Fault:
    try:
        return parse_fault(spec)
    except FaultSpecError as exc:
        raise ScriptError(f"{path}: {exc}") from exc


def _params(spec: Any, cls: type, path: str) -> dict[str, Any]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ScriptError(f"{path}: expected a mapping, got {spec!r}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise ScriptError(f"{path}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    return dict(spec)


def _list(params: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = params[key]
    if not isinstance(value, list):
        raise ScriptError(f"{path}.{key}: expected a list, got {value!r}")
    return value


def _construct(cls: type[_T], params: Mapping[str, Any], path: str) -> _T:
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"{path}: {exc}") from exc
