"""BC-03: half-open admits one probe, not the whole burst; a failed probe re-opens the breaker
with a fresh cooldown; transitions are emitted in order.

Route r3 = [m-a, m-b], no retries. m-a's breaker: opens after 3 consecutive failures,
cooldown 2.0 s, at most 1 probe in flight, closes after 1 successful probe. The breaker runs
on a fake clock (t = 0 is `T0`); the provider server's faults follow the case's timeline:
m-a 503 while t < 4.0 s, then 200 after a real 500 ms delay; m-b answers at once. Bursts run
as 20 concurrent asyncio requests or 20 threads released by a barrier. Case label
breaker_open -> `circuit_open`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from field_routing import FILTERS, make_router
from modelroute.backend import Backend
from modelroute.breaker import BreakerConfig, BreakerRegistry
from modelroute.catalog import ModelInfo
from modelroute.clock import FakeClock
from modelroute.provider_server import Healthy, ProviderServer, RequestRecord
from modelroute.reasons import FallbackReason
from modelroute.records import AttemptOutcome, Decision
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, StreamChunk

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

T0 = 1000.0
BREAKER = BreakerConfig(
    failure_threshold=3, cooldown_s=2.0, half_open_max_probes=1, success_threshold=1
)
BURST = 20
HOLD_S = 60.0  # how long a held probe answer waits for the rest of its burst, at most


def _burst(router: Router, mode: str, n: int) -> list[Decision]:
    """`n` requests at once; every caller must get an answer."""
    if mode == "async":

        async def all_at_once() -> list[Decision]:
            outs = await asyncio.gather(*(router.acomplete(f"burst {i}") for i in range(n)))
            return [o.decision for o in outs]

        return asyncio.run(all_at_once())
    barrier = threading.Barrier(n)
    results: list[Decision | BaseException] = [RuntimeError("not run")] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = router.complete(f"burst {i}").decision
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    decisions = [r for r in results if isinstance(r, Decision)]
    assert len(decisions) == n, [r for r in results if not isinstance(r, Decision)]
    return decisions


class HoldProbe:
    """`backend`, except that once `until` is set, an answer from m-a is handed back only
    when m-b has received `until` requests (`waits` records whether that happened in time)."""

    def __init__(self, backend: Backend, srv: ProviderServer) -> None:
        self.backend, self.srv = backend, srv
        self.until: int | None = None
        self.waits: list[bool] = []

    def _enough(self, records: list[RequestRecord]) -> bool:
        return self.until is not None and sum(r.model == "m-b" for r in records) >= self.until

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        response = self.backend.call(model, request, timeout_s=timeout_s)
        if model.name == "m-a" and self.until is not None:
            self.waits.append(self.srv.wait_for(self._enough, timeout=HOLD_S))
        return response

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        response = await self.backend.acall(model, request, timeout_s=timeout_s)
        if model.name == "m-a" and self.until is not None:
            self.waits.append(await self.srv.wait_for_async(self._enough, timeout=HOLD_S))
        return response

    def stream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Iterator[StreamChunk]:
        return self.backend.stream(model, request, timeout_s=timeout_s)

    def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        return self.backend.astream(model, request, timeout_s=timeout_s)


def _skipped_by_breaker(d: Decision) -> bool:
    first = d.attempts[0]
    return (first.model, first.outcome, first.reason) == (
        "m-a",
        AttemptOutcome.SKIPPED,
        FallbackReason.CIRCUIT_OPEN,
    )


@pytest.mark.parametrize("mode", ["async", "threads"])
def test_half_open_admits_one_probe_per_burst(provider_server: ProviderServer, mode: str) -> None:
    srv = provider_server
    clock = FakeClock(start=T0)
    held: list[HoldProbe] = []

    def hold(backend: Backend) -> Backend:
        held.append(HoldProbe(backend, srv))
        return held[0]

    setup = make_router(srv, [Route("r3", ("m-a", "m-b"))], clock=clock, breaker=BREAKER, wrap=hold)
    router, sink = setup.router, setup.sink
    breaker = router.breakers.get("m-a")
    srv.set_default_fault("m-a", 503)  # while t < 4.0 s

    # P1, t = 0: 3 sequential requests; m-a fails 3 times, m-b answers, the breaker opens
    p1 = [router.complete(f"p1 {i}").decision for i in range(3)]
    assert [d.responding_model for d in p1] == ["m-b"] * 3
    assert srv.calls("m-a") == 3
    assert breaker.state_at(clock.now()) == "open"

    # P2, t = 2.2 s: 20 at once; exactly one probe reaches m-a and fails
    clock.advance(2.2)
    p2 = _burst(router, mode, BURST)
    srv.wait_idle(30.0)
    assert srv.calls("m-a") == 4
    assert [d.responding_model for d in p2] == ["m-b"] * BURST
    probes = [d for d in p2 if not _skipped_by_breaker(d)]
    assert len(probes) == 1
    assert (probes[0].attempts[0].reason, probes[0].attempts[0].status_code) == (
        FallbackReason.UNAVAILABLE,
        503,
    )
    assert sum(_skipped_by_breaker(d) for d in p2) == BURST - 1
    # re-opened with a fresh 2 s cooldown from the probe's failure (not from t = 0)
    assert breaker.snapshot()["state"] == "open"
    assert breaker.snapshot()["open_until"] == pytest.approx(T0 + 2.2 + 2.0)
    clock.advance(1.9)  # t = 4.1: the old cooldown is long over, the fresh one is not
    assert _skipped_by_breaker(router.complete("still open").decision)
    assert srv.calls("m-a") == 4

    # P3, t = 4.6 s: m-a recovered (200 after 500 ms); one probe succeeds while the other
    # 19 are served by m-b
    srv.set_default_fault("m-a", Healthy(delay=0.5))
    clock.advance(0.5)
    # The probe's answer reaches the router only once the other 19 reached m-b: a slow
    # machine cannot start one of them after the probe closed the breaker (it would go to
    # m-a); others blocked behind the probe would never reach m-b and fail the wait.
    held[0].until = srv.calls("m-b") + BURST - 1
    p3 = _burst(router, mode, BURST)
    srv.wait_idle(30.0)
    assert held[0].waits == [True]  # the 19 were served by m-b while the probe was in flight
    assert srv.calls("m-a") == 5
    assert sorted(d.responding_model or "" for d in p3) == ["m-a"] + ["m-b"] * (BURST - 1)
    assert sum(_skipped_by_breaker(d) for d in p3) == BURST - 1
    (probe,) = srv.requests("m-a")[-1:]
    assert probe.status == 200 and probe.finished_at is not None
    assert probe.finished_at - probe.received_at >= 0.5
    assert breaker.state_at(clock.now()) == "closed"

    # P4, t = 5.5 s: 5 sequential requests, all served by m-a
    clock.advance(0.9)
    p4 = [router.complete(f"p4 {i}").decision for i in range(5)]
    assert [d.responding_model for d in p4] == ["m-a"] * 5
    assert [len(d.attempts) for d in p4] == [1] * 5

    assert srv.calls("m-a") == 3 + 1 + 1 + 5
    moves = [(t.model, t.from_state, t.to_state, t.at) for t in sink.transitions]
    assert moves == [
        ("m-a", "closed", "open", T0),
        ("m-a", "open", "half_open", pytest.approx(T0 + 2.2)),
        ("m-a", "half_open", "open", pytest.approx(T0 + 2.2)),
        ("m-a", "open", "half_open", pytest.approx(T0 + 4.6)),
        ("m-a", "half_open", "closed", pytest.approx(T0 + 4.6)),
    ]


def test_successes_elsewhere_do_not_close_a_half_open_breaker() -> None:
    """Unit check: while m-a is half-open with its probe in flight, m-b's successes leave it
    half-open; the probe's failure re-opens it with a fresh cooldown."""
    registry = BreakerRegistry(BREAKER)
    m_a, m_b = registry.get("m-a"), registry.get("m-b")
    for _ in range(3):
        m_a.on_failure(T0, m_a.try_acquire(T0))
    assert m_a.state_at(T0) == "open"
    probe = m_a.try_acquire(T0 + 2.2)
    assert probe.allowed and probe.probe
    assert not m_a.try_acquire(T0 + 2.2).allowed  # one probe in flight at most
    for _ in range(10):
        m_b.on_success(T0 + 2.3, m_b.try_acquire(T0 + 2.3))
    assert m_a.state_at(T0 + 2.4) == "half_open"
    m_a.on_failure(T0 + 2.5, probe)
    assert m_a.snapshot()["state"] == "open"
    assert m_a.snapshot()["open_until"] == pytest.approx(T0 + 4.5)
    assert registry.states(T0 + 2.6) == {"m-a": "open", "m-b": "closed"}
