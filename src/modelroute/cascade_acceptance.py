"""In-request cascade acceptance: after each answer, accept the best answer so far or
escalate to the next stage.

A strategy that also judges answers (an `AnswerJudge`, e.g.
`modelroute.strategies.learned_cascade.LearnedCascade`) makes the plan keep every valid
answer of the request (`HeldAnswers`, one per request) and ask the judge, after each one,
for a `CascadeStep`: accept (returning the text of the model the judge picked, which may
be an earlier stage's) or escalate. Pure records and a small per-request holder; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from modelroute.records import Verdict
from modelroute.types import Request, Response

VERDICT_NAME = "cascade"
"""The name of the verdict a cascade step adds to the attempt it judged."""


@dataclass(frozen=True, slots=True)
class CascadeStep:
    """The judge's answer after one stage.

    `accept`: stop and return the answer of `pick` (a route model name that answered in
    this request; None only when escalating). `probability`: the verifier's P(right) of
    the best answer so far (0..1; None when nothing was scored, e.g. an unseen task or a
    final stage returning its own answer). `threshold`: the acceptance cut it was compared
    with (None when none applied). `detail`: a short human-readable why, e.g.
    `low_confidence: P(right)=0.412 < 0.800`. `code`: why an escalation happened, one word
    (`low_confidence`, `no_verifier`, `no_early_accept`), recorded as the attempt's reason
    `verifier_rejected:<code>`.
    """

    accept: bool
    pick: str | None = None
    probability: float | None = None
    threshold: float | None = None
    detail: str = ""
    code: str = "low_confidence"

    @property
    def verdict(self) -> Verdict:
        """The step as the `cascade` verdict recorded on the judged attempt."""
        return Verdict(VERDICT_NAME, self.accept, self.detail)


class AnswerJudge(Protocol):
    """Decides, after each valid answer of a request, whether to accept or escalate.

    Must be pure and thread-safe: the per-request state lives in `HeldAnswers`."""

    def judge(self, request: Request, answers: Mapping[str, str], final: bool) -> CascadeStep:
        """`answers`: route model name -> answer text, in call order (the last is the
        newest). `final`: no further stage will be called, so the step must accept (with
        `pick` one of `answers`); the newest answer is not the last stage's when that
        stage gave no valid answer (failed, skipped, invalid): the judge then picks the
        best of `answers`."""
        ...


JudgeAnswers = Callable[[Request, Mapping[str, str], bool], CascadeStep]
"""An `AnswerJudge.judge` method: (request, answers so far, final) -> step."""


class HeldAnswers:
    """The valid answers of one request so far, with the attempt index that produced each
    (one per model; a later answer of the same model replaces the earlier one)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, tuple[Response, int]] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def add(self, model: str, response: Response, attempt_index: int) -> None:
        """Hold `response`, the answer of `model` recorded as attempt `attempt_index`."""
        self._held.pop(model, None)  # keep call order: a repeated model moves to the end
        self._held[model] = (response, attempt_index)

    def texts(self) -> dict[str, str]:
        """Model -> answer text, in call order."""
        return {model: response.text for model, (response, _) in self._held.items()}

    def get(self, model: str) -> tuple[Response, int]:
        """The held answer of `model` and its attempt index. Raises `KeyError` (naming
        the model) when `model` gave no held answer."""
        if model not in self._held:
            raise KeyError(f"the cascade picked {model!r}, which gave no answer")
        return self._held[model]
