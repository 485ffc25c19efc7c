"""Reading a decision log (JSONL) back into `Decision` records, one line at a time.

The log is what `modelroute.sinks.JsonlSink` writes: one `Decision.to_dict()` per line with
`"type": "decision"`, and `"type": "breaker_transition"` lines. Records are rebuilt from
the fields of the `records` dataclasses themselves, so a field added there is read here
without a change; derived keys (`fallback_reasons`, `saving_usd`, ...) are recomputed by
the record's own properties, never trusted from the file. A line that is not valid JSON
or not a valid record is counted (with the first few line numbers) and skipped.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome, Verdict
from modelroute.types import Usage

_DECISION_FIELDS = frozenset(f.name for f in fields(Decision))
_ATTEMPT_FIELDS = frozenset(f.name for f in fields(Attempt))
_USAGE_FIELDS = frozenset(f.name for f in fields(Usage))
_VERDICT_FIELDS = frozenset(f.name for f in fields(Verdict))
_NUMBERS = ("cost_usd", "latency_s", "started_at")  # required numbers (decision and attempt)
_ATTEMPT_OUTCOMES = {o.value: o for o in AttemptOutcome}
_REQUEST_OUTCOMES = {o.value: o for o in RequestOutcome}
MAX_BAD_EXAMPLES = 5


class BadRecord(ValueError):
    """A log line that parses as JSON but is not a valid record."""


@dataclass
class LogStats:
    """What reading a log met. `bad_examples` holds (line number, problem) of the first
    `MAX_BAD_EXAMPLES` bad lines; `transitions` counts breaker transitions by
    (model, new state)."""

    lines: int = 0
    decisions: int = 0
    blank: int = 0
    bad: int = 0
    other: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "lines": self.lines,
            "decisions": self.decisions,
            "bad_lines": self.bad,
            "other_lines": self.other,
            "blank_lines": self.blank,
            "breaker_transitions": sum(self.transitions.values()),
            "bad_examples": [{"line": n, "problem": p} for n, p in self.bad_examples],
        }


def _check_numbers(raw: Mapping[str, Any]) -> None:
    """Costs, latencies and times must be finite numbers (a missing one takes its default;
    `baseline_cost_usd` may be null)."""
    for key in _NUMBERS:
        if key in raw:
            _finite(key, raw[key])
    baseline = raw.get("baseline_cost_usd")
    if baseline is not None:
        _finite("baseline_cost_usd", baseline)


def _finite(key: str, value: Any) -> None:
    if value.__class__ not in (int, float) or not math.isfinite(value):
        raise BadRecord(f"{key} is not a finite number: {value!r}")


def _pick(raw: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: raw[k] for k in raw.keys() & names}


def usage_from_dict(raw: Mapping[str, Any] | None) -> Usage | None:
    """A `Usage` from its dict form (None stays None)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadRecord(f"usage is not an object: {raw!r}")
    return Usage(**_pick(raw, _USAGE_FIELDS))


def attempt_from_dict(raw: Mapping[str, Any]) -> Attempt:
    """An `Attempt` from its `to_dict()` form; raises `BadRecord`."""
    if not isinstance(raw, Mapping):
        raise BadRecord(f"attempt is not an object: {raw!r}")
    _check_numbers(raw)
    kwargs = _pick(raw, _ATTEMPT_FIELDS)
    try:
        kwargs["outcome"] = _ATTEMPT_OUTCOMES[raw["outcome"]]
        kwargs["usage"] = usage_from_dict(raw.get("usage"))
        verdicts = raw.get("verdicts", ())
        kwargs["verdicts"] = tuple(Verdict(**_pick(v, _VERDICT_FIELDS)) for v in verdicts)
        return Attempt(**kwargs)
    except KeyError as exc:
        raise BadRecord(f"attempt: missing or unknown value {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadRecord(f"attempt: {exc}") from None


def decision_from_dict(raw: Mapping[str, Any]) -> Decision:
    """A `Decision` from its `to_dict()` form (a log line); raises `BadRecord`."""
    _check_numbers(raw)
    kwargs = _pick(raw, _DECISION_FIELDS)
    try:
        kwargs["outcome"] = _REQUEST_OUTCOMES[raw["outcome"]]
        kwargs["attempts"] = tuple(attempt_from_dict(a) for a in raw["attempts"])
        kwargs["candidates"] = tuple(raw.get("candidates", ()))
        kwargs["tags"] = tuple(raw.get("tags", ()))
        extra = raw.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise BadRecord(f"extra is not an object: {extra!r}")
        kwargs["extra"] = dict(extra)
        return Decision(**kwargs)
    except BadRecord:
        raise
    except KeyError as exc:
        raise BadRecord(f"missing or unknown value {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadRecord(str(exc)) from None


class DecisionLog:
    """The decisions of a JSONL decision log, read lazily line by line.

    Iterate it once to get `Decision`s in file order; `stats` fills in as it goes (bad
    lines, breaker transitions, other record types). Memory stays flat however long the
    log is.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.stats = LogStats()

    def __iter__(self) -> Iterator[Decision]:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                decision = self._parse(number, line)
                if decision is not None:
                    yield decision

    def _parse(self, number: int, line: str) -> Decision | None:
        stats = self.stats
        stats.lines += 1
        if not line.strip():
            stats.blank += 1
            return None
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise BadRecord(f"not a JSON object: {type(raw).__name__}")
            kind = raw.get("type", "decision")
            if kind == "breaker_transition":
                stats.transitions[(str(raw.get("model")), str(raw.get("to_state")))] += 1
                return None
            if kind != "decision":
                stats.other += 1
                return None
            decision = decision_from_dict(raw)
        except (ValueError, BadRecord) as exc:  # json.JSONDecodeError is a ValueError
            self._bad(number, exc)
            return None
        stats.decisions += 1
        return decision

    def _bad(self, number: int, exc: Exception) -> None:
        self.stats.bad += 1
        if len(self.stats.bad_examples) < MAX_BAD_EXAMPLES:
            self.stats.bad_examples.append((number, str(exc)[:200]))
