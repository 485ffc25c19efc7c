"""Memory: peak RSS with many requests in flight, and flat RSS over a long run with sinks.

Each measurement runs in a fresh child process (`python -m bench.memory <case> <n>`), so
one case's garbage cannot inflate another's numbers. RSS comes from /proc/self/status
(VmRSS now, VmHWM peak), in KiB.

- `inflight`: `n` concurrent `acomplete` calls whose backend awaits one event, so all are
  in flight at once; the same number of bare tasks awaiting the event is measured too, so
  what modelroute adds per request in flight is visible apart from asyncio's own tasks.
- `flat`: `n` requests one after another through the decision log (`JsonlSink` to a temp
  file), a `LoggingSink` writing to a temp file and the OTel observer (exporter that drops
  spans) when it is installed; every 10th request falls back. RSS is sampled every n/10
  requests: memory is flat when the late samples do not grow.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import MODELS, InstantBackend, catalog, rss_kib
from modelroute.catalog import ModelInfo
from modelroute.errors import ProviderUnavailable
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request, Response, Usage

INFLIGHT = 10_000
FLAT = 100_000


class HeldBackend:
    """Answers only once `release` is set; counts the calls waiting on it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0
        self._response = Response(text="ok", finish_reason="stop", usage=Usage(12, 3))

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        """Wait for the release, then answer."""
        self.waiting += 1
        await self.release.wait()
        return self._response


async def _all_waiting(count: Any, n: int) -> None:
    while count() < n:
        await asyncio.sleep(0.01)


async def inflight(n: int, *, routed: bool = True) -> dict[str, Any]:
    """RSS with `n` routed requests held in flight (or, with `routed` False, `n` bare tasks
    awaiting an event: asyncio's own share)."""
    backend = HeldBackend()
    router = Router([Route("chain", MODELS)], backend=backend, catalog=catalog())  # type: ignore[arg-type]
    backend.release.set()
    await router.acomplete("warm up")  # imports, caches, the breakers of the chain
    backend.release.clear()
    backend.waiting = 0
    parked = 0

    async def bare() -> str:
        nonlocal parked
        parked += 1
        await backend.release.wait()
        return "ok"

    async def request(i: int) -> str:
        return (await router.acomplete(f"request {i}")).text

    gc.collect()
    base, _ = rss_kib()
    tasks = [asyncio.create_task(request(i) if routed else bare()) for i in range(n)]
    await _all_waiting(lambda: backend.waiting if routed else parked, n)
    held, _ = rss_kib()
    backend.release.set()
    answered = sum(1 for text in await asyncio.gather(*tasks) if text == "ok")
    del tasks
    gc.collect()
    after, peak = rss_kib()
    return {
        "requests": n,
        "answered": answered,
        "rss_base_kib": base,
        "rss_in_flight_kib": held,
        "rss_after_kib": after,
        "peak_rss_kib": peak,
        "kib_each": (held - base) / n,
    }


