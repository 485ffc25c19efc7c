"""Verifier-on-top: a judge model accepts or rejects; rejects regenerate."""

from __future__ import annotations

import json

import pytest

from helpers import catalog, run
from modelroute.backend import FakeBackend
from modelroute.catalog import ModelInfo
from modelroute.clock import FakeClock
from modelroute.errors import AllAttemptsFailed, ConfigError, ProviderUnavailable
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, Usage
from modelroute.verifier import Verifier

MODES = ["sync", "async"]


def judge_backend(verdicts: dict[str, str], judge_fails: bool = False) -> FakeBackend:
    """Models answer their name; the judge (m-strong) accepts answers listed as 'accept'."""

    def handler(model: ModelInfo, request: Request) -> Response | str:
        if model.name == "m-strong":
            if judge_fails:
                raise ProviderUnavailable("judge down", status_code=503)
            answer = request.messages[-1].text.rsplit("\n", 1)[-1]
            verdict = verdicts.get(answer, "reject")
            body = json.dumps({"verdict": verdict, "reason": f"{answer} is {verdict}ed"})
            return Response(text=body, usage=Usage(50, 10))
        return Response(text=f"answer-{model.name}", usage=Usage(20, 5))

    return FakeBackend(handler)


def router(backend: FakeBackend, verifier: Verifier) -> Router:
    route = Route("r", ("m-c", "m-a", "m-b"), verifier=verifier)
    return Router([route], backend=backend, catalog=catalog(), clock=FakeClock())


@pytest.mark.parametrize("mode", MODES)
def test_reject_escalates_and_costs_include_the_judge(mode: str) -> None:
    backend = judge_backend({"answer-m-a": "accept"})
    out = run(router(backend, Verifier("m-strong")), mode, "q")
    assert out.text == "answer-m-a"
    first, second = out.decision.attempts
    assert (first.outcome, first.reason) == (AttemptOutcome.REJECTED, "verifier_rejected")
    assert first.verdicts[-1].detail == "answer-m-c is rejected"
    judge_cost = (50 * 5.0 + 10 * 20.0) * 1e-6
    assert first.verifier_cost_usd == pytest.approx(judge_cost)
    assert first.cost_usd == pytest.approx((20 * 0.5 + 5 * 1.5) * 1e-6 + judge_cost)
    assert second.verifier_model == "m-strong" and second.outcome == AttemptOutcome.OK
    assert out.decision.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert backend.calls == ["m-c", "m-strong", "m-a", "m-strong"]


@pytest.mark.parametrize("mode", MODES)
def test_regenerate_on_the_same_model_then_give_up(mode: str) -> None:
    backend = judge_backend({})
    with pytest.raises(AllAttemptsFailed) as info:
        run(router(backend, Verifier("m-strong", max_regenerations=2, escalate=False)), mode, "q")
    assert [(a.model, a.retry) for a in info.value.attempts] == [("m-c", 0), ("m-c", 1), ("m-c", 2)]
    assert info.value.decision.outcome == RequestOutcome.EXHAUSTED


@pytest.mark.parametrize("mode", MODES)
def test_failed_judge_fails_open_and_says_so(mode: str) -> None:
    out = run(router(judge_backend({}, judge_fails=True), Verifier("m-strong")), mode, "q")
    assert out.decision.responding_model == "m-c"
    assert out.decision.attempts[0].verdicts[-1].detail == "verifier failed: ProviderUnavailable"


def test_failed_judge_fails_closed_when_asked() -> None:
    verifier = Verifier("m-strong", fail_open=False, max_regenerations=0)
    with pytest.raises(AllAttemptsFailed):
        run(router(judge_backend({}, judge_fails=True), verifier), "sync", "q")


def test_verified_routes_refuse_to_stream() -> None:
    r = router(judge_backend({}), Verifier("m-strong"))
    with pytest.raises(ConfigError, match=r"routes\.r\.verifier"):
        r.stream("q")


def test_verifier_from_yaml() -> None:
    data = {
        "models": {"m-c": {}, "m-a": {}, "judge": {}},
        "routes": {"r": {"models": ["m-c", "m-a"], "verifier": {"model": "judge"}}},
    }
    r = Router.from_config(
        data, backend=FakeBackend(lambda m, q: '{"verdict": "accept", "reason": "ok"}')
    )
    assert r.routes["r"].verifier == Verifier("judge")
    bad = {
        "models": {"m-c": {}},
        "routes": {"r": {"models": ["m-c"], "verifier": {"model": "nope"}}},
    }
    with pytest.raises(ConfigError) as info:
        Router.from_config(bad, backend=FakeBackend(lambda m, q: "x"))
    assert info.value.path == "routes.r.verifier.model"
