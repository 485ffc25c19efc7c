"""Routing quality on RouterBench: train and calibrate on training rows only, score once
on held-out rows, and write bench/results/routing_quality.json.

    .venv/bin/python bench/routing_quality.py [--data ../shared/data/routerbench] [--seeds 1]

Rows are split per `eval_name` (seeded); routers never see the held-out rows. Each router
is calibrated (cross-validation on the training rows) to 95% and to 100% of the baseline's
quality, then replayed once on the held-out rows. Quality and cost are reported as
fractions of the baseline's (gpt-4-1106-preview) on those held-out rows. With `--seeds N`
the whole procedure is repeated on N different splits and the spread is reported too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from modelroute.offline.calibrate import Target  # noqa: E402
from modelroute.offline.cascade import CascadeRouter  # noqa: E402
from modelroute.offline.classifier import PromptClassifier  # noqa: E402
from modelroute.offline.data import OutcomeTable, load_outcomes  # noqa: E402
from modelroute.offline.metrics import aiq  # noqa: E402
from modelroute.offline.replay import ReplayReport, replay  # noqa: E402
from modelroute.offline.train import train_cascade, train_classifier  # noqa: E402

BASELINE = "gpt-4-1106-preview"
TARGETS = {  # ../shared/design/FACTS.md, "Routing quality: what the data allows"
    "quality_95_cost_at_most": 0.12,
    "quality_100_cost_at_most": 0.30,
    "aiq_above": 0.85,
}


def split(table: OutcomeTable, holdout: float, seed: int) -> tuple[OutcomeTable, OutcomeTable]:
    """Stratified by task: `holdout` of each task's rows are held out."""
    rng = np.random.default_rng(seed)
    tasks = np.asarray(table.tasks, dtype=object)
    held = np.zeros(len(table), dtype=bool)
    for task in sorted(set(table.tasks)):
        idx = np.flatnonzero(tasks == task)
        rng.shuffle(idx)
        held[idx[: round(len(idx) * holdout)]] = True
    return table.take(np.flatnonzero(~held)), table.take(np.flatnonzero(held))


def _scored(report: ReplayReport, cv: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "quality_vs_baseline": report.quality_vs_baseline,
        "cost_vs_baseline": report.cost_vs_baseline,
        "quality": report.quality,
        "cost_per_query": report.cost_per_query,
        "strong_share": report.strong_share,
        "calls_per_query": report.calls_per_query,
        "model_share": {m: s for m, s in report.model_share.items() if s > 0},
    }
    if cv is not None:
        out["calibration_on_training_rows"] = cv
    return out


def per_task(router: CascadeRouter | PromptClassifier, test: OutcomeTable) -> dict[str, Any]:
    """Per task, against the baseline on the same held-out rows: the quality lost or won
    (`quality_points`: percentage points of the baseline's total quality) and what the
    router spent there (`cost_share`: fraction of the baseline's total cost)."""
    outcome = router.run(test)
    b = test.column(BASELINE)
    total_q = float(test.quality[:, b].sum())
    total_c = float(test.cost[:, b].sum())
    tasks = np.asarray(test.tasks, dtype=object)
    out: dict[str, Any] = {}
    for task in sorted(set(test.tasks)):
        rows = tasks == task
        diff = float(outcome.quality[rows].sum() - test.quality[rows, b].sum())
        out[task] = {
            "quality_points": 100.0 * diff / total_q,
            "cost_share": float(outcome.cost[rows].sum()) / total_c,
            "baseline_cost_share": float(test.cost[rows, b].sum()) / total_c,
        }
    return out


def _time_classifier(router: PromptClassifier, test: OutcomeTable, n: int = 200) -> float:
    from modelroute.catalog import Catalog
    from modelroute.strategies.trained import TrainedRouter
    from modelroute.types import Request

    strategy = TrainedRouter(router)
    requests = [
        Request.of(p, task=t) for p, t in zip(test.prompts[:n], test.tasks[:n], strict=True)
    ]
    strategy.rank(requests[0], router.models, Catalog())  # warm up
    started = time.perf_counter()
    for request in requests:
        strategy.rank(request, router.models, Catalog())
    return (time.perf_counter() - started) / len(requests)


def _time_cascade_stage(router: CascadeRouter, test: OutcomeTable, n: int = 200) -> float:
    """One acceptance decision on one query: parse the called models' answers, build
    features, score them (the verifier of the first two-model stage in the plans)."""
    assert test.responses is not None
    plans = router.plans()
    timed = 0
    started = time.perf_counter()
    for i in range(min(n, len(test))):
        plan = plans.get(test.tasks[i])
        called = plan.stages[:2] if plan is not None and len(plan.stages) > 2 else None
        verifier = router.verifiers.get(test.tasks[i])
        if called is None or verifier is None or called not in verifier.acceptors:
            continue
        answers = {m: test.responses[i][test.column(m)] for m in called}
        router.accept_probability(test.tasks[i], answers)
        timed += 1
    return (time.perf_counter() - started) / max(timed, 1)


