"""Observers see each request live; guards admit before and settle after every call."""

from __future__ import annotations

import asyncio

import pytest

from helpers import catalog, collect_stream, run, scripted
from modelroute.catalog import ModelInfo
from modelroute.clock import FakeClock
from modelroute.errors import LimitExceeded, ProviderUnavailable
from modelroute.observer import AttemptStarted, RequestStarted
from modelroute.records import Attempt, Decision, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

MODES = ["sync", "async"]


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def request_started(self, e: RequestStarted) -> None:
        self.events.append(f"start {e.route}")

    def attempt_started(self, e: AttemptStarted) -> None:
        self.events.append(f"call {e.model.name}#{e.index}")

    def attempt_finished(self, request_id: str, a: Attempt) -> None:
        self.events.append(f"end {a.model} {a.reason or 'ok'}")

    def request_finished(self, d: Decision) -> None:
        self.events.append(f"done {d.outcome}")


class Guard:
    """Refuses the models in `refuse`; records admits and settles."""

    def __init__(self, refuse: dict[str, bool]) -> None:
        self.refuse = refuse
        self.log: list[tuple[str, str, float | None]] = []

    def admit(self, request: Request, model: ModelInfo) -> object:
        if model.name in self.refuse:
            raise LimitExceeded(
                "over budget", reason="budget_exceeded", fallback=self.refuse[model.name]
            )
        self.log.append(("admit", model.name, None))
        return model.name

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        return self.admit(request, model)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        self.log.append(("settle", str(ticket), None if attempt is None else attempt.cost_usd))

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settle(ticket, attempt)


def router(script: dict[str, list[object]], **kw: object) -> Router:
    return Router(
        [Route("r1", ("m-a", "m-b"))],
        backend=scripted(script),
        catalog=catalog(),
        clock=FakeClock(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("mode", MODES)
def test_observer_sees_events_in_order(mode: str) -> None:
    rec = Recorder()
    r = router(
        {"m-a": [ProviderUnavailable("503", status_code=503)], "m-b": ["ok"]}, observers=[rec]
    )
    run(r, mode, "hi")
    assert rec.events == [
        "start r1",
        "call m-a#0",
        "end m-a unavailable",
        "call m-b#1",
        "end m-b ok",
        "done success_after_fallback",
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_observer_sees_streams_too(mode: str) -> None:
    rec = Recorder()
    r = router({"m-a": ["streamed"], "m-b": ["b"]}, observers=[rec])
    collect_stream(r, mode, "hi")
    assert rec.events == ["start r1", "call m-a#0", "end m-a ok", "done success"]


def test_failing_observer_never_breaks_the_call() -> None:
    class Broken:
        def attempt_started(self, e: AttemptStarted) -> None:
            raise RuntimeError("tracing backend down")

    assert run(router({"m-a": ["fine"]}, observers=[Broken()]), "sync", "hi").text == "fine"


@pytest.mark.parametrize("mode", MODES)
def test_guard_settles_each_call_with_its_real_cost(mode: str) -> None:
    guard = Guard({})
    r = router(
        {"m-a": [ProviderUnavailable("503", status_code=503)], "m-b": ["ok"]}, guards=[guard]
    )
    out = run(r, mode, "hi")
    assert guard.log == [
        ("admit", "m-a", None),
        ("settle", "m-a", 0.0),
        ("admit", "m-b", None),
        ("settle", "m-b", out.decision.attempts[1].cost_usd),
    ]
    assert out.decision.attempts[1].cost_usd > 0


@pytest.mark.parametrize("mode", MODES)
def test_per_model_refusal_falls_back(mode: str) -> None:
    r = router({"m-a": ["a"], "m-b": ["b"]}, guards=[Guard({"m-a": True})])
    out = run(r, mode, "hi")
    assert out.decision.responding_model == "m-b"
    assert out.decision.fallback_reasons == ("budget_exceeded",)
    assert r.backend.calls == ["m-b"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_request_refusal_raises_the_limit_error_with_its_decision(mode: str) -> None:
    r = router({"m-a": ["a"], "m-b": ["b"]}, guards=[Guard({"m-a": False})])
    with pytest.raises(LimitExceeded) as info:
        run(r, mode, "hi")
    assert info.value.decision is not None
    assert info.value.decision.outcome == RequestOutcome.REFUSED
    assert [a.reason for a in info.value.attempts] == ["budget_exceeded"]
    assert r.backend.calls == []  # type: ignore[attr-defined]


def test_cancelled_call_releases_its_reservation_and_is_recorded() -> None:
    entered = asyncio.Event()  # set once the call is inside the backend

    class Hangs:
        async def acall(
            self, model: ModelInfo, request: Request, *, timeout_s: float | None
        ) -> object:
            entered.set()
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    guard = Guard({})
    rec = Recorder()
    r = Router(
        [Route("r1", ("m-a",))],
        backend=Hangs(),  # type: ignore[arg-type]
        catalog=catalog(),
        clock=FakeClock(),
        guards=[guard],
        observers=[rec],
    )

    async def go() -> None:
        task = asyncio.create_task(r.acomplete("hi"))
        await entered.wait()  # not a sleep: the task may need longer to get there
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert guard.log == [("admit", "m-a", None), ("settle", "m-a", None)]
    assert rec.events[-2:] == ["end m-a cancelled", "done cancelled"]
