"""The fault storm: many requests at high concurrency through a 3-model chain, over real HTTP
(the LiteLLM backend against the local provider server), with seeded random faults.

Invariants: every request ends with a whole answer, `AllAttemptsFailed` or
`StreamInterrupted` carrying every attempt; none hangs past its deadline; none is lost; the
called attempts match the calls the server saw; no truncated answer is returned as whole;
the primary's breaker opens during a blackout, honours its cooldown and closes again.
Sizes: see `storm_support` (`MODELROUTE_STORM_REQUESTS=10000` for the issue's full storm).
"""

from __future__ import annotations

import asyncio
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
    MODELS,
    REQUESTS,
    SCRIPTS,
    SEED,
    SLACK_S,
    fault_queues,
    match_server_calls,
    request_tag,
    route,
    server_calls_by_request,
    storm_catalog,
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

HANG_S = DEADLINE_S + SLACK_S + 30  # a request still running then has hung


@dataclass
class Outcome:
    """How one storm request ended, as its caller saw it."""

    index: int
    stream: bool
    elapsed_s: float
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
    outcome = Outcome(index, stream, 0.0)
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


def _check(outcome: Outcome) -> list[str]:
    """What is wrong with one request's ending (empty when nothing)."""
    d, err = outcome.decision, outcome.error
    if d is None:
        return [f"no decision; error {type(err).__name__}: {err}"]
    problems = []
    limit = DEADLINE_S + SLACK_S
    if outcome.elapsed_s > limit:
        steps = [(a.model, a.reason, round(a.latency_s, 1)) for a in d.attempts]
        problems.append(f"took {outcome.elapsed_s:.1f} s > deadline + slack {limit} s: {steps}")
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


async def _storm(router: Router, requests: int, concurrency: int) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)

    async def guarded(index: int) -> Outcome:
        async with gate:
            try:
                return await asyncio.wait_for(_one(router, index, index % 2 == 1), HANG_S)
            except TimeoutError:
                return Outcome(index, index % 2 == 1, HANG_S, problems=["hung"])

    return list(await asyncio.gather(*(guarded(i) for i in range(requests))))


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
    router = Router(
        [route()],
        backend=LiteLLMBackend(api_base=server.base_url, api_key="sk-storm-not-a-key"),
        catalog=storm_catalog(),
        sinks=[sink],
        breaker=BREAKER,
        seed=SEED,
    )

    async def main() -> tuple[list[Outcome], list[Outcome]]:
        # LiteLLM is imported on the first call (seconds, blocking the loop): warm up first,
        # outside the storm, with one healthy call per model that the server counts too
        backend, hello = router.backend, Request.of("warm up")
        for model in MODELS:
            info = router.catalog.get(model)
            await backend.acall(info, hello, timeout_s=60)
            _ = [chunk async for chunk in backend.astream(info, hello, timeout_s=60)]
        for model, faults in fault_queues(REQUESTS, SEED).items():
            server.set_faults(model, faults)
        outcomes = await _storm(router, REQUESTS, CONCURRENCY)
        await asyncio.to_thread(server.wait_idle, 30)
        calm = await _recover(router, server)
        await asyncio.to_thread(server.wait_idle, 30)
        return outcomes, calm

    started = time.monotonic()
    outcomes, calm = asyncio.run(main())
    took = time.monotonic() - started

    # every request ended, with a typed ending that says what the caller got
    assert len(outcomes) == REQUESTS
    bad = {o.index: o.problems or _check(o) for o in outcomes}
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
    called = sum(1 for a in sum(attempts.values(), ()) if a.outcome != AttemptOutcome.SKIPPED)
    assert called - unreached == sum(len(models) for models in seen.values())
    # a sanity bound only: on a CPU-starved machine more client-side timeouts fire early
    assert unreached <= 0.25 * called, f"{unreached} of {called} attempts never reached the server"

    _check_breakers(router, sink, outcomes)
    endings = Counter("answer" if o.error is None else type(o.error).__name__ for o in outcomes)
    reasons = Counter(a.reason for o in outcomes if o.decision for a in o.decision.attempts)
    print(
        f"\nstorm: {REQUESTS} requests at {CONCURRENCY} in {took:.0f} s: {dict(endings)}; "
        f"{called} calls, {unreached} never reached the server; reasons {dict(reasons)}; "
        f"{len(sink.transitions)} breaker transitions"
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
