"""Evidence from recorded answers: what each cheap model said, as features for a verifier.

Two kinds of task, told apart by the answers themselves (`task_kind`):

- `choice` (multiple choice, e.g. ARC, Winogrande): each answer is reduced to the option
  letter it starts with. Answers are grouped by letter; a candidate is one letter, with
  per called model: chose it, its surprisal under that model's letter frequencies on the
  training rows (position-bias correction: a model that nearly always answers "A" says
  little by answering "A"), and chose another letter. Non-answers ("I don't know") form
  a group of their own only when nobody chose a letter.
- `text` (free text and code, e.g. MBPP): agreement on a letter does not exist, so each
  called model's answer is its own candidate, described by static code checks: the first
  fenced (or `[PYTHON]`) code block parses as Python (`ast.parse`; nothing is executed),
  declares another language, defines a function, carries asserts; its length; and how
  many other called models chose the same function name (the hidden tests call one name);
  and how much its code agrees with the other called models' code (`code_agreement`: the
  mean and the largest Jaccard similarity of code token sets; independent models that
  write the same code are more often right).

Everything is vectorized over rows so that training, replay and a single online decision
share one code path. Model indices refer to the router's own model list.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

TaskKind = Literal["choice", "text"]
LETTERS = "ABCDE"
SILENT = len(LETTERS)  # column of "no letter" in letter tables
CODE_FACTS = ("python_ok", "other_language", "no_code", "defines_function", "has_asserts")

_CHOICE = re.compile(r"\A[\s(\[*\"'`]{0,3}([A-E])(?![A-Za-z0-9])")
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON_TAG = re.compile(r"\[PYTHON\](.*?)(?:\[/PYTHON\]|\Z)", re.S)
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)
_PY_LANGS = frozenset({"", "python", "py", "python3"})
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|==|!=|<=|>=|[-+*/%<>\[\](){}:,.]")
AGREEMENT_FEATURES = 2  # text candidates: mean and max code similarity to the others

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def choice_of(text: str) -> int:
    """Index of the option letter `text` starts with (`"B)"` -> 1), or -1."""
    match = _CHOICE.match(text)
    return LETTERS.index(match.group(1)) if match else -1


def _code_block(text: str) -> tuple[str | None, str]:
    """(declared language or None when there is no code block, code)."""
    text = text.replace("\r\n", "\n")
    tagged = _PYTHON_TAG.search(text)
    if tagged:
        return "python", tagged.group(1)
    fenced = _FENCE.search(text)
    if fenced:
        return fenced.group(1).lower(), fenced.group(2)
    return None, text


def code_tokens(text: str) -> frozenset[str]:
    """The set of tokens (names, numbers, operators) of the first code block."""
    return frozenset(_TOKEN.findall(_code_block(text)[1]))


def code_facts(text: str) -> tuple[tuple[float, ...], str]:
    """Static checks of the first code block (see `CODE_FACTS`) and its function name."""
    language, code = _code_block(text)
    names = _DEF.findall(code)
    python = language in _PY_LANGS if language is not None else bool(names)
    try:
        ast.parse(code)
        parses = python
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        parses = False
    facts = (
        float(parses),
        float(language is not None and language not in _PY_LANGS),
        float(language is None and not names),
        float(bool(names)),
        float("assert " in code),
    )
    return facts, names[0] if names else ""


@dataclass(frozen=True, slots=True)
class ParsedAnswers:
    """Per row and model: chosen letter (-1 none), code facts, function name, log length;
    and per row, between every two models, the Jaccard similarity of their code token
    sets (`similarity`, shape (rows, models, models); None when built by hand)."""

    choice: IntArray
    code: FloatArray
    names: tuple[tuple[str, ...], ...]
    log_length: FloatArray
    similarity: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.choice.shape[0])

    def take(self, rows: IntArray) -> ParsedAnswers:
        """The answers of `rows`, in that order."""
        return ParsedAnswers(
            self.choice[rows],
            self.code[rows],
            tuple(self.names[i] for i in rows),
            self.log_length[rows],
            None if self.similarity is None else self.similarity[rows],
        )


def parse_answers(responses: Sequence[Sequence[str]]) -> ParsedAnswers:
    """Parse every answer once; rows are queries, columns the router's models."""
    n = len(responses)
    k = len(responses[0]) if n else 0
    choice = np.full((n, k), -1, dtype=np.int64)
    code = np.zeros((n, k, len(CODE_FACTS)))
    names: list[tuple[str, ...]] = []
    similarity = np.zeros((n, k, k))
    log_length = np.zeros((n, k))
    for i, row in enumerate(responses):
        row_names = []
        for j, text in enumerate(row):
            choice[i, j] = choice_of(text)
            facts, name = code_facts(text)
            code[i, j] = facts
            row_names.append(name)
            log_length[i, j] = math.log1p(len(text)) / 8.0
        names.append(tuple(row_names))
        similarity[i] = _jaccard([code_tokens(text) for text in row])
    return ParsedAnswers(choice, code, tuple(names), log_length, similarity)


def _jaccard(sets: Sequence[frozenset[str]]) -> FloatArray:
    """(k, k) Jaccard similarities (two empty sets: 0)."""
    k = len(sets)
    out = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            union = len(sets[a] | sets[b])
            if union:
                out[a, b] = out[b, a] = len(sets[a] & sets[b]) / union
    return out


