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

from modelroute.records import Decision
from modelroute.sinks import MemorySink

KEY = "sk-local-test-litellm-7a41"  # a dummy key: the local server accepts any

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


def router(model_list: Sequence[dict[str, Any]], **settings: Any) -> Any:
    """A `litellm.Router` over `model_list` with LiteLLM's own retries off unless given."""
    import litellm

    settings.setdefault("num_retries", 0)
    return litellm.Router(model_list=list(model_list), **settings)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` every 10 ms until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


async def await_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """`wait_for` for coroutines: yields to the event loop between polls."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def decisions(sink: MemorySink, count: int, timeout: float = 5.0) -> list[Decision]:
    """The sink's decisions once there are `count` (fails if more arrive or too few).
    Blocks: in a coroutine use `adecisions`, or LiteLLM's logging tasks cannot run."""
    wait_for(lambda: len(sink.decisions) >= count, timeout)
    assert len(sink.decisions) == count, [d.route for d in sink.decisions]
    return list(sink.decisions)


async def adecisions(sink: MemorySink, count: int, timeout: float = 5.0) -> list[Decision]:
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
