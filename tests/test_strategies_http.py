"""Every routing strategy over real HTTP: the LiteLLM backend against the local provider
server, whose request log (not the router's records) says which model was called.

Each strategy also composes with the route's fallbacks: a chosen model that fails hands the
request to the next one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from field_routing import FILTERS, KEY
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import Clock, FakeClock, SystemClock
from modelroute.offline.artifact import save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_classifier
from modelroute.provider_server import (
    AnswerRule,
    ContentOverride,
    ModelScript,
    ProviderServer,
    SlowFirstToken,
)
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.rules import RouteRule
from modelroute.shadow import Shadow
from modelroute.sinks import MemorySink
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.cost import Cheapest
from modelroute.strategies.latency import Fastest, LatencyTracker
from modelroute.strategies.split import WeightedSplit
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.types import Request
from modelroute.validators import ValidJSON
from modelroute.verifier import Verifier
from modelroute_litellm import LiteLLMBackend
from offline_data import synthetic, write

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

PRICES = {  # USD per 1M tokens: input, output
    "m-a": (1.0, 4.0),
    "m-b": (2.0, 8.0),
    "m-c": (0.5, 1.5),
    "m-strong": (5.0, 20.0),
    "m-judge": (1.0, 1.0),
    "m-small": (0.1, 0.4),
    "m-mid": (0.4, 1.6),
    "m-big": (5.0, 20.0),
}
ACCEPT = json.dumps({"verdict": "accept", "reason": "correct"})
REJECT = json.dumps({"verdict": "reject", "reason": "wrong capital"})
SCRIPTS = {m: ModelScript(answer=f"answer from {m}") for m in PRICES}
SCRIPTS["m-judge"] = ModelScript(
    answer=ACCEPT, rules=(AnswerRule(when="Answer to check:\nLyon", answer=REJECT),)
)
HTTP = pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)


def make(
    srv: ProviderServer, routes: list[Route], *, clock: Clock | None = None, **kw: object
) -> tuple[Router, MemorySink]:
    catalog = Catalog(
        ModelInfo(
            name,
            provider="local",
            target=f"openai/{name}",
            input_cost_per_token=inp * 1e-6,
            output_cost_per_token=out * 1e-6,
        )
        for name, (inp, out) in PRICES.items()
    )
    sink = MemorySink()
    router = Router(
        routes,
        backend=LiteLLMBackend(api_base=srv.base_url, api_key=KEY),
        catalog=catalog,
        sinks=[sink],
        clock=clock or FakeClock(),
        **kw,  # type: ignore[arg-type]
    )
    return router, sink


def served(srv: ProviderServer) -> list[str]:
    """Models the server was asked for, in arrival order."""
    return [r.model for r in srv.requests()]


@HTTP
def test_rules_pick_the_route(provider_server: ProviderServer) -> None:
    srv = provider_server
    router, _ = make(
        srv,
        [Route("default", ("m-c",)), Route("legal", ("m-strong", "m-b"))],
        rules=[RouteRule("legal", tags_any=("contract",))],
    )
    srv.set_faults("m-strong", [503])
    out = router.complete(Request.of("Review this NDA", tags=["contract"]))
    assert (out.decision.route, out.text) == ("legal", "answer from m-b")
    assert out.decision.fallback_reasons == ("unavailable",)
    assert router.complete("hello").text == "answer from m-c"
    assert served(srv) == ["m-strong", "m-b", "m-c"]


@HTTP
def test_cheapest_first_then_the_next_cheapest_on_failure(provider_server: ProviderServer) -> None:
    srv = provider_server
    router, _ = make(srv, [Route("r", ("m-strong", "m-b", "m-a", "m-c"), ranker=Cheapest())])
    assert router.complete("hi").text == "answer from m-c"
    srv.set_faults("m-c", [503])
    out = router.complete("hi again")
    assert out.decision.candidates == ("m-c", "m-a", "m-b", "m-strong")
    assert (out.text, out.decision.outcome) == (
        "answer from m-a",
        RequestOutcome.SUCCESS_AFTER_FALLBACK,
    )
    assert served(srv) == ["m-c", "m-c", "m-a"]


@HTTP
def test_fastest_learns_latency_from_real_calls(provider_server: ProviderServer) -> None:
    srv = provider_server
    # m-a is slow on every call; 1 s leaves room for m-b's call on a loaded machine
    srv.set_default_fault("m-a", SlowFirstToken(seconds=1.0))
    tracker = LatencyTracker(alpha=0.5)
    router, _ = make(
        srv,
        [Route("r", ("m-a", "m-b"), ranker=Fastest(tracker))],
        clock=SystemClock(),
        observers=[tracker],
    )
    first = router.complete("one").decision
    assert first.candidates == ("m-a", "m-b")  # nothing learned yet: route order
    second = router.complete("two").decision  # m-b has no sample yet: explored
    assert second.responding_model == "m-b"
    slow, fast = tracker.estimate("m-a"), tracker.estimate("m-b")
    assert slow is not None and fast is not None and slow >= 1.0 > fast
    srv.set_faults("m-b", [503])  # the fastest fails: the slow one answers
    third = router.complete("three")
    assert third.decision.candidates == ("m-b", "m-a")
    assert third.text == "answer from m-a"
    assert served(srv) == ["m-a", "m-b", "m-b", "m-a"]


@HTTP
def test_split_is_sticky_per_user_and_falls_back(provider_server: ProviderServer) -> None:
    srv = provider_server
    split = WeightedSplit({"m-a": 0.5, "m-b": 0.5}, key="user", salt="http")
    router, _ = make(srv, [Route("r", ("m-a", "m-b", "m-c"), ranker=split)])
    users = [f"user-{i}" for i in range(8)]
    arms = [router.complete(Request.of("q", user=u)).decision.tier for u in users]
    assert set(arms) == {"m-a", "m-b"}
    again = [router.complete(Request.of("q", user=u)).decision.tier for u in users]
    assert again == arms
    assert served(srv) == arms + arms  # the server saw each user's arm, both times
    srv.reset()
    arm = arms[0]
    srv.set_faults(arm, [503])
    out = router.complete(Request.of("q", user=users[0]))
    assert out.decision.tier == arm and out.decision.responding_model != arm
    assert served(srv) == [arm, out.decision.responding_model]


@HTTP
def test_threshold_on_heuristic_complexity(provider_server: ProviderServer) -> None:
    srv = provider_server
    tiers = ScoreThreshold(HeuristicComplexity(), thresholds=(0.2,))
    router, _ = make(srv, [Route("r", ("m-c", "m-strong"), ranker=tiers)])
    easy = router.complete("What is 2 + 2?").decision
    hard_prompt = (
        "Explain why this design has trade-offs and derive its complexity step by step:\n"
        "```python\ndef f(xs):\n    return sorted(xs)\n```\n- time?\n- memory?"
    )
    srv.set_faults("m-c", [503])  # the easy tier fails: escalates to the strong tier
    fell_back = router.complete("What is 3 + 3?").decision
    hard = router.complete(hard_prompt).decision
    assert (easy.tier, easy.responding_model) == ("m-c", "m-c")
    assert easy.score is not None and easy.score < 0.2
    assert (fell_back.tier, fell_back.responding_model) == ("m-c", "m-strong")
    assert (hard.tier, hard.candidates) == ("m-strong", ("m-strong",))
    assert hard.score is not None and hard.score >= 0.2
    assert served(srv) == ["m-c", "m-c", "m-strong", "m-strong"]


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classifier router over m-small / m-mid / m-big, trained from a synthetic
    RouterBench-layout CSV."""
    folder = tmp_path_factory.mktemp("trained")
    table = load_outcomes(write(folder / "outcomes.csv", synthetic(80)))
    path = folder / "router.bin"
    save_router(train_classifier(table, baseline="m-big", target=Target(quality=0.9)), path)
    return path


