"""Recorded per-query outcomes of several models, loaded from CSV files.

Two layouts are read (source: RouterBench, Hu et al. 2024, and RouteLLM, lm-sys):

- RouterBench: `prompt` (Python repr of a one-element list), optional `eval_name`, and
  per model `<model>` (quality 0..1), `<model>|total_cost` (USD) and optionally
  `<model>|model_response` (repr of a list). A model is any column with a matching
  `|total_cost` column.
- RouteLLM two-model: `prompt` (plain text) and per model a True/False column. There
  are no costs: `cost` is NaN and `has_costs` is False.

A row with a missing cell or a malformed value is skipped and counted by reason. A
RouterBench column without its `|total_cost` column is not a model: it is left out and
listed in `OutcomeTable.uncosted` (the CLI warns about it).
"""

from __future__ import annotations

import ast
import codecs
import csv
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from modelroute.errors import ConfigError, ModelRouteError, UnknownModelError

COST_SUFFIX = "|total_cost"
RESPONSE_SUFFIX = "|model_response"
_META = frozenset({"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"})
_BOOLS = MappingProxyType({"true": 1.0, "false": 0.0})

Array = NDArray[np.float64]


class DataFormatError(ModelRouteError, ValueError):
    """A data file cannot be read as outcomes (no model columns, files that disagree,
    not UTF-8 text, not CSV)."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class UncostedModelError(UnknownModelError):
    """A model asked for has a quality column in the data but no `<model>|total_cost`
    column, so it was left out."""

    def __init__(self, path: str, model: str) -> None:
        self.model = model
        ConfigError.__init__(
            self, path, f"unknown model {model!r}: the data has no {model + COST_SUFFIX!r} column"
        )


class MissingColumnError(UnknownModelError):
    """A model asked for (a baseline, a model a router calls, a route model) has no column
    in the data; the message says who expects it and lists the data's models."""

    def __init__(self, path: str, model: str, message: str) -> None:
        self.model = model
        ConfigError.__init__(self, path, message)


@dataclass(frozen=True, slots=True)
class OutcomeTable:
    """What every model answered to every query, how good it was and what it cost.

    `quality[i, j]` (0..1) and `cost[i, j]` (USD) belong to query i and `models[j]`;
    `responses[i][j]` is the raw answer text, or `responses` is None when the data has
    none. `tasks[i]` is the row's `eval_name` ("" when absent). `skipped` counts the
    rows left out, by reason (`missing_cell`, `bad_quality`, `bad_cost`, `bad_prompt`,
    `bad_response`). `uncosted` names the columns that look like a model's quality but
    have no `<model>|total_cost` column (left out, not models).
    """

    models: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str, ...]
    quality: Array
    cost: Array
    responses: tuple[tuple[str, ...], ...] | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)
    uncosted: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def skipped_rows(self) -> int:
        """How many rows were left out."""
        return sum(self.skipped.values())

    @property
    def has_costs(self) -> bool:
        """False for two-model data recorded without prices."""
        return not bool(np.isnan(self.cost).any())

    def column(self, model: str, needed_by: str = "") -> int:
        """Index of `model`. Raises `UncostedModelError` (path `data`) when it was left out
        for lack of a cost column, else `MissingColumnError` (an `UnknownModelError`)
        naming `needed_by` (e.g. `the router's plans call it`) and the data's models."""
        try:
            return self.models.index(model)
        except ValueError:
            if model in self.uncosted:
                raise UncostedModelError("data", model) from None
            raise MissingColumnError("data", model, self.missing(model, needed_by)) from None

    def missing(self, model: str, needed_by: str = "") -> str:
        """The message for a model without a column: `unknown model 'x' (<needed_by>); the
        data's model columns are [...]`."""
        why = f" ({needed_by})" if needed_by else ""
        return f"unknown model {model!r}{why}; the data's model columns are {list(self.models)}"

    def columns(self, models: Iterable[str], needed_by: str = "") -> list[int]:
        """Indices of `models`, in order; raises `UnknownModelError` for the first unknown
        (see `column`)."""
        return [self.column(m, needed_by) for m in models]

    def take(self, rows: Sequence[int] | NDArray[np.int64]) -> OutcomeTable:
        """The table restricted to `rows` (in that order); skip counts are kept."""
        idx = np.asarray(rows, dtype=np.int64)
        return OutcomeTable(
            models=self.models,
            prompts=tuple(self.prompts[i] for i in idx),
            tasks=tuple(self.tasks[i] for i in idx),
            quality=self.quality[idx],
            cost=self.cost[idx],
            responses=None if self.responses is None else tuple(self.responses[i] for i in idx),
            skipped=self.skipped,
            uncosted=self.uncosted,
        )


class _RowError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _number(cell: str | None, reason: str, *, upper: float | None = None) -> float:
    if cell is None or not cell.strip():
        raise _RowError("missing_cell")
    text = cell.strip()
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    try:
        value = float(text)
    except ValueError:
        raise _RowError(reason) from None
    if not math.isfinite(value) or value < 0 or (upper is not None and value > upper):
        raise _RowError(reason)
    return value


