"""Scoring one answer: against the expected answer, with validators, or by a judge model.

Each way gives a `Score` (value 0..1, or None when it cannot tell). `expected_match` is
strict on purpose: the normalized answer must equal the expected one, contain a short
expected answer as whole words, or be the same JSON value. Long free-text references
rarely match word for word: use a judge model for those (`--judge MODEL`).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelroute.types import Request, Response
from modelroute.validators import Validator, build_validator

SHORT_EXPECTED_CHARS = 40  # up to this long, an expected answer may appear inside the answer
JUDGE_TEMPLATE = (
    "You are grading an answer to a question.\n\nQuestion:\n{prompt}\n\n"
    "Reference answer (may be empty):\n{expected}\n\nAnswer to grade:\n{answer}\n\n"
    "Reply with exactly YES if the answer is correct, otherwise NO."
)
_EDGE = string.punctuation + string.whitespace + "“”‘’"


@dataclass(frozen=True, slots=True)
class Score:
    """How good one answer is: `value` 0..1 (None: unknown), how it was decided, why."""

    value: float | None
    method: str
    detail: str = ""


def normalize(text: str) -> str:
    """Lower case, single spaces, no punctuation at either end."""
    return " ".join(text.lower().split()).strip(_EDGE)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def expected_match(answer: str, expected: str) -> Score:
    """1.0 when `answer` matches `expected` (see the module docstring), else 0.0."""
    a, e = normalize(answer), normalize(expected)
    if a == e:
        return Score(1.0, "expected", "exact")
    if e and len(e) <= SHORT_EXPECTED_CHARS and re.search(rf"(?<!\w){re.escape(e)}(?!\w)", a):
        return Score(1.0, "expected", "contains the expected answer")
    ja, je = _json_value(answer), _json_value(expected)
    if je is not None and ja == je:
        return Score(1.0, "expected", "same JSON value")
    return Score(0.0, "expected", "does not match the expected answer")


def build_validators(specs: Sequence[str]) -> tuple[Validator, ...]:
    """Validators from config-style names (`non_empty`, `json`, `no_refusal`, ...)."""
    return tuple(build_validator(spec, f"--validators[{i}]") for i, spec in enumerate(specs))


def validator_score(answer: str, prompt: str, validators: Sequence[Validator]) -> Score:
    """1.0 when every validator passes, else 0.0 naming the first failure."""
    request, response = Request.of(prompt), Response(answer)
    for validator in validators:
        verdict = validator(response, request)
        if not verdict.ok:
            return Score(0.0, "validators", f"{verdict.name}: {verdict.detail}")
    return Score(1.0, "validators", "all passed")


def judge_prompt(prompt: str, expected: str | None, answer: str) -> str:
    """What the judge model is asked."""
    return JUDGE_TEMPLATE.format(prompt=prompt, expected=expected or "", answer=answer)


def judge_score(reply: str) -> Score:
    """The judge's YES/NO reply as a score (None when it said neither)."""
    found = re.match(r"\W*(\w+)", reply.lower())
    first = found.group(1) if found else ""
    if first == "yes":
        return Score(1.0, "judge", "judged correct")
    if first == "no":
        return Score(0.0, "judge", "judged wrong")
    return Score(None, "judge", f"unclear judge reply: {reply[:80]!r}")
