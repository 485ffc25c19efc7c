"""Throughput and added latency over real HTTP, against the local provider server.

The provider server runs in its own process on 127.0.0.1 (so it does not share the client's
GIL). At each concurrency level the same number of chat requests goes through
`litellm.acompletion` directly and through a modelroute `Router` (3-model chain, the LiteLLM
backend, LiteLLM's token counter as `Router.from_config` installs it), in alternating
batches. Reported: requests/s (median over batches) and latency p50/p99 of each, and what
modelroute adds (its percentile minus LiteLLM's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from bench.common import MODELS, catalog, percentile
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

LEVELS = (1, 50, 500)
API_KEY = "sk-bench-local"  # the local server accepts any key
ATTEMPT_S = 60.0


@contextlib.contextmanager
def provider_server() -> Iterator[str]:
    """Start `python -m modelroute.provider_server` on a free 127.0.0.1 port in a child
    process; yields its base URL and stops it (by its pid) afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelroute.provider_server", "--quiet", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"provider server did not start (printed {url!r})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


Call = Callable[[int], Awaitable[object]]


async def _batch(call: Call, n: int, concurrency: int) -> tuple[float, list[float], int]:
    """Send `n` requests with `concurrency` workers; (wall seconds, latencies s, errors)."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, errors
        while next_index < n:
            index = next_index
            next_index += 1
            start = time.perf_counter()
            try:
                await call(index)
            except Exception:  # counted and reported: a benchmark must finish
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return time.perf_counter() - start, latencies, errors


def _clients(base_url: str) -> dict[str, Call]:
    import litellm

    from modelroute_litellm import LiteLLMBackend, litellm_token_counter
    from modelroute_litellm.convert import completion_kwargs

    litellm.suppress_debug_info = True  # type: ignore[attr-defined]
    models = catalog(api_base=base_url)
    models.token_counter = litellm_token_counter
    router = Router(
        [Route("chain", MODELS)],
        backend=LiteLLMBackend(api_base=base_url, api_key=API_KEY),
        catalog=models,
    )
    primary = models.get(MODELS[0])

    def request(index: int) -> Request:
        return Request.of(f"Request {index}: say hello.", max_tokens=32)

    async def direct(index: int) -> object:
        kwargs = completion_kwargs(
            primary, request(index), timeout_s=ATTEMPT_S, api_base=base_url, api_key=API_KEY
        )
        return await litellm.acompletion(**kwargs)

    async def routed(index: int) -> object:
        return await router.acomplete(request(index))

    return {"litellm": direct, "modelroute": routed}


async def measure(base_url: str, requests_per_level: int, batches: int) -> dict[str, Any]:
    """Every level's figures (see the module docstring)."""
    clients = _clients(base_url)
    for call in clients.values():  # warm up connections, imports and caches
        await _batch(call, 20, 5)
    levels: dict[str, Any] = {}
    per_batch = max(1, requests_per_level // batches)
    for concurrency in LEVELS:
        walls: dict[str, list[float]] = {name: [] for name in clients}
        latencies: dict[str, list[float]] = {name: [] for name in clients}
        errors = dict.fromkeys(clients, 0)
        for i in range(batches):
            order = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in order:
                wall, lat, errs = await _batch(clients[name], per_batch, concurrency)
                walls[name].append(wall)
                latencies[name].extend(lat)
                errors[name] += errs
        levels[str(concurrency)] = _level(walls, latencies, errors, per_batch)
    return {"requests_per_level": per_batch * batches, "batches": batches, "levels": levels}


def _level(
    walls: Mapping[str, list[float]],
    latencies: Mapping[str, list[float]],
    errors: Mapping[str, int],
    per_batch: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in walls:
        rates = sorted(per_batch / w for w in walls[name])
        out[name] = {
            "requests_per_s": rates[len(rates) // 2],
            "p50_ms": percentile(latencies[name], 50) * 1e3,
            "p99_ms": percentile(latencies[name], 99) * 1e3,
            "errors": errors[name],
        }
    ours, theirs = out["modelroute"], out["litellm"]
    out["added_p50_ms"] = ours["p50_ms"] - theirs["p50_ms"]
    out["added_p99_ms"] = ours["p99_ms"] - theirs["p99_ms"]
    out["throughput_ratio"] = ours["requests_per_s"] / theirs["requests_per_s"]
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """The HTTP benchmark's results. `MODELROUTE_BENCH_HTTP_REQUESTS` overrides the number
    of requests per level and client (default 1,000, i.e. 2,000 per level; 100 when quick)."""
    default = 100 if quick else 1000
    n = int(os.environ.get("MODELROUTE_BENCH_HTTP_REQUESTS", default))
    with provider_server() as url:
        result = asyncio.run(measure(url, n, batches=4))
    result["server"] = "modelroute.provider_server in a child process, 127.0.0.1"
    return result


def summary(result: Mapping[str, Any]) -> list[str]:
    """Lines for the console summary."""
    lines = [f"http throughput ({result['requests_per_level']} requests per level and client)"]
    for level, row in result["levels"].items():
        ours, theirs = row["modelroute"], row["litellm"]
        lines.append(
            f"  c={level}: modelroute {ours['requests_per_s']:.0f} req/s, litellm "
            f"{theirs['requests_per_s']:.0f} req/s; added p50 {row['added_p50_ms']:+.2f} ms, "
            f"p99 {row['added_p99_ms']:+.2f} ms; errors {ours['errors']}/{theirs['errors']}"
        )
    return lines
