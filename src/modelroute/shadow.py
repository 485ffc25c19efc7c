"""Shadow traffic: a copy of some requests goes to a candidate model, never to the caller.

A route's `Shadow` picks a sticky fraction of its requests (the split's SHA-256 bucket of
the user, team or a metadata key, so a user is shadowed in every process or never). After
the caller's request has been answered, the router schedules a copy of it on the shadow
model and returns at once; the copy's answer is dropped and its failure is only recorded.

What a shadow call is, precisely:

- One call to `Shadow.model` (no retries, no fallbacks), with the route's timeouts and the
  validators the caller's request had, through the router's backend and circuit breakers.
- Recorded as its own `Decision` through the router's sinks, with `strategy="shadow"` and
  `shadow_of` = the caller's request id. Its cost is in that record only, never in the
  caller's `Decision` or `Response`. Observers (OTel spans, LangChain runs, the latency
  tracker) do not see it: they follow the caller's requests (why: below).
- It passes the router's guards like any call: a shadow call's spend counts toward the
  team's USD budget and rate limits (it is real spend), and a guard's refusal drops the
  copy (recorded as `refused`), never the caller's request.
- Only answered, non-streaming requests are shadowed (`complete` / `acomplete`): a failed
  request has no answer to compare with, and a stream's copy would have to wait for the
  stream's end.
- Async (`acomplete`): the copy runs as a task on the caller's event loop, kept referenced
  until done. Await `Router.adrain_shadows()` before that loop closes (`asyncio.run` cancels
  what is left; a cancelled copy is recorded as `cancelled`). Sync (`complete`): the copy
  runs on up to `max_workers` daemon threads owned by the router (an idle one exits after
  `idle_s`); call `Router.drain_shadows()` to wait for it. At most `max_pending` copies wait
  or run at once; beyond that, copies are dropped (counted in `ShadowRunner.dropped`; the
  `modelroute` logger warns on the first drop and every 100th after it).
- Interpreter exit never waits long for sync copies: an `atexit` hook gives the copies
  still waiting or running `exit_wait_s` seconds (default 1) to finish, then drops the rest:
  queued ones are never sent, running ones die with the process (their provider call may
  still be billed). Dropped copies have no record; they are counted in
  `ShadowRunner.abandoned` and the `modelroute` logger warns with their number. Call
  `Router.drain_shadows()` before exiting to keep them, and to be safe: a copy's thread
  caught inside an import when the interpreter stops (LiteLLM imports lazily, e.g. on its
  first error) can hold the import lock that clean-up at exit needs, and hang the exit.

Observers do not see shadow copies, on purpose. An observer's events carry no mark
that a request is a copy (`RequestStarted` has no `shadow_of`; only the sinks' record
does), so the OTel observer would open an ordinary `modelroute.route` span for the copy
and count it in the route's `modelroute.requests` and duration metrics, and a
`LatencyTracker` would learn the candidate's latency as if it served the route: a copy
would pass for an answered request. What a user wants in traces is the copy as a span of
its own marked `modelroute.shadow_of=<request id>` and kept out of the request metrics;
that needs `shadow_of` on `RequestStarted` and the OTel observer to read it. Until then,
shadow latency and cost are in the shadow `Decision` records (`latency_s`, `cost_usd`,
each attempt's `latency_s` and `ttft_s`), which `modelroute report` shows apart.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import logging
import os
import random
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from modelroute.drivers import run_async, run_sync
from modelroute.errors import ModelRouteError
from modelroute.plan import Plan
from modelroute.policies import RetryPolicy
from modelroute.route import Route
from modelroute.shadow_pool import DaemonPool
from modelroute.sinks import emit_all
from modelroute.strategies.split import bucket, request_key

if TYPE_CHECKING:
    from modelroute.backend import Backend
    from modelroute.guards import AttemptGuard
    from modelroute.records import Decision
    from modelroute.sinks import Sink
    from modelroute.types import Request

logger = logging.getLogger("modelroute")


@dataclass(frozen=True, slots=True)
class Shadow:
    """Send a copy of `fraction` (0..1) of a route's requests to `model`.

    The choice is sticky by `key`: `user`, `team`, or a `metadata` field name (as
    `WeightedSplit`); requests without the key are picked at random with the same
    probability. `salt` reshuffles who is shadowed; its default differs from the split's so
    the shadowed users are not the users of one split arm. Raises ValueError for a
    fraction outside [0, 1].
    """

    model: str
    fraction: float = 0.1
    key: str = "user"
    salt: str = "modelroute-shadow"

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")

    def selects(self, request: Request) -> bool:
        """Whether `request` gets a shadow copy."""
        key = request_key(request, self.key)
        point = bucket(key, self.salt) if key is not None else random.random()
        return point < self.fraction


class ShadowRunner:
    """Schedules and tracks a router's shadow calls (see the module docstring).

    `sinks` and `guards` are the router's; `max_workers` bounds the daemon threads of sync
    copies (started on demand, each ending after `idle_s` seconds idle); `max_pending`
    bounds copies waiting or running; `dropped` counts copies not made because that bound
    was reached; `exit_wait_s` is how long interpreter exit waits for sync copies, and
    `abandoned` counts those it dropped (they have no record).
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        guards: Sequence[AttemptGuard],
        *,
        max_workers: int = 2,
        max_pending: int = 64,
        idle_s: float = 5.0,
        exit_wait_s: float = 1.0,
    ) -> None:
        self._sinks = tuple(sinks)
        self._guards = tuple(guards)
        self.max_workers = max_workers
        self.max_pending = max_pending
        self.idle_s = idle_s
        self.exit_wait_s = exit_wait_s
        self.dropped = 0
        self.abandoned = 0
        self._lock = threading.Lock()
        self._pool: DaemonPool | None = None
        self._futures: set[concurrent.futures.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Shadow copies scheduled and not finished yet."""
        with self._lock:
            return len(self._futures) + len(self._tasks)

    @property
    def pool_threads(self) -> int:
        """Daemon threads of sync copies alive now (at most `max_workers`)."""
        with self._lock:
            pool = self._pool
        return 0 if pool is None else pool.threads

    def start(self, primary: Plan, backend: Backend) -> bool:
        """Schedule the copy of `primary`'s request on the thread pool, if it is shadowed.
        Returns whether a copy was scheduled."""
        plan = self._plan_for(primary)
        if plan is None:
            return False
        with self._lock:
            if self._pool is None:
                self._pool = DaemonPool(self.max_workers, "modelroute-shadow", idle_s=self.idle_s)
                atexit.register(_abandon_at_exit, weakref.ref(self))
            job = functools.partial(self._run_sync, plan, primary.request_id, backend)
            future = self._pool.submit(job)
            self._futures.add(future)
        future.add_done_callback(self._forget_future)
        return True

    def astart(self, primary: Plan, backend: Backend) -> bool:
        """Schedule the copy of `primary`'s request as a task on the running loop, if it is
        shadowed. Returns whether a copy was scheduled."""
        plan = self._plan_for(primary)
        if plan is None:
            return False
        task = asyncio.get_running_loop().create_task(
            self._run_async(plan, primary.request_id, backend), name="modelroute-shadow"
        )
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._forget_task)
        return True

    def drain(self, timeout_s: float | None = None) -> bool:
        """Block until every sync copy has finished; False if `timeout_s` passed first."""
        with self._lock:
            futures = set(self._futures)
        _, not_done = concurrent.futures.wait(futures, timeout_s)
        return not not_done

    def abandon(self, timeout_s: float | None = None) -> int:
        """Wait up to `timeout_s` for the sync copies, then drop the rest: queued ones are
        cancelled, running ones are left to their thread. Returns how many were dropped
        (also added to `abandoned`). Called at interpreter exit with `exit_wait_s`."""
        if self.drain(timeout_s):
            return 0
        with self._lock:
            futures = [f for f in self._futures if not f.done()]
            self._futures.difference_update(futures)
            self.abandoned += len(futures)
        for future in futures:
            future.cancel()  # a no-op for one already running
        return len(futures)

    async def adrain(self) -> None:
        """Wait until every async copy scheduled on this event loop has finished."""
        loop = asyncio.get_running_loop()
        with self._lock:
            tasks = [t for t in self._tasks if t.get_loop() is loop]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _plan_for(self, primary: Plan) -> Plan | None:
        shadow = primary.route.shadow
        if shadow is None or primary.stream or not shadow.selects(primary.request):
            return None
        if self.pending >= self.max_pending:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped % 100 == 1:
                logger.warning(
                    "shadow copies dropped: %d so far (%d pending)", dropped, self.pending
                )
            return None
        route = Route(
            primary.route.name,
            (shadow.model,),
            retry=RetryPolicy(retries=0),
            timeouts=primary.route.timeouts,
        )
        return Plan(
            request_id=os.urandom(8).hex(),
            route=route,
            request=primary.request,
            catalog=primary.catalog,
            breakers=primary.breakers,
            clock=primary.clock,
            validators=primary.validators,
            baseline=primary.baseline,
            routed_from=primary.routed_from,
            redact_user=primary.redact_user,
        )

    def _run_sync(self, plan: Plan, primary_id: str, backend: Backend) -> None:
        try:
            run_sync(plan, backend, _Emit(self._sinks, primary_id), self._guards)
        except ModelRouteError:
            pass  # recorded by the emitter; a shadow's failure is nobody's error
        except Exception:  # a background thread: log what no one else would see
            logger.exception("shadow call for %s failed", primary_id)

    async def _run_async(self, plan: Plan, primary_id: str, backend: Backend) -> None:
        try:
            await run_async(plan, backend, _Emit(self._sinks, primary_id), self._guards)
        except ModelRouteError:
            pass  # recorded by the emitter; a shadow's failure is nobody's error
        except Exception:  # a background task: log what no one else would see
            logger.exception("shadow call for %s failed", primary_id)

    def _forget_future(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)


def _abandon_at_exit(ref: weakref.ref[ShadowRunner]) -> None:
    """At interpreter exit: give a live runner's sync copies `exit_wait_s`, then drop the
    rest with a warning (the copies' daemon threads die with the process)."""
    runner = ref()
    if runner is None:
        return
    dropped = runner.abandon(runner.exit_wait_s)
    if dropped:
        logger.warning(
            "modelroute: %d shadow %s still pending at exit dropped, not recorded "
            "(call Router.drain_shadows() before exiting to keep them)",
            dropped,
            "copy" if dropped == 1 else "copies",
        )


@dataclass(frozen=True, slots=True)
class _Emit:
    """Marks a shadow call's decision and hands it to the sinks."""

    sinks: tuple[Sink, ...]
    primary_id: str

    def __call__(self, decision: Decision) -> None:
        emit_all(self.sinks, replace(decision, strategy="shadow", shadow_of=self.primary_id))
