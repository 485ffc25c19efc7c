"""`modelroute demo` runs the workload end to end over real HTTP with no keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import modelroute, one_line_error
from modelroute.demo.workload import load_workload
from modelroute.records import RequestOutcome
from modelroute.report.data import DecisionLog

ROOT = Path(__file__).resolve().parent.parent
ROUTERBENCH = ROOT.parent / "shared" / "data" / "routerbench"


def _demo(out: Path, *args: str) -> tuple[dict[str, object], str]:
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
    return payload, proc.stderr


def test_demo_json_prints_one_object_and_writes_the_log_and_report(tmp_path: Path) -> None:
    payload, stderr = _demo(tmp_path)
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
    # the totals say that refusals are among the requests with a fallback, and count
    # requests per reason (summary.fallback_reasons counts attempts)
    assert f"{summary['refused']} of them refused by a budget (no answer)" in stderr
    assert "requests with a fallback or refusal" in stderr
    by_request = payload["requests_by_fallback_reason"]
    assert isinstance(by_request, dict)
    for reason, n in by_request.items():
        assert (
            n
            == sum(reason in d.fallback_reasons for d in decisions)
            <= (summary["fallback_reasons"][reason])
        )
    assert f"requests where {next(iter(by_request))} fired" in stderr
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
    payload, _ = _demo(tmp_path, "--data", str(ROUTERBENCH), "--limit", "40")
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


def test_demo_without_plotly_prints_totals_and_fetches_no_prices(tmp_path: Path) -> None:
    workload = tmp_path / "tiny.yaml"
    workload.write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    args = ("demo", "--json", "--out", str(tmp_path), "--workload", str(workload))
    proc = modelroute(*args, block="plotly", env=env)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["summary"]["requests"] == 2 and payload["report_html"] is None
    assert "requests with a fallback or refusal" in proc.stderr  # the totals table
    assert "needs the 'report' extra: pip install 'modelroute[report]'" in proc.stderr
    assert not (tmp_path / "report.html").exists()
    # LiteLLM used its bundled price map: no fetch of the online one (a warning offline)
    assert "model_prices_and_context_window" not in proc.stderr
    assert "WARNING" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "nope.yaml: cannot read the workload: No such file or directory"),
        ("routes: {}\nrequests: []\n", "w.yaml: models: missing"),
        ("models: [a]\nrequests:\n  - {route: r, answer: x}\n", "w.yaml: requests[0].prompt"),
        ("models: [a]\n requests: []\n", "w.yaml:2:2: invalid YAML"),
    ],
)
def test_a_bad_workload_is_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    path = tmp_path / ("nope.yaml" if text is None else "w.yaml")
    if text is not None:
        path.write_text(text)
    args = ("demo", "--out", str(tmp_path), "--workload", str(path))
    line = one_line_error(modelroute(*args), "demo")
    assert f"modelroute demo: error: {tmp_path}/{expected}" in line
