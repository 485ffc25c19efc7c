"""One worker process of the multi-process budget test (tests/test_limits_multiprocess.py).

Sends N concurrent requests for team t1 through a Router whose LimitsGuard keeps the
budget in Redis, to the local provider server over real HTTP, and prints one JSON line:
accepted, refused, other errors, and the summed cost in nano-USD.

    python tests/limits_worker.py '{"redis": URL, "prefix": P, "base_url": U, ...}'
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import BudgetExceeded, ProviderUnavailable
from modelroute.limits import Budget, LimitsGuard
from modelroute.limits.budget import to_nano
from modelroute.limits.estimate import estimate_call
from modelroute.limits.redis_store import RedisStore
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, Usage


class HttpBackend:
    """A minimal OpenAI-compatible backend over httpx (non-streaming only)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        body = {
            "model": model.call_name,
            "messages": [m.to_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
        }
        reply = await self.client.post("/chat/completions", json=body)
        if reply.status_code != 200:
            raise ProviderUnavailable(f"HTTP {reply.status_code}", status_code=reply.status_code)
        data = reply.json()
        usage = data["usage"]
        return Response(
            data["choices"][0]["message"]["content"],
            model=data["model"],
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
        )


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    model = ModelInfo("m-a", "local", input_cost_per_token=1e-6, output_cost_per_token=4e-6)
    catalog = Catalog([model])
    # Four processes x 50 calls share two loaded cores with Redis and the provider server: the
    # store's defaults (0.5 s per reply, 1 s for a free pooled connection) would turn a slow
    # moment into a store failure, which the test counts as an error. Waiting longer changes
    # no admission decision.
    store = RedisStore(cfg["redis"], prefix=cfg["prefix"], timeout_s=30.0, pool_timeout_s=60.0)
    guard = LimitsGuard(catalog, budgets=[Budget("team", cfg["budget_usd"])], store=store)
    limits = httpx.Limits(max_connections=cfg["n"])
    async with httpx.AsyncClient(base_url=cfg["base_url"], limits=limits, timeout=60) as client:
        backend: Any = HttpBackend(client)  # acall only: these requests never stream
        router = Router([Route("r", ("m-a",))], backend=backend, catalog=catalog, guards=[guard])
        req = Request.of(cfg["prompt"], team="t1", max_tokens=cfg["max_tokens"])
        out = await asyncio.gather(
            *(router.acomplete(req) for _ in range(cfg["n"])), return_exceptions=True
        )
    accepted = [o for o in out if not isinstance(o, BaseException)]
    refused = [o for o in out if isinstance(o, BudgetExceeded)]
    errors = [repr(o) for o in out if isinstance(o, BaseException) and o not in refused]
    return {
        "accepted": len(accepted),
        "refused": len(refused),
        "errors": errors,
        "cost_nano": sum(to_nano(o.decision.cost_usd) for o in accepted),
        "estimate_usd": estimate_call(catalog, req, model, 4096).cost_usd,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
