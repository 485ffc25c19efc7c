"""The report's numbers equal a direct computation over the generated log."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from modelroute.limits.budget import Budget
from modelroute.records import Decision, RequestOutcome
from modelroute.report import build_report
from modelroute.report.aggregate import aggregate
from modelroute.summary import summarize
from report_helpers import T0, write_log


def _p(values: list[float], q: int) -> float:
    """Percentile by linear interpolation, computed independently with `statistics`."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Decision]]:
    path = tmp_path_factory.mktemp("log") / "decisions.jsonl"
    return path, write_log(path, 600, seed=11)


def test_headline_numbers_match_a_direct_computation(logged: tuple[Path, list[Decision]]) -> None:
    path, ds = logged
    result = build_report(path, path.with_name("report.html"))
    s = result.data.summary
    answered = [d for d in ds if d.outcome.succeeded]
    priced = [d for d in answered if d.baseline_cost_usd is not None]
    assert s.requests == len(ds) and s.answered == len(answered)
    assert s.refused == sum(d.outcome == RequestOutcome.REFUSED for d in ds) > 0
    assert math.isclose(s.cost_usd, sum(d.cost_usd for d in ds), rel_tol=1e-12)
    baseline = sum(d.baseline_cost_usd or 0.0 for d in priced)
    assert math.isclose(s.baseline_cost_usd, baseline, rel_tol=1e-12)
    saving = 100 * (1 - sum(d.cost_usd for d in priced) / baseline)
    assert s.saving_pct is not None and math.isclose(s.saving_pct, saving, rel_tol=1e-9)
    assert s.fallback_requests == sum(1 for d in ds if d.fallback_reasons)
    assert s.fallback_reasons == dict(Counter(r for d in ds for r in d.fallback_reasons))
    assert s.responding_models == dict(Counter(d.responding_model for d in answered))
    latencies = [d.latency_s for d in ds]
    assert math.isclose(s.latency_p50_s, _p(latencies, 50), rel_tol=1e-9)
    assert math.isclose(s.latency_p95_s, _p(latencies, 95), rel_tol=1e-9)
    assert s == summarize(ds)  # the demo's totals and the report's are the same numbers
    assert result.stats.bad == 0 and sum(result.stats.transitions.values()) == 1


def test_breakdowns_match_a_direct_computation(logged: tuple[Path, list[Decision]]) -> None:
    path, ds = logged
    data = build_report(path, path.with_name("report.html")).data
    answered = [d for d in ds if d.outcome.succeeded]
    fired = Counter(r for d in ds for r in set(d.fallback_reasons))
    assert data.reason_requests == dict(fired)
    for m in data.models:
        attempts = [a for d in ds for a in d.attempts if a.model == m.model]
        assert m.attempts == len(attempts)
        assert m.failed == dict(Counter(a.reason for a in attempts if a.reason))
        assert math.isclose(m.cost_usd, sum(a.cost_usd for a in attempts), abs_tol=1e-15)
    for route, mix in data.route_mix.items():
        assert mix == dict(Counter(d.responding_model for d in answered if d.route == route))
    for q in data.quality:
        scores = [
            d.extra["quality"]
            for d in answered
            if d.responding_model == q.model and "quality" in d.extra
        ]
        assert q.known == len(scores) and math.isclose(q.mean, sum(scores) / len(scores))
    pairs = [d for d in answered if "baseline_quality" in d.extra]
    assert data.quality_pairs == len(pairs)
    assert data.quality_routed is not None
    assert math.isclose(data.quality_routed, sum(d.extra["quality"] for d in pairs) / len(pairs))
    for model, ps in data.latency.items():
        if model == "all":
            values = [d.latency_s for d in ds]
        else:
            values = [d.latency_s for d in answered if d.responding_model == model]
        assert math.isclose(ps["p99"], _p(values, 99), rel_tol=1e-9)
    assert math.isclose(data.spend_actual.y[-1], sum(d.cost_usd for d in ds), rel_tol=1e-9)
    assert list(data.spend_actual.t) == sorted(data.spend_actual.t)  # ordered by time
    h = data.cost_histogram
    assert sum(h.actual) + h.zero_actual == len(ds)
    assert sum(h.baseline) == sum(1 for d in answered if (d.baseline_cost_usd or 0) > 0)


def test_team_budgets_restart_each_period_and_count_refusals(
    logged: tuple[Path, list[Decision]],
) -> None:
    _, ds = logged
    data = aggregate(ds, budgets=[Budget("team", 1.0, overrides={"research": 0.05})])
    by_team = {t.team: t for t in data.teams}
    assert set(by_team) == {"support", "research"}
    research = by_team["research"]
    assert research.limit_usd == 0.05 and by_team["support"].limit_usd == 1.0
    mine = [d for d in ds if d.team == "research"]
    assert research.requests == len(mine)
    assert math.isclose(research.spent_usd, sum(d.cost_usd for d in mine), rel_tol=1e-12)
    assert research.refused == sum(d.outcome == RequestOutcome.REFUSED for d in mine)
    assert research.period_label.startswith("2025-11-2")  # UTC days around T0
    assert data.first_started_at == min(d.started_at for d in ds) >= T0


def test_html_and_markdown_show_the_same_numbers(logged: tuple[Path, list[Decision]]) -> None:
    path, _ = logged
    result = build_report(path, path.with_name("report.html"))
    s = result.data.summary
    html = result.html_path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script src" not in html and "<link" not in html  # self-contained: works offline
    saving = f"{s.saving_pct:.1f}%"
    assert saving in html and saving in result.markdown
    assert f"${s.cost_usd:,.6f}" in html and f"${s.cost_usd:,.6f}" in result.markdown
    assert html.count('class="plotly-graph-div"') == 8
    assert result.markdown_path.read_text() == result.markdown


def test_report_command_prints_one_json_object(logged: tuple[Path, list[Decision]]) -> None:
    source, ds = logged
    path = source.with_name("with-bad-line.jsonl")
    path.write_text(source.read_text() + "not json\n")
    out = path.with_name("cli.html")
    proc = subprocess.run(
        [sys.executable, "-m", "modelroute.cli", "report", str(path), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=True,
    )
    payload = json.loads(proc.stdout)
    assert payload["summary"]["requests"] == len(ds)
    assert payload["log"]["bad_lines"] == 1
    assert payload["html"] == str(out) and out.is_file()
    assert "skipped 1 bad lines" in proc.stderr
