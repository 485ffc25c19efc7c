"""Small synthetic RouterBench-layout CSVs for the offline tests (no ../shared needed)."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

MODELS = ("m-small", "m-mid", "m-big")
COSTS = {"m-small": 0.0001, "m-mid": 0.0004, "m-big": 0.005}
ACCURACY = {"m-small": 0.55, "m-mid": 0.75, "m-big": 0.92}
GOOD_CODE = "```python\ndef solve(x):\n    return x\n```"
BAD_CODE = "```js\nfunction solve(x) { return x }\n```"


def header(models: Sequence[str] = MODELS) -> list[str]:
    """RouterBench column order: index, id, prompt, task, qualities, answers, costs."""
    return [
        "",
        "sample_id",
        "prompt",
        "eval_name",
        *models,
        *(f"{m}|model_response" for m in models),
        *(f"{m}|total_cost" for m in models),
    ]


def row(
    i: int,
    task: str,
    prompt: str,
    quality: Mapping[str, float | str],
    answers: Mapping[str, str],
    costs: Mapping[str, float | str],
) -> dict[str, str]:
    """One CSV row; prompt and answers are written as the repr of a one-element list."""
    out = {"": str(i), "sample_id": f"{task}.{i}", "prompt": repr([prompt]), "eval_name": task}
    for m in quality:
        out[m] = str(quality[m])
        out[f"{m}|model_response"] = repr([answers[m]])
        out[f"{m}|total_cost"] = str(costs[m])
    return out


def write(path: Path, rows: Sequence[Mapping[str, str]], models: Sequence[str] = MODELS) -> Path:
    """Write `rows` as a CSV with the RouterBench header."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header(models))
        writer.writeheader()
        writer.writerows(rows)
    return path


def synthetic(n: int = 240, seed: int = 0) -> list[dict[str, str]]:
    """A quiz task (letters; the small model leans to "A"; the big model is usually
    right) and a code task (an answer in Python is right more often)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i % 4 == 3:
            task, prompt = "code", f"Write a function number {i} that returns its input."
            answers, quality = {}, {}
            for m in MODELS:
                good = rng.random() < ACCURACY[m]
                answers[m] = GOOD_CODE if good or rng.random() < 0.2 else BAD_CODE
                quality[m] = float(good and answers[m] == GOOD_CODE)
        else:
            task = "quiz"
            gold = rng.choice("ABCD")
            prompt = (
                f"Question {i} about topic {i % 7}?\nA) one\nB) two\nC) three\nD) four\nAnswer:"
            )
            answers, quality = {}, {}
            for m in MODELS:
                right = rng.random() < ACCURACY[m]
                wrong = "A" if m == "m-small" and rng.random() < 0.7 else rng.choice("ABCD")
                pick = gold if right else wrong
                answers[m] = pick
                quality[m] = float(pick == gold)
        rows.append(row(i, task, prompt, quality, answers, COSTS))
    return rows
