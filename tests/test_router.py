"""The engine end to end over an in-process backend: fallbacks, reasons, costs, breakers."""

from __future__ import annotations

import pytest

from helpers import PER_M, catalog, run, scripted
from modelroute.breaker import BreakerConfig
from modelroute.clock import FakeClock
from modelroute.errors import (
    AllAttemptsFailed,
    BadRequest,
    ContextWindowExceeded,
    ProviderUnavailable,
    RateLimited,
    UnknownModelError,
    UnknownRouteError,
)
from modelroute.policies import RetryPolicy, Timeouts
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request, Response, Usage
from modelroute.validators import MinLength

MODES = ["sync", "async"]


def make_router(script, route=None, **kwargs):  # type: ignore[no-untyped-def]
    sink = kwargs.pop("sink", MemorySink())
    clock = kwargs.pop("clock", FakeClock())
    route = route or Route("r1", ("m-a", "m-b", "m-c"))
    router = Router(
        [route],
        backend=scripted(script),
        catalog=catalog(),
        baseline="m-strong",
        sinks=[sink],
        clock=clock,
        seed=7,
        **kwargs,
    )
    return router, sink, clock


@pytest.mark.parametrize("mode", MODES)
def test_primary_answers_with_cost_and_counterfactual(mode: str) -> None:
    router, sink, _ = make_router({"m-a": ["hello"], "m-b": ["b"], "m-c": ["c"]})
    out = run(router, mode, "hi")
    assert out.text == "hello"
    d = out.decision
    assert d.outcome == RequestOutcome.SUCCESS
    assert d.responding_model == "m-a"
    assert [a.outcome for a in d.attempts] == [AttemptOutcome.OK]
    assert d.cost_usd == pytest.approx(100 * 1.0 * PER_M + 50 * 4.0 * PER_M, abs=1e-12)
    assert d.baseline_cost_usd == pytest.approx(100 * 5.0 * PER_M + 50 * 20.0 * PER_M, abs=1e-12)
    assert sink.decisions == [d]


@pytest.mark.parametrize("mode", MODES)
def test_chain_records_each_reason_in_order(mode: str) -> None:
    script = {
        "m-a": [RateLimited("slow down", status_code=429, retry_after=45.0)],
        "m-b": ["x"],
        "m-c": ["a long enough answer"],
    }
    route = Route("r1", ("m-a", "m-b", "m-c"), validators=(MinLength(5),))
    router, _, clock = make_router(script, route)
    out = run(router, mode, "hi")
    assert out.text == "a long enough answer"
    reasons = [a.reason for a in out.decision.attempts]
    assert reasons == ["rate_limited", "invalid_output:too_short", None]
    assert out.decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert out.decision.attempts[0].retry_after_s == 45.0
    # the invalid answer was paid for: cost sums both answered calls
    assert out.decision.cost_usd == pytest.approx(
        (100 * 2 + 50 * 8) * PER_M + (100 * 0.5 + 50 * 1.5) * PER_M, abs=1e-12
    )
    assert clock.sleeps == []  # Retry-After 45 s > max_retry_after_s: fall back, do not wait


@pytest.mark.parametrize("mode", MODES)
def test_all_failing_raises_with_every_attempt(mode: str) -> None:
    err = ProviderUnavailable("down", status_code=503)
    router, sink, _ = make_router({"m-a": [err], "m-b": [err], "m-c": [err]})
    with pytest.raises(AllAttemptsFailed) as info:
        run(router, mode, "hi")
    attempts = info.value.attempts
    assert [a.model for a in attempts] == ["m-a", "m-b", "m-c"]
    assert {a.reason for a in attempts} == {"unavailable"}
    assert info.value.decision.outcome == RequestOutcome.EXHAUSTED
    assert sink.decisions[0].outcome == RequestOutcome.EXHAUSTED