@HTTP
def test_trained_router_from_yaml(
    provider_server: ProviderServer, router_file: Path, tmp_path: Path
) -> None:
    srv = provider_server
    (tmp_path / "routers").mkdir()
    (tmp_path / "routers" / "qa.bin").write_bytes(router_file.read_bytes())
    models = {
        m: {"target": f"openai/{m}", "api_base": srv.base_url, "input_cost_per_mtok": PRICES[m][0]}
        for m in ("m-small", "m-mid", "m-big")
    }
    strategy = {"type": "trained", "path": "routers/qa.bin", "lam": 1000.0}
    config = {"models": models, "routes": {"qa": {"models": ["m-big", "m-mid", "m-small"]}}}
    config["routes"]["qa"]["strategy"] = strategy  # type: ignore[index]
    path = tmp_path / "modelroute.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    sink = MemorySink()
    router = Router.from_config(
        path, backend=LiteLLMBackend(api_key=KEY), clock=FakeClock(), sinks=[sink]
    )
    question = "Question 5 about topic 5?\nA) one\nB) two\nC) three\nD) four\nAnswer:"
    first = router.complete(Request.of(question, task="quiz")).decision
    # a high price of cost: the cheapest model is tried first
    assert (first.strategy, first.tier, first.responding_model) == ("trained", "m-small", "m-small")
    assert first.score is not None and first.threshold == 1000.0
    srv.set_faults("m-small", [503])
    second = router.complete(Request.of(question, task="quiz"))
    assert second.decision.candidates[0] == "m-small"
    assert second.text == f"answer from {second.decision.candidates[1]}"
    assert served(srv) == ["m-small", "m-small", second.decision.candidates[1]]