def run_split(table: OutcomeTable, holdout: float, seed: int, log: Any) -> dict[str, Any]:
    """Train, calibrate and score every router on one split."""
    train, test = split(table, holdout, seed)
    log(f"split {seed}: {len(train)} training rows, {len(test)} held-out rows")
    results: dict[str, Any] = {"seed": seed, "train_rows": len(train), "test_rows": len(test)}
    started = time.perf_counter()
    cascade = train_cascade(train, baseline=BASELINE, target=Target(quality=0.95), seed=seed)
    results["cascade_train_seconds"] = time.perf_counter() - started
    log(f"  cascade trained in {results['cascade_train_seconds']:.0f} s")
    started = time.perf_counter()
    classifier = train_classifier(train, baseline=BASELINE, target=Target(quality=0.95), seed=seed)
    results["classifier_train_seconds"] = time.perf_counter() - started
    for name, router in (("cascade", cascade), ("tfidf_lr", classifier)):
        for label, goal in (("q95", 0.95), ("q100", 1.0)):
            calibrated = router.retarget(Target(quality=goal))
            report = replay(calibrated, test, curve=label == "q95")
            cv = calibrated.calibration.choice.to_dict()
            results[f"{name}_{label}"] = _scored(report, cv)
            results[f"{name}_{label}"]["per_task"] = per_task(calibrated, test)
            if label == "q95":
                results[f"{name}_aiq"] = report.aiq
                results[f"{name}_curve"] = report.curve
                baseline_report = report
    results["baseline"] = {
        "model": BASELINE,
        "quality": baseline_report.baseline_quality,
        "cost_per_query": baseline_report.baseline_cost_per_query,
    }
    results["oracle"] = baseline_report.oracle
    results["single_models"] = baseline_report.single_models
    results["aiq_single_models"] = baseline_report.aiq_single_models
    singles = [(m["cost_per_query"], m["quality"]) for m in baseline_report.single_models]
    lo, hi = min(c for c, _ in singles), max(c for c, _ in singles)
    oracle_point = (baseline_report.oracle["cost_per_query"], baseline_report.oracle["quality"])
    results["aiq_oracle"] = aiq([oracle_point], lo, hi)
    results["decision_seconds"] = {
        "tfidf_lr_per_prompt_online": _time_classifier(classifier, test),
        "cascade_per_stage_decision": _time_cascade_stage(cascade, test),
    }
    return results


def _spread(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over the splits of each headline number and of each task's
    quality points and cost share."""
    keys = [
        (f"{r}_{t}", m)
        for r in ("cascade", "tfidf_lr")
        for t in ("q95", "q100")
        for m in ("quality_vs_baseline", "cost_vs_baseline")
    ]
    out: dict[str, Any] = {}
    for key, metric in keys:
        values = [run[key][metric] for run in runs]
        out[f"{key}.{metric}"] = {
            "mean": statistics.fmean(values),
            "min": min(values),
            "max": max(values),
        }
    for key in ("cascade_aiq", "tfidf_lr_aiq"):
        values = [run[key] for run in runs]
        out[key] = {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}
    for key in ("cascade_q95", "cascade_q100"):
        for task in runs[0][key]["per_task"]:
            for metric in ("quality_points", "cost_share"):
                values = [run[key]["per_task"][task][metric] for run in runs]
                out[f"{key}.per_task.{task}.{metric}"] = {
                    "mean": statistics.fmean(values),
                    "min": min(values),
                    "max": max(values),
                }
    return out


def _print(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    first = summary["splits"][0]
    table = Table(title=f"Held-out rows of split {first['seed']} (fractions of {BASELINE})")
    for col in ("router", "calibrated to", "quality", "cost", "strong share", "calls/query"):
        table.add_column(col)
    for name in ("cascade", "tfidf_lr"):
        for label, goal in (("q95", "95%"), ("q100", "100%")):
            r = first[f"{name}_{label}"]
            table.add_row(
                name,
                goal,
                f"{r['quality_vs_baseline']:.1%}",
                f"{r['cost_vs_baseline']:.1%}",
                f"{r['strong_share']:.1%}",
                f"{r['calls_per_query']:.2f}",
            )
    oracle = first["oracle"]
    table.add_row(
        "oracle",
        "-",
        f"{oracle['quality_vs_baseline']:.1%}",
        f"{oracle['cost_vs_baseline']:.1%}",
        "-",
        "1",
    )
    Console().print(table)
    Console().print(
        f"AIQ cascade {first['cascade_aiq']:.3f}, TF-IDF+LR {first['tfidf_lr_aiq']:.3f}, "
        f"single models {first['aiq_single_models']:.3f}, oracle {first['aiq_oracle']:.3f}; "
        "decision cost: "
        f"TF-IDF+LR {first['decision_seconds']['tfidf_lr_per_prompt_online'] * 1e3:.2f} ms/prompt, "
        f"cascade {first['decision_seconds']['cascade_per_stage_decision'] * 1e3:.2f} ms/stage"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "routerbench"))
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=1, help="number of splits (seeds 0..N-1)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "routing_quality.json"))
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    table = load_outcomes(args.data)
    log(f"{len(table)} usable rows, {table.skipped_rows} skipped {dict(table.skipped)}")
    runs = [run_split(table, args.holdout, seed, log) for seed in range(args.seeds)]
    summary = {
        "data": args.data,
        "rows": len(table),
        "skipped_rows": table.skipped_rows,
        "holdout": args.holdout,
        "baseline": BASELINE,
        "targets": TARGETS,
        "splits": runs,
        "spread_over_splits": _spread(runs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _print(summary)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
