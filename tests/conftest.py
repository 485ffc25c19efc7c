"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

# Offline traps (../shared/design/FACTS.md): LiteLLM's bundled price map, no model-hub lookups.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Property tests must not fail on a loaded machine: hypothesis' default 200 ms deadline per
# example and its too-slow health check both measure wall-clock time. Tests that want a hang
# guard set their own (generous) deadline. In CI (`.ci/run` sets CI) the examples are also
# derandomized: the same examples on every run, so a red CI is never a lucky draw; local runs
# keep drawing new ones.
settings.register_profile(
    "modelroute",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("modelroute")

if TYPE_CHECKING:
    from modelroute.provider_server import ProviderServer


@pytest.fixture
def provider_server(request: pytest.FixtureRequest) -> Iterator[ProviderServer]:
    """A fresh local provider server on a free 127.0.0.1 port, in a thread; stopped after the test.

    Healthy models m-a, m-b and m-c by default. For other scripts, parametrize indirectly:
    `@pytest.mark.parametrize("provider_server", [{"m-x": ModelScript()}], indirect=True)`.
    Point clients at `provider_server.base_url`; count calls with `provider_server.calls(model)`.
    In async tests wait with `await provider_server.wait_idle_async()`, not the blocking
    `wait_idle()`, or the test's own loop cannot close its connections meanwhile.
    """
    from modelroute.provider_server import ProviderServer, default_scripts

    scripts = getattr(request, "param", None) or default_scripts()
    with ProviderServer(scripts).running() as server:
        yield server


@pytest.fixture
def litellm_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The models LiteLLM's real `token_counter` was called for, in order (LiteLLM is
    imported by the fixture, not by this module)."""
    from modelroute_litellm.tokens import load_litellm

    litellm = load_litellm()
    real = litellm.token_counter
    calls: list[str] = []

    def counting(**kwargs: Any) -> int:
        calls.append(kwargs["model"])
        return int(real(**kwargs))

    monkeypatch.setattr(litellm, "token_counter", counting)
    yield calls


@pytest.fixture(autouse=True)
def _no_litellm_logging_from_earlier_tests() -> None:
    """Drop LiteLLM logging tasks left queued on an earlier test's event loop (now stopped).

    LiteLLM queues its success/failure logging coroutines on one process-wide worker. An
    async test can end (and pytest-asyncio close its loop) before the worker ran them; the
    next loop that calls LiteLLM then carries them over with a warning and runs them against
    *that* test's `litellm.callbacks`, so a later test would see an earlier test's calls.
    """
    module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(module, "GLOBAL_LOGGING_WORKER", None)
    queue = getattr(worker, "_queue", None)
    loop = getattr(worker, "_bound_loop", None)
    if queue is None or loop is None or loop.is_running():
        return  # nothing queued, or a loop still serving it
    while not queue.empty():
        queue.get_nowait()["coroutine"].close()
        queue.task_done()
    dequeued = getattr(worker, "_dequeued_tasks", {})
    for task in dequeued.values():
        task["coroutine"].close()  # a no-op for one that already ran
    dequeued.clear()
