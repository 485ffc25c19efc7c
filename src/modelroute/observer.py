"""Live hooks into a request as it runs, for tracing and framework callbacks.

Sinks get the finished `Decision`; observers see the request while it runs, so an
OpenTelemetry observer can open the attempt span before the provider call (provider
instrumentation then nests under it) and a LangChain adapter can open child runs.
Hooks are called synchronously in the task that runs the request; an observer's
exception is logged and never reaches the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from modelroute.records import Attempt, Decision

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo
    from modelroute.types import Request, Response

logger = logging.getLogger("modelroute")


@dataclass(frozen=True, slots=True)
class RequestStarted:
    """A request entered a route. `candidates` in ranked order; `started_at` clock seconds."""

    request_id: str
    route: str
    strategy: str
    candidates: tuple[str, ...]
    request: Request
    stream: bool
    started_at: float


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """The engine is about to call `model` (attempt `index`, `retry`-th retry of it).

    `breaker_state` is the model's breaker state that admitted the call (`closed`, or
    `half_open` for a probe).
    """

    request_id: str
    index: int
    retry: int
    model: ModelInfo
    timeout_s: float | None
    breaker_state: str | None = None


class Observer(Protocol):
    """Receives a request's life cycle. Every method is optional (see `Observers`)."""

    def request_started(self, event: RequestStarted) -> None:
        """The request started."""

    def attempt_started(self, event: AttemptStarted) -> None:
        """A provider call is about to start."""

    def attempt_response(self, request_id: str, index: int, response: Response) -> None:
        """Attempt `index` returned `response` (before validation; `attempt_finished` follows).

        The one hook that sees the answer itself (id, finish reason, text), for tracers that
        record them; records never carry answer text.
        """

    def attempt_finished(self, request_id: str, attempt: Attempt) -> None:
        """An attempt ended (skipped candidates included; they have no start)."""

    def request_finished(self, decision: Decision) -> None:
        """The request ended (answered or not)."""


_HOOKS = (
    "request_started",
    "attempt_started",
    "attempt_response",
    "attempt_finished",
    "request_finished",
)


_Hooks = Mapping[str, tuple[tuple[object, Callable[..., object]], ...]]
_NO_HOOKS: _Hooks = MappingProxyType({method: () for method in _HOOKS})


def _hook_table(observers: Sequence[object]) -> _Hooks:
    """Hook name -> (observer, bound hook) of the observers that implement it."""
    return {
        method: tuple(
            (obs, hook) for obs in observers if (hook := getattr(obs, method, None)) is not None
        )
        for method in _HOOKS
    }


class Observers:
    """Fans events out to observers that implement them; failures are logged and dropped."""

    def __init__(self, observers: Sequence[object] = ()) -> None:
        self.observers = tuple(observers)
        # each hook looked up once, not on every event (a plan without observers makes an
        # empty `Observers` per request: that one shares the empty table)
        self._hooks = _hook_table(self.observers) if self.observers else _NO_HOOKS

    def __bool__(self) -> bool:
        return bool(self.observers)

    def with_extra(self, observers: Sequence[object]) -> Observers:
        """These observers plus `observers` (for one request); `self` when there are none."""
        return Observers((*self.observers, *observers)) if observers else self

    def _fire(self, method: str, *args: object) -> None:
        for obs, hook in self._hooks[method]:
            try:
                hook(*args)
            except Exception:  # telemetry must never break the user's call
                logger.exception("modelroute observer %r failed in %s", obs, method)

    def request_started(self, event: RequestStarted) -> None:
        """Fan out `request_started`."""
        self._fire("request_started", event)

    def attempt_started(self, event: AttemptStarted) -> None:
        """Fan out `attempt_started`."""
        self._fire("attempt_started", event)

    def attempt_response(self, request_id: str, index: int, response: Response) -> None:
        """Fan out `attempt_response`."""
        self._fire("attempt_response", request_id, index, response)

    def attempt_finished(self, request_id: str, attempt: Attempt) -> None:
        """Fan out `attempt_finished`."""
        self._fire("attempt_finished", request_id, attempt)

    def request_finished(self, decision: Decision) -> None:
        """Fan out `request_finished`."""
        self._fire("request_finished", decision)
