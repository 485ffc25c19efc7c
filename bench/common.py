"""Shared pieces of the benchmarks: interleaved timing, statistics, the machine, test doubles.

Times are seconds unless a name says otherwise (`_us` = microseconds, `_ms` = milliseconds).
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Offline traps (../shared/design/FACTS.md): set before anything imports LiteLLM.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import ProviderUnavailable
from modelroute.types import Request, Response, StreamChunk, Usage

MODELS = ("m-a", "m-b", "m-c")
"""The 3-model chain every benchmark routes over (primary first)."""

PACKAGES = (
    "modelroute",
    "litellm",
    "langchain-core",
    "opentelemetry-sdk",
    "aiohttp",
    "httpx",
    "openai",
    "pydantic",
)


def catalog(names: Sequence[str] = MODELS, **fields: Any) -> Catalog:
    """A catalog of `names` with small prices (USD/token), served by the local server as
    `openai/<name>` when `fields` give an `api_base`."""
    models = [
        ModelInfo(
            name=name,
            provider="local",
            target=f"openai/{name}",
            input_cost_per_token=1e-6,
            output_cost_per_token=2e-6,
            max_input_tokens=128_000,
            **fields,
        )
        for name in names
    ]
    return Catalog(models)


class InstantBackend:
    """An in-process backend that answers at once: no model time, so what is left is overhead.

    Models in `failing` raise `ProviderUnavailable` (a 503) instead; `text` is every answer.
    """

    def __init__(self, text: str = "ok", failing: frozenset[str] = frozenset()) -> None:
        self.failing = failing
        self._response = Response(
            text=text, model=None, finish_reason="stop", usage=Usage(12, 3), id="r-1"
        )

    def _answer(self, model: ModelInfo) -> Response:
        if model.name in self.failing:
            raise ProviderUnavailable("503 overloaded", model=model.name, status_code=503)
        return self._response

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """The fixed answer."""
        return self._answer(model)

    def call(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Response:
        """The fixed answer."""
        return self._answer(model)

    async def astream(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Any:
        """The fixed answer as one chunk."""
        response = self._answer(model)
        yield StreamChunk(
            text=response.text, finish_reason="stop", usage=response.usage, model=model.name
        )

    def stream(self, model: ModelInfo, request: Request, *, timeout_s: float | None) -> Any:
        """The fixed answer as one chunk."""
        response = self._answer(model)
        yield StreamChunk(
            text=response.text, finish_reason="stop", usage=response.usage, model=model.name
        )


# -- timing -------------------------------------------------------------------------------

AsyncCall = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Scenario:
    """One timed workload: `call` is awaited `batch` times per round."""

    name: str
    call: AsyncCall
    batch: int
    before_batch: Callable[[], None] | None = None


async def interleaved(
    scenarios: Sequence[Scenario], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Per-call time (µs) of each scenario in each round, scenarios run one after another in
    every round (side by side), so load on the machine hits all of them alike.

    A round times one batch per scenario (mean per call over the batch); `warmup` rounds
    are run first and dropped.
    """
    samples: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for i in range(warmup + rounds):
        for scenario in scenarios:
            if scenario.before_batch is not None:
                scenario.before_batch()
            gc.collect()
            call, n = scenario.call, scenario.batch
            start = time.perf_counter()
            for _ in range(n):
                await call()
            per_call_us = (time.perf_counter() - start) / n * 1e6
            if i >= warmup:
                samples[scenario.name].append(per_call_us)
    return samples


def stats(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, min and max of `values`, plus how many there were."""
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else [ordered[0]] * 3
    return {
        "median": statistics.median(ordered),
        "p25": q[0],
        "p75": q[2],
        "min": ordered[0],
        "max": ordered[-1],
        "n": float(len(ordered)),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (0-100) of `values`, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def paired(
    samples: Mapping[str, Sequence[float]], combine: Callable[[Mapping[str, float]], float]
) -> list[float]:
    """`combine` applied to each round's values (a dict scenario -> µs): derived figures such
    as "router minus bare call" computed within one round, then summarized."""
    rounds = min(len(v) for v in samples.values())
    return [combine({k: v[i] for k, v in samples.items()}) for i in range(rounds)]


# -- the machine --------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Cores, memory, OS, Python and package versions, and the load when measured."""
    mem_kib = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average": list(os.getloadavg()),
        "packages": {p: _version(p) for p in PACKAGES},
    }


def rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc/self/status."""
    current = peak = 0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak
