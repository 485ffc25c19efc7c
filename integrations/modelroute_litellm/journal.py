"""What the routing strategy decided, kept for the callback that records the calls.

LiteLLM asks the strategy for a deployment, then makes the call; the callback sees the call.
The `PickJournal` joins the two by LiteLLM's per-request trace id (`litellm_trace_id`, shared
by every retry and fallback hop of one request): the strategy writes a `Pick` (score, tier,
skipped deployments) and the breaker admission and budget tickets of the chosen deployment;
the callback takes them when the call ends, to report the breaker and settle the budgets
against the real outcome. Per-request state lives here, never on the shared strategy object.
Bounded: the oldest traces are dropped past `max_traces`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelroute.breaker import Admission
    from modelroute.guards import Tickets


@dataclass(frozen=True, slots=True)
class Skip:
    """A deployment the strategy passed over: `reason` is a `FallbackReason` string."""

    model: str
    provider: str | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Pick:
    """One routing decision within a model group.

    `group` is the LiteLLM model group; `deployment_id` and `model` the chosen deployment
    (None when none fitted and the strategy raised instead); `candidates` the group's
    models in tier order; `skipped` the deployments passed over, with why. `score`,
    `threshold` and `tier` come from the classifier (None for a one-tier group).
    """

    trace_id: str | None
    group: str
    deployment_id: str | None
    model: str | None
    candidates: tuple[str, ...]
    strategy: str
    reason: str = ""
    score: float | None = None
    threshold: float | None = None
    tier: str | None = None
    skipped: tuple[Skip, ...] = ()


@dataclass
class _Held:
    """The breaker admission and guard tickets of one chosen deployment, until its call ends."""

    admission: Admission | None
    tickets: Tickets = field(default_factory=list)


@dataclass
class _Trace:
    picks: list[Pick] = field(default_factory=list)
    taken: int = 0
    held: dict[str, list[_Held]] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


class PickJournal:
    """Thread-safe store of picks and held admissions, by LiteLLM trace id."""

    def __init__(self, max_traces: int = 10_000) -> None:
        self.max_traces = max_traces
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, _Trace] = OrderedDict()

    def _trace(self, trace_id: str) -> _Trace:
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = _Trace()
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)
        return trace

    def record(
        self,
        pick: Pick,
        *,
        key: str | None = None,
        admission: Admission | None = None,
        tickets: Tickets | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        """Keep `pick` under its trace id and `aliases` (other ids of the same request, e.g.
        LiteLLM's call id, which the proxy keeps for every hop while its logging trace id
        differs); with `key` (the chosen deployment's key), hold its admission and tickets
        until `take_held`."""
        if pick.trace_id is None:
            return
        with self._lock:
            trace = self._trace(pick.trace_id)
            for alias in aliases:
                if alias and alias not in trace.aliases and alias != pick.trace_id:
                    trace.aliases.append(alias)
                    self._traces[alias] = trace
            trace.picks.append(pick)
            if key is not None:
                trace.held.setdefault(key, []).append(_Held(admission, list(tickets or [])))

    def new_picks(self, trace_id: str) -> list[Pick]:
        """Picks of `trace_id` not returned by an earlier call, in order."""
        with self._lock:
            trace = self._traces.get(trace_id)
            if trace is None:
                return []
            picks = trace.picks[trace.taken :]
            trace.taken = len(trace.picks)
            return picks

    def first_pick(self, trace_id: str) -> Pick | None:
        """The first pick of `trace_id` (the requested group's), or None."""
        with self._lock:
            trace = self._traces.get(trace_id)
            return trace.picks[0] if trace is not None and trace.picks else None

    def take_held(self, trace_id: str, key: str) -> tuple[Admission | None, Tickets] | None:
        """The oldest held admission and tickets of deployment `key` in `trace_id`, removed;
        None when the strategy held none (it did not pick this call)."""
        with self._lock:
            trace = self._traces.get(trace_id)
            queue = trace.held.get(key) if trace is not None else None
            if not queue:
                return None
            held = queue.pop(0)
            return held.admission, held.tickets

    def forget(self, trace_id: str) -> list[tuple[str, Admission | None, Tickets]]:
        """Drop `trace_id`; returns (deployment key, admission, tickets) still held, to
        release them."""
        with self._lock:
            trace = self._traces.pop(trace_id, None)
            for alias in trace.aliases if trace is not None else ():
                self._traces.pop(alias, None)
        if trace is None:
            return []
        return [(key, h.admission, h.tickets) for key, queue in trace.held.items() for h in queue]
