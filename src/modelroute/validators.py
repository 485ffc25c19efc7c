"""Validators: small frozen callables `(response, request) -> Verdict` judging one answer.

A failed verdict makes the engine fall back with reason `invalid_output:<validator name>`.
Validators hold no per-call state, so one instance is shared by concurrent requests;
`a & b` builds an `AllOf`. `MinLength`, `ValidJSON` and `JsonSchema` pass a reply with
tool calls and no text (nothing to judge yet). `jsonschema`/`pydantic` load on first use.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from modelroute.errors import ConfigError
from modelroute.records import Verdict
from modelroute.types import Request, Response

if TYPE_CHECKING:
    from pydantic import BaseModel

    _Schema = dict[str, Any] | type[BaseModel]

DEFAULT_REFUSAL_PATTERNS: tuple[str, ...] = (
    "i'm sorry, but i can't",
    "i'm sorry, i can't",
    "sorry, but i can't",
    "sorry, i can't",
    "i can't help with",
    "i can't assist with",
    "i can't comply",
    "i'm unable to help",
    "i'm not able to help",
    "i must decline",
    "as an ai",
)
"""Refusal phrases `NoRefusal` looks for. Text and patterns are compared lower-case with
straight apostrophes and "cannot"/"i am" folded to "can't"/"i'm"."""

_FENCE = re.compile(r"\A```(?:json)?[ \t]*\n?(.*?)\n?[ \t]*```\Z", re.DOTALL | re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class Validator(Protocol):
    """Judges one answer. `name` is used in the fallback reason `invalid_output:<name>`."""

    @property
    def name(self) -> str:
        """The validator's name."""

    def __call__(self, response: Response, request: Request) -> Verdict:
        """Judge `response` to `request`."""


class Composable:
    """Mixin giving validators `a & b` composition (an `AllOf`)."""

    __slots__ = ()

    def __and__(self: Validator, other: Validator) -> AllOf:
        return AllOf.of(self, other)


@dataclass(frozen=True, slots=True)
class AllOf(Composable):
    """Runs `validators` in order; returns the first failing verdict, else an ok verdict
    named after the combination (e.g. `empty&json`)."""

    validators: tuple[Validator, ...]

    @classmethod
    def of(cls, *validators: Validator) -> AllOf:
        """Combine validators, flattening nested `AllOf`s."""
        flat: list[Validator] = []
        for v in validators:
            flat.extend(v.validators if isinstance(v, AllOf) else (v,))
        return cls(tuple(flat))

    @property
    def name(self) -> str:
        """The member names joined with `&`."""
        return "&".join(v.name for v in self.validators)

    def __call__(self, response: Response, request: Request) -> Verdict:
        for validator in self.validators:
            verdict = validator(response, request)
            if not verdict.ok:
                return verdict
        return Verdict(self.name, True)


def _tool_calls_only(response: Response) -> bool:
    return bool(response.tool_calls) and not response.text.strip()


@dataclass(frozen=True, slots=True)
class NonEmpty(Composable):
    """Fails on empty or whitespace-only text; a reply with tool calls and no text is valid."""

    name: ClassVar[str] = "empty"

    def __call__(self, response: Response, request: Request) -> Verdict:
        if response.text.strip() or response.tool_calls:
            return Verdict(self.name, True)
        return Verdict(self.name, False, "empty text" if not response.text else "whitespace only")


@dataclass(frozen=True, slots=True)
class MinLength(Composable):
    """Fails when the stripped text has fewer than `chars` characters."""

    chars: int
    name: ClassVar[str] = "too_short"

    def __call__(self, response: Response, request: Request) -> Verdict:
        length = len(response.text.strip())
        if length >= self.chars or _tool_calls_only(response):
            return Verdict(self.name, True)
        return Verdict(self.name, False, f"{length} chars < {self.chars}")


def _parse_json(text: str) -> tuple[str, Any]:
    """The JSON text (unwrapped from a ```json fence) and its value; raises ValueError."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    value = json.loads(body)
    if not isinstance(value, dict | list):
        raise ValueError(f"expected a JSON object or array, got {type(value).__name__}")
    return body, value


@dataclass(frozen=True, slots=True)
class ValidJSON(Composable):
    """Fails unless the text is a JSON object or array. The whole text may be wrapped in
    one Markdown fence (```json ... ``` or ``` ... ```); prose around it is not accepted."""

    name: ClassVar[str] = "json"

    def __call__(self, response: Response, request: Request) -> Verdict:
        return _judge_json(self.name, response, None)


def _json_path(parts: Iterable[str | int]) -> str:
    """`$.items[0].name` from `("items", 0, "name")`."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


