"""The actions a `Plan` answers with: `Call`, `Sleep`, `Verify`, `Done` or `GiveUp`.

Drivers (`modelroute.drivers`) perform `Call`, `Sleep` and `Verify` and report the outcome
back to the plan; `Done` and `GiveUp` end the request. All are frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelroute.errors import ModelRouteError
from modelroute.records import Decision
from modelroute.types import Request, Response

if TYPE_CHECKING:
    from modelroute.breaker import Admission
    from modelroute.catalog import ModelInfo


@dataclass(frozen=True, slots=True)
class Call:
    """Call `model` now with `request`, with at most `timeout_s` seconds (None = no limit).

    `request` is the caller's request, or a continuation of it when a stream is resumed."""

    model: ModelInfo
    index: int
    retry: int
    timeout_s: float | None
    admission: Admission
    started_at: float
    request: Request


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait `seconds`, then ask the plan for the next action with `resume()`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done:
    """The request succeeded with `response`; `decision` records how."""

    response: Response
    decision: Decision


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The request failed; raise `error` (it carries the decision and every attempt)."""

    error: ModelRouteError
    decision: Decision


@dataclass(frozen=True, slots=True)
class Verify:
    """Ask the verifier model `judge` about `response`, the answer of `call`; report the
    judge's answer (or error) with `on_verdict`."""

    call: Call
    response: Response
    judge: ModelInfo
    request: Request
    timeout_s: float | None


Action = Call | Sleep | Verify | Done | GiveUp