def _text(cell: str | None, reason: str) -> str:
    """A cell that may be the repr of a list of strings (joined) or plain text."""
    if cell is None:
        raise _RowError("missing_cell")
    stripped = cell.strip()
    if not stripped.startswith("["):
        if not stripped:
            raise _RowError("missing_cell")
        return cell
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise _RowError(reason) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _RowError(reason)
    return "\n".join(value)


@dataclass(frozen=True, slots=True)
class _Layout:
    models: tuple[str, ...]
    has_costs: bool
    has_responses: bool
    uncosted: tuple[str, ...] = ()


def _layout(header: Sequence[str], source: str) -> _Layout:
    names = set(header)
    if "prompt" not in names:
        raise DataFormatError(source, "no `prompt` column")
    models = tuple(c for c in header if c + COST_SUFFIX in names)
    if models:
        responses = all(m + RESPONSE_SUFFIX in names for m in models)
        uncosted = tuple(c for c in header if c not in _META and "|" not in c and c not in models)
        return _Layout(models, True, responses, uncosted)
    plain = tuple(c for c in header if c not in _META and "|" not in c)
    if len(plain) < 2:
        raise DataFormatError(source, "no model columns (`<model>` with `<model>|total_cost`)")
    return _Layout(plain, False, False)


Row = tuple[object, ...]


def _parse_row(row: Mapping[str, str | None], layout: _Layout) -> Row:
    prompt = _text(row.get("prompt"), "bad_prompt")
    quality = [_number(row.get(m), "bad_quality", upper=1.0) for m in layout.models]
    if layout.has_costs:
        cost = [_number(row.get(m + COST_SUFFIX), "bad_cost") for m in layout.models]
    else:
        cost = [math.nan] * len(layout.models)
    answers: tuple[str, ...] | None = None
    if layout.has_responses:
        answers = tuple(_text(row.get(m + RESPONSE_SUFFIX), "bad_response") for m in layout.models)
    return prompt, str(row.get("eval_name") or ""), quality, cost, answers


def csv_files(path: str | Path) -> list[Path]:
    """`path` itself, or the `*.csv` files directly inside a directory (sorted)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.csv"))
        if not files:
            raise DataFormatError(str(p), "no .csv files in this directory")
        return files
    if not p.exists():
        raise DataFormatError(str(p), "no such file or directory")
    return [p]


def _first_bad_byte(file: Path) -> str:
    """Where `file` stops being UTF-8: `byte 0x.. at offset N` (N counts from 0)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with file.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"byte 0x{chunk[exc.start]:02x} at offset {offset + exc.start}"
            offset += len(chunk)
    return f"truncated character at offset {offset}"


def _read_file(file: Path, layout: _Layout | None) -> tuple[_Layout, list[Row], Counter[str]]:
    """One file's layout, parsed rows and skip counts. Raises `DataFormatError` when it
    is not UTF-8 CSV, has no model columns or disagrees with `layout` (an earlier file's)."""
    rows: list[Row] = []
    skipped: Counter[str] = Counter()
    with file.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            if reader.fieldnames is None:
                raise DataFormatError(str(file), "empty file")
            this = _layout(reader.fieldnames, str(file))
            if layout is not None and this.models != layout.models:
                raise DataFormatError(
                    str(file), f"model columns differ from the first file's: {this.models}"
                )
            for raw in reader:
                try:
                    rows.append(_parse_row(raw, this))
                except _RowError as err:
                    skipped[err.reason] += 1
        except UnicodeDecodeError:
            raise DataFormatError(str(file), f"not UTF-8 text ({_first_bad_byte(file)})") from None
        except csv.Error as exc:
            raise DataFormatError(str(file), f"not CSV ({exc}, line {reader.line_num})") from None
    return this, rows, skipped


def load_outcomes(path: str | Path) -> OutcomeTable:
    """Load a CSV file, or every `*.csv` in a directory (all with the same model columns).

    Raises `DataFormatError` when a file is not UTF-8 CSV (naming the file and the byte
    offset), has no model columns, or files disagree on them.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    layout: _Layout | None = None
    rows: list[Row] = []
    skipped: Counter[str] = Counter()
    for file in csv_files(path):
        this, file_rows, file_skipped = _read_file(file, layout)
        layout = layout or this
        rows += file_rows
        skipped += file_skipped
    assert layout is not None
    return _table(layout, rows, dict(skipped))


def _table(layout: _Layout, rows: list[Row], skipped: dict[str, int]) -> OutcomeTable:
    k = len(layout.models)
    quality = np.array([r[2] for r in rows], dtype=np.float64).reshape(len(rows), k)
    cost = np.array([r[3] for r in rows], dtype=np.float64).reshape(len(rows), k)
    responses = tuple(r[4] for r in rows) if layout.has_responses else None
    return OutcomeTable(
        models=layout.models,
        prompts=tuple(str(r[0]) for r in rows),
        tasks=tuple(str(r[1]) for r in rows),
        quality=quality,
        cost=cost,
        responses=responses,  # type: ignore[arg-type]
        skipped=dict(skipped),
        uncosted=layout.uncosted,
    )