@dataclass(frozen=True, slots=True)
class JsonSchema(Composable):
    """Fails unless the text is valid JSON (as for `ValidJSON`) matching `schema`: a JSON
    Schema dict (checked with `jsonschema`) or a pydantic model class (checked with
    `model_validate_json`). The detail names the first failing path, e.g.
    `$.age: 'x' is not of type 'integer'`."""

    schema: dict[str, Any] | type[BaseModel]
    name: ClassVar[str] = "json_schema"

    def __call__(self, response: Response, request: Request) -> Verdict:
        return _judge_json(self.name, response, self.schema)


def _judge_json(name: str, response: Response, schema: _Schema | None) -> Verdict:
    """The verdict of `ValidJSON` (no schema) and `JsonSchema`."""
    if _tool_calls_only(response):
        return Verdict(name, True)
    try:
        body, value = _parse_json(response.text)
    except ValueError as exc:
        return Verdict(name, False, f"invalid JSON: {exc}")
    if schema is None:
        problem = None
    elif isinstance(schema, dict):
        problem = _schema_problem(schema, value)
    else:
        problem = _model_problem(schema, body)
    return Verdict(name, problem is None, problem or "")


def _schema_problem(schema: dict[str, Any], value: Any) -> str | None:
    """The first failing path and message of `value` against a JSON Schema, or None."""
    import jsonschema

    checker = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(checker.iter_errors(value))
    return None if error is None else f"{_json_path(error.absolute_path)}: {error.message}"


