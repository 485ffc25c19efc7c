"""`modelroute demo` runs the workload end to end over real HTTP with no keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_json_prints_one_object_and_writes_the_decision_log(tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "modelroute.cli", "demo", "--json", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=True,
    )
    payload = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    summary = payload["summary"]
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    decisions = [json.loads(line) for line in lines if '"type":"decision"' in line]
    assert summary["requests"] == len(decisions) == 16
    assert summary["failed"] == 0
    # the injected faults show up as their own reasons
    for reason in (
        "rate_limited",
        "unavailable",
        "circuit_open",
        "invalid_output:json_schema",
        "invalid_output:empty",
        "invalid_output:refusal",
    ):
        assert summary["fallback_reasons"].get(reason, 0) >= 1, reason
    assert 0 < summary["cost_usd"] < summary["baseline_cost_usd"]
    total = sum(d["cost_usd"] for d in decisions)
    assert abs(total - summary["cost_usd"]) < 1e-12
    # no prompt text or key in the log
    text = (tmp_path / "decisions.jsonl").read_text()
    assert "capital of France" not in text and "sk-modelroute-demo" not in text