class _Flaky(InstantBackend):
    """Every 10th call to the primary fails, so fallbacks and their records occur."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def acall(
        self, model: ModelInfo, request: Request, *, timeout_s: float | None
    ) -> Response:
        self.calls += 1
        if model.name == MODELS[0] and self.calls % 10 == 0:
            raise ProviderUnavailable("503", model=model.name, status_code=503)
        return await super().acall(model, request, timeout_s=timeout_s)


def _observers() -> list[object]:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        from modelroute_otel import OTelObserver
    except ImportError:
        return []

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return [OTelObserver(provider, MeterProvider(), capture_content=False)]


async def flat(n: int, *, otel: bool = False) -> dict[str, Any]:
    """RSS every n/10 requests through the decision log, a logging sink and (with `otel`)
    the OTel observer."""
    from modelroute.sinks import JsonlSink, LoggingSink

    with tempfile.TemporaryDirectory(prefix="modelroute-bench-") as tmp:
        log = logging.getLogger("modelroute.bench.flat")
        log.propagate = False
        log.setLevel(logging.INFO)
        handler = logging.FileHandler(os.path.join(tmp, "decisions.log"))
        log.addHandler(handler)
        jsonl = os.path.join(tmp, "decisions.jsonl")
        observers = _observers() if otel else []
        router = Router(
            [Route("chain", MODELS)],
            backend=_Flaky(),
            catalog=catalog(),
            sinks=[JsonlSink(jsonl), LoggingSink(log)],
            observers=observers,
        )
        samples: list[int] = []
        step = max(1, n // 10)
        for i in range(n):
            await router.acomplete(f"request {i}")
            if (i + 1) % step == 0:
                gc.collect()
                samples.append(rss_kib()[0])
        handler.close()
        with open(jsonl, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
    late = samples[2:] or samples
    return {
        "requests": n,
        "decision_log_lines": lines,
        "otel_observer": bool(observers),
        "rss_samples_kib": samples,
        "sample_every": step,
        "growth_after_warmup_kib": late[-1] - late[0],
        "growth_kib_per_10k_requests": (late[-1] - late[0])
        / max(1, (len(late) - 1) * step)
        * 10_000,
    }


def _child(case: str, n: int) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.memory", case, str(n)],
        cwd=Path(__file__).resolve().parent.parent,  # the project root, where `bench` lives
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.memory {case} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool = False) -> dict[str, Any]:
    """Every case, each in its own child process (sizes / 10 when quick; the OTel flat run
    is a fifth of the sinks-only one, as each traced request costs several times more)."""
    scale = 10 if quick else 1
    held = _child("inflight", INFLIGHT // scale)
    bare = _child("inflight_bare", INFLIGHT // scale)
    held["bare_task_kib_each"] = bare["kib_each"]
    held["modelroute_added_kib_each"] = held["kib_each"] - bare["kib_each"]
    return {
        "inflight": held,
        "flat": _child("flat", FLAT // scale),
        "flat_otel": _child("flat_otel", FLAT // scale // 5) if _observers() else None,
    }


def _flat_line(run: Mapping[str, Any]) -> str:
    samples = ", ".join(f"{s / 1024:.1f}" for s in run["rss_samples_kib"])
    return (
        f"  {run['requests']} requests, decision log + logging sink"
        f"{' + OTel observer' if run['otel_observer'] else ''}: RSS (MiB) {samples}; "
        f"growth after warm-up {run['growth_after_warmup_kib']} KiB"
    )


def summary(result: Mapping[str, Any]) -> list[str]:
    """Lines for the console summary."""
    held = result["inflight"]
    lines = [
        "memory",
        f"  {held['requests']} in flight: RSS {held['rss_base_kib'] / 1024:.1f} -> "
        f"{held['rss_in_flight_kib'] / 1024:.1f} MiB (peak {held['peak_rss_kib'] / 1024:.1f} MiB); "
        f"{held['kib_each']:.2f} KiB per request, a bare asyncio task "
        f"{held['bare_task_kib_each']:.2f}",
        _flat_line(result["flat"]),
    ]
    if result["flat_otel"] is not None:
        lines.append(_flat_line(result["flat_otel"]))
    return lines


async def _inflight_bare(n: int) -> dict[str, Any]:
    return await inflight(n, routed=False)


async def _flat_otel(n: int) -> dict[str, Any]:
    return await flat(n, otel=True)


CASES = {
    "inflight": inflight,
    "inflight_bare": _inflight_bare,
    "flat": flat,
    "flat_otel": _flat_otel,
}


def main(argv: Sequence[str]) -> int:
    """Child-process entry: `python -m bench.memory inflight|flat N` prints one JSON line."""
    case, n = argv[0], int(argv[1])
    runner = CASES[case]
    print(json.dumps(asyncio.run(runner(n))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
