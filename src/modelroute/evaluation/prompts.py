"""Prompt sets for `modelroute eval`: JSONL or CSV with `prompt` and optional `expected`.

JSONL: one object per line, `{"prompt": ..., "expected": ..., "kind": ..., "id": ...}`
(`answer` is accepted for `expected`, `category` for `kind`). CSV: a header row with a
`prompt` column and the same optional columns. A prompt without `id` is identified by a
hash of its text (so results stay resumable when the file is reordered); without `kind`
it gets its heuristic complexity band (`simple`, `moderate`, `complex`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelroute.errors import ModelRouteError

KIND_BANDS = ((0.1, "simple"), (0.25, "moderate"))  # heuristic score below -> kind; else complex


class PromptFileError(ModelRouteError, ValueError):
    """A prompt file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class EvalPrompt:
    """One prompt to run on every model. `expected` is the reference answer (None: none)."""

    id: str
    prompt: str
    expected: str | None = None
    kind: str = "simple"


def prompt_id(text: str) -> str:
    """A stable id for a prompt text: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def complexity_kind(text: str) -> str:
    """The heuristic complexity band of a prompt: `simple`, `moderate` or `complex`."""
    from modelroute.strategies.complexity import HeuristicComplexity
    from modelroute.types import Request

    score = HeuristicComplexity()(Request.of(text))
    return next((name for cut, name in KIND_BANDS if score < cut), "complex")


def _prompt(raw: Mapping[str, Any], where: str) -> EvalPrompt:
    text = raw.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise PromptFileError(f"{where}: needs a non-empty `prompt`")
    expected = raw.get("expected", raw.get("answer"))
    kind = raw.get("kind") or raw.get("category") or complexity_kind(text)
    return EvalPrompt(
        id=str(raw.get("id") or prompt_id(text)),
        prompt=text,
        expected=None if expected in (None, "") else str(expected),
        kind=str(kind),
    )


def _jsonl(path: Path) -> Iterator[EvalPrompt]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise PromptFileError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(raw, dict):
                raise PromptFileError(f"{path}:{number}: expected a JSON object")
            yield _prompt(raw, f"{path}:{number}")


def _csv(path: Path) -> Iterator[EvalPrompt]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "prompt" not in reader.fieldnames:
            raise PromptFileError(f"{path}: needs a header row with a `prompt` column")
        for number, row in enumerate(reader, 2):
            yield _prompt(row, f"{path}:{number}")


def load_prompts(path: str | os.PathLike[str]) -> list[EvalPrompt]:
    """The prompts of a `.jsonl` or `.csv` file, in file order; ids must be unique."""
    p = Path(path)
    if not p.is_file():
        raise PromptFileError(f"{p}: no such file")
    reader = _csv if p.suffix.lower() == ".csv" else _jsonl
    prompts = list(reader(p))
    seen: set[str] = set()
    for item in prompts:
        if item.id in seen:
            raise PromptFileError(f"{p}: duplicate prompt id {item.id!r}")
        seen.add(item.id)
    if not prompts:
        raise PromptFileError(f"{p}: no prompts")
    return prompts


def demo_prompts() -> list[EvalPrompt]:
    """The demo workload's prompts with their right answers (the default prompt set)."""
    from modelroute.demo.runner import load_workload

    return [
        EvalPrompt(prompt_id(r["prompt"]), r["prompt"], r.get("answer"), r.get("kind", "simple"))
        for r in load_workload()["requests"]
    ]
