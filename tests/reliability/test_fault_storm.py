"""The fault storm: many requests at high concurrency through a 3-model chain, over real HTTP
(the LiteLLM backend against the local provider server), with seeded random faults.

Invariants: every request ends with a whole answer, `AllAttemptsFailed` or
`StreamInterrupted` carrying every attempt; none hangs past its deadline; none is lost; the
called attempts match the calls the server saw; no truncated answer is returned as whole;
the primary's breaker opens during a blackout, honours its cooldown and closes again.
No verdict depends on the machine's speed: lateness and hangs are judged against the event
loop's lag measured during the storm, and the heap that exists before the storm is frozen
out of the cyclic GC meanwhile (`frozen_heap`). Sizes and where the time goes: see
`storm_support` (the full 10,000-request storm by default in CI, 1,000 elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from server_process import ServerProcess
from storm_support import (
    ANSWERS,
    BREAKER,
    CONCURRENCY,
    DEADLINE_S,
    FULL_STORM,
    HANG_S,
    LOCAL_STORM,
    MODELS,
    REQUESTS,
    SCRIPTS,
    SEED,
    SLACK_S,
    LoopLag,
    fault_queues,
    frozen_heap,
    hang_allowance_s,
    lateness_problem,
    match_server_calls,
    request_tag,
    route,
    server_calls_by_request,
    storm_catalog,
    storm_requests,
)

from modelroute.errors import AllAttemptsFailed, StreamInterrupted
from modelroute.records import AttemptOutcome, Decision, RequestOutcome
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
    # LiteLLM's inner coroutine, when an attempt times out before LiteLLM awaited it
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
]


@dataclass
class Outcome:
    """How one storm request ended, as its caller saw it."""

    index: int
    stream: bool
    elapsed_s: float
    started_at: float = 0.0  # time.monotonic() when the caller started it
    decision: Decision | None = None
    text: str | None = None  # the answer returned as whole
    received: str = ""  # stream chunks the caller received
    error: BaseException | None = None
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def storm_server() -> Iterator[ServerProcess]:
    with ServerProcess(SCRIPTS) as server:
        yield server


async def _one(router: Router, index: int, stream: bool) -> Outcome:
    prompt = f"{request_tag(index)} Tell me something."
    start = time.monotonic()
    outcome = Outcome(index, stream, 0.0, start)
    try:
        if stream:
            routed = router.astream(prompt)
            async for chunk in routed:
                outcome.received += chunk.text
            outcome.decision, outcome.text = routed.decision, outcome.received
        else:
            answer = await router.acomplete(prompt)
            outcome.decision, outcome.text = answer.decision, answer.text
    except (AllAttemptsFailed, StreamInterrupted) as exc:
        outcome.error, outcome.decision = exc, exc.decision
    except Exception as exc:  # any other error is a finding, reported below
        outcome.error = exc
    outcome.elapsed_s = time.monotonic() - start
    return outcome


def _check(outcome: Outcome, lag: LoopLag) -> list[str]:
    """What is wrong with one request's ending (empty when nothing); `lag` is the client
    event loop's lag sampled during the storm."""
    d, err = outcome.decision, outcome.error
    if d is None:
        return [f"no decision; error {type(err).__name__}: {err}"]
    problems = []
    late = lateness_problem(outcome.started_at, outcome.elapsed_s, lag)
    if late:
        steps = [(a.model, a.reason, round(a.latency_s, 1)) for a in d.attempts]
        problems.append(f"{late}: {steps}")
    if err is None:
        expected = ANSWERS.get(d.responding_model or "")
        if outcome.text != expected:
            problems.append(f"answer {outcome.text!r} is not {d.responding_model}'s whole answer")
        if not d.outcome.succeeded or d.attempts[-1].outcome != AttemptOutcome.OK:
            problems.append(f"answered but the decision says {d.outcome}")
    elif isinstance(err, StreamInterrupted):
        last = d.attempts[-1]
        if last.outcome != AttemptOutcome.INTERRUPTED or d.outcome != RequestOutcome.INTERRUPTED:
            problems.append(f"interrupted, but the last attempt is {last.outcome}")
        if outcome.received != err.partial_text:
            problems.append("partial_text differs from what the caller received")
        if not ANSWERS[last.model].startswith(err.partial_text):
            problems.append(f"partial {err.partial_text!r} is not a prefix of {last.model}'s")
    elif isinstance(err, AllAttemptsFailed):
        if d.outcome not in (RequestOutcome.EXHAUSTED, RequestOutcome.TERMINAL_ERROR):
            problems.append(f"AllAttemptsFailed with outcome {d.outcome}")
        if not d.attempts or any(a.outcome == AttemptOutcome.OK for a in d.attempts):
            problems.append("AllAttemptsFailed must list failed attempts only, at least one")
        if outcome.received:
            problems.append("a failed stream released chunks to the caller")
    else:
        problems.append(f"unexpected {type(err).__name__}: {err}")
    return problems


