"""A fast heuristic complexity scorer: prompt -> number in [0, 1].

Cheap signals only (length, code, math, reasoning verbs, multi-part asks, structured
output, tools), found with plain substring checks, so it costs microseconds. Higher means
"needs a stronger model". It is a starting point to calibrate thresholds on your own
traffic, not a quality predictor: prompt-only routers barely beat a fixed rule per task
(measured on RouterBench, see docs/routing.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelroute.types import Request

REASONING_WORDS = (
    "prove", "derive", "explain why", "step by step", "analyze", "analyse", "compare",
    "trade-off", "tradeoff", "design", "evaluate", "justify", "critique", "optimize",
    "optimise", "debug", "refactor", "architecture", "implication",
)  # fmt: skip
CODE_MARKS = ("```", "def ", "class ", "return ", "select ", "function ", "};", "#include")
MATH_MARKS = ("=", "^", "∑", "∫", "√", "integral", "equation", "matrix", "probability")


@dataclass(frozen=True, slots=True)
class HeuristicComplexity:
    """Scores a request's complexity in [0, 1] from its last user message.

    Weights add up to 1; `long_tokens` is the length (estimated tokens) counted as
    fully long; patterns are looked for in the first `scan_chars` characters only, so
    the cost stays flat for long prompts.
    """

    long_tokens: int = 1500
    scan_chars: int = 1000
    name: str = "heuristic_complexity"

    def __call__(self, request: Request) -> float:
        """The complexity score of `request`."""
        full = request.last_user_text
        lower = full[: self.scan_chars].lower()
        reasoning = sum(1 for word in REASONING_WORDS if word in lower)
        parts = lower.count("?") + lower.count("\n- ") + lower.count("\n1.")
        score = 0.30 * min(1.0, len(full) / 4 / self.long_tokens)
        score += 0.25 * min(1.0, reasoning / 2)
        score += 0.15 * any(mark in lower for mark in CODE_MARKS)
        score += 0.10 * any(mark in lower for mark in MATH_MARKS)
        score += 0.10 * min(1.0, max(0, parts - 1) / 3)
        score += 0.10 * (request.needs_json_schema or request.needs_tools)
        return min(1.0, score)