@pytest.mark.parametrize("mode", MODES)
def test_callers_bad_request_is_terminal_and_not_counted(mode: str) -> None:
    script = {"m-a": [BadRequest("bad temperature", status_code=400)], "m-b": ["b"], "m-c": ["c"]}
    router, _, _ = make_router(script, breaker=BreakerConfig(failure_threshold=1))
    with pytest.raises(AllAttemptsFailed) as info:
        run(router, mode, "hi")
    assert [a.model for a in info.value.attempts] == ["m-a"]
    assert info.value.decision.outcome == RequestOutcome.TERMINAL_ERROR
    assert router.breakers.get("m-a").state_at(router.clock.now()) == "closed"
    assert router.backend.calls == ["m-a"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_breaker_skips_open_model_then_lets_one_probe_through(mode: str) -> None:
    err = ProviderUnavailable("down", status_code=500)
    script = {"m-a": [err, err, err, "recovered"], "m-b": ["b"], "m-c": ["c"]}
    router, sink, clock = make_router(
        script, breaker=BreakerConfig(failure_threshold=3, cooldown_s=30.0)
    )
    for _ in range(3):
        assert run(router, mode, "hi").decision.responding_model == "m-b"
    skipped = run(router, mode, "hi").decision.attempts[0]
    assert (skipped.model, skipped.outcome, skipped.reason) == (
        "m-a",
        AttemptOutcome.SKIPPED,
        "circuit_open",
    )
    assert router.backend.calls.count("m-a") == 3  # type: ignore[attr-defined]
    clock.advance(30.0)
    probe = run(router, mode, "hi")
    assert probe.decision.responding_model == "m-a"
    assert [(t.from_state, t.to_state) for t in sink.transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_retry_waits_for_retry_after_on_the_fake_clock(mode: str) -> None:
    script = {"m-a": [RateLimited("429", status_code=429, retry_after=2.0), "ok"], "m-b": ["b"]}
    route = Route("r1", ("m-a", "m-b"), retry=RetryPolicy(retries=1, backoff_base_s=0.1))
    router, _, clock = make_router(script, route)
    out = run(router, mode, "hi")
    assert out.decision.responding_model == "m-a"
    assert [(a.retry, a.reason) for a in out.decision.attempts] == [(0, "rate_limited"), (1, None)]
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize("mode", MODES)
def test_backoff_is_exponential_bounded_and_jittered(mode: str) -> None:
    err = ProviderUnavailable("503", status_code=503)
    script = {"m-a": [err], "m-b": ["b"]}
    policy = RetryPolicy(retries=3, backoff_base_s=1.0, backoff_max_s=3.0, jitter=0.5)
    router, _, clock = make_router(script, Route("r1", ("m-a", "m-b"), retry=policy))
    out = run(router, mode, "hi")
    assert out.decision.responding_model == "m-b"
    assert len(clock.sleeps) == 3
    for sleep, cap in zip(clock.sleeps, [1.0, 2.0, 3.0], strict=True):
        assert cap * 0.5 <= sleep <= cap


@pytest.mark.parametrize("mode", MODES)
def test_capability_and_context_window_checks_skip_before_calling(mode: str) -> None:
    router = Router(
        [Route("r1", ("m-a", "m-b", "m-c"))],
        backend=scripted({"m-a": ["a"], "m-b": ["b"], "m-c": ["c"]}),
        catalog=catalog(m_a={"supports_tools": False}, m_b={"max_input_tokens": 10}),
        clock=FakeClock(),
    )
    request = Request.of("x" * 200, tools=[{"type": "function", "function": {"name": "f"}}])
    out = run(router, mode, request)
    assert out.decision.responding_model == "m-c"
    assert [a.reason for a in out.decision.attempts] == ["capability", "context_window", None]
    assert router.backend.calls == ["m-c"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_provider_context_window_error_falls_back_without_opening_breaker(mode: str) -> None:
    err = ContextWindowExceeded("too long", status_code=400)
    router, _, _ = make_router(
        {"m-a": [err], "m-b": ["b"]}, breaker=BreakerConfig(failure_threshold=1)
    )
    out = run(router, mode, "hi")
    assert out.decision.fallback_reasons == ("context_window",)
    assert router.breakers.get("m-a").state_at(router.clock.now()) == "closed"


@pytest.mark.parametrize("mode", MODES)
def test_deadline_stops_retrying(mode: str) -> None:
    err = ProviderUnavailable("503", status_code=503)
    route = Route(
        "r1",
        ("m-a", "m-b"),
        retry=RetryPolicy(retries=5, backoff_base_s=4.0, jitter=0.0),
        timeouts=Timeouts(deadline_s=5.0),
    )
    router, _, clock = make_router({"m-a": [err], "m-b": [err]}, route)
    with pytest.raises(AllAttemptsFailed) as info:
        run(router, mode, "hi")
    # one retry of 4 s fits in the 5 s deadline, the next (8 s) does not
    assert clock.sleeps == [4.0]
    assert info.value.attempts[-1].reason in ("deadline", "unavailable")


def test_missing_usage_is_estimated_and_flagged() -> None:
    script = {"m-a": [Response(text="x" * 40, model="m-a", usage=None)]}
    router, _, _ = make_router(script, Route("r1", ("m-a",)))
    attempt = run(router, "sync", "y" * 40).decision.attempts[0]
    assert attempt.usage is not None and attempt.usage.estimated
    assert attempt.usage.output_tokens == 10
    assert attempt.cost_usd > 0


def test_failing_sink_never_breaks_the_call() -> None:
    class Broken:
        def emit(self, decision: object) -> None:
            raise RuntimeError("sink down")

    router, _, _ = make_router({"m-a": ["fine"]}, Route("r1", ("m-a",)), sink=Broken())
    assert run(router, "sync", "hi").text == "fine"


def test_unknown_model_in_route_names_the_path() -> None:
    with pytest.raises(UnknownModelError) as info:
        Router([Route("summarize", ("m-a", "gpt-5o"))], backend=scripted({}), catalog=catalog())
    assert str(info.value) == "routes.summarize.models[1]: unknown model 'gpt-5o'"


def test_unknown_route_is_a_typed_error() -> None:
    router, _, _ = make_router({"m-a": ["a"]})
    with pytest.raises(UnknownRouteError, match="unknown route 'nope'"):
        router.complete("hi", route="nope")


def test_unmapped_backend_exception_becomes_an_attempt() -> None:
    router, _, _ = make_router({"m-a": [KeyError("boom")], "m-b": ["b"]})
    out = run(router, "sync", "hi")
    assert out.decision.attempts[0].reason == "unknown"
    assert out.decision.responding_model == "m-b"


def test_usage_with_cached_tokens_prices_them_separately() -> None:
    cat = catalog(m_a={"cached_input_cost_per_token": 0.25 * PER_M})
    usage = Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=400)
    cost = cat.get("m-a").cost(usage)
    assert cost == pytest.approx((600 * 1.0 + 400 * 0.25 + 100 * 4.0) * PER_M, abs=1e-15)
