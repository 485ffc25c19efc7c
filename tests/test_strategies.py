"""Online strategies: rules, cheapest, fastest, sticky splits, score thresholds, cascades."""

from __future__ import annotations

import pytest

from helpers import catalog, run, scripted
from modelroute.clock import FakeClock
from modelroute.errors import ConfigError, InputTooLong
from modelroute.records import Attempt, AttemptOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.rules import RouteRule
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.cost import Cheapest
from modelroute.strategies.latency import Fastest, LatencyTracker
from modelroute.strategies.split import WeightedSplit, bucket
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.types import Request, Response, Usage
from modelroute.validators import MinConfidence

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
