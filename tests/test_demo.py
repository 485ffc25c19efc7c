"""`modelroute demo` runs the workload end to end over real HTTP with no keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelroute.demo.runner import load_workload
from modelroute.records import RequestOutcome
from modelroute.report.data import DecisionLog

ROOT = Path(__file__).resolve().parent.parent
ROUTERBENCH = ROOT.parent / "shared" / "data" / "routerbench"


def _demo(out: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "modelroute.cli", "demo", "--json", "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    payload: dict[str, object] = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert proc.stderr.rstrip().endswith(str(out / "report.html"))  # ends naming the report
    return payload


def test_demo_json_prints_one_object_and_writes_the_log_and_report(tmp_path: Path) -> None:
    payload = _demo(tmp_path)
    summary = payload["summary"]
    assert isinstance(summary, dict)
    log = DecisionLog(tmp_path / "decisions.jsonl")
    decisions = list(log)
    assert log.stats.bad == 0 and sum(log.stats.transitions.values()) >= 2  # opened, recovered
    assert summary["requests"] == len(decisions) == len(load_workload()["requests"])
    # failures are budget refusals only: the research team's budget stops its last requests
    refused = [d for d in decisions if d.outcome == RequestOutcome.REFUSED]
    assert summary["failed"] == summary["refused"] == len(refused) >= 1
    assert all(d.team == "research" and d.fallback_reasons == ("budget_exceeded",) for d in refused)
    # the injected faults, the cascade and the budget show up as their own reasons
    for reason in (
        "rate_limited",
        "unavailable",
        "connection",
        "circuit_open",
        "invalid_output:json_schema",
        "invalid_output:empty",
        "invalid_output:refusal",
        "invalid_output:low_confidence",
        "budget_exceeded",
    ):
        assert summary["fallback_reasons"].get(reason, 0) >= 1, reason
    # classifier routing sends traffic to every tier; the cheap ones take the most
    models = summary["responding_models"]
    assert set(models) == set(load_workload()["models"])
    assert models["gpt-4.1-nano"] > models["gpt-4o"]
    assert all(d.strategy == "threshold" for d in decisions if d.route == "chat")
    assert 0 < summary["cost_usd"] < summary["baseline_cost_usd"]
    assert abs(sum(d.cost_usd for d in decisions) - summary["cost_usd"]) < 1e-12
    # quality is known for every answer (simulated) and reported against the baseline's
    report = payload["report"]
    assert isinstance(report, dict)
    answered = [d for d in decisions if d.outcome.succeeded]
    assert all(d.extra["quality"] in (0.0, 1.0) for d in answered)
    assert 0.5 < report["quality_routed"] <= report["quality_baseline"] <= 1.0
    assert report["teams"]["research"]["limit_usd"] == 0.016
    # the HTML report and its markdown summary are written; no prompt text or key in the log
    assert Path(str(payload["report_html"])).stat().st_size > 1_000_000  # plotly.js inlined
    assert Path(str(payload["report_markdown"])).read_text().startswith("# modelroute")
    text = (tmp_path / "decisions.jsonl").read_text()
    assert "capital of France" not in text and "sk-modelroute-demo" not in text
    assert isinstance(payload["elapsed_s"], float) and payload["elapsed_s"] < 120


@pytest.mark.skipif(not ROUTERBENCH.is_dir(), reason="no ../shared/data/routerbench here")
def test_demo_data_serves_recorded_answers_at_recorded_costs(tmp_path: Path) -> None:
    payload = _demo(tmp_path, "--data", str(ROUTERBENCH), "--limit", "40")
    summary = payload["summary"]
    assert isinstance(summary, dict)
    assert summary["requests"] == 40 and payload["simulation"] is False
    from modelroute.demo.recorded import BASELINE, recorded_workload

    rows = recorded_workload(ROUTERBENCH, 40)["requests"]  # the same rows, in the same order
    decisions = list(DecisionLog(tmp_path / "decisions.jsonl"))
    for d, row in zip(decisions, rows, strict=True):
        answers = row["answers"]
        assert d.outcome.succeeded
        assert d.extra["quality"] == answers[d.responding_model]["correct"]
        for a in d.attempts:  # every call priced at its recorded `<model>|total_cost`
            if a.usage is not None:
                assert abs(a.cost_usd - answers[a.model]["cost_usd"]) < 1e-8
        assert d.baseline_cost_usd == answers[BASELINE]["cost_usd"]
    assert 0 < summary["cost_usd"] < summary["baseline_cost_usd"]


TINY = """
baseline: gpt-4o
models: [gpt-4.1-nano, gpt-4o]
routes:
  simple: {models: [gpt-4.1-nano, gpt-4o]}
requests:
  - {route: simple, prompt: "What is the capital of France?", answer: "Paris."}
  - {route: simple, prompt: "Name a primary colour.", answer: "Red.", faults: {gpt-4.1-nano: [503]}}
"""


def test_demo_exports_traces_when_an_otlp_endpoint_is_set(tmp_path: Path) -> None:
    from otlp_receiver import OtlpReceiver

    workload = tmp_path / "tiny.yaml"  # the old workload form: one answer for every model
    workload.write_text(TINY)
    with OtlpReceiver("http") as rx:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelroute.cli",
                "demo",
                "--json",
                "--out",
                str(tmp_path),
                "--workload",
                str(workload),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=True,
        )
        assert rx.wait_until(lambda: len(rx.spans()) >= 5)
        names = [s.name for s in rx.spans()]
    summary = json.loads(proc.stdout)["summary"]
    assert summary["requests"] == 2 and summary["fallback_reasons"] == {"unavailable": 1}
    assert names.count("modelroute.route simple") == 2
    assert {"chat gpt-4.1-nano", "chat gpt-4o"} <= set(names)
    assert {s.resource.get("service.name") for s in rx.spans()} == {"modelroute-demo"}
