"""Run the benchmarks: `python -m bench.run [--quick] [--only overhead,memory,...]`.

Writes `bench/results/<benchmark>.json` (the machine, the settings, the results) and prints
a summary. `--quick` shrinks every benchmark about tenfold, to check the harness itself;
its numbers are not for reporting. Exits 1 when a benchmark failed to run (targets that
are missed are reported, not failures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import common, decision_cost, http_throughput, memory, overhead

RESULTS = Path(__file__).resolve().parent / "results"

BENCHMARKS: dict[str, ModuleType] = {
    "decision_cost": decision_cost,
    "overhead": overhead,
    "memory": memory,
    "http_throughput": http_throughput,
}


def run_one(name: str, module: ModuleType, quick: bool, out: Path) -> tuple[bool, list[str]]:
    """Run one benchmark, write its JSON file; (ran, summary lines)."""
    started = time.perf_counter()
    runner: Callable[[bool], Mapping[str, Any]] = module.run
    try:
        result = runner(quick)
    except Exception:  # report the failure, carry on with the other benchmarks
        return False, [f"{name}: FAILED", traceback.format_exc()]
    elapsed = time.perf_counter() - started
    record = {
        "benchmark": name,
        "quick": quick,
        "seconds": round(elapsed, 1),
        "machine": common.machine(),
        "result": result,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    lines: list[str] = module.summary(result)
    return True, [*lines, f"  ({elapsed:.0f} s, {path})"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; print each summary as it finishes."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the harness")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {list(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON files")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {list(BENCHMARKS)}")
    info = common.machine()
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    print(
        f"machine: {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, "
        f"load {', '.join(f'{x:.1f}' for x in info['load_average'])}\n{packages}",
        flush=True,
    )
    started = time.perf_counter()
    failed = []
    for name in names:
        ok, lines = run_one(name, BENCHMARKS[name], args.quick, args.out)
        print("\n".join(lines), flush=True)
        if not ok:
            failed.append(name)
    print(
        f"total {time.perf_counter() - started:.0f} s" + (f"; FAILED: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
