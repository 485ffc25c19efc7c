"""Pieces of the fault storm: the seeded fault mix, the router over HTTP, and the check that
matches each request's attempts with the calls the provider server saw.

Sizes come from the environment: `MODELROUTE_STORM_REQUESTS` (default: the issue's full
storm, 10,000 requests, when `CI` is set, as `.ci/run` does; 1,000 elsewhere),
`MODELROUTE_STORM_CONCURRENCY` (200) and `MODELROUTE_STORM_SEED` (20261130).

Where the time goes (profiled with py-spy, see docs/performance.md): the storm is CPU-bound
in the client, 12-15 ms of CPU per call at load 2-7 (~1.4 calls per request), ~85% of it in
LiteLLM and the openai/httpx stack it drives; the provider server (its own process) uses ~3%
of a core. The injected waits (timeouts of 6-8 s on ~6% of calls) hold 15-35 of the 200
slots at a time, so they overlap with CPU work rather than add to it: shorter limits would
not make the storm faster, only turn more slow-but-healthy calls into timeouts on a starved
CPU. So the full storm takes minutes on this 2-core machine (2.7-6.8 min at load 2-7) and
is the default in CI only; locally the 1,000-request storm takes 20-60 s.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.policies import RetryPolicy, Timeouts
from modelroute.provider_server import (
    DropConnection,
    Fault,
    Healthy,
    MalformedChunk,
    MalformedJson,
    ModelScript,
    NoDoneSentinel,
    NoResponse,
    SlowFirstToken,
    StreamCut,
    StreamStall,
    empty_content,
    rate_limited,
    server_error,
    service_unavailable,
    whitespace_content,
)
from modelroute.records import Attempt, AttemptOutcome
from modelroute.route import Route

FULL_STORM = 10_000  # the size: the default in CI
LOCAL_STORM = 1_000  # the default elsewhere


def storm_requests(env: Mapping[str, str]) -> int:
    """How many storm requests to send: `MODELROUTE_STORM_REQUESTS` when set, else
    `FULL_STORM` when `CI` is set to anything but "", "0" or "false", else `LOCAL_STORM`.

    Raises ValueError naming the variable when it is not a positive integer.
    """
    given = env.get("MODELROUTE_STORM_REQUESTS", "").strip()
    if not given:
        in_ci = env.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        return FULL_STORM if in_ci else LOCAL_STORM
    if not given.isdigit() or int(given) < 1:
        raise ValueError(f"MODELROUTE_STORM_REQUESTS must be a positive integer, got {given!r}")
    return int(given)


REQUESTS = storm_requests(os.environ)
CONCURRENCY = int(os.environ.get("MODELROUTE_STORM_CONCURRENCY", "200"))
SEED = int(os.environ.get("MODELROUTE_STORM_SEED", "20261130"))

MODELS = ("m-a", "m-b", "m-c")
ANSWERS = {
    "m-a": "Alpha answers: the quick brown fox jumps over the lazy dog.",
    "m-b": "Bravo answers: pack my box with five dozen liquor jugs.",
    "m-c": "Charlie answers: how vexingly quick daft zebras jump.",
}
SCRIPTS = {name: ModelScript(answer=text, chunks=5) for name, text in ANSWERS.items()}

# Time limits (seconds). The client is CPU-bound on a 2-core machine (LiteLLM spends
# milliseconds per call), so at concurrency 200 a healthy call may wait seconds for the
# event loop: limits are generous, and faults that must trip them exceed them clearly.
DEADLINE_S = 25.0
FIRST_TOKEN_S = 6.0
TIMEOUTS = Timeouts(
    attempt_s=8.0, deadline_s=DEADLINE_S, first_token_s=FIRST_TOKEN_S, stall_s=FIRST_TOKEN_S
)
SLACK_S = 5.0  # beyond the deadline (plus the loop lag seen meanwhile) to notice it
HANG_S = DEADLINE_S + SLACK_S + 30  # plus the loop lag: a request still running then has hung
RETRY = RetryPolicy(retries=1, backoff_base_s=0.05, backoff_max_s=0.2, max_retry_after_s=0.5)
BREAKER = BreakerConfig(failure_threshold=5, cooldown_s=0.5, max_cooldown_s=1.0)
BLACKOUT = 40  # consecutive 503s of the primary, to make its breaker open

# Reasons with which an attempt may end before its request reached the server: the client
# gave up (timeouts) or could not connect. Every other called attempt is a server call.
MAY_NOT_REACH_SERVER = frozenset({"timeout", "first_token_timeout", "connection"})


def route() -> Route:
    """The storm's 3-model chain."""
    return Route("storm", MODELS, retry=RETRY, timeouts=TIMEOUTS)


