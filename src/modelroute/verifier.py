"""Verifier-on-top: a second model judges an answer; on reject the engine regenerates.

The judge is asked, with structured output, for `{"verdict": "accept" | "reject",
"reason": "..."}` about the answer to the user's request. A rejected answer is recorded
with reason `verifier_rejected` (it was paid for) and regenerated up to
`max_regenerations` times, on the next candidate (`escalate=True`) or the same model.
A judge that fails or answers unparseably does not block the answer (`fail_open`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from modelroute.records import Verdict
from modelroute.types import Message, Request, Response

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["accept", "reject"]},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "reason"],
    "additionalProperties": False,
}

DEFAULT_INSTRUCTIONS = (
    "You check another assistant's answer. Reply with JSON only: "
    '{"verdict": "accept" or "reject", "reason": "<one sentence>"}. '
    "Reject answers that are wrong, incomplete, off-topic or refuse without cause."
)


@dataclass(frozen=True, slots=True)
class Verifier:
    """Judge every accepted answer of a route with `model` before returning it."""

    model: str
    max_regenerations: int = 1
    escalate: bool = True
    fail_open: bool = True
    instructions: str = DEFAULT_INSTRUCTIONS
    max_tokens: int = 200

    def __post_init__(self) -> None:
        if self.max_regenerations < 0:
            raise ValueError(f"max_regenerations must be >= 0, got {self.max_regenerations}")

    def judge_request(self, request: Request, response: Response) -> Request:
        """The request sent to the judge model: the user's conversation and the answer."""
        convo = "\n".join(f"{m.role}: {m.text}" for m in request.messages)
        body = f"Conversation:\n{convo}\n\nAnswer to check:\n{response.text}"
        return Request(
            messages=(Message("system", self.instructions), Message("user", body)),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_schema=JUDGE_SCHEMA,
            user=request.user,
            team=request.team,
            task=request.task,
            tags=request.tags,
        )

    def parse(self, judge: Response) -> Verdict:
        """The judge's verdict; unparseable output gives `ok = fail_open`."""
        try:
            data = json.loads(judge.text)
            verdict = str(data["verdict"]).lower()
            reason = str(data.get("reason", ""))
        except (ValueError, KeyError, TypeError):
            return Verdict("verifier", self.fail_open, f"unparseable verdict: {judge.text[:200]!r}")
        if verdict not in ("accept", "reject"):
            return Verdict("verifier", self.fail_open, f"unknown verdict {verdict!r}")
        return Verdict("verifier", verdict == "accept", reason)

    def unavailable(self, error: Exception) -> Verdict:
        """The verdict when the judge call failed."""
        return Verdict("verifier", self.fail_open, f"verifier failed: {type(error).__name__}")
