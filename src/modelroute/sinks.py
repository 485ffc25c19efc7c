"""Where records go: a JSONL decision log, Python logging, an in-memory list.

A sink receives each finished request's `Decision` (and breaker transitions). Sinks
never break the user's call: `emit_all` logs a sink's exception and carries on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from modelroute.records import BreakerTransition, Decision

logger = logging.getLogger("modelroute")


@runtime_checkable
class Sink(Protocol):
    """Receives records. Implement `emit`; `emit_transition` is optional."""

    def emit(self, decision: Decision) -> None:
        """Take one finished request's decision."""
        ...


class MemorySink:
    """Keeps decisions and breaker transitions in lists (for tests and notebooks)."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.transitions: list[BreakerTransition] = []

    def emit(self, decision: Decision) -> None:
        """Append the decision."""
        self.decisions.append(decision)

    def emit_transition(self, transition: BreakerTransition) -> None:
        """Append the breaker transition."""
        self.transitions.append(transition)


class JsonlSink:
    """Appends one JSON object per decision to `path` (the decision log).

    Each line is `Decision.to_dict()` with `"type": "decision"`; breaker transitions
    are lines with `"type": "breaker_transition"`. Prompt and answer text are never
    written. Thread-safe; the file is opened per write so it can be rotated.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)

    def _write(self, record: dict[str, object]) -> None:
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def emit(self, decision: Decision) -> None:
        """Append the decision as one line."""
        self._write({"type": "decision", **decision.to_dict()})

    def emit_transition(self, transition: BreakerTransition) -> None:
        """Append the breaker transition as one line."""
        self._write({"type": "breaker_transition", **_transition_dict(transition)})


def _transition_dict(t: BreakerTransition) -> dict[str, object]:
    return {
        "model": t.model,
        "from_state": t.from_state,
        "to_state": t.to_state,
        "at": t.at,
        "reason": t.reason,
    }


class LoggingSink:
    """Logs one line per decision on the `modelroute` logger (INFO; WARNING on failure)."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger

    def emit(self, decision: Decision) -> None:
        """Log a one-line summary: route, outcome, responding model, reasons, cost."""
        level = logging.INFO if decision.outcome.succeeded else logging.WARNING
        self.log.log(
            level,
            "route=%s outcome=%s model=%s fallbacks=%s cost_usd=%.8f latency_s=%.3f",
            decision.route,
            decision.outcome.value,
            decision.responding_model,
            ",".join(decision.fallback_reasons) or "-",
            decision.cost_usd,
            decision.latency_s,
        )

    def emit_transition(self, transition: BreakerTransition) -> None:
        """Log a breaker transition at WARNING."""
        self.log.warning(
            "breaker model=%s %s->%s %s",
            transition.model,
            transition.from_state,
            transition.to_state,
            transition.reason,
        )


def emit_all(sinks: Iterable[Sink], decision: Decision) -> None:
    """Give `decision` to every sink; a failing sink is logged and skipped."""
    for sink in sinks:
        try:
            sink.emit(decision)
        except Exception:  # telemetry must never break the user's call
            logger.exception("modelroute sink %r failed", sink)


def emit_transition_all(sinks: Iterable[Sink], transition: BreakerTransition) -> None:
    """Give a breaker transition to every sink that takes them."""
    for sink in sinks:
        method = getattr(sink, "emit_transition", None)
        if method is None:
            continue
        try:
            method(transition)
        except Exception:  # telemetry must never break the user's call
            logger.exception("modelroute sink %r failed", sink)
