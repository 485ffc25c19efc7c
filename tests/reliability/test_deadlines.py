"""No request outlives its deadline: not a provider that never answers, and not a stream
whose chunks each arrive within the stall limit but whose whole answer takes longer than
the request's deadline (it ends with `StreamInterrupted`, reason `timeout`, at the deadline).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import AllAttemptsFailed, StreamInterrupted
from modelroute.policies import Timeouts
from modelroute.provider_server import ModelScript, NoResponse, ProviderServer
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, StreamChunk

DEADLINE_S = 1.5
STALL_S = 1.0  # ten times the gap between chunks: a loaded machine's late chunk is no stall
GAP_S = 0.1
CHUNKS = 60  # the whole answer takes CHUNKS * GAP_S = 6 s, four times the deadline
SLACK_S = 2.5  # a loaded machine's event loop may notice a timer late; still < 6 s


class Dribble:
    """A stream of CHUNKS chunks, one every GAP_S: each within the stall limit, the whole
    answer (6 s) well past the deadline."""

    async def astream(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> AsyncIterator[StreamChunk]:
        for i in range(CHUNKS):
            await asyncio.sleep(GAP_S)
            yield StreamChunk(text=f"w{i} ")
        yield StreamChunk(finish_reason="stop")


def _router(backend: Any, *, api: bool = False) -> Router:
    models = ("m-a", "m-b")
    catalog = Catalog(ModelInfo(n, target=f"openai/{n}" if api else None) for n in models)
    timeouts = Timeouts(attempt_s=5.0, deadline_s=DEADLINE_S, stall_s=STALL_S, first_token_s=5.0)
    return Router([Route("r", models, timeouts=timeouts)], backend=backend, catalog=catalog)


async def _consume(router: Router) -> tuple[str, BaseException | None]:
    received = ""
    try:
        async for chunk in router.astream("hi"):
            received += chunk.text
    except (StreamInterrupted, AllAttemptsFailed) as exc:
        return received, exc
    return received, None


def test_a_dribbling_stream_is_cut_at_the_request_deadline() -> None:
    start = time.monotonic()
    received, error = asyncio.run(_consume(_router(Dribble())))
    took = time.monotonic() - start
    assert isinstance(error, StreamInterrupted), f"ran {took:.2f} s and returned {received!r}"
    assert took < DEADLINE_S + SLACK_S
    assert error.partial_text == received and received.startswith("w0 ")
    assert error.attempts[-1].reason == "timeout"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning")
@pytest.mark.parametrize(
    "provider_server",
    [
        {
            "m-a": ModelScript(
                answer=" ".join(f"w{i}" for i in range(CHUNKS)), chunks=CHUNKS, chunk_delay=GAP_S
            ),
            "m-b": ModelScript(),
        }
    ],
    indirect=True,
    ids=["dribbling"],
)
@pytest.mark.parametrize("stall", [False, True], ids=["dribbles", "never_answers"])
def test_over_http_no_request_outlives_its_deadline(
    provider_server: ProviderServer, stall: bool
) -> None:
    from litellm_helpers import warm_up_litellm
    from modelroute_litellm import LiteLLMBackend

    backend = LiteLLMBackend(api_base=provider_server.base_url, api_key="sk-deadline")
    router = _router(backend, api=True)
    warm_up_litellm()  # LiteLLM's first calls import for seconds: not inside the deadline
    asyncio.run(backend.acall(router.catalog.get("m-b"), Request.of("warm up"), timeout_s=60))
    if stall:
        provider_server.set_default_fault("m-a", NoResponse())
    start = time.monotonic()
    received, error = asyncio.run(_consume(router))
    took = time.monotonic() - start
    assert took < DEADLINE_S + SLACK_S, f"took {took:.2f} s, returned {received!r}"
    assert error is not None, f"a whole answer {received!r} past the deadline"
    assert provider_server.wait_idle(timeout=10)
    assert all(r.finished_at is not None for r in provider_server.requests())
