"""The decision-log reader: records come back whole, bad lines are counted, memory stays flat."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

from modelroute.report.data import MAX_BAD_EXAMPLES, DecisionLog, decision_from_dict
from report_helpers import make_decision, write_log


def test_a_logged_decision_reads_back_equal(tmp_path: Path) -> None:
    written = write_log(tmp_path / "log.jsonl", 200)
    read = list(DecisionLog(tmp_path / "log.jsonl"))
    assert read == written  # every field, attempts, usage, verdicts and extra included


def test_derived_fields_are_recomputed_not_trusted() -> None:
    raw = {"type": "decision", **make_decision(1, random.Random(3)).to_dict()}
    raw["saving_usd"] = 123.0
    raw["fallback_reasons"] = ["made_up"]
    d = decision_from_dict(raw)
    assert d.saving_usd != 123.0 and "made_up" not in d.fallback_reasons


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    write_log(path, 20)
    good = json.loads(path.read_text().splitlines()[0])
    bad_cost = {**good, "cost_usd": "free"}
    bad_outcome = {**good, "outcome": "maybe"}
    no_attempts = {k: v for k, v in good.items() if k != "attempts"}
    bad_attempt = {**good, "attempts": [{"index": 0}]}
    with path.open("a") as fh:
        fh.write("{not json\n")
        fh.write("[1, 2]\n")
        fh.write("\n")
        fh.write('{"type": "metric", "value": 1}\n')
        for raw in (bad_cost, bad_outcome, no_attempts, bad_attempt):
            fh.write(json.dumps(raw) + "\n")
        fh.write('{"type": "decision", "cost_usd": 1e999}\n')  # inf is not a cost
        fh.write("\x00\xff garbage")
    log = DecisionLog(path)
    decisions = list(log)
    assert len(decisions) == 20 == log.stats.decisions
    assert log.stats.bad == 8
    assert log.stats.blank == 1 and log.stats.other == 1
    assert sum(log.stats.transitions.values()) == 1
    assert len(log.stats.bad_examples) == MAX_BAD_EXAMPLES
    assert log.stats.bad_examples[0][0] == 22  # line numbers are 1-based file lines


def test_reading_a_large_log_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    rng = random.Random(5)
    lines = [json.dumps({"type": "decision", **make_decision(n, rng).to_dict()}) for n in range(50)]
    with path.open("w") as fh:  # 10,000 decisions (~15 MB), written from 50 templates
        for i in range(10_000):
            fh.write(lines[i % 50] + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        log = DecisionLog(path)
        count = 0
        cost = 0.0
        for d in log:
            count += 1
            cost += d.cost_usd
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 10_000 and log.stats.bad == 0
    assert size > 10_000_000
    assert peak < 1_000_000, f"peak {peak} bytes while reading a {size}-byte log"
