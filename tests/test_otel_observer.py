"""OTelObserver over a real Router and FakeBackend: span tree, attributes, context, state."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from helpers import catalog, collect_stream, run
from modelroute.backend import FakeBackend
from modelroute.breaker import BreakerConfig
from modelroute.catalog import ModelInfo
from modelroute.errors import AllAttemptsFailed, LimitExceeded, ProviderUnavailable
from modelroute.observer import RequestStarted
from modelroute.policies import RetryPolicy
from modelroute.records import Attempt, Decision
from modelroute.route import Route
from modelroute.types import Request, Response, Usage
from modelroute_otel import BreakerTransitionSink, OTelObserver
from otel_helpers import Otel, attrs, make_router

MODES = ["sync", "async", "stream", "astream"]


@pytest.fixture
def otel() -> Iterator[Otel]:
    telemetry = Otel()
    yield telemetry
    telemetry.shutdown()


def go(router: Any, mode: str, request: Request | str = "hi") -> Decision:
    """One request through `mode`; returns its decision."""
    if mode in ("sync", "async"):
        return run(router, mode, request).decision
    _, decision = collect_stream(router, "sync" if mode == "stream" else "async", request)
    assert isinstance(decision, Decision)
    return decision


def fails(status: int = 503) -> ProviderUnavailable:
    return ProviderUnavailable(f"{status} from upstream", status_code=status)


def answer(model: str, text: str = "fine") -> Response:
    return Response(
        text=text, model=f"{model}-2026", finish_reason="stop", usage=Usage(120, 30), id="r-9"
    )


# -- the tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_fallback_gives_one_route_span_with_one_child_per_attempt(otel: Otel, mode: str) -> None:
    obs = otel.observer()
    router = make_router({"m-a": [fails()], "m-b": [answer("m-b")]}, [obs])
    with otel.tracer.start_as_current_span("caller") as caller:
        before = otel_context.get_current()
        decision = go(router, mode)
        assert otel_context.get_current() is before  # every attach was undone
    route = otel.route()
    assert route.kind == SpanKind.INTERNAL
    assert route.name == "modelroute.route r1"
    assert route.parent is not None and route.parent.span_id == caller.get_span_context().span_id
    first, second = otel.attempts(route)
    assert [first.name, second.name] == ["chat m-a", "chat m-b"]

    assert first.status.status_code == StatusCode.ERROR
    a0 = attrs(first)
    assert a0["error.type"] == "ProviderUnavailable"
    assert a0["modelroute.fallback.reason"] == "unavailable"
    assert a0["http.response.status_code"] == 503
    assert a0["modelroute.attempt.index"] == 0
    assert a0["modelroute.cost.usd"] == 0.0
    assert "503 from upstream" in (first.status.description or "")

    a1 = attrs(second)
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "local",
        "gen_ai.request.model": "m-b",
        "gen_ai.response.model": "m-b-2026",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "modelroute.model": "m-b",
        "modelroute.attempt.index": 1,
        "modelroute.attempt.retry": 0,
        "modelroute.attempt.outcome": "ok",
        "modelroute.breaker.state": "closed",
        "modelroute.cost.usd": pytest.approx(decision.attempts[1].cost_usd),
        "modelroute.baseline.cost.usd": pytest.approx(decision.attempts[1].baseline_cost_usd),
        "modelroute.validators.passed": ["empty"],
    }
    assert {k: a1.get(k) for k in expected} == expected
    assert a1["gen_ai.response.finish_reasons"] == ["stop"]
    if mode in ("sync", "async"):
        assert a1["gen_ai.response.id"] == "r-9"  # FakeBackend streams carry no id
    else:
        assert a1["gen_ai.request.stream"] is True
    assert "error.type" not in a1 and second.status.status_code == StatusCode.UNSET

    r = attrs(route)
    assert r == {
        "modelroute.route": "r1",
        "modelroute.request.id": decision.request_id,
        "modelroute.strategy": "fallback",
        "modelroute.stream": mode in ("stream", "astream"),
        "modelroute.candidates": ["m-a", "m-b"],
        "modelroute.models.attempted": ["m-a", "m-b"],
        "modelroute.response.model": "m-b",
        "modelroute.response.provider": "local",
        "modelroute.fallback.count": 1,
        "modelroute.fallback.reasons": ["unavailable"],
        "modelroute.outcome": "success_after_fallback",
        "modelroute.cost.usd": pytest.approx(decision.cost_usd),
        "modelroute.baseline.model": "m-strong",
        "modelroute.baseline.cost.usd": pytest.approx(decision.baseline_cost_usd),
        "modelroute.saving.usd": pytest.approx(decision.saving_usd),
    }
    assert decision.cost_usd > 0
    assert route.status.status_code == StatusCode.UNSET
    assert obs.inflight == 0


@pytest.mark.parametrize("mode", MODES)
def test_provider_instrumentation_nests_under_the_attempt_span(otel: Otel, mode: str) -> None:
    def handler(model: ModelInfo, request: Request) -> Response:
        with otel.tracer.start_as_current_span(f"POST /{model.name}"):
            if model.name == "m-a":
                raise fails()
            return answer(model.name)

    router = make_router(FakeBackend(handler), [otel.observer()])
    go(router, mode)
    for attempt in otel.attempts():
        (inner,) = otel.children(attempt)
        assert inner.name == f"POST /{attrs(attempt)['modelroute.model']}"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_route_span_without_a_caller_span_is_a_root(otel: Otel) -> None:
    go(make_router({"m-a": ["ok"], "m-b": ["ok"]}, [otel.observer()]), "sync")
    route = otel.route()
    assert route.parent is None
    assert [a.name for a in otel.attempts(route)] == ["chat m-a"]
    assert attrs(route)["modelroute.outcome"] == "success"
    assert attrs(route)["modelroute.fallback.reasons"] == []


@pytest.mark.parametrize("mode", MODES)
def test_all_attempts_failing_marks_every_span_as_error(otel: Otel, mode: str) -> None:
    router = make_router({"m-a": [fails(502)], "m-b": [fails(503)]}, [otel.observer()])
    before = otel_context.get_current()
    with pytest.raises(AllAttemptsFailed):
        go(router, mode)
    assert otel_context.get_current() is before
    route = otel.route()
    assert route.status.status_code == StatusCode.ERROR
    assert route.status.description == "exhausted"
    assert attrs(route)["modelroute.fallback.reasons"] == ["unavailable", "unavailable"]
    assert "modelroute.response.model" not in attrs(route)
    statuses = [
        (s.status.status_code, attrs(s)["http.response.status_code"]) for s in otel.attempts()
    ]
    assert statuses == [(StatusCode.ERROR, 502), (StatusCode.ERROR, 503)]


def test_invalid_answer_is_an_error_span_with_the_failed_validator(otel: Otel) -> None:
    router = make_router({"m-a": [answer("m-a", text="")], "m-b": ["ok"]}, [otel.observer()])
    go(router, "sync")
    first, _ = otel.attempts()
    a0 = attrs(first)
    assert first.status.status_code == StatusCode.ERROR
    assert a0["error.type"] == "invalid_output:empty"
    assert a0["modelroute.validators.failed"] == ["empty"]
    assert a0["modelroute.attempt.outcome"] == "invalid"
    assert a0["gen_ai.usage.output_tokens"] == 30  # the call was paid for
    assert a0["modelroute.cost.usd"] > 0


def test_retries_of_one_model_are_separate_spans(otel: Otel) -> None:
    route = Route("r1", ("m-a", "m-b"), retry=RetryPolicy(retries=1))
    router = make_router({"m-a": [fails(), "ok"], "m-b": ["b"]}, [otel.observer()], route=route)
    go(router, "sync")
    spans = otel.attempts()
    assert [(s.name, attrs(s)["modelroute.attempt.retry"]) for s in spans] == [
        ("chat m-a", 0),
        ("chat m-a", 1),
    ]
    assert attrs(otel.route())["modelroute.outcome"] == "success_after_fallback"


# -- skipped candidates -----------------------------------------------------------------------


def test_skipped_candidates_are_events_on_the_route_span(otel: Otel) -> None:
    cat = catalog(m_a={"supports_tools": False})
    router = make_router({"m-a": ["a"], "m-b": ["b"]}, [otel.observer()], catalog=cat)
    tools = ({"type": "function", "function": {"name": "f", "parameters": {}}},)
    go(router, "sync", Request.of("hi", tools=tools))
    route = otel.route()
    assert [s.name for s in otel.attempts(route)] == ["chat m-b"]  # only real calls
    (event,) = route.events
    assert event.name == "modelroute.candidate.skipped"
    assert dict(event.attributes or {}) == {
        "modelroute.model": "m-a",
        "modelroute.provider": "local",
        "modelroute.attempt.index": 0,
        "modelroute.fallback.reason": "capability",
        "modelroute.skip.detail": "model lacks tools",
    }
    assert attrs(route)["modelroute.fallback.reasons"] == ["capability"]
    assert attrs(route)["modelroute.models.attempted"] == ["m-b"]


def test_open_breaker_skip_and_transition_event(otel: Otel) -> None:
    router = make_router(
        {"m-a": [fails()], "m-b": ["b"]},
        [otel.observer()],
        breaker=BreakerConfig(failure_threshold=1, cooldown_s=60),
        sinks=[BreakerTransitionSink(otel.meter_provider)],
    )
    go(router, "sync")
    go(router, "sync")
    first_route, second_route = otel.routes()
    failed = otel.attempts(first_route)[0]
    (transition,) = failed.events
    assert transition.name == "modelroute.breaker.transition"
    assert dict(transition.attributes or {})["modelroute.breaker.to_state"] == "open"
    assert [s.name for s in otel.attempts(second_route)] == ["chat m-b"]
    (skip,) = second_route.events
    assert dict(skip.attributes or {})["modelroute.fallback.reason"] == "circuit_open"
    points = otel.points("modelroute.breaker.transitions")
    assert [(dict(p.attributes), p.value) for p in points] == [
        (
            {
                "modelroute.model": "m-a",
                "modelroute.breaker.from_state": "closed",
                "modelroute.breaker.to_state": "open",
            },
            1,
        )
    ]


class Refuse:
    """A guard that refuses `m-a` (per-model budget: the engine falls back)."""

    def admit(self, request: Request, model: ModelInfo) -> object:
        if model.name == "m-a":
            raise LimitExceeded("over budget", reason="budget_exceeded", fallback=True)
        return None

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        return self.admit(request, model)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        return None

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        return None


@pytest.mark.parametrize("mode", MODES)
def test_guard_refusal_keeps_a_short_skipped_span_and_an_event(otel: Otel, mode: str) -> None:
    router = make_router({"m-a": ["a"], "m-b": ["b"]}, [otel.observer()], guards=[Refuse()])
    before = otel_context.get_current()
    go(router, mode)
    assert otel_context.get_current() is before
    refused, answered = otel.attempts()
    assert attrs(refused)["modelroute.attempt.outcome"] == "skipped"
    assert attrs(refused)["modelroute.fallback.reason"] == "budget_exceeded"
    assert refused.status.status_code == StatusCode.UNSET
    assert "error.type" not in attrs(refused)
    assert attrs(answered)["modelroute.attempt.outcome"] == "ok"
    (event,) = otel.route().events
    assert dict(event.attributes or {})["modelroute.fallback.reason"] == "budget_exceeded"


# -- context and state ------------------------------------------------------------------------


def test_cancelled_request_ends_its_spans_and_restores_the_context(otel: Otel) -> None:
    entered = asyncio.Event()  # set once the call is inside the backend

    class Hangs:
        async def acall(
            self, model: ModelInfo, request: Request, *, timeout_s: float | None
        ) -> Response:
            entered.set()
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    obs = otel.observer()
    router = make_router(Hangs(), [obs])  # type: ignore[arg-type]
    restored: list[bool] = []

    async def request() -> None:
        before = otel_context.get_current()
        try:
            await router.acomplete("hi")
        finally:
            restored.append(otel_context.get_current() is before)

    async def main() -> None:
        task = asyncio.create_task(request())
        await entered.wait()  # not a sleep: the task may need longer to get there
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert restored == [True]
    assert obs.inflight == 0
    (attempt,) = otel.attempts()
    assert attrs(attempt)["modelroute.fallback.reason"] == "cancelled"
    assert attempt.status.status_code == StatusCode.UNSET and "error.type" not in attrs(attempt)
    assert attrs(otel.route())["modelroute.outcome"] == "cancelled"


def test_sync_stream_closed_early_restores_the_context(otel: Otel) -> None:
    obs = otel.observer()
    router = make_router({"m-a": ["one two three"], "m-b": ["b"]}, [obs])
    before = otel_context.get_current()
    stream = router.stream("hi")
    first = next(iter(stream))
    assert first.text
    assert trace.get_current_span() is not trace.INVALID_SPAN  # the attempt, between chunks
    stream.close()
    assert otel_context.get_current() is before
    assert obs.inflight == 0
    assert attrs(otel.route())["modelroute.outcome"] == "cancelled"


def test_async_stream_closed_early_restores_the_context(otel: Otel) -> None:
    obs = otel.observer()
    router = make_router({"m-a": ["one two three"], "m-b": ["b"]}, [obs])

    async def main() -> bool:
        before = otel_context.get_current()
        stream = router.astream("hi")
        async for _ in stream:
            break
        await stream.aclose()
        return otel_context.get_current() is before

    assert asyncio.run(main())
    assert obs.inflight == 0
    assert len(otel.attempts()) == 1


def test_unfinished_requests_are_evicted_past_the_limit(otel: Otel) -> None:
    obs = otel.observer(max_inflight=2)
    for i in range(3):
        event = RequestStarted(f"id-{i}", "r1", "fallback", ("m-a",), Request.of("hi"), False, 0.0)
        obs.request_started(event)
    assert obs.inflight == 2
    (evicted,) = otel.routes()
    assert attrs(evicted)["modelroute.request.id"] == "id-0"
    assert evicted.status.status_code == StatusCode.ERROR


def test_hooks_for_unknown_requests_are_ignored(otel: Otel) -> None:
    obs = otel.observer()
    obs.attempt_finished("nope", Attempt(index=0, model="m-a", provider=None, outcome="ok"))  # type: ignore[arg-type]
    obs.attempt_response("nope", 0, answer("m-a"))
    assert otel.spans() == [] and obs.inflight == 0


def test_always_off_sampler_records_no_span_but_metrics_and_works(otel: Otel) -> None:
    off = Otel(sampler=ALWAYS_OFF)
    obs = off.observer(capture_content=True)
    router = make_router({"m-a": [fails()], "m-b": ["b"]}, [obs])
    before = otel_context.get_current()
    for mode in MODES:
        assert go(router, mode).responding_model == "m-b"
    assert otel_context.get_current() is before
    assert off.spans() == []
    assert sum(p.value for p in off.points("modelroute.requests")) == len(MODES)
    assert obs.inflight == 0
    off.shutdown()


def test_telemetry_failures_never_reach_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            return self

        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("tracing backend down")

    obs = OTelObserver(tracer_provider=Broken())  # type: ignore[arg-type]
    router = make_router({"m-a": ["fine"]}, [obs])
    assert run(router, "sync", "hi").text == "fine"
    # called directly (not through the engine's fan-out), hooks still never raise
    obs.request_started(RequestStarted("x", "r1", "fallback", ("m-a",), Request.of("hi"), False, 0))
    assert "tracing backend down" in caplog.text
    assert obs.inflight == 0


# -- concurrency ------------------------------------------------------------------------------


class Jittery:
    """Answers after a random short delay with a provider span; `fail-*` prompts fail on m-a."""

    def __init__(self, otel: Otel) -> None:
        self.otel = otel
        self.rng = random.Random(7)
        self.lock = threading.Lock()

    def _delay(self) -> float:
        with self.lock:
            return self.rng.uniform(0, 0.004)

    def _answer(self, model: ModelInfo, request: Request) -> Response:
        if model.name == "m-a" and request.last_user_text.startswith("fail"):
            raise fails()
        return answer(model.name, text=request.last_user_text)

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        with self.otel.tracer.start_as_current_span("provider"):
            await asyncio.sleep(self._delay())
            return self._answer(model, request)

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        import time

        with self.otel.tracer.start_as_current_span("provider"):
            time.sleep(self._delay())
            return self._answer(model, request)


def check_trees(otel: Otel, n: int) -> None:
    callers = {attrs(s)["i"]: s for s in otel.spans() if s.name == "caller"}
    assert len(callers) == n
    routes = otel.routes()
    assert len(routes) == n
    for route in routes:
        assert route.parent is not None
        caller = next(c for c in callers.values() if c.context.span_id == route.parent.span_id)
        i = attrs(caller)["i"]
        expected = ["chat m-a", "chat m-b"] if i % 2 else ["chat m-a"]
        attempts = otel.attempts(route)
        assert [s.name for s in attempts] == expected
        assert attrs(route)["modelroute.fallback.count"] == i % 2
        for attempt in attempts:
            (provider,) = otel.children(attempt)
            assert provider.name == "provider"
        answered = attrs(attempts[-1])
        assert answered["gen_ai.response.model"] == f"{expected[-1][5:]}-2026"


NEVER_OPENS = BreakerConfig(failure_threshold=10_000)


def prompt(i: int) -> str:
    return f"fail {i}" if i % 2 else f"ok {i}"


def test_twenty_concurrent_async_requests_build_twenty_correct_trees(otel: Otel) -> None:
    obs = otel.observer()
    # Half the requests fail on m-a; with the default breaker (5 consecutive failures) an
    # interleaving of five failures in a row opens it and an "ok" request skips m-a.
    router = make_router(Jittery(otel), [obs], breaker=NEVER_OPENS)  # type: ignore[arg-type]

    async def one(i: int) -> bool:
        with otel.tracer.start_as_current_span("caller", attributes={"i": i}):
            before = otel_context.get_current()
            out = await router.acomplete(prompt(i))
            assert out.text == prompt(i)
            return otel_context.get_current() is before

    async def main() -> list[bool]:
        return await asyncio.gather(*(one(i) for i in range(20)))

    assert asyncio.run(main()) == [True] * 20
    check_trees(otel, 20)
    assert obs.inflight == 0


def test_twenty_concurrent_threads_build_twenty_correct_trees(otel: Otel) -> None:
    obs = otel.observer()
    # Half the requests fail on m-a; with the default breaker (5 consecutive failures) an
    # interleaving of five failures in a row opens it and an "ok" request skips m-a.
    router = make_router(Jittery(otel), [obs], breaker=NEVER_OPENS)  # type: ignore[arg-type]

    def one(i: int) -> bool:
        with otel.tracer.start_as_current_span("caller", attributes={"i": i}):
            before = otel_context.get_current()
            router.complete(prompt(i))
            return otel_context.get_current() is before

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(one, range(20))) == [True] * 20
    check_trees(otel, 20)
    assert obs.inflight == 0
