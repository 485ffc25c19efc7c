"""`TraceRecorder`: assembles LiteLLM's per-call events into modelroute records.

LiteLLM reports each HTTP call (a "hop": the first try, each retry, each fallback) on its
own, with a per-call id and a per-request trace id shared by every hop. The recorder keeps
one open `hops.RequestTrace` per request: `begin` opens a hop (observers get
`attempt_started`), `succeeded` / `failed` close it as an `Attempt` (reason mapped from the
exception, tokens, LiteLLM's cost) and report the deployment's breaker; the request becomes
one `Decision` when it has succeeded, or has failed for good, and no hop is still open. A
failed request whose end LiteLLM does not signal (a Router group without fallbacks) is
recorded `settle_s` seconds after its last event, or by `flush()`. With `redact_users` (a
`modelroute.privacy.UserRedaction`) every `Decision` carries the user's pseudonym, as the
core `Router` does: the same key gives the same pseudonym on both paths.

Framework-free: `callback.py` reads LiteLLM's kwargs into `CallFacts` and calls in here.
Thread-safe; sinks and observers are called outside the lock, and never raise into LiteLLM.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from modelroute.breaker import Admission, BreakerRegistry
from modelroute.catalog import ModelInfo
from modelroute.clock import Clock, SystemClock
from modelroute.errors import ProviderError
from modelroute.guards import Tickets, settle_all
from modelroute.observer import AttemptStarted, Observers, RequestStarted
from modelroute.privacy import UserRedaction
from modelroute.reasons import BREAKER_REASONS
from modelroute.records import Attempt
from modelroute.sinks import Sink, emit_all
from modelroute.types import Response
from modelroute_litellm.hops import CallFacts, Hop, RequestTrace
from modelroute_litellm.journal import PickJournal

__all__ = ["CallFacts", "TraceRecorder"]

_KEEP_RECORDED = 10_000


class TraceRecorder:
    """Builds `Attempt`s and one `Decision` per LiteLLM request; see the module docstring.

    `sinks` get each `Decision`; `observers` the live events (an OTel observer, a
    `LatencyTracker`); `breakers` are reported per attempt (with the admission the strategy
    held in `journal`, else one taken at report time); `baseline` prices each attempt's
    counterfactual cost. `settle_s`: seconds after its last event that a failed request
    with no end signal is recorded as exhausted. `redact_users`: records show its
    pseudonym of each request's user instead of the id (None: the id as LiteLLM got it).
    """

    def __init__(
        self,
        *,
        sinks: Sequence[Sink] = (),
        observers: Sequence[object] = (),
        breakers: BreakerRegistry | None = None,
        journal: PickJournal | None = None,
        baseline: ModelInfo | None = None,
        clock: Clock | None = None,
        settle_s: float = 30.0,
        redact_users: UserRedaction | None = None,
    ) -> None:
        self.sinks = tuple(sinks)
        self.observers = Observers(observers)
        self.breakers = breakers
        self.journal = journal if journal is not None else PickJournal()
        self.baseline = baseline
        self.clock: Clock = clock or SystemClock()
        self.settle_s = settle_s
        self.redact_users = redact_users
        self._lock = threading.Lock()
        self._traces: dict[str, RequestTrace] = {}
        self._recorded: OrderedDict[str, None] = OrderedDict()  # recent ids: late events dropped
        self._call_traces: OrderedDict[str, str] = OrderedDict()  # call id -> its trace id

    # -- events ------------------------------------------------------------------------------

    def begin(self, facts: CallFacts) -> None:
        """A hop is about to call the provider."""
        self._sweep()
        with self._lock:
            facts = self._resolve(facts)
            trace, new = self._trace(facts)
            if trace is None or facts.hop_key in trace.open_hops:
                return  # a second start report of the same hop
            skips = trace.add_skips(self.journal.new_picks(trace.journal_key), self.clock.wall())
            hop = trace.open(facts, self.clock.now(), self.clock.wall())
        if new:
            self._request_started(trace)
        for skip in skips:
            self._notify("attempt_finished", trace.trace_id, skip)
        started = AttemptStarted(trace.trace_id, hop.index, hop.retry, facts.info, None, None)
        self._notify("attempt_started", started)

    def succeeded(
        self,
        facts: CallFacts,
        response: Response,
        *,
        cost_usd: float,
        ttft_s: float | None = None,
    ) -> tuple[Attempt | None, Tickets]:
        """A hop answered. `cost_usd` is LiteLLM's own cost of it. Returns its attempt (None
        for a repeated report) and the guard tickets the strategy held for the call, for the
        caller to settle with that attempt (sync or async)."""
        trace_id, attempt, tickets = self._end(
            facts, response=response, cost_usd=cost_usd, ttft_s=ttft_s
        )
        if attempt is not None:
            self._notify("attempt_response", trace_id, attempt.index, response)
        self._after_end(trace_id, attempt)
        return attempt, tickets

    def failed(
        self, facts: CallFacts, error: ProviderError, *, final: bool = False
    ) -> tuple[Attempt | None, Tickets]:
        """A hop failed with `error` (already mapped); `final`: nothing will follow it.
        Returns like `succeeded`."""
        trace_id, attempt, tickets = self._end(facts, error=error)
        if final:
            with self._lock:
                trace = self._traces.get(trace_id)
                if trace is not None:
                    trace.gave_up = True
        self._after_end(trace_id, attempt)
        return attempt, tickets

    def give_up(self, trace_id: str, group: str | None = None) -> None:
        """The request failed for good (LiteLLM's fallbacks for `group` are exhausted; None:
        whatever the group). Recorded once no hop is open."""
        with self._lock:
            trace = self._traces.get(trace_id)
            if trace is None or (group is not None and group != trace.route):
                return
            trace.gave_up = True
        self._conclude(trace_id, force=False)

    def flush(self) -> int:
        """Record every open request now (failed ones as exhausted); returns how many."""
        with self._lock:
            ids = list(self._traces)
        return sum(self._conclude(i, force=True) for i in ids)

    def attempts_of(self, trace_id: str) -> tuple[Attempt, ...]:
        """The attempts recorded so far for an open request (empty once it is recorded)."""
        with self._lock:
            trace = self._traces.get(trace_id)
            return tuple(sorted(trace.attempts, key=lambda a: a.index)) if trace else ()

    # -- internals -----------------------------------------------------------------------------

    def _notify(self, hook: str, *args: object) -> None:
        """Call an observer hook in a copy of the current context: LiteLLM reports a hop's
        start and end from different tasks and threads, so a hook that makes its span
        current (OTel) must not leave it current in the caller's context."""
        contextvars.copy_context().run(getattr(self.observers, hook), *args)

    def _resolve(self, facts: CallFacts) -> CallFacts:
        """`facts` with the trace id of its call when LiteLLM left it out (some hooks pass
        only the call id, which then stands in for the trace id)."""
        known = self._call_traces.get(facts.call_id)
        if known is None:
            self._call_traces[facts.call_id] = facts.trace_id
            while len(self._call_traces) > _KEEP_RECORDED:
                self._call_traces.popitem(last=False)
            return facts
        return facts if known == facts.trace_id else replace(facts, trace_id=known)

    def _trace(self, facts: CallFacts) -> tuple[RequestTrace | None, bool]:
        """The open trace of `facts` (created on first sight); None for a recorded one."""
        trace = self._traces.get(facts.trace_id)
        if trace is not None:
            return trace, False
        if facts.trace_id in self._recorded:
            return None, False
        # The strategy keeps picks under the trace id of the request kwargs it sees; the
        # LiteLLM 1.108 proxy logs calls under another trace id, but the same call id.
        key = facts.trace_id
        if self.journal.first_pick(key) is None and self.journal.first_pick(facts.call_id):
            key = facts.call_id
        pick = self.journal.first_pick(key)
        route = pick.group if pick is not None else (facts.group or facts.model)
        now = self.clock.now()
        trace = RequestTrace(
            facts.trace_id, key, route, facts.request, facts.stream, now, self.clock.wall(), now
        )
        self._traces[facts.trace_id] = trace
        return trace, True

    def _end(
        self,
        facts: CallFacts,
        *,
        response: Response | None = None,
        cost_usd: float = 0.0,
        ttft_s: float | None = None,
        error: ProviderError | None = None,
    ) -> tuple[str, Attempt | None, Tickets]:
        with self._lock:
            facts = self._resolve(facts)
            trace, new = self._trace(facts)
            key = facts.hop_key
            if trace is None or (key in trace.ended_hops and key not in trace.open_hops):
                return facts.trace_id, None, []  # a second end report of one hop
            skips = []
            hop: Hop | None = trace.open_hops.get(key)
            if hop is None:  # no pre-call event (e.g. refused before the request was sent)
                skips = trace.add_skips(
                    self.journal.new_picks(trace.journal_key), self.clock.wall()
                )
                hop = trace.open(facts, self.clock.now(), self.clock.wall())
            attempt = trace.close(
                hop,
                self.clock.now(),
                response=response,
                cost_usd=cost_usd,
                ttft_s=ttft_s,
                error=error,
                baseline=self.baseline,
            )
        if new:
            self._request_started(trace)
        for skip in skips:
            self._notify("attempt_finished", trace.trace_id, skip)
        tickets = self._report_breaker(trace.journal_key, facts, error)
        return facts.trace_id, attempt, tickets

    def _report_breaker(
        self, journal_key: str, facts: CallFacts, error: ProviderError | None
    ) -> Tickets:
        held = self.journal.take_held(journal_key, facts.model)
        admission: Admission | None = None
        tickets: Tickets = []
        if held is not None:
            admission, tickets = held
        if self.breakers is None:
            return tickets
        breaker = self.breakers.get(facts.model)
        now = self.clock.now()
        if admission is None:  # no strategy picked this call: observe it
            admission = breaker.try_acquire(now)
            if not admission.allowed:
                return tickets
        if error is None:
            breaker.on_success(now, admission)
        elif error.reason in BREAKER_REASONS:
            breaker.on_failure(now, admission, error.retry_after)
        else:
            breaker.release(admission)
        return tickets

    def _after_end(self, trace_id: str, attempt: Attempt | None) -> None:
        if attempt is not None:
            self._notify("attempt_finished", trace_id, attempt)
        self._conclude(trace_id, force=False)
        self._sweep()

    def _conclude(self, trace_id: str, *, force: bool) -> bool:
        with self._lock:
            trace = self._traces.get(trace_id)
            if trace is None or not (trace.done or force):
                return False
            del self._traces[trace_id]
            self._recorded[trace_id] = None
            while len(self._recorded) > _KEEP_RECORDED:
                self._recorded.popitem(last=False)
            trace.close_open_hops(self.clock.now())
            leftovers = trace.add_skips(
                self.journal.new_picks(trace.journal_key), self.clock.wall()
            )
        for skip in leftovers:
            self._notify("attempt_finished", trace_id, skip)
        pick = self.journal.first_pick(trace.journal_key)
        self._release_unused(trace.journal_key)
        decision = trace.decision(pick, self.baseline)
        if self.redact_users is not None and decision.user is not None:
            decision = replace(decision, user=self.redact_users(decision.user))
        self._notify("request_finished", decision)
        emit_all(self.sinks, decision)
        return True

    def _release_unused(self, journal_key: str) -> None:
        """Free what the strategy held for calls LiteLLM never made (a probe slot, a budget
        reservation)."""
        for key, admission, tickets in self.journal.forget(journal_key):
            if admission is not None and self.breakers is not None:
                self.breakers.get(key).release(admission)
            settle_all(tickets, None)

    def _sweep(self) -> None:
        now = self.clock.now()
        with self._lock:
            stale = [
                t.trace_id for t in self._traces.values() if now - t.last_event >= self.settle_s
            ]
        for trace_id in stale:
            self._conclude(trace_id, force=True)

    def _request_started(self, trace: RequestTrace) -> None:
        if trace.request is None:
            return
        pick = self.journal.first_pick(trace.journal_key)
        event = RequestStarted(
            trace.trace_id,
            trace.route,
            pick.strategy if pick is not None else "litellm",
            pick.candidates if pick is not None else (),
            trace.request,
            trace.stream,
            trace.started,
        )
        self._notify("request_started", event)