async def _storm(router: Router, requests: int, concurrency: int, lag: LoopLag) -> list[Outcome]:
    """Run the storm while `lag` samples the event loop's lag."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(index: int) -> Outcome:
        async with gate:
            started = time.monotonic()
            task = asyncio.ensure_future(_one(router, index, index % 2 == 1))
            while not task.done():
                now = time.monotonic()
                left = started + hang_allowance_s(started, now, lag) - now
                if left <= 0:
                    task.cancel()
                    hung = Outcome(index, index % 2 == 1, now - started, started)
                    hung.problems.append(f"hung: still running after {now - started:.1f} s")
                    return hung
                await asyncio.wait({task}, timeout=left)
            return task.result()

    monitor = asyncio.create_task(lag.monitor())
    try:
        return list(await asyncio.gather(*(guarded(i) for i in range(requests))))
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor


async def _recover(router: Router, server: ServerProcess) -> list[Outcome]:
    """After the storm: no faults, wait out the longest cooldown, then calm traffic."""
    for model in MODELS:
        server.set_faults(model, [])
    await asyncio.sleep(BREAKER.max_cooldown_s + 0.2)
    return [await _one(router, REQUESTS + i, stream=False) for i in range(5)]


def test_fault_storm_loses_nothing_and_matches_the_server(storm_server: ServerProcess) -> None:
    server = storm_server
    server.reset()
    sink = MemorySink()
    lag = LoopLag()
    router = Router(
        [route()],
        backend=LiteLLMBackend(api_base=server.base_url, api_key="sk-storm-not-a-key"),
        catalog=storm_catalog(),
        sinks=[sink],
        breaker=BREAKER,
        seed=SEED,
    )

    phases: dict[str, float] = {}  # wall seconds per phase, and the storm's CPU seconds

    async def main() -> tuple[list[Outcome], list[Outcome]]:
        # LiteLLM is imported on the first call (seconds, blocking the loop): warm up first,
        # outside the storm, with one healthy call per model that the server counts too
        began = time.monotonic()
        backend, hello = router.backend, Request.of("warm up")
        for model in MODELS:
            info = router.catalog.get(model)
            await backend.acall(info, hello, timeout_s=60)
            _ = [chunk async for chunk in backend.astream(info, hello, timeout_s=60)]
        for model, faults in fault_queues(REQUESTS, SEED).items():
            server.set_faults(model, faults)
        storm_began, cpu_began = time.monotonic(), time.process_time()
        with frozen_heap():
            outcomes = await _storm(router, REQUESTS, CONCURRENCY, lag)
        after_began = time.monotonic()
        phases.update(
            warm_up=storm_began - began,
            storm=after_began - storm_began,
            storm_cpu=time.process_time() - cpu_began,
        )
        await asyncio.to_thread(server.wait_idle, 30)
        calm = await _recover(router, server)
        await asyncio.to_thread(server.wait_idle, 30)
        phases["after"] = time.monotonic() - after_began
        return outcomes, calm

    outcomes, calm = asyncio.run(main())

    # every request ended, with a typed ending that says what the caller got
    assert len(outcomes) == REQUESTS
    bad = {o.index: o.problems or _check(o, lag) for o in outcomes}
    bad = {i: p for i, p in bad.items() if p}
    assert not bad, f"{len(bad)} bad endings, e.g. {list(bad.items())[:5]}"
    assert all(o.error is None for o in calm), [str(o.error) for o in calm]

    # none lost: one decision per request, each request once
    ids = [d.request_id for d in sink.decisions]
    assert len(ids) == REQUESTS + len(calm) and len(set(ids)) == len(ids)

    # the called attempts are exactly the calls the server saw
    attempts = {o.index: o.decision.attempts for o in outcomes + calm if o.decision}
    records = [(model, text) for model, text, _ in server.calls()]
    seen = server_calls_by_request(records)  # the warm-up calls carry no request tag
    mismatches, unreached = match_server_calls(attempts, seen)
    assert not mismatches, f"{len(mismatches)} requests disagree with the server: {mismatches[:5]}"
    every_attempt = itertools.chain.from_iterable(attempts.values())
    called = sum(1 for a in every_attempt if a.outcome != AttemptOutcome.SKIPPED)
    assert called - unreached == sum(len(models) for models in seen.values())
    # a sanity bound only: on a CPU-starved machine more client-side timeouts fire early
    assert unreached <= 0.25 * called, f"{unreached} of {called} attempts never reached the server"

    _check_breakers(router, sink, outcomes)
    endings = Counter("answer" if o.error is None else type(o.error).__name__ for o in outcomes)
    reasons = Counter(a.reason for o in outcomes if o.decision for a in o.decision.attempts)
    ends = sorted(o.started_at + o.elapsed_s for o in outcomes)
    tail = ends[-1] - ends[int(0.99 * (len(ends) - 1))]  # the last 1% of requests to end
    took = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
    print(
        f"\nstorm: {REQUESTS} requests at {CONCURRENCY} ({took}; last 1% {tail:.0f} s): "
        f"{dict(endings)}; "
        f"{called} calls, {unreached} never reached the server; reasons {dict(reasons)}; "
        f"{len(sink.transitions)} breaker transitions; "
        f"worst loop lag {lag.worst_s:.2f} s over {len(lag.lag_s)} samples"
    )


def _check_breakers(router: Router, sink: MemorySink, outcomes: list[Outcome]) -> None:
    """The primary's breaker opened, waited its cooldown, probed and closed; now none is open."""
    primary = [t for t in sink.transitions if t.model == MODELS[0]]
    states = [(t.from_state, t.to_state) for t in primary]
    assert ("closed", "open") in states, states
    last_open = max(i for i, t in enumerate(primary) if t.to_state == "open")
    assert ("half_open", "closed") in states[last_open:], states
    for model in MODELS:
        mine = [t for t in sink.transitions if t.model == model]
        for opened, after in itertools.pairwise(mine):
            if opened.to_state == "open":
                assert after.to_state == "half_open", (model, opened, after)
                assert after.at - opened.at >= BREAKER.cooldown_s - 1e-6, (model, opened, after)
    shed = sum(
        1 for o in outcomes if o.decision for a in o.decision.attempts if a.reason == "circuit_open"
    )
    assert shed > 0, "an open breaker never shed a call"
    assert "open" not in router.breakers.states(router.clock.now()).values()