def task_kind(parsed: ParsedAnswers) -> TaskKind:
    """`choice` when at least half of all answers start with an option letter."""
    return "choice" if parsed.choice.size and (parsed.choice >= 0).mean() >= 0.5 else "text"


def letter_log_priors(parsed: ParsedAnswers) -> FloatArray:
    """(models, letters + silent) log frequencies of each model's answers, Laplace-smoothed."""
    k = parsed.choice.shape[1]
    out = np.zeros((k, SILENT + 1))
    for j in range(k):
        picks = np.where(parsed.choice[:, j] >= 0, parsed.choice[:, j], SILENT)
        counts = np.bincount(picks, minlength=SILENT + 1) + 1.0
        out[j] = np.log(counts / counts.sum())
    return out


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate answers: `row` they belong to, `model` whose recorded answer stands for
    the candidate (the first called member), and their `features`."""

    row: IntArray
    model: IntArray
    features: FloatArray


def candidates(
    kind: TaskKind,
    parsed: ParsedAnswers,
    called: Sequence[int],
    priors: FloatArray,
    *,
    agreement: bool = True,
) -> Candidates:
    """The candidate answers once the models `called` (in call order) have answered.
    `agreement=False` leaves out the code-agreement features of text candidates (the
    feature set of routers trained before they existed)."""
    if kind == "choice":
        return _choice_candidates(parsed, list(called), priors)
    return _text_candidates(parsed, list(called), agreement)


def _choice_candidates(parsed: ParsedAnswers, called: list[int], priors: FloatArray) -> Candidates:
    picks = parsed.choice[:, called]  # (n, s)
    s = picks.shape[1]
    answered = picks >= 0
    distinct_all = sum((picks == letter).any(axis=1) for letter in range(SILENT)) / s
    parts: list[tuple[IntArray, IntArray, FloatArray]] = []
    for letter in range(SILENT + 1):
        if letter == SILENT:
            members = ~answered
            rows = np.flatnonzero(~answered.any(axis=1))
        else:
            members = picks == letter
            rows = np.flatnonzero(members.any(axis=1))
        if rows.size == 0:
            continue
        inside = members[rows].astype(np.float64)
        surprisal = inside * -priors[called, letter][None, :]
        against = (answered[rows] & ~members[rows]).astype(np.float64)
        share = inside.sum(axis=1, keepdims=True) / s
        distinct = np.asarray(distinct_all, dtype=np.float64)[rows, None]
        silent = np.full((rows.size, 1), float(letter == SILENT))
        pairs = [inside[:, a] * inside[:, b] for a in range(s) for b in range(a + 1, s)]
        both = np.column_stack(pairs) if pairs else np.zeros((rows.size, 0))
        feats = np.hstack([inside, surprisal, against, both, share, distinct, silent])
        first = np.asarray(called, dtype=np.int64)[np.argmax(members[rows], axis=1)]
        parts.append((rows, first, feats))
    return _stack(parts, 3 * s + s * (s - 1) // 2 + 3)


def code_agreement(parsed: ParsedAnswers, called: Sequence[int], pos: int) -> FloatArray:
    """(rows, 2): mean and largest Jaccard similarity between the code tokens of
    `called[pos]`'s answer and those of every other called model's (0 when alone or
    when `parsed` has no similarities)."""
    others = [j for q, j in enumerate(called) if q != pos]
    if not others or parsed.similarity is None:
        return np.zeros((len(parsed), AGREEMENT_FEATURES))
    sims = parsed.similarity[:, called[pos], others]
    return np.column_stack([sims.mean(axis=1), sims.max(axis=1)])


def _text_candidates(parsed: ParsedAnswers, called: list[int], agreement: bool) -> Candidates:
    n = len(parsed)
    s = len(called)
    names = [[row[j] for j in called] for row in parsed.names]
    parts: list[tuple[IntArray, IntArray, FloatArray]] = []
    for pos, j in enumerate(called):
        onehot = np.zeros((n, s))
        onehot[:, pos] = 1.0
        agree = np.array(
            [
                sum(1 for q, other in enumerate(row) if q != pos and other and other == row[pos])
                for row in names
            ],
            dtype=np.float64,
        )[:, None] / max(s - 1, 1)
        feats = np.hstack([onehot, parsed.code[:, j, :], parsed.log_length[:, j, None], agree])
        if agreement:
            feats = np.hstack([feats, code_agreement(parsed, called, pos)])
        parts.append((np.arange(n, dtype=np.int64), np.full(n, j, dtype=np.int64), feats))
    return _stack(parts, s + len(CODE_FACTS) + 2 + (AGREEMENT_FEATURES if agreement else 0))


def _stack(parts: list[tuple[IntArray, IntArray, FloatArray]], width: int) -> Candidates:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Candidates(empty, empty, np.zeros((0, width)))
    return Candidates(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.vstack([p[2] for p in parts]),
    )


def best_per_row(cands: Candidates, scores: FloatArray, n: int) -> tuple[FloatArray, IntArray]:
    """For each of `n` rows, the highest candidate score and its model (-1 when none)."""
    best = np.full(n, -np.inf)
    model = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((-scores, cands.row))
    rows = cands.row[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    best[rows[first]] = scores[order][first]
    model[rows[first]] = cands.model[order][first]
    return best, model
