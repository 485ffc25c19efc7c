"""A fast heuristic complexity scorer: prompt -> number in [0, 1].

Cheap signals only (length, code, math, reasoning verbs, multi-part asks, structured
output, tools), so it costs microseconds. Higher means "needs a stronger model". It is a
starting point to calibrate thresholds on your own traffic, not a quality predictor:
FACTS.md measured that prompt-only routers barely beat a fixed rule per task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelroute.types import Request

_REASONING = re.compile(
    r"\b(prove|derive|explain why|step by step|analy[sz]e|compare|trade-?offs?|design|"
    r"evaluate|justify|critique|optimi[sz]e|debug|refactor|architecture|implications?)\b"
)
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$|\bSELECT\b", re.M)
_MATH = re.compile(r"[=^∑∫√]|\d+\s*[*/]\s*\d+|\b(integral|equation|matrix|probability)\b")


@dataclass(frozen=True, slots=True)
class HeuristicComplexity:
    """Scores a request's complexity in [0, 1] from its last user message.

    Weights add up to 1; `long_tokens` is the length (estimated tokens) counted as
    fully long.
    """

    long_tokens: int = 1500
    name: str = "heuristic_complexity"

    def __call__(self, request: Request) -> float:
        """The complexity score of `request`."""
        text = request.last_user_text
        lower = text.lower()
        length = min(1.0, len(text) / 4 / self.long_tokens)
        score = 0.30 * length
        score += 0.25 * min(1.0, len(_REASONING.findall(lower)) / 2)
        score += 0.15 * (1.0 if _CODE.search(text) else 0.0)
        score += 0.10 * (1.0 if _MATH.search(lower) else 0.0)
        score += 0.10 * min(1.0, max(0, text.count("?") + text.count("\n- ") - 1) / 3)
        score += 0.10 * (1.0 if request.needs_json_schema or request.needs_tools else 0.0)
        return min(1.0, score)