def _model_problem(model: type[BaseModel], body: str) -> str | None:
    """The first failing path and message of JSON `body` against a pydantic model, or None."""
    import pydantic

    try:
        model.model_validate_json(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        return f"{_json_path(first['loc'])}: {first['msg']}"
    return None


def _normalize(text: str) -> str:
    """Lower-case, single spaces, straight apostrophes, no leading quotes or markup."""
    folded = " ".join(text.translate(_APOSTROPHES).lower().split())
    folded = re.sub(r"\bcannot\b", "can't", re.sub(r"\bi am\b", "i'm", folded))
    return re.sub(r"\A[\W_]+", "", folded)


@functools.lru_cache(maxsize=32)
def _normalized(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_normalize(p) for p in patterns)


@dataclass(frozen=True, slots=True)
class NoRefusal(Composable):
    """Fails when the provider set `response.refusal`, when the text starts with a refusal
    phrase, or when a reply of at most `short_reply_chars` characters contains one.
    Matching ignores case, extra whitespace and curly apostrophes; a long answer that
    mentions a phrase later on passes."""

    patterns: tuple[str, ...] = DEFAULT_REFUSAL_PATTERNS
    short_reply_chars: int = 300
    name: ClassVar[str] = "refusal"

    def __call__(self, response: Response, request: Request) -> Verdict:
        if response.refusal:
            return Verdict(self.name, False, f"provider refusal: {response.refusal[:200]}")
        # only the head matters: a refusal starts the reply or the reply is short
        limit = 2 * self.short_reply_chars + 200
        text = _normalize(response.text[:limit])
        short = len(response.text) <= limit and len(text) <= self.short_reply_chars
        for pattern in _normalized(self.patterns):
            if text.startswith(pattern):
                return Verdict(self.name, False, f"starts with refusal {pattern!r}")
            if short and pattern in text:
                return Verdict(self.name, False, f"short reply contains refusal {pattern!r}")
        return Verdict(self.name, True)


@dataclass(frozen=True, slots=True)
class MinConfidence(Composable):
    """Fails when the mean token logprob is below `min_mean_logprob` (a value <= 0).
    Passes with detail "no logprobs" when the provider returned none."""

    min_mean_logprob: float
    name: ClassVar[str] = "low_confidence"

    def __call__(self, response: Response, request: Request) -> Verdict:
        if not response.logprobs:
            return Verdict(self.name, True, "no logprobs")
        mean = math.fsum(response.logprobs) / len(response.logprobs)
        ok = mean >= self.min_mean_logprob
        detail = f"mean logprob {mean:.3f}" + ("" if ok else f" < {self.min_mean_logprob}")
        return Verdict(self.name, ok, detail)


@dataclass(frozen=True, slots=True)
class Predicate(Composable):
    """Any callable as a validator: `fn` returns True/None to pass, False or a message
    string to fail (the string becomes the detail). Exceptions from `fn` propagate."""

    fn: Callable[[Response, Request], bool | str | None]
    name: str

    def __call__(self, response: Response, request: Request) -> Verdict:
        result = self.fn(response, request)
        if isinstance(result, str):
            return Verdict(self.name, False, result or "failed")
        if result is False:
            return Verdict(self.name, False, "failed")
        return Verdict(self.name, True)


def validators_for_request(request: Request) -> tuple[Validator, ...]:
    """What every request implies: `NonEmpty`, plus `JsonSchema` when it asks for one."""
    if request.json_schema is None:
        return _NON_EMPTY  # stateless and frozen: one shared tuple serves every request
    return (*_NON_EMPTY, JsonSchema(request.json_schema))


_NON_EMPTY: tuple[Validator, ...] = (NonEmpty(),)


def distinct_validators(
    validators: Iterable[Validator], already: tuple[Validator, ...] = ()
) -> tuple[Validator, ...]:
    """`validators` in order, each once: a validator equal to an earlier one, or to one in
    `already`, is dropped (validators are frozen values, so equal ones judge alike)."""
    seen: list[Validator] = list(already)
    kept: list[Validator] = []
    for validator in validators:
        if validator not in seen:
            seen.append(validator)
            kept.append(validator)
    return tuple(kept)


def route_validators(
    validators: tuple[Validator, ...], tier_validators: Mapping[str, tuple[Validator, ...]]
) -> tuple[tuple[Validator, ...], dict[str, tuple[Validator, ...]]]:
    """A route's validators and per-model tiers without repeats: nothing every request
    implies (`NonEmpty`, see `validators_for_request`), nothing twice, and no tier
    validator the route already runs. Returns `(validators, tier_validators)`."""
    own = distinct_validators(validators, _NON_EMPTY)
    implied = _NON_EMPTY + own
    return own, {model: distinct_validators(t, implied) for model, t in tier_validators.items()}


def _min_length(value: Any, path: str) -> Validator:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(path, f"min_length must be a positive integer, got {value!r}")
    return MinLength(value)


def _min_confidence(value: Any, path: str) -> Validator:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value > 0:
        raise ConfigError(path, f"min_confidence must be a number <= 0, got {value!r}")
    return MinConfidence(float(value))


def _json_schema(value: Any, path: str) -> Validator:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"json_schema must be a mapping, got {value!r}")
    import jsonschema

    schema = dict(value)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ConfigError(path, f"invalid json_schema: {exc.message}") from None
    return JsonSchema(schema)


_PLAIN: Mapping[str, Callable[[], Validator]] = MappingProxyType(
    {"non_empty": NonEmpty, "json": ValidJSON, "no_refusal": NoRefusal}
)
_WITH_VALUE: Mapping[str, Callable[[Any, str], Validator]] = MappingProxyType(
    {"min_length": _min_length, "json_schema": _json_schema, "min_confidence": _min_confidence}
)


def build_validator(spec: str | Mapping[str, Any], path: str) -> Validator:
    """Build a validator from its config form: `"non_empty"`, `"json"`, `"no_refusal"`,
    `{"min_length": 20}`, `{"json_schema": {...}}` or `{"min_confidence": -0.5}`.
    Raises `ConfigError` naming `path` and the bad value."""
    known = ", ".join(sorted({*_PLAIN, *_WITH_VALUE}))
    if isinstance(spec, str):
        if spec in _PLAIN:
            return _PLAIN[spec]()
        if spec in _WITH_VALUE:
            raise ConfigError(path, f"validator {spec!r} needs a value, e.g. {{{spec}: ...}}")
        raise ConfigError(path, f"unknown validator {spec!r} (known: {known})")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(path, f"expected a validator name or a one-key mapping, got {spec!r}")
    ((key, value),) = spec.items()
    if key in _WITH_VALUE:
        return _WITH_VALUE[key](value, f"{path}.{key}")
    if key in _PLAIN:
        raise ConfigError(path, f"validator {key!r} takes no value; write it as {key!r}")
    raise ConfigError(path, f"unknown validator {key!r} (known: {known})")