def storm_catalog() -> Catalog:
    """The chain's models, called as `openai/<name>` on the local server."""
    return Catalog(
        ModelInfo(
            name=name,
            target=f"openai/{name}",
            provider="local",
            input_cost_per_token=1e-6,
            output_cost_per_token=2e-6,
        )
        for name in MODELS
    )


HEALTHY = 0.6  # share of calls answered normally


def fault_mix(rng: random.Random) -> Fault:
    """A healthy answer (`HEALTHY` of the time) or one random fault, weighted."""
    if rng.random() < HEALTHY:
        return Healthy()
    weighted: Sequence[tuple[int, Fault]] = (
        (6, rate_limited(retry_after=0.1)),
        (3, rate_limited(retry_after=30)),  # not worth waiting: falls back at once
        (4, server_error()),
        (4, service_unavailable()),
        (3, DropConnection()),
        (2, NoResponse()),
        (3, SlowFirstToken(seconds=FIRST_TOKEN_S + 3.0)),
        (2, SlowFirstToken(seconds=0.3)),  # slow but within every limit
        (3, StreamStall(after_chunks=rng.randint(0, 3))),  # until the client gives up
        (2, StreamStall(after_chunks=2, seconds=0.3)),  # resumes within the stall limit
        (5, StreamCut(after_chunks=rng.randint(0, 8), reset=rng.random() < 0.5)),
        (2, MalformedChunk(after_chunks=rng.randint(0, 4))),
        (2, MalformedJson()),
        (3, empty_content()),
        (2, whitespace_content()),
        (4, NoDoneSentinel()),
    )
    (fault,) = rng.choices([f for _, f in weighted], weights=[w for w, _ in weighted])
    return fault


def fault_queues(requests: int, seed: int) -> dict[str, list[Fault]]:
    """Each model's queue of faults, one per call, in arrival order (healthy once used up).

    The primary's queue carries a blackout of `BLACKOUT` consecutive 503s a fifth of the way
    in, so its breaker must open, probe and close again during the storm.
    """
    rng = random.Random(seed)
    queues = {name: [fault_mix(rng) for _ in range(requests * 2)] for name in MODELS}
    at = requests // 5
    queues[MODELS[0]][at:at] = [service_unavailable()] * BLACKOUT
    return queues


def request_tag(index: int) -> str:
    """The marker that ties the server's records to request `index`."""
    return f"[storm-{index}]"


@dataclass
class Mismatch:
    """A request whose attempts and server calls disagree."""

    index: int
    attempts: list[tuple[str, str, str | None]]
    server_calls: list[str]


def match_server_calls(
    attempts: Mapping[int, Sequence[Attempt]], server_calls: Mapping[int, Sequence[str]]
) -> tuple[list[Mismatch], int]:
    """Match each request's called attempts with the calls the server saw for it, per model.

    For every model, the server must have seen at most as many calls as there are called
    (not skipped) attempts of that model, and at least as many as those attempts minus the
    ones whose reason says the request may never have reached the server (a client-side
    timeout, a failed connection). Order is not compared: under load the server may read a
    timed-out request after the next model's. Returns the mismatching requests and the
    number of attempts that never reached the server.
    """
    mismatches: list[Mismatch] = []
    unreached = 0
    for index in sorted(set(attempts) | set(server_calls)):
        called = [a for a in attempts.get(index, ()) if a.outcome != AttemptOutcome.SKIPPED]
        seen = list(server_calls.get(index, ()))
        ok = True
        for model in {a.model for a in called} | set(seen):
            mine = [a for a in called if a.model == model]
            may_miss = sum(1 for a in mine if a.reason in MAY_NOT_REACH_SERVER)
            count = seen.count(model)
            ok = ok and len(mine) - may_miss <= count <= len(mine)
            unreached += max(0, len(mine) - count)
        if not ok:
            shown = [(a.model, a.outcome.value, a.reason) for a in called]
            mismatches.append(Mismatch(index, shown, seen))
    return mismatches, unreached


def server_calls_by_request(records: Sequence[tuple[str, str]]) -> dict[int, list[str]]:
    """(model, last user text) records -> request index -> models called, in arrival order."""
    out: dict[int, list[str]] = defaultdict(list)
    for model, text in records:
        start = text.find("[storm-")
        if start < 0:
            continue
        end = text.index("]", start)
        out[int(text[start + 7 : end])].append(model)
    return out


