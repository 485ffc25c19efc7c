"""`ModelrouteStrategy` inside a real `litellm.Router`, over real HTTP to the local provider
server (no patched functions). The server's request log says which deployment was called."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from litellm_helpers import (
    LITELLM_NOISE,
    adecisions,
    deployment,
    restored_callbacks,
    router,
)
from modelroute.breaker import BreakerConfig
from modelroute.catalog import ModelInfo
from modelroute.errors import LimitExceeded
from modelroute.provider_server import ModelScript, ProviderServer, service_unavailable
from modelroute.records import Attempt, AttemptOutcome, RequestOutcome
from modelroute.sinks import MemorySink
from modelroute.strategies.latency import LatencyTracker
from modelroute.types import Request
from modelroute_litellm.install import Installed, install
from modelroute_litellm.strategy import ModelrouteStrategy, install_strategy

pytestmark = LITELLM_NOISE


@pytest.fixture
def clean_litellm() -> Iterator[None]:
    """LiteLLM's callback lists as they were, after the test."""
    with restored_callbacks():
        yield


TIERED = {"m-cheap": ModelScript(answer="positive"), "m-strong": ModelScript(answer="Because...")}
SHORT = "Classify the sentiment of this review as positive or negative: 'Great phone, love it.'"
LONG = (
    "Explain why, step by step, and compare the trade-offs of event sourcing against a "
    "relational schema for a ledger service; evaluate the implications for audits. "
) + "Consider consistency, replay cost, schema evolution and the operational burden. " * 80


