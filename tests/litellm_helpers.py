"""Shared pieces of the LiteLLM integration tests: deployments on the local provider server,
a clean `litellm.callbacks` per test, and waiting for LiteLLM's background logging.

LiteLLM runs sync success callbacks in a worker thread after `Router.completion` returns, so
a test waits (polling, bounded) for the decision instead of sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from modelroute.catalog import ModelInfo
from modelroute.records import Decision
from modelroute.sinks import MemorySink

KEY = "sk-local-test-litellm-7a41"  # a dummy key: the local server accepts any
# How long to wait for LiteLLM's background logging: a bound for a hang, not a speed claim
# (a loaded machine can take seconds; the waits return as soon as the condition holds).
WAIT_S = 60.0

# USD per 1M tokens (the field cases' price table, ../shared/cases/field-cases.md)
PRICES = {
    "m-a": (1.00, 4.00),
    "m-b": (2.00, 8.00),
    "m-c": (0.50, 1.50),
    "m-cheap": (0.50, 1.50),
    "m-strong": (5.00, 20.00),
}

LITELLM_NOISE = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]


def deployment(
    group: str, model: str, base_url: str, *, prices: tuple[float, float] | None = None, **info: Any
) -> dict[str, Any]:
    """A Router deployment of provider-server model `model` (called as `openai/<model>`) in
    `group`, priced per `PRICES` (USD per 1M tokens) unless `prices` is given; `info` goes to
    `model_info` (e.g. `max_input_tokens`, `modelroute_tier`)."""
    price_in, price_out = prices or PRICES.get(model, (1.0, 4.0))
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"openai/{model}",
            "api_base": base_url,
            "api_key": KEY,
            "input_cost_per_token": price_in * 1e-6,
            "output_cost_per_token": price_out * 1e-6,
        },
        "model_info": {"id": f"{group}:{model}", **info},
    }


def local_model(name: str, base_url: str, **info: Any) -> ModelInfo:
    """Provider-server model `name` (called as `openai/<name>` at `base_url`) at USD 1 / 2 per
    1M input / output tokens unless `info` says otherwise (any other `ModelInfo` field)."""
    info.setdefault("input_cost_per_token", 1e-6)
    info.setdefault("output_cost_per_token", 2e-6)
    return ModelInfo(name, provider="local", target=f"openai/{name}", api_base=base_url, **info)


def router(model_list: Sequence[dict[str, Any]], **settings: Any) -> Any:
    """A `litellm.Router` over `model_list` with LiteLLM's own retries off unless given."""
    import litellm

    settings.setdefault("num_retries", 0)
    return litellm.Router(model_list=list(model_list), **settings)


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll `predicate` every 10 ms until it holds or `timeout` seconds pass (default `WAIT_S`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


async def await_for(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """`wait_for` for coroutines: yields to the event loop between polls."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def decisions(sink: MemorySink, count: int, timeout: float = WAIT_S) -> list[Decision]:
    """The sink's decisions once there are `count` (fails if more arrive or too few).
    Blocks: in a coroutine use `adecisions`, or LiteLLM's logging tasks cannot run."""
    wait_for(lambda: len(sink.decisions) >= count, timeout)
    assert len(sink.decisions) == count, [d.route for d in sink.decisions]
    return list(sink.decisions)


async def adecisions(sink: MemorySink, count: int, timeout: float = WAIT_S) -> list[Decision]:
    """`decisions` for coroutines."""
    await await_for(lambda: len(sink.decisions) >= count, timeout)
    assert len(sink.decisions) == count, [d.route for d in sink.decisions]
    return list(sink.decisions)


@contextlib.contextmanager
def restored_callbacks() -> Iterator[None]:
    """Restore LiteLLM's callback lists on exit: `litellm.callbacks` and every list LiteLLM
    copies a callback into on first use (`success_callback`, `_async_success_callback`...)."""
    import litellm

    saved = {
        name: list(value)
        for name in dir(litellm)
        if "callback" in name.lower() and isinstance(value := getattr(litellm, name), list)
    }
    litellm.suppress_debug_info = True
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(litellm, name, value)


def warm_up_litellm() -> None:
    """Import LiteLLM and make one call of each kind (sync/async, whole/streamed) through
    `LiteLLMBackend` against a throw-away provider server.

    The first LiteLLM call in a process imports LiteLLM and then more of it lazily (seconds
    on a loaded machine). A router's attempt, first-token and stall limits count that time,
    so a test with limits of a few seconds would time out only when it happens to be the
    first LiteLLM test to run. Call this (e.g. from a module-scoped fixture) before them.
    """
    import asyncio

    from modelroute.catalog import ModelInfo
    from modelroute.provider_server import ProviderServer, default_scripts
    from modelroute.types import Request
    from modelroute_litellm import LiteLLMBackend

    with ProviderServer(default_scripts()).running() as server:
        backend = LiteLLMBackend(api_base=server.base_url, api_key=KEY)
        model = ModelInfo("m-a", provider="local", target="openai/m-a")
        request = Request.of("warm up")
        backend.call(model, request, timeout_s=120.0)
        list(backend.stream(model, request, timeout_s=120.0))

        async def both() -> None:
            await backend.acall(model, request, timeout_s=120.0)
            async for _ in backend.astream(model, request, timeout_s=120.0):
                pass

        asyncio.run(both())