LAG_TICK_S = 0.01  # the lag monitor's sleep


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Move every object alive now out of the cyclic GC's reach until the block ends.

    In a test process the heap holds LiteLLM and whatever earlier tests imported (millions of
    objects); every full collection during the storm would walk them all again (measured:
    ~30% of the client's CPU, single pauses over 1 s). Nothing alive before the storm is
    garbage the storm creates, so freezing it changes no result, only the GC's cost.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass
class LoopLag:
    """How late the client event loop woke a 10 ms sleeper, sampled for a whole storm.

    Each sample is (woke_at, lag_s): `time.monotonic()` seconds at which the sleeper woke
    and how many seconds past its due time that was. A request's timer can fire no sooner
    than the loop gets round to it, so a request may end late by the lag seen in its window.
    """

    woke_at: list[float] = field(default_factory=list)
    lag_s: list[float] = field(default_factory=list)
    _table: list[list[float]] = field(default_factory=list, repr=False)

    def record(self, woke_at: float, lag_s: float) -> None:
        """Add one sample; `woke_at` must not be earlier than the previous one."""
        self.woke_at.append(woke_at)
        self.lag_s.append(lag_s)
        self._table = []

    async def monitor(self, tick_s: float = LAG_TICK_S) -> None:
        """Sample the running loop's lag every `tick_s` seconds until cancelled."""
        while True:
            due = time.monotonic() + tick_s
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            self.record(now, max(0.0, now - due))

    def max_in(self, start: float, end: float) -> float:
        """Largest lag (s) of a sleep that overlapped [start, end] (monotonic s); 0 if none.

        The first sample woken after `end` counts too: its sleep spanned the window's end.
        """
        if not self.lag_s:
            return 0.0
        lo = bisect.bisect_left(self.woke_at, start)
        hi = min(bisect.bisect_right(self.woke_at, end), len(self.lag_s) - 1)
        if lo > hi:
            return 0.0
        return self._range_max(lo, hi)

    def _range_max(self, lo: int, hi: int) -> float:
        """max(lag_s[lo..hi]) via a sparse table, built on first use after a new sample."""
        if not self._table:
            table = [list(self.lag_s)]
            width = 1
            while 2 * width <= len(self.lag_s):
                prev = table[-1]
                table.append([max(prev[i], prev[i + width]) for i in range(len(prev) - width)])
                width *= 2
            self._table = table
        level = (hi - lo + 1).bit_length() - 1
        row = self._table[level]
        return max(row[lo], row[hi - (1 << level) + 1])

    def pending_s(self, now: float, tick_s: float = LAG_TICK_S) -> float:
        """How late (s) the sleep in progress at `now` (monotonic s) already is; 0 before any
        sample. Lets a check made now count a stall the monitor has not recorded yet."""
        if not self.woke_at:
            return 0.0
        return max(0.0, now - self.woke_at[-1] - tick_s)

    @property
    def worst_s(self) -> float:
        """The largest lag sampled (s); 0 before any sample."""
        return max(self.lag_s, default=0.0)


def hang_allowance_s(started_at: float, now: float, lag: LoopLag) -> float:
    """Seconds a request that started at `started_at` (monotonic s) may run, judged at `now`,
    before it counts as hung: `HANG_S` plus the worst loop lag seen since it started
    (the sleep in progress included), so a starved event loop alone never makes one hang."""
    return HANG_S + max(lag.max_in(started_at, now), lag.pending_s(now))


def lateness_problem(started_at: float, elapsed_s: float, lag: LoopLag) -> str | None:
    """Why a request that started at `started_at` (monotonic s) and took `elapsed_s` seconds
    overran its deadline, or None when it did not.

    Allowed: `DEADLINE_S + SLACK_S` plus the worst loop lag seen while it ran. A request
    stuck until an HTTP client's default timeout (minutes) fails unless the loop itself was
    frozen that long.
    """
    allowed_lag = lag.max_in(started_at, started_at + elapsed_s)
    limit = DEADLINE_S + SLACK_S + allowed_lag
    if elapsed_s <= limit:
        return None
    return (
        f"took {elapsed_s:.1f} s > deadline + slack {DEADLINE_S + SLACK_S} s"
        f" + loop lag {allowed_lag:.2f} s"
    )
