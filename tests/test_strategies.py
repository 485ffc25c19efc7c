"""Online strategies: rules, cheapest, fastest, sticky splits, score thresholds, cascades."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import catalog, run, scripted
from modelroute.clock import FakeClock
from modelroute.errors import ConfigError, InputTooLong, UnknownModelError
from modelroute.offline.artifact import save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_classifier
from modelroute.records import Attempt, AttemptOutcome
from modelroute.route import Route
from modelroute.router import RoutedResponse, Router
from modelroute.rules import RouteRule
from modelroute.shadow import Shadow
from modelroute.sinks import MemorySink
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.cost import Cheapest
from modelroute.strategies.latency import Fastest, LatencyTracker
from modelroute.strategies.split import WeightedSplit, bucket
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.strategies.trained import TrainedRouter
from modelroute.types import Request, Response, Usage
from modelroute.validators import MinConfidence
from offline_data import synthetic, write

ALL = {"m-a": ["a"], "m-b": ["b"], "m-c": ["c"], "m-strong": ["strong"]}


def make(routes: list[Route], **kw: object) -> Router:
    return Router(routes, backend=scripted(dict(ALL)), catalog=catalog(), clock=FakeClock(), **kw)  # type: ignore[arg-type]


def test_rules_pick_routes_by_task_tags_and_features() -> None:
    router = make(
        [
            Route("default", ("m-a",)),
            Route("legal", ("m-strong",), require_human_review=True),
            Route("tools", ("m-b",)),
            Route("long", ("m-c",)),
        ],
        rules=[
            RouteRule("legal", tags_any=("contract", "legal")),
            RouteRule("tools", has_tools=True),
            RouteRule("long", min_input_tokens=500),
        ],
    )
    assert router.complete(Request.of("hi")).decision.route == "default"
    legal = router.complete(Request.of("review", tags=["contract"])).decision
    assert (legal.route, legal.requires_human_review) == ("legal", True)
    tool = Request.of("x", tools=[{"type": "function", "function": {"name": "f"}}])
    assert router.complete(tool).decision.route == "tools"
    assert router.complete(Request.of("word " * 1000)).decision.route == "long"


def test_rule_to_unknown_route_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.route: unknown route 'nope'"):
        make([Route("default", ("m-a",))], rules=[RouteRule("nope", task="x")])


def test_max_input_tokens_moves_to_overflow_route_or_raises() -> None:
    routes = [
        Route("summarize", ("m-a",), max_input_tokens=100, overflow_route="big"),
        Route("big", ("m-b",)),
        Route("strict", ("m-a",), max_input_tokens=100),
    ]
    router = make(routes)
    long_text = "x" * 2000
    d = router.complete(long_text, route="summarize").decision
    assert (d.route, d.routed_from, d.responding_model) == ("big", "summarize", "m-b")
    assert router.complete("short", route="summarize").decision.route == "summarize"
    with pytest.raises(InputTooLong) as info:
        router.complete(long_text, route="strict")
    assert info.value.limit == 100 and info.value.input_tokens > 100
    assert router.backend.calls.count("m-a") == 1  # type: ignore[attr-defined]


def test_cheapest_orders_by_estimated_cost() -> None:
    router = make([Route("r", ("m-strong", "m-b", "m-a", "m-c"), ranker=Cheapest())])
    d = router.complete("hello").decision
    assert d.candidates == ("m-c", "m-a", "m-b", "m-strong")
    assert (d.strategy, d.responding_model) == ("cheapest", "m-c")


def test_fastest_learns_from_attempts() -> None:
    tracker = LatencyTracker(alpha=0.5)
    router = make([Route("r", ("m-a", "m-b"), ranker=Fastest(tracker))], observers=[tracker])
    for model, seconds in [("m-a", 2.0), ("m-b", 0.5), ("m-a", 4.0)]:
        tracker.attempt_finished("x", Attempt(0, model, None, AttemptOutcome.OK, latency_s=seconds))
    assert tracker.estimate("m-a") == pytest.approx(3.0)
    assert router.complete("hi").decision.candidates == ("m-b", "m-a")
    assert tracker.estimate("m-b") == pytest.approx(0.25)  # learned from that call (0 s)
    tracker.attempt_finished(
        "x", Attempt(0, "m-b", None, AttemptOutcome.ERROR, reason="timeout", latency_s=1)
    )
    assert tracker.estimate("m-b") == pytest.approx(0.25 + 0.5 * (30.0 - 0.25))


def test_split_is_sticky_per_user_and_close_to_its_weights() -> None:
    split = WeightedSplit({"m-a": 0.9, "m-b": 0.1}, key="user", salt="exp1")
    router = make([Route("r", ("m-a", "m-b", "m-c"), ranker=split)])
    arms = [router.complete(Request.of("q", user=f"u{i}")).decision.tier for i in range(2000)]
    share_b = arms.count("m-b") / len(arms)
    assert 0.08 < share_b < 0.12
    again = [router.complete(Request.of("q", user=f"u{i}")).decision.tier for i in range(50)]
    assert again == arms[:50]
    assert bucket("u1", "exp1") == bucket("u1", "exp1") != bucket("u1", "exp2")
    d = router.complete(Request.of("q", user="u3")).decision
    assert d.candidates[1:] == tuple(m for m in ("m-a", "m-b", "m-c") if m != d.tier)


def test_score_threshold_starts_at_the_scored_tier() -> None:
    scores = {"easy": 0.1, "mid": 0.5, "hard": 0.9}
    ranker = ScoreThreshold(lambda r: scores[r.last_user_text], thresholds=(0.3, 0.7))
    router = make([Route("r", ("m-c", "m-a", "m-strong"), ranker=ranker)])
    for prompt, tier in [("easy", "m-c"), ("mid", "m-a"), ("hard", "m-strong")]:
        d = router.complete(prompt).decision
        assert (d.tier, d.responding_model, d.score) == (tier, tier, scores[prompt])
    assert router.complete("mid").decision.threshold == 0.3
    with pytest.raises(ValueError, match="ascending"):
        ScoreThreshold(lambda r: 0.0, thresholds=(0.7, 0.3))


def test_heuristic_complexity_orders_prompts_sensibly() -> None:
    score = HeuristicComplexity()
    easy = score(Request.of("What is the capital of France?"))
    hard = score(
        Request.of(
            "Explain why this design has trade-offs, step by step, and derive the complexity:\n"
            "```python\ndef f(x):\n    return x * 2\n```\n- part one?\n- part two?"
        )
    )
    assert 0.0 <= easy < 0.2 < 0.5 < hard <= 1.0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cascade_escalates_on_low_confidence_and_records_why(mode: str) -> None:
    def answer(text: str, mean_logprob: float) -> Response:
        return Response(text=text, usage=Usage(10, 5), logprobs=(mean_logprob,) * 3)

    script = {"m-c": [answer("unsure", -2.0)], "m-a": [answer("sure", -0.1)]}
    route = Route(
        "cascade",
        ("m-c", "m-a"),
        tier_validators={"m-c": (MinConfidence(-0.5),), "m-a": (MinConfidence(-0.5),)},
    )
    router = Router([route], backend=scripted(script), catalog=catalog(), clock=FakeClock())
    out = run(router, mode, "q")
    assert out.text == "sure"
    assert out.decision.fallback_reasons == ("invalid_output:low_confidence",)
    # a cascade pays for every model it asked
    assert out.decision.cost_usd == pytest.approx(sum(a.cost_usd for a in out.decision.attempts))
    assert out.decision.attempts[0].cost_usd > 0


# -- shadow traffic -------------------------------------------------------------------------


def shadowed(fraction: float, **kw: object) -> tuple[Router, MemorySink]:
    sink = MemorySink()
    route = Route("r", ("m-a",), shadow=Shadow("m-b", fraction=fraction, **kw))  # type: ignore[arg-type]
    return make([route], sinks=[sink]), sink


def test_shadow_picks_a_sticky_fraction_of_users() -> None:
    router, sink = shadowed(0.3)
    users = [f"u{i}" for i in range(400)]
    for i, user in enumerate(users * 2):
        out = router.complete(Request.of("q", user=user))
        assert out.text == "a"  # the caller always gets the primary's answer
        if i % 50 == 49:  # copies run on 2 threads: let them catch up (at most 64 wait)
            assert router.drain_shadows(timeout_s=30)
    assert router.drain_shadows(timeout_s=30)
    assert router.shadows.dropped == 0
    copies = [d for d in sink.decisions if d.shadow_of is not None]
    primaries = {d.request_id: d.user for d in sink.decisions if d.shadow_of is None}
    shadowed_users = [primaries[d.shadow_of] for d in copies if d.shadow_of]
    once = set(shadowed_users)
    assert 0.25 < len(once) / len(users) < 0.35
    assert all(shadowed_users.count(u) == 2 for u in once)  # the same users both rounds
    assert once == {u for u in users if bucket(u, "modelroute-shadow") < 0.3}
    assert all(d.strategy == "shadow" and d.responding_model == "m-b" for d in copies)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_shadow_cost_is_its_own_and_streams_are_not_shadowed(mode: str) -> None:
    router, sink = shadowed(1.0)
    if mode == "sync":
        out = router.complete("q")
        assert router.drain_shadows()
    else:

        async def call() -> RoutedResponse:
            out = await router.acomplete("q")
            await router.adrain_shadows()
            return out

        out = asyncio.run(call())
    primary, copy = sink.decisions
    assert out.decision.cost_usd == primary.cost_usd == primary.attempts[0].cost_usd
    assert copy.cost_usd == copy.attempts[0].cost_usd > primary.cost_usd  # m-b costs more
    assert (
        copy.shadow_of == primary.request_id and copy.to_dict()["shadow_of"] == primary.request_id
    )
    assert "".join(c.text for c in router.stream("q")) == "a"
    assert router.drain_shadows() and len(sink.decisions) == 3  # the stream: no copy


def test_shadow_config_errors_and_yaml() -> None:
    with pytest.raises(UnknownModelError) as info:
        make([Route("r", ("m-a",), shadow=Shadow("zzz"))])
    assert info.value.path == "routes.r.shadow.model"
    with pytest.raises(ValueError, match="fraction"):
        Shadow("m-b", fraction=1.5)
    data: dict[str, Any] = {
        "models": {"a": {}, "b": {}},
        "routes": {"r": {"models": ["a"], "shadow": {"model": "b", "fraction": 1, "key": "team"}}},
    }
    router = Router.from_config(data, backend=scripted({"a": ["a"], "b": ["b"]}))
    assert router.routes["r"].shadow == Shadow("b", 1.0, "team")
    data["routes"]["r"]["shadow"]["model"] = "zzz"
    with pytest.raises(ConfigError) as err:
        Router.from_config(data, backend=scripted({}))
    assert err.value.path == "routes.r.shadow.model"


def test_shadow_copies_beyond_max_pending_are_dropped() -> None:
    router, sink = shadowed(1.0)
    router.shadows.max_pending = 0
    assert router.complete("q").text == "a"
    assert router.drain_shadows() and len(sink.decisions) == 1
    assert router.shadows.dropped == 1


# -- the trained strategy from YAML -----------------------------------------------------------


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    table = load_outcomes(write(folder / "d.csv", synthetic(60)))
    path = folder / "clf.bin"
    save_router(train_classifier(table, baseline="m-big", target=Target(quality=0.9)), path)
    return path


def trained_config(path: str, models: tuple[str, ...] = ("m-big", "m-small")) -> dict[str, Any]:
    strategy = {"type": "trained", "path": path, "lam": 1000}
    route = {"models": list(models), "strategy": strategy}
    return {"models": {m: {} for m in models}, "routes": {"qa": route}}


def test_trained_strategy_loads_relative_to_the_config_file(
    router_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "routers").mkdir()
    (tmp_path / "routers" / "clf.bin").write_bytes(router_file.read_bytes())
    config = tmp_path / "modelroute.yaml"
    config.write_text(yaml.safe_dump(trained_config("routers/clf.bin")), encoding="utf-8")
    backend = scripted({"m-big": ["big"], "m-small": ["small"]})
    router = Router.from_config(config, backend=backend, clock=FakeClock())
    d = router.complete(Request.of("Question 1?\nA) x\nB) y\nAnswer:", task="quiz")).decision
    assert (d.strategy, d.tier, d.candidates) == ("trained", "m-small", ("m-small", "m-big"))
    assert d.threshold == 1000


def test_trained_strategy_errors_name_the_path(router_file: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(router_file.read_bytes()[:200])
    cases = [
        (trained_config(str(tmp_path / "missing.bin")), "No such file"),
        (trained_config(str(corrupt)), "cannot load router file"),
        (trained_config(str(tmp_path / "modelroute.yaml")), "cannot load router file"),
        (trained_config(str(router_file), ("m-a", "m-b")), "none of the route's models"),
    ]
    (tmp_path / "modelroute.yaml").write_text("routes: {}", encoding="utf-8")
    for data, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            Router.from_config(data, backend=scripted({}))
        assert info.value.path == "routes.qa.strategy.path"
    no_path = trained_config("x")
    del no_path["routes"]["qa"]["strategy"]["path"]
    with pytest.raises(ConfigError, match="needs `path`") as info:
        Router.from_config(no_path, backend=scripted({}))
    assert info.value.path.startswith("routes.qa.strategy")


def test_trained_strategy_without_the_ml_extra(
    router_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelroute import config_trained

    def missing(*args: object) -> None:
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(TrainedRouter, "load", missing)
    config_trained._load.cache_clear()  # an earlier test may have loaded this file
    with pytest.raises(ConfigError, match=r"modelroute\[ml\]") as info:
        Router.from_config(trained_config(str(router_file)), backend=scripted({}))
    assert info.value.path == "routes.qa.strategy.path"


def test_a_trained_router_file_is_loaded_once_per_config(router_file: Path) -> None:
    from modelroute import config_trained

    config_trained._load.cache_clear()
    Router.from_config(trained_config(str(router_file)), backend=scripted({}))
    info = config_trained._load.cache_info()
    assert (info.misses, info.hits) == (1, 1)  # the check loads it, the build reuses it
