"""Which fault each model applies next: a FIFO queue, then a sticky default (thread-safe)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping

from modelroute.provider_server.fault_specs import FaultSpec, parse_fault
from modelroute.provider_server.faults import Fault
from modelroute.provider_server.scripts import ModelScript


class FaultBoard:
    """Per-model faults, settable from any thread while the server runs.

    A request takes the head of its model's queue if there is one, else the model's sticky default
    (None means a normal answer). Starts (and `reset`s) from each script's `faults` and `fault`.
    """

    def __init__(self, scripts: Mapping[str, ModelScript]) -> None:
        self._scripts = dict(scripts)
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}
        self._defaults: dict[str, Fault | None] = {}
        self.reset()

    def reset(self) -> None:
        """Back to every script's initial queue and sticky default."""
        with self._lock:
            self._queues = {name: deque(s.faults) for name, s in self._scripts.items()}
            self._defaults = {name: s.fault for name, s in self._scripts.items()}

    def set_faults(self, model: str, faults: Iterable[FaultSpec]) -> None:
        """Replace `model`'s queue: the next requests get these faults, one each, in order."""
        parsed = deque(parse_fault(f) for f in faults)
        with self._lock:
            self._check(model)
            self._queues[model] = parsed

    def add_faults(self, model: str, faults: Iterable[FaultSpec]) -> None:
        """Append faults to the end of `model`'s queue."""
        parsed = [parse_fault(f) for f in faults]
        with self._lock:
            self._check(model)
            self._queues[model].extend(parsed)

    def set_default_fault(self, model: str, fault: FaultSpec | None) -> None:
        """Set (or clear, with None) `model`'s sticky fault, applied whenever its queue is empty."""
        parsed = None if fault is None else parse_fault(fault)
        with self._lock:
            self._check(model)
            self._defaults[model] = parsed

    def pending(self, model: str) -> tuple[Fault, ...]:
        """`model`'s queued faults, next first."""
        with self._lock:
            self._check(model)
            return tuple(self._queues[model])

    def next_fault(self, model: str) -> Fault | None:
        """Take the fault for `model`'s next request (None: answer normally)."""
        with self._lock:
            self._check(model)
            queue = self._queues[model]
            return queue.popleft() if queue else self._defaults[model]

    def _check(self, model: str) -> None:
        if model not in self._scripts:
            raise KeyError(f"no script for model {model!r}; known: {sorted(self._scripts)}")