@pytest.fixture(params=["async", "sync"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def ask(llm_router: Any, mode: str, **kwargs: Any) -> Any:
    """`acompletion`, or the sync `completion` in a worker thread."""
    if mode == "async":
        return await llm_router.acompletion(**kwargs)
    return await asyncio.to_thread(llm_router.completion, **kwargs)


@pytest.fixture
def hooks(
    provider_server: ProviderServer, clean_litellm: None
) -> Iterator[tuple[Any, Installed, MemorySink]]:
    """A Router with group `chat` = [m-cheap, m-strong] and modelroute installed on it."""
    url = provider_server.base_url
    llm_router = router([deployment("chat", "m-cheap", url), deployment("chat", "m-strong", url)])
    sink = MemorySink()
    installed = install(llm_router, sinks=[sink], thresholds=(0.3,))
    yield llm_router, installed, sink
    installed.uninstall()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- routing by classifier score -------------------------------------------------------------


@pytest.mark.parametrize("provider_server", [TIERED], indirect=True)
async def test_short_prompt_goes_cheap_long_reasoning_prompt_goes_strong(
    provider_server: ProviderServer, hooks: tuple[Any, Installed, MemorySink], mode: str
) -> None:
    llm_router, installed, sink = hooks
    assert installed.hook == "register_plugin"  # LiteLLM 1.110 has it (detected)

    cheap = await ask(llm_router, mode, model="chat", messages=user(SHORT))
    assert cheap.choices[0].message.content == "positive"
    (first,) = await adecisions(sink, 1)
    strong = await ask(llm_router, mode, model="chat", messages=user(LONG))
    assert strong.choices[0].message.content == "Because..."
    _, second = await adecisions(sink, 2)

    assert provider_server.calls("m-cheap") == 1
    assert provider_server.calls("m-strong") == 1
    assert [r.messages[-1]["content"] for r in provider_server.requests("m-cheap")] == [SHORT]
    for decision, tier in ((first, "openai/m-cheap"), (second, "openai/m-strong")):
        assert decision.strategy == "modelroute"
        assert decision.route == "chat"
        assert decision.candidates == ("openai/m-cheap", "openai/m-strong")
        assert decision.threshold == 0.3
        assert decision.tier == tier
        assert decision.responding_model == tier
        assert decision.outcome == RequestOutcome.SUCCESS
        assert [a.outcome for a in decision.attempts] == [AttemptOutcome.OK]
    assert first.score is not None and first.score < 0.3
    assert second.score is not None and second.score >= 0.3
    assert first.strategy_reason and "tier 0" in first.strategy_reason


# -- checks before the pick ------------------------------------------------------------------


@pytest.mark.parametrize("provider_server", [TIERED], indirect=True)
async def test_a_deployment_whose_context_window_is_too_small_is_skipped(
    provider_server: ProviderServer, clean_litellm: None, mode: str
) -> None:
    url = provider_server.base_url
    llm_router = router(
        [
            deployment("chat", "m-cheap", url, max_input_tokens=50),
            deployment("chat", "m-strong", url),
        ]
    )
    sink = MemorySink()
    installed = install(llm_router, sinks=[sink])
    prompt = "Summarize: " + "the quarterly numbers were flat. " * 40  # ~280 tokens, scores low
    await ask(llm_router, mode, model="chat", messages=user(prompt))
    (decision,) = await adecisions(sink, 1)
    installed.uninstall()

    assert decision.tier == "openai/m-cheap"  # the score asked for the cheap tier...
    skipped, served = decision.attempts
    assert (skipped.model, skipped.outcome, skipped.reason) == (
        "openai/m-cheap",
        AttemptOutcome.SKIPPED,
        "context_window",
    )
    assert skipped.error_message and "context window 50" in skipped.error_message
    assert (served.model, served.outcome) == ("openai/m-strong", AttemptOutcome.OK)
    assert decision.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert provider_server.calls("m-cheap") == 0  # ...but it fits only the strong one
    assert provider_server.calls("m-strong") == 1


@pytest.mark.parametrize(
    "provider_server", [{"m-a": ModelScript(), "m-b": ModelScript()}], indirect=True
)
async def test_no_deployment_fits_then_litellm_context_window_fallback_fires(
    provider_server: ProviderServer, clean_litellm: None, mode: str
) -> None:
    url = provider_server.base_url
    llm_router = router(
        [deployment("small", "m-a", url, max_input_tokens=100), deployment("big", "m-b", url)],
        context_window_fallbacks=[{"small": ["big"]}],
    )
    sink = MemorySink()
    installed = install(llm_router, sinks=[sink])
    response = await ask(llm_router, mode, model="small", messages=user("word " * 400))
    (decision,) = await adecisions(sink, 1)
    installed.uninstall()

    assert response.choices[0].message.content == "Hello from m-b."
    assert provider_server.calls("m-a") == 0  # refused before any request was sent
    assert provider_server.calls("m-b") == 1
    assert decision.route == "small"
    assert [(a.model, a.outcome, a.reason) for a in decision.attempts] == [
        ("openai/m-a", AttemptOutcome.SKIPPED, "context_window"),
        ("openai/m-b", AttemptOutcome.OK, None),
    ]


@pytest.mark.parametrize("provider_server", [TIERED], indirect=True)
async def test_a_deployment_without_tool_calling_is_skipped_for_a_tools_request(
    provider_server: ProviderServer, clean_litellm: None
) -> None:
    url = provider_server.base_url
    llm_router = router(
        [
            deployment("chat", "m-cheap", url, supports_function_calling=False),
            deployment("chat", "m-strong", url),
        ]
    )
    sink = MemorySink()
    installed = install(llm_router, sinks=[sink])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    await llm_router.acompletion(model="chat", messages=user("hi"), tools=tools)
    (decision,) = await adecisions(sink, 1)
    installed.uninstall()
    assert [(a.model, a.reason) for a in decision.attempts] == [
        ("openai/m-cheap", "capability"),
        ("openai/m-strong", None),
    ]
    assert provider_server.calls("m-cheap") == 0


# -- breakers fed by the callback ------------------------------------------------------------


@pytest.mark.parametrize(
    "provider_server",
    [{"m-cheap": ModelScript(fault=service_unavailable()), "m-strong": ModelScript()}],
    indirect=True,
)
async def test_an_open_breaker_moves_picks_to_the_next_tier(
    provider_server: ProviderServer, clean_litellm: None, mode: str
) -> None:
    url = provider_server.base_url
    llm_router = router([deployment("chat", "m-cheap", url), deployment("chat", "m-strong", url)])
    sink = MemorySink()
    installed = install(
        llm_router, sinks=[sink], breaker=BreakerConfig(failure_threshold=2, cooldown_s=60)
    )
    for _ in range(2):
        with pytest.raises(Exception, match="overloaded"):
            await ask(llm_router, mode, model="chat", messages=user(SHORT))
    await ask(llm_router, mode, model="chat", messages=user(SHORT))
    (served,) = await adecisions(sink, 1)
    # The failed requests had no fallback to signal their end: flush records them now.
    assert installed.callback.flush() == 2
    failed = sink.decisions[1:]
    installed.uninstall()

    assert provider_server.calls("m-cheap") == 2  # the breaker kept the third away
    assert provider_server.calls("m-strong") == 1
    assert [(t.model, t.from_state, t.to_state) for t in sink.transitions] == [
        ("openai/m-cheap", "closed", "open")
    ]
    assert [(a.model, a.reason) for a in served.attempts] == [
        ("openai/m-cheap", "circuit_open"),
        ("openai/m-strong", None),
    ]
    assert [d.outcome for d in failed] == [RequestOutcome.EXHAUSTED] * 2
    assert all(d.attempts[0].reason == "unavailable" for d in failed)


# -- budgets ---------------------------------------------------------------------------------


class RefuseModel:
    """A guard that refuses one model (like a budget whose model is too dear) and records
    what it settles."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.settled: list[tuple[object, Attempt | None]] = []

    def admit(self, request: Request, model: ModelInfo) -> object:
        if model.name == self.refused:
            raise LimitExceeded("over budget", reason="budget_exceeded", fallback=True)
        return f"ticket:{model.name}"

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        return self.admit(request, model)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settled.append((ticket, attempt))

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settle(ticket, attempt)


@pytest.mark.parametrize("provider_server", [TIERED], indirect=True)
async def test_a_guard_refusal_skips_the_deployment_and_the_callback_settles(
    provider_server: ProviderServer, clean_litellm: None, mode: str
) -> None:
    url = provider_server.base_url
    llm_router = router([deployment("chat", "m-cheap", url), deployment("chat", "m-strong", url)])
    sink = MemorySink()
    guard = RefuseModel("openai/m-cheap")
    installed = install(llm_router, sinks=[sink], guards=[guard])
    await ask(llm_router, mode, model="chat", messages=user(SHORT))
    (decision,) = await adecisions(sink, 1)
    installed.uninstall()

    assert [(a.model, a.reason) for a in decision.attempts] == [
        ("openai/m-cheap", "budget_exceeded"),
        ("openai/m-strong", None),
    ]
    ((ticket, attempt),) = guard.settled
    assert ticket == "ticket:openai/m-strong"
    assert attempt is not None and attempt.cost_usd == decision.cost_usd > 0
    assert provider_server.calls("m-cheap") == 0


# -- pure parts ------------------------------------------------------------------------------


def test_same_tier_deployments_are_ordered_by_latency_estimate() -> None:
    tracker = LatencyTracker()
    tracker.observe("openai/m-a", 2.0)
    tracker.observe("openai/m-b", 0.5)
    deployments = [
        deployment("g", model, "http://unused", modelroute_tier=0)
        for model in ("m-a", "m-b", "m-c")
    ]
    strategy = ModelrouteStrategy(object(), latency=tracker)
    order, pick = strategy.rank("g", deployments, Request.of("hi"))
    # m-c has no estimate yet (explored first), then the fastest
    assert [d["litellm_params"]["model"] for d in order] == [
        "openai/m-c",
        "openai/m-b",
        "openai/m-a",
    ]
    assert pick.score is None  # one tier: nothing to score


def test_thresholds_must_match_the_group_tiers() -> None:
    deployments = [deployment("g", m, "http://unused") for m in ("m-c", "m-a", "m-b")]
    strategy = ModelrouteStrategy(object(), thresholds=(0.3,))
    with pytest.raises(ValueError, match="3 tiers, which need 2 thresholds"):
        strategy.rank("g", deployments, Request.of("hi"))
    with pytest.raises(ValueError, match="ascending"):
        ModelrouteStrategy(object(), thresholds=(0.6, 0.3))


def test_install_detects_register_plugin_else_uses_the_old_hook() -> None:
    class New:
        def __init__(self) -> None:
            self.plugins: list[object] = []

        def register_plugin(self, plugin: object) -> None:
            self.plugins.append(plugin)

    class Old:
        def __init__(self) -> None:
            self.strategy: object = None

        def set_custom_routing_strategy(self, strategy: object) -> None:
            self.strategy = strategy

    new, old = New(), Old()
    strategy = ModelrouteStrategy(object())
    assert install_strategy(new, strategy) == "register_plugin"
    assert new.plugins == [strategy]
    assert install_strategy(old, strategy) == "set_custom_routing_strategy"
    assert old.strategy is strategy


def test_every_exported_name_resolves() -> None:
    import modelroute_litellm

    for name in modelroute_litellm.__all__:
        assert getattr(modelroute_litellm, name) is not None, name
    assert modelroute_litellm.install_strategy is install_strategy