@HTTP
def test_cascade_escalates_on_invalid_output(provider_server: ProviderServer) -> None:
    srv = provider_server
    route = Route("classify", ("m-c", "m-a", "m-b"), tier_validators={"m-c": (ValidJSON(),)})
    router, _ = make(srv, [route])
    srv.set_faults("m-c", [ContentOverride("spam, probably")])
    srv.set_faults("m-a", [503])
    srv.set_faults("m-b", [ContentOverride('{"label": "ham"}')])
    out = router.complete("Is this spam?")
    assert out.text == '{"label": "ham"}'
    d = out.decision
    assert [(a.model, a.reason) for a in d.attempts] == [
        ("m-c", "invalid_output:json"),
        ("m-a", "unavailable"),
        ("m-b", None),
    ]
    assert d.attempts[0].outcome == AttemptOutcome.INVALID and d.attempts[0].cost_usd > 0
    assert served(srv) == ["m-c", "m-a", "m-b"]


@HTTP
def test_verifier_rejects_then_regenerates(provider_server: ProviderServer) -> None:
    srv = provider_server
    router, _ = make(srv, [Route("qa", ("m-a", "m-b"), verifier=Verifier("m-judge"))])
    srv.set_faults("m-a", [ContentOverride("Lyon.")])
    srv.set_faults("m-b", [ContentOverride("Paris.")])
    out = router.complete("Capital of France?")
    assert out.text == "Paris."
    d = out.decision
    assert [(a.model, a.reason) for a in d.attempts] == [
        ("m-a", "verifier_rejected"),
        ("m-b", None),
    ]
    assert d.attempts[0].verdicts[-1].detail == "wrong capital"
    assert served(srv) == ["m-a", "m-judge", "m-b", "m-judge"]
    judged = srv.requests("m-judge")[0].messages[-1]["content"]
    assert judged.endswith("Answer to check:\nLyon.")


@HTTP
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_shadow_copy_reaches_the_server_not_the_caller(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    shadow = Shadow("m-b", fraction=1.0)
    router, sink = make(srv, [Route("r", ("m-a", "m-c"), shadow=shadow)])
    srv.set_faults("m-a", [503])  # the caller's answer comes from the fallback
    request = Request.of("hi", user="u1")
    if mode == "sync":
        out = router.complete(request)
        assert router.drain_shadows(timeout_s=60)
    else:
        out = await router.acomplete(request)
        await router.adrain_shadows()
    assert out.text == "answer from m-c"
    assert sorted(served(srv)[:2]) == ["m-a", "m-c"] and served(srv)[2:] == ["m-b"]
    primary, copy = sink.decisions
    assert primary.request_id == out.decision.request_id and primary.shadow_of is None
    assert (copy.shadow_of, copy.strategy, copy.responding_model) == (
        primary.request_id,
        "shadow",
        "m-b",
    )
    assert copy.cost_usd > 0 and copy.request_id != primary.request_id
    assert primary.cost_usd == pytest.approx(sum(a.cost_usd for a in primary.attempts))
    assert "m-b" not in primary.models_attempted


@HTTP
def test_a_failing_shadow_is_recorded_only(provider_server: ProviderServer) -> None:
    srv = provider_server
    router, sink = make(srv, [Route("r", ("m-a",), shadow=Shadow("m-b", fraction=1.0))])
    srv.set_faults("m-b", [503])
    out = router.complete(Request.of("hi", user="u1"))
    assert router.drain_shadows(timeout_s=60)
    assert out.text == "answer from m-a"
    copy = next(d for d in sink.decisions if d.shadow_of is not None)
    assert copy.outcome == RequestOutcome.EXHAUSTED and copy.fallback_reasons == ("unavailable",)
    assert served(srv) == ["m-a", "m-b"]  # one call, no retry, no fallback for a shadow