def _lagged(*samples: tuple[float, float]) -> LoopLag:
    lag = LoopLag()
    for woke_at, lag_s in samples:
        lag.record(woke_at, lag_s)
    return lag


LIMIT_S = DEADLINE_S + SLACK_S


def test_lateness_within_the_loop_lag_seen_meanwhile_passes() -> None:
    # 2 s past deadline + slack, while the loop woke a sleeper 3 s late in that window
    lag = _lagged((100.0, 0.001), (110.0, 3.0), (120.0, 0.002))
    assert lateness_problem(100.0, LIMIT_S + 2.0, lag) is None
    assert lateness_problem(100.0, LIMIT_S, _lagged()) is None


def test_lateness_beyond_the_lag_or_outside_its_window_fails() -> None:
    # the same 3 s lag, but 4 s late: more than the lag explains
    lag = _lagged((100.0, 0.001), (110.0, 3.0), (120.0, 0.002))
    problem = lateness_problem(100.0, LIMIT_S + 4.0, lag)
    assert problem is not None and "loop lag 3.00 s" in problem
    # a lag long before the request started does not excuse it
    assert lateness_problem(200.0, LIMIT_S + 2.0, lag) is not None


def test_a_request_hung_until_the_http_clients_default_timeout_fails() -> None:
    # 10 minutes (httpx/openai's default), with the loop lagging up to 2.5 s meanwhile
    samples = [(1000.0 + i * 0.5, 0.01 + (i % 7) * 0.4) for i in range(1300)]
    problem = lateness_problem(1000.0, 600.0, _lagged(*samples))
    assert problem is not None and "took 600.0 s" in problem


def test_the_lag_window_spans_the_sleep_that_straddles_its_end() -> None:
    lag = _lagged((10.0, 0.0), (20.0, 0.0), (35.0, 9.0), (36.0, 0.0))
    assert lag.max_in(11.0, 30.0) == 9.0  # the sleep waking at 35 s was asleep at 30 s
    assert lag.max_in(36.5, 40.0) == 0.0
    assert lag.max_in(0.0, 5.0) == 0.0
    assert lag.worst_s == 9.0
    wide = _lagged(*((float(i), float(i % 97)) for i in range(1000)))
    assert wide.max_in(100.0, 150.0) == max(i % 97 for i in range(100, 152))


def test_a_stall_in_progress_extends_the_hang_allowance() -> None:
    lag = _lagged((100.0, 0.0), (100.01, 0.0))
    assert hang_allowance_s(100.0, 100.02, lag) == HANG_S
    # the monitor last woke at 100.01 and has not woken since: the loop is 40 s behind now
    assert hang_allowance_s(100.0, 140.02, lag) == pytest.approx(HANG_S + 40.0)
    # a lag recorded before the request started does not extend it
    old = _lagged((50.0, 45.0), (100.0, 0.0))
    assert hang_allowance_s(100.0, 100.005, old) == HANG_S
    assert LoopLag().pending_s(5.0) == 0.0


@pytest.mark.parametrize(
    ("env", "requests"),
    [
        ({}, LOCAL_STORM),
        ({"CI": "true"}, FULL_STORM),
        ({"CI": "1"}, FULL_STORM),
        ({"CI": "false"}, LOCAL_STORM),
        ({"CI": ""}, LOCAL_STORM),
        ({"CI": "true", "MODELROUTE_STORM_REQUESTS": "300"}, 300),
        ({"MODELROUTE_STORM_REQUESTS": " 10000 "}, 10_000),
    ],
)
def test_the_storm_size_is_the_full_storm_in_ci(env: dict[str, str], requests: int) -> None:
    assert storm_requests(env) == requests


@pytest.mark.parametrize("given", ["0", "-5", "ten", "1e4"])
def test_a_bad_storm_size_names_the_variable(given: str) -> None:
    with pytest.raises(ValueError, match="MODELROUTE_STORM_REQUESTS"):
        storm_requests({"MODELROUTE_STORM_REQUESTS": given})
