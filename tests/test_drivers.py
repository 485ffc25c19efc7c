"""The async driver's per-attempt time limit (`drivers.within`): the outcome of
`asyncio.timeout` around the call, with no timer armed for a call that answers without
suspending (so none piles up in a loop that does not turn between such calls)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import pytest

from modelroute.backend import FakeBackend
from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.drivers import within
from modelroute.errors import ProviderUnavailable
from modelroute.policies import Timeouts
from modelroute.provider_server import NoResponse, ProviderServer
from modelroute.records import AttemptOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute_litellm import LiteLLMBackend

NEVER_OPENS = BreakerConfig(failure_threshold=10_000)


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the timers scheduled on it."""

    timers = 0

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


def _run_counting(main: Callable[[], Any]) -> tuple[Any, int]:
    """Run `main()` on a `CountingLoop`; (its result, timers scheduled meanwhile)."""
    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, CountingLoop)
        result = runner.run(main())
        return result, loop.timers


async def _instant(value: str) -> str:
    return value


async def _after_turns(value: str, turns: int) -> str:
    for _ in range(turns):
        await asyncio.sleep(0)
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, value)
    return await future + "!"


def test_an_answer_without_suspending_arms_no_timer() -> None:
    async def main() -> list[str]:
        return [await within(_instant(f"v{i}"), 60.0) for i in range(200)]

    values, timers = _run_counting(main)
    assert values == [f"v{i}" for i in range(200)]
    assert timers == 0


def test_a_suspending_call_runs_under_one_timer_and_gets_every_value_sent() -> None:
    async def main() -> str:
        return await within(_after_turns("v", 3), 60.0)

    value, timers = _run_counting(main)
    assert (value, timers) == ("v!", 1)


async def test_no_limit_awaits_directly() -> None:
    assert await within(_after_turns("v", 2), None) == "v!"


@pytest.mark.parametrize("turns", [0, 2], ids=["before_suspending", "after_suspending"])
async def test_errors_pass_through(turns: int) -> None:
    async def failing() -> str:
        for _ in range(turns):
            await asyncio.sleep(0)
        raise ProviderUnavailable("503", model="m-a", status_code=503)

    with pytest.raises(ProviderUnavailable):
        await within(failing(), 60.0)


async def test_past_the_limit_the_call_is_cancelled_and_times_out() -> None:
    seen: list[str] = []

    async def parked() -> str:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    with pytest.raises(TimeoutError):
        await within(parked(), 0.01)
    assert seen == ["cancelled"]


async def test_the_callers_cancellation_reaches_the_call_and_stays_a_cancellation() -> None:
    started, seen = asyncio.Event(), []

    async def parked() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    task = asyncio.create_task(within(parked(), 60.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


def _catalog(api_base: str | None = None) -> Catalog:
    return Catalog(
        ModelInfo(
            name,
            provider="local",
            target=f"openai/{name}",
            api_base=api_base,
            input_cost_per_token=1e-6,
        )
        for name in ("m-a", "m-b")
    )


def test_routed_requests_to_an_in_process_backend_arm_no_timer() -> None:
    def answer(model: ModelInfo, request: Any) -> str:
        if model.name == "m-a":
            raise ProviderUnavailable("503", model="m-a", status_code=503)
        return "ok"

    router = Router(
        [Route("r", ("m-a", "m-b"))],
        backend=FakeBackend(answer),
        catalog=_catalog(),
        breaker=NEVER_OPENS,
    )

    async def main() -> list[str]:
        outs = [await router.acomplete("hi") for _ in range(50)]
        return [out.decision.responding_model or "" for out in outs]

    models, timers = _run_counting(main)
    assert models == ["m-b"] * 50
    assert timers == 0


async def test_an_attempt_over_http_past_its_limit_falls_back(
    provider_server: ProviderServer,
) -> None:
    """m-a stops answering (its request is held open): the attempt times out, m-b answers.
    A first request (its own route, no tight limit) warms the client, so that only m-a's
    call can come near the limit."""
    srv = provider_server
    router = Router(
        [Route("r", ("m-a", "m-b"), timeouts=Timeouts(attempt_s=5.0)), Route("warm", ("m-a",))],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=_catalog(srv.base_url),
        breaker=NEVER_OPENS,
    )
    assert (await router.acomplete("warm up", route="warm")).decision.responding_model == "m-a"
    srv.set_faults("m-a", [NoResponse()])
    out = await router.acomplete("hi")
    first, second = out.decision.attempts
    assert (first.outcome, first.reason) == (AttemptOutcome.ERROR, "timeout")
    assert (second.model, second.outcome) == ("m-b", AttemptOutcome.OK)
