"""Routing decision cost per prompt: the heuristic complexity scorer, the threshold ranking
that uses it, input-token estimates for the context-window check, and trained routers.

    .venv/bin/python -m bench.decision_cost [--quick] [--data DIR] [--out DIR]

Trained routers: a prompt classifier and a cascade are trained once here (2 folds, at
most 2 cheap cascade stages: seconds, not the full `modelroute train`), saved with
`save_router` and loaded back as a user's config would load them. Their data is `--data`
(default `../shared/data/routerbench` from the project root, when it holds CSV files),
else a small synthetic RouterBench-layout table written to a temporary directory; the
JSON says which (`trained.data`). Nothing is downloaded.

- classifier: `TrainedRouter.rank(request, models, catalog)`, the call the `Router`
  makes for a route with `strategy: trained` (the route's models = the router's models,
  so no renaming wrapper), on the same four prompts as the heuristic.
- cascade: it cannot rank a request before any model answered; its online per-stage
  decision is `CascadeRouter.accept_probability(task, answers)` plus the comparison with
  the plan's threshold, timed on recorded answers of the training data, per task and
  non-final stage of the calibrated plan, cycling over up to 50 recorded rows.

`litellm_token_counter_us` is `litellm.token_counter` itself on the request's messages (a
first count); `adapter_token_counter_us` is `modelroute_litellm.litellm_token_counter` on the
same request again and again (what a repeated count costs, with whatever it remembers).

Each figure is the median over rounds of the mean time per call (µs) over a batch.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import itertools
import json
import random
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import MODELS, catalog, machine, stats
from modelroute.catalog import estimate_tokens
from modelroute.strategies.complexity import HeuristicComplexity
from modelroute.strategies.threshold import ScoreThreshold
from modelroute.types import Request

if TYPE_CHECKING:
    from modelroute.offline.cascade import CascadeRouter
    from modelroute.offline.data import OutcomeTable

PROMPTS = {
    "short": "What is the capital of France?",
    "medium": (
        "Compare the trade-offs between optimistic and pessimistic locking in a database that "
        "serves a booking system with heavy contention on popular dates. Explain why each one "
        "fails under load, and step by step design a scheme that avoids double bookings."
    ),
    "code": (
        "Refactor this function so it runs in linear time:\n```python\n"
        "def pairs(xs):\n    out = []\n    for a in xs:\n        for b in xs:\n"
        "            if a + b == 10:\n                out.append((a, b))\n    return out\n```"
    ),
    "long": "Summarize the following report.\n" + "The quarterly numbers rose again. " * 600,
}


def _time(call: Callable[[], object], batch: int, rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - start) / batch * 1e6)
    return stats(samples[1:])  # the first round warms caches up


def _litellm_counters() -> tuple[Callable[[str, Request], int], ...] | None:
    """(`litellm.token_counter` on the request's messages, uncached; the adapter's
    `litellm_token_counter`, which may remember counts), or None without LiteLLM."""
    if importlib.util.find_spec("litellm") is None:
        return None
    from modelroute_litellm import litellm_token_counter
    from modelroute_litellm.tokens import load_litellm

    litellm = load_litellm()

    def uncached(model: str, request: Request) -> int:
        messages = [m.to_dict() for m in request.messages]
        return int(
            litellm.token_counter(
                model=model, messages=messages, use_default_image_token_count=True
            )
        )

    adapter: Callable[[str, Request], int] = litellm_token_counter
    return uncached, adapter


DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "routerbench"
"""`../shared/data/routerbench` from the project root (RouterBench CSV files)."""

SYNTHETIC_MODELS = ("s-small", "s-mid", "s-big")


def _synthetic_rows(n: int, seed: int) -> list[dict[str, str]]:
    """RouterBench-layout rows: a multiple-choice quiz and a code task over three models."""
    rng = random.Random(seed)
    cost = {"s-small": 0.0001, "s-mid": 0.0004, "s-big": 0.005}
    accuracy = {"s-small": 0.55, "s-mid": 0.75, "s-big": 0.92}
    rows = []
    for i in range(n):
        task = "code" if i % 4 == 3 else "quiz"
        gold = rng.choice("ABCD")
        prompt = (
            f"Write a function number {i} that returns its input."
            if task == "code"
            else f"Question {i} about topic {i % 7}?\nA) one\nB) two\nC) three\nD) four"
        )
        row = {"": str(i), "sample_id": f"{task}.{i}", "prompt": repr([prompt]), "eval_name": task}
        for m in SYNTHETIC_MODELS:
            right = rng.random() < accuracy[m]
            if task == "code":
                answer = "```python\ndef solve(x):\n    return x\n```" if right else "```js\nx\n```"
            else:
                answer = gold if right else rng.choice("ABCD")
            row[m] = "1.0" if right else "0.0"
            row[f"{m}|model_response"] = repr([answer])
            row[f"{m}|total_cost"] = str(cost[m])
        rows.append(row)
    return rows


def _write_synthetic(folder: Path, n: int = 400, seed: int = 0) -> Path:
    """A synthetic RouterBench-layout CSV in `folder`; returns its path."""
    models = SYNTHETIC_MODELS
    header = [
        "",
        "sample_id",
        "prompt",
        "eval_name",
        *models,
        *(f"{m}|model_response" for m in models),
        *(f"{m}|total_cost" for m in models),
    ]
    path = folder / "synthetic.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(_synthetic_rows(n, seed))
    return path


def _cycle_call(call: Callable[[Any], object], inputs: Sequence[Any]) -> Callable[[], object]:
    """A zero-argument call applying `call` to `inputs` in turn."""
    it = itertools.cycle(inputs)
    return lambda: call(next(it))


def _trained(data: Path | None, rounds: int, batch: int) -> dict[str, Any]:
    """Train, save, load and time a classifier and a cascade (see the module docstring)."""
    from modelroute.offline.artifact import load_router, save_router
    from modelroute.offline.cascade import CascadeRouter as Cascade
    from modelroute.offline.data import csv_files, load_outcomes
    from modelroute.offline.train import train_cascade, train_classifier
    from modelroute.strategies.trained import TrainedRouter

    out: dict[str, Any] = {
        "training": {"folds": 2, "cascade_max_cheap": 2, "target": "95% of the baseline"},
        "timed": {
            "classifier_rank": "TrainedRouter.rank(request, models, catalog) per prompt, "
            "every model of the router on the route, no task on the request",
            "cascade_stage": "CascadeRouter.accept_probability(task, answers) >= threshold, "
            "per non-final stage of the calibrated plan, cycling over recorded answers",
        },
    }
    with tempfile.TemporaryDirectory(prefix="modelroute-bench-") as tmp:
        folder = Path(tmp)
        if data is not None and data.is_dir() and csv_files(data):
            source, path = f"routerbench: {data}", data
        else:
            source = "synthetic: 400 rows, 2 tasks, 3 models (generated here)"
            path = _write_synthetic(folder)
        started = time.perf_counter()
        table = load_outcomes(path)
        out["data"] = {"source": source, "rows": len(table), "models": list(table.models)}
        out["data"]["tasks"] = sorted(set(table.tasks))
        out["load_data_s"] = time.perf_counter() - started
        started = time.perf_counter()
        trained_clf = train_classifier(table, folds=2)
        out["train_classifier_s"] = time.perf_counter() - started
        started = time.perf_counter()
        trained_cascade = train_cascade(table, folds=2, max_cheap=2)
        out["train_cascade_s"] = time.perf_counter() - started
        files = {"classifier": folder / "classifier.bin", "cascade": folder / "cascade.bin"}
        save_router(trained_clf, files["classifier"])
        save_router(trained_cascade, files["cascade"])
        out["file_bytes"] = {k: p.stat().st_size for k, p in files.items()}
        started = time.perf_counter()
        strategy = TrainedRouter.load(files["classifier"])
        out["load_classifier_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cascade = load_router(files["cascade"])
        out["load_cascade_s"] = time.perf_counter() - started
    assert isinstance(cascade, Cascade)
    models = strategy.classifier.models
    route_catalog = catalog(models)
    ranks: dict[str, Any] = {}
    for name, text in PROMPTS.items():
        request = Request.of(text)
        ranking = strategy.rank(request, models, route_catalog)
        ranks[name] = {
            "chosen": ranking.tier,
            "p_good": ranking.score,
            "rank_us": _time(partial(strategy.rank, request, models, route_catalog), batch, rounds),
        }
    out["classifier_rank"] = ranks
    out["cascade_stage"] = _cascade_stages(cascade, table, rounds, batch)
    return out


def _cascade_stages(
    cascade: CascadeRouter, table: OutcomeTable, rounds: int, batch: int
) -> dict[str, Any]:
    """Per task and non-final stage: the accept-or-escalate decision on recorded answers."""
    assert table.responses is not None
    stages: dict[str, Any] = {}
    for task, plan in sorted(cascade.plans().items()):
        rows = [i for i, t in enumerate(table.tasks) if t == task][:50]
        if len(plan.stages) < 2:
            stages[task] = {"plan": str(plan), "note": "one stage: no decision to time"}
            continue
        for k in range(1, len(plan.stages)):
            called = plan.stages[:k]
            answers = [{m: table.responses[i][table.column(m)] for m in called} for i in rows]

            def decide(
                ans: Mapping[str, str], task: str = task, limit: float = plan.threshold
            ) -> bool:
                return bool(cascade.accept_probability(task, ans)[0] >= limit)

            accepted = sum(decide(a) for a in answers)
            stages[f"{task} after {' + '.join(called)}"] = {
                "plan": str(plan),
                "recorded_rows": len(answers),
                "accepted": accepted,
                "decision_us": _time(_cycle_call(decide, answers), batch, rounds),
            }
    return stages


def run(quick: bool = False, data: Path | None = DATA) -> dict[str, Any]:
    """Per-prompt costs (µs) of every decision component; trained routers on `data`."""
    rounds, batch = (3, 200) if quick else (9, 2000)
    scorer = HeuristicComplexity()
    ranker = ScoreThreshold(scorer, (0.3, 0.6))
    models = catalog()
    counters = _litellm_counters()
    rows: dict[str, dict[str, Any]] = {}
    for name, text in PROMPTS.items():
        request = Request.of(text)
        row: dict[str, Any] = {
            "chars": len(text),
            "score": scorer(request),
            "heuristic_score_us": _time(partial(scorer, request), batch, rounds),
            "threshold_rank_us": _time(
                partial(ranker.rank, request, MODELS, models), batch, rounds
            ),
            "estimate_tokens_us": _time(partial(estimate_tokens, "m", request), batch, rounds),
        }
        if counters is not None:
            uncached, adapter = counters
            row["litellm_token_counter_us"] = _time(
                partial(uncached, "openai/m-a", request), max(1, batch // 20), rounds
            )
            row["adapter_token_counter_us"] = _time(
                partial(adapter, "openai/m-a", request), max(1, batch // 20), rounds
            )
        rows[name] = row
    notes: list[str] = []
    trained: dict[str, Any] | None = None
    if importlib.util.find_spec("sklearn") is None:
        notes.append("scikit-learn is not installed (the `ml` extra): trained routers not timed")
    else:
        trained = _trained(data, rounds, max(1, batch // 10))
    return {"prompts": rows, "trained": trained, "notes": notes}


def summary(result: Mapping[str, Any]) -> list[str]:
    """Lines for the console summary."""
    lines = ["decision cost (median µs per prompt)"]
    for name, row in result["prompts"].items():
        counted = row.get("litellm_token_counter_us")
        heuristic, rank = row["heuristic_score_us"]["median"], row["threshold_rank_us"]["median"]
        lines.append(
            f"  {name} ({row['chars']} chars): heuristic {heuristic:.1f}, threshold rank "
            f"{rank:.1f}, token estimate {row['estimate_tokens_us']['median']:.1f}"
            + (f", litellm.token_counter {counted['median']:.0f}" if counted else "")
            + (
                f", adapter counter (repeat) {row['adapter_token_counter_us']['median']:.1f}"
                if "adapter_token_counter_us" in row
                else ""
            )
        )
    trained = result.get("trained")
    if trained:
        lines.append(f"  trained routers on {trained['data']['source']}")
        for name, row in trained["classifier_rank"].items():
            lines.append(
                f"  {name}: classifier rank {row['rank_us']['median']:.0f} -> {row['chosen']}"
            )
        for name, row in trained["cascade_stage"].items():
            if "decision_us" in row:
                lines.append(f"  cascade {name}: {row['decision_us']['median']:.0f}")
    lines += [f"  note: {n}" for n in result["notes"]]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run this benchmark alone and write `<out>/decision_cost.json` like `bench.run`."""
    parser = argparse.ArgumentParser(prog="python -m bench.decision_cost", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the harness")
    parser.add_argument("--data", type=Path, default=DATA, help="RouterBench CSV directory")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.quick, args.data)
    record = {
        "benchmark": "decision_cost",
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "result": result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "decision_cost.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    print("\n".join([*summary(result), f"  ({record['seconds']:.0f} s, {path})"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
