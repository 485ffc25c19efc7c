"""Validators are pure functions of (response, request): build records, call, assert."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from modelroute.errors import ConfigError
from modelroute.reasons import FallbackReason
from modelroute.records import Verdict
from modelroute.types import Request, Response
from modelroute.validators import (
    AllOf,
    JsonSchema,
    MinConfidence,
    MinLength,
    NonEmpty,
    NoRefusal,
    Predicate,
    Validator,
    ValidJSON,
    build_validator,
    validators_for_request,
)

REQUEST = Request.of("hello")
TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
PERSON = {
    "type": "object",
    "properties": {
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["age"],
}


def judge(validator: Validator, text: str = "", **fields: Any) -> Verdict:
    return validator(Response(text, **fields), REQUEST)


class Person(BaseModel):
    age: int
    tags: list[str] = []


# --- NonEmpty ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "detail"), [("", "empty text"), (" \n\t ", "whitespace only")])
def test_non_empty_fails_on_blank_text(text: str, detail: str) -> None:
    assert judge(NonEmpty(), text) == Verdict("empty", False, detail)


def test_non_empty_passes_text() -> None:
    assert judge(NonEmpty(), " hi ") == Verdict("empty", True)


def test_tool_call_only_reply_is_valid() -> None:
    assert judge(NonEmpty(), "", tool_calls=(TOOL_CALL,)).ok


@settings(deadline=None)  # wall-clock deadlines fail on a loaded machine
@given(text=st.text(), tool_calls=st.booleans())
def test_non_empty_fails_exactly_on_whitespace_only_without_tool_calls(
    text: str, tool_calls: bool
) -> None:
    calls = (TOOL_CALL,) if tool_calls else ()
    whitespace_only = all(c.isspace() for c in text)
    assert judge(NonEmpty(), text, tool_calls=calls).ok is not (whitespace_only and not calls)


@settings(deadline=None)
@given(text=st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2003\u3000"), max_size=20))
def test_non_empty_fails_on_unicode_whitespace(text: str) -> None:
    assert not judge(NonEmpty(), text).ok


# --- MinLength --------------------------------------------------------------------------


def test_min_length() -> None:
    assert judge(MinLength(5), "  abcde  ").ok
    assert judge(MinLength(5), "  abcd  ") == Verdict("too_short", False, "4 chars < 5")
    assert judge(MinLength(5), "", tool_calls=(TOOL_CALL,)).ok


# --- ValidJSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        "[1, 2]",
        '```json\n{"a": 1}\n```',
        '  ```JSON\n[{"a": 1}]\n```  ',
        '```\n{"a": 1}\n```',
        '```json {"a": 1} ```',
    ],
)
def test_valid_json_accepts_objects_and_arrays_bare_or_fenced(text: str) -> None:
    assert judge(ValidJSON(), text) == Verdict("json", True)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('{"a": 1', "invalid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
        ("42", "invalid JSON: expected a JSON object or array, got int"),
        ('"text"', "invalid JSON: expected a JSON object or array, got str"),
        (
            'Here it is: ```json\n{"a": 1}\n```',
            "invalid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        ("", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_valid_json_rejects(text: str, detail: str) -> None:
    assert judge(ValidJSON(), text) == Verdict("json", False, detail)


def test_valid_json_passes_tool_call_only_reply() -> None:
    assert judge(ValidJSON(), "", tool_calls=(TOOL_CALL,)).ok


# --- JsonSchema -------------------------------------------------------------------------


def test_json_schema_dict_pass_and_exact_detail() -> None:
    assert judge(JsonSchema(PERSON), '```json\n{"age": 3, "tags": ["a"]}\n```').ok
    assert judge(JsonSchema(PERSON), '{"age": "x"}') == Verdict(
        "json_schema", False, "$.age: 'x' is not of type 'integer'"
    )
    assert judge(JsonSchema(PERSON), '{"age": 1, "tags": ["a", 3]}').detail == (
        "$.tags[1]: 3 is not of type 'string'"
    )
    assert judge(JsonSchema(PERSON), "{}").detail == "$: 'age' is a required property"


def test_json_schema_rejects_invalid_json_under_its_own_name() -> None:
    verdict = judge(JsonSchema(PERSON), "not json")
    assert verdict.name == "json_schema"
    assert not verdict.ok
    assert verdict.detail.startswith("invalid JSON: ")


def test_json_schema_pydantic_model() -> None:
    assert judge(JsonSchema(Person), '{"age": 3}').ok
    assert judge(JsonSchema(Person), '{"age": "x"}') == Verdict(
        "json_schema",
        False,
        "$.age: Input should be a valid integer, unable to parse string as an integer",
    )
    assert judge(JsonSchema(Person), '{"age": 1, "tags": ["a", 3]}').detail == (
        "$.tags[1]: Input should be a valid string"
    )
    assert judge(JsonSchema(Person), "{}").detail == "$.age: Field required"


# --- NoRefusal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I’m sorry, but I can’t help with that.",  # curly apostrophes
        "I AM SORRY, BUT I CANNOT DO THIS.",
        '  "**I cannot help with** creating malware."',
        "As an AI language model, I don't have opinions.",
        "Unfortunately, I cannot assist with that request.",  # short and dominated
        "I cannot help with that. " + "It would violate the policy. " * 30,  # long, starts so
    ],
)
def test_no_refusal_flags_refusals(text: str) -> None:
    verdict = judge(NoRefusal(), text)
    assert verdict.name == "refusal"
    assert not verdict.ok


def test_no_refusal_flags_provider_refusal_field() -> None:
    assert judge(NoRefusal(), "", refusal="policy") == Verdict(
        "refusal", False, "provider refusal: policy"
    )


@pytest.mark.parametrize(
    "text",
    [
        "Paris is the capital of France.",
        "Sorry for the delay! Here is the summary you asked for.",
        "Here is a detailed plan. " * 20
        + "I'm sorry, but I can't promise results; test it yourself.",  # late, long answer
        "Step 1: install the package. Step 2: run it. " * 10 + "Sorry if this is long.",
    ],
)
def test_no_refusal_passes_helpful_answers(text: str) -> None:
    assert judge(NoRefusal(), text) == Verdict("refusal", True)


def test_no_refusal_custom_patterns() -> None:
    validator = NoRefusal(patterns=("Je ne peux pas",))
    assert not judge(validator, "Je ne peux pas faire cela.").ok
    assert judge(validator, "I'm sorry, but I can't.").ok


# --- MinConfidence ----------------------------------------------------------------------


def test_min_confidence() -> None:
    assert judge(MinConfidence(-0.5), "x", logprobs=(-0.1, -0.3)) == Verdict(
        "low_confidence", True, "mean logprob -0.200"
    )
    assert judge(MinConfidence(-0.5), "x", logprobs=(-0.1, -1.9)) == Verdict(
        "low_confidence", False, "mean logprob -1.000 < -0.5"
    )


@pytest.mark.parametrize("logprobs", [None, ()])
def test_min_confidence_passes_without_logprobs(logprobs: tuple[float, ...] | None) -> None:
    assert judge(MinConfidence(-0.5), "x", logprobs=logprobs) == Verdict(
        "low_confidence", True, "no logprobs"
    )


# --- Predicate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (True, Verdict("mine", True)),
        (None, Verdict("mine", True)),
        (False, Verdict("mine", False, "failed")),
        ("no citation", Verdict("mine", False, "no citation")),
        ("", Verdict("mine", False, "failed")),
    ],
)
def test_predicate(result: bool | str | None, expected: Verdict) -> None:
    assert judge(Predicate(lambda response, request: result, "mine"), "x") == expected


def test_predicate_sees_response_and_request() -> None:
    def echoes(response: Response, request: Request) -> bool:
        return response.text == request.last_user_text

    assert Predicate(echoes, "echo")(Response("hello"), REQUEST).ok
    assert not Predicate(echoes, "echo")(Response("bye"), REQUEST).ok


# --- composition ------------------------------------------------------------------------


def test_and_runs_in_order_and_returns_first_failure() -> None:
    calls: list[str] = []

    def spy(name: str, ok: bool) -> Predicate:
        def check(response: Response, request: Request) -> bool:
            calls.append(name)
            return ok

        return Predicate(check, name)

    combined = spy("a", True) & spy("b", False) & spy("c", False)
    assert isinstance(combined, AllOf)
    assert [v.name for v in combined.validators] == ["a", "b", "c"]  # flattened
    assert judge(combined, "x") == Verdict("b", False, "failed")
    assert calls == ["a", "b"]


def test_and_passes_with_combined_name() -> None:
    combined = NonEmpty() & ValidJSON() & MinLength(2)
    assert judge(combined, "[1]") == Verdict("empty&json&too_short", True)
    assert judge(combined, "") == Verdict("empty", False, "empty text")
    assert judge(combined, "[").name == "json"


def test_failed_verdict_name_builds_the_fallback_reason() -> None:
    verdict = judge(NonEmpty() & JsonSchema(PERSON), '{"age": "x"}')
    assert FallbackReason.invalid_output(verdict.name) == "invalid_output:json_schema"


def test_validators_are_frozen() -> None:
    with pytest.raises(AttributeError):
        MinLength(3).chars = 4  # type: ignore[misc]


# --- validators_for_request -------------------------------------------------------------


def test_validators_for_request() -> None:
    assert validators_for_request(REQUEST) == (NonEmpty(),)
    with_schema = Request.of("hi", json_schema=PERSON)
    assert validators_for_request(with_schema) == (NonEmpty(), JsonSchema(PERSON))


# --- build_validator --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("non_empty", NonEmpty()),
        ("json", ValidJSON()),
        ("no_refusal", NoRefusal()),
        ({"min_length": 20}, MinLength(20)),
        ({"json_schema": PERSON}, JsonSchema(PERSON)),
        ({"min_confidence": -0.5}, MinConfidence(-0.5)),
        ({"min_confidence": -1}, MinConfidence(-1.0)),
    ],
)
def test_build_validator(spec: str | dict[str, Any], expected: Validator) -> None:
    assert build_validator(spec, "routes.r.validators[0]") == expected


PATH = "routes.summarize.validators[1]"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "nonempty",
            f"{PATH}: unknown validator 'nonempty' (known: json, json_schema, "
            "min_confidence, min_length, no_refusal, non_empty)",
        ),
        ({"bogus": 1}, f"{PATH}: unknown validator 'bogus' (known: "),
        ("min_length", f"{PATH}: validator 'min_length' needs a value"),
        ({"json": True}, f"{PATH}: validator 'json' takes no value"),
        ({"min_length": 20, "json": None}, f"{PATH}: expected a validator name or a one-key"),
        (42, f"{PATH}: expected a validator name or a one-key mapping, got 42"),
        (
            {"min_length": "20"},
            f"{PATH}.min_length: min_length must be a positive integer, got '20'",
        ),
        ({"min_length": 0}, f"{PATH}.min_length: min_length must be a positive integer, got 0"),
        (
            {"min_length": True},
            f"{PATH}.min_length: min_length must be a positive integer, got True",
        ),
        (
            {"min_confidence": 0.5},
            f"{PATH}.min_confidence: min_confidence must be a number <= 0, got 0.5",
        ),
        ({"min_confidence": "low"}, f"{PATH}.min_confidence: min_confidence must be a number <= 0"),
        (
            {"min_confidence": float("nan")},
            f"{PATH}.min_confidence: min_confidence must be a number",
        ),
        (
            {"json_schema": "object"},
            f"{PATH}.json_schema: json_schema must be a mapping, got 'object'",
        ),
        ({"json_schema": {"type": "objekt"}}, f"{PATH}.json_schema: invalid json_schema: "),
    ],
)
def test_build_validator_errors_name_path_and_value(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_validator(spec, PATH)
    assert str(info.value).startswith(message)
    assert info.value.path.startswith(PATH)
