"""How the simulated models answer the demo workload: who is right, and how sure it sounds.

A workload request may spell out every model's answer (`answers: {model: {text, correct,
logprob}}`); otherwise it gives the right `answer` (and a plausible `wrong` one) and the
workload's `simulation:` section decides per model, deterministically from `seed`:

- each prompt gets a difficulty in [0, 1) from a hash of (seed, prompt); a model answers
  right when its `skill` for the request's `kind` exceeds that difficulty, so a stronger
  model is right whenever a weaker one is;
- a right answer sounds sure (mean token logprob drawn from `sure_when_right`); a wrong
  one mostly unsure (`sure_when_wrong`), except a `confident_wrong` share that sounds sure
  anyway, so a confidence cascade catches most wrong answers but not all.

Requests without `kind` (the old format) get the same `answer` from every model and no
known quality.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOGPROB_TOKENS = 4  # how many per-token logprobs each simulated answer carries


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """One model's answer to one request. `correct` is None when unknown; `logprob` is the
    mean token logprob sent with it (None: none sent); `cost_usd` a recorded cost that
    overrides list-price pricing (data mode)."""

    text: str
    correct: float | None = None
    logprob: float | None = None
    cost_usd: float | None = None


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from `parts` (SHA-256)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _between(bounds: Sequence[float], u: float) -> float:
    lo, hi = float(bounds[0]), float(bounds[1])
    return round(lo + (hi - lo) * u, 3)


def simulated_answer(item: Mapping[str, Any], model: str, sim: Mapping[str, Any]) -> ModelAnswer:
    """`model`'s answer to workload request `item` under simulation settings `sim`."""
    explicit = (item.get("answers") or {}).get(model)
    if explicit is not None:
        return ModelAnswer(
            text=str(explicit["text"]),
            correct=_quality(explicit.get("correct")),
            logprob=explicit.get("logprob"),
            cost_usd=explicit.get("cost_usd"),
        )
    kind = item.get("kind")
    if kind is None or not sim:
        return ModelAnswer(text=str(item["answer"]))
    seed, prompt = sim.get("seed", 0), item["prompt"]
    skill = float(sim["skill"][model][kind])
    right = unit(seed, "difficulty", prompt) < skill
    noise = unit(seed, "confidence", prompt, model)
    if right or unit(seed, "confident_wrong", prompt, model) < float(sim["confident_wrong"]):
        logprob = _between(sim["sure_when_right"], noise)
    else:
        logprob = _between(sim["sure_when_wrong"], noise)
    text = item["answer"] if right else item.get("wrong", item["answer"])
    return ModelAnswer(text=str(text), correct=1.0 if right else 0.0, logprob=logprob)


def _quality(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    raise ValueError(f"`correct` must be a boolean or a number in [0, 1], got {value!r}")


def answers_for(workload: Mapping[str, Any]) -> list[dict[str, ModelAnswer]]:
    """Every model's answer to every request, in request order."""
    sim = workload.get("simulation") or {}
    return [
        {model: simulated_answer(item, model, sim) for model in workload["models"]}
        for item in workload["requests"]
    ]


def logprobs(answer: ModelAnswer) -> list[float] | None:
    """The per-token logprobs the server sends with `answer` (their mean is its logprob)."""
    if answer.logprob is None:
        return None
    return [float(answer.logprob)] * LOGPROB_TOKENS
