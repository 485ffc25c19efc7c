"""`modelroute demo`: run the simulated workload, print the totals, write the report.

Progress and notes go to stderr; the totals table to stdout (to stderr with `--json`,
when stdout carries exactly one JSON object). Every number printed comes from
`modelroute.report` (the same aggregation the HTML report shows).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelroute.errors import ModelRouteError

if TYPE_CHECKING:
    from rich.console import Console

    from modelroute.demo.runner import DemoRow
    from modelroute.report.aggregate import ReportData
    from modelroute_otel import Telemetry


LITELLM_EXTRA = "pip install 'modelroute[litellm]'"
"""How to install what `modelroute demo` routes through."""


class LiteLLMExtraMissing(ModelRouteError, ImportError):
    """LiteLLM (the `litellm` extra) is not installed or cannot be imported.

    A `ModelRouteError`, so `modelroute.cli` prints it as one line and exits with code 2."""

    def __init__(self, cause: BaseException | None = None) -> None:
        why = "is not installed" if cause is None else f"cannot be imported ({cause})"
        super().__init__(f"LiteLLM {why}: {LITELLM_EXTRA}", name="litellm")


def require_litellm() -> None:
    """Raise `LiteLLMExtraMissing` unless LiteLLM and its adapter can be found (LiteLLM is
    not imported here: that takes seconds; `_route` imports it and maps a failure)."""
    try:
        import modelroute_litellm.tokens  # noqa: F401  (light: does not import LiteLLM)

        found = importlib.util.find_spec("litellm") is not None
    except ImportError as exc:
        raise LiteLLMExtraMissing(exc) from exc
    except ValueError:  # a broken entry in sys.modules
        found = False
    if not found:
        raise LiteLLMExtraMissing()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser("demo", help="run a simulated routed workload (no API keys)")
    p.add_argument("--out", default="out/demo", help="folder for the decision log and report")
    p.add_argument("--workload", default=None, help="a workload YAML (default: packaged)")
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="RouterBench-format CSV file or folder: serve its recorded answers and costs",
    )
    p.add_argument("--limit", type=int, default=300, help="rows taken from --data (default 300)")
    p.add_argument("--verbose", action="store_true", help="also print one line per request")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.set_defaults(func=run)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _workload(args: argparse.Namespace, err: Console) -> dict[str, Any]:
    from modelroute.demo.workload import load_workload

    if args.data is None:
        workload = load_workload(args.workload)  # a bad workload fails before any output
        err.print(
            "[bold]modelroute demo[/bold]: a simulation. Answers come from the local provider "
            "server on 127.0.0.1 with injected faults; which model answers right is simulated "
            "(see workload.yaml); prices are LiteLLM's list prices (USD)."
        )
        return workload
    from modelroute.demo.recorded import recorded_workload

    workload = recorded_workload(args.data, args.limit)
    skipped = sum(workload["skipped_rows"].values())
    err.print(
        f"[bold]modelroute demo --data[/bold]: recorded real answers from {args.data} "
        f"({len(workload['requests'])} rows used, {skipped} rows skipped for empty cells), "
        "served by the local provider server with injected faults, priced from the "
        "recorded `<model>|total_cost` columns."
    )
    return workload


def _telemetry(err: Console) -> tuple[Telemetry | None, Sequence[object]]:
    """OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set (needs the `otel` extra)."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None, ()
    try:
        from modelroute_otel import OTelObserver, setup
    except ImportError:
        err.print("OTEL_EXPORTER_OTLP_ENDPOINT is set but the `otel` extra is missing: no traces")
        return None, ()
    os.environ.setdefault("OTEL_SERVICE_NAME", "modelroute-demo")
    telemetry = setup()
    observer = OTelObserver(telemetry.tracer_provider, telemetry.meter_provider)
    err.print(f"exporting traces and metrics to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}")
    return telemetry, (observer,)


def _route(args: argparse.Namespace, err: Console, workload: dict[str, Any]) -> list[DemoRow]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from modelroute.demo.runner import run_demo

    with err.status("importing LiteLLM (~5 s)..."):
        try:
            from modelroute_litellm.tokens import load_litellm

            load_litellm()
        except ImportError as exc:  # found, but broken (e.g. a missing dependency)
            raise LiteLLMExtraMissing(exc) from exc
    telemetry, observers = _telemetry(err)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, TextColumn("{task.fields[last]}"), console=err) as progress:
            task = progress.add_task("routing", total=len(workload["requests"]), last="")

            def on_row(row: DemoRow) -> None:
                d = row.decision
                last = f"{d.responding_model or d.outcome.value}"
                if d.fallback_reasons:
                    last += f" after {', '.join(d.fallback_reasons)}"
                progress.update(task, advance=1, last=last)

            return run_demo(Path(args.out), on_row, workload=workload, observers=observers)
    finally:
        if telemetry is not None:
            telemetry.shutdown()


def _totals_table(data: ReportData, elapsed_s: float, recorded: bool) -> Any:
    from rich.table import Table

    s = data.summary
    table = Table(title="Totals", show_header=False)
    refused = f", {s.refused} refused by a budget" if s.refused else ""
    table.add_row(
        "requests (answered / failed)", f"{s.requests} ({s.answered} / {s.failed}{refused})"
    )
    table.add_row("cost with routing", _usd(s.cost_usd))
    table.add_row(f"cost with every answer from {data.baseline_model}", _usd(s.baseline_cost_usd))
    table.add_row("saving", "-" if s.saving_pct is None else f"[bold]{s.saving_pct:.1f}%[/bold]")
    if data.quality_routed is not None:
        quality = f"{100 * data.quality_routed:.1f}% correct"
        if data.quality_baseline is not None:
            quality += f" (all on {data.baseline_model}: {100 * data.quality_baseline:.1f}%)"
        label = "recorded" if recorded else "simulated"
        table.add_row(f"quality ({label}, where known)", quality)
    # requests (not attempts) with at least one fallback; a request a budget refused has
    # the reason budget_exceeded and no answer, so it is counted here too and said so
    fell_back = f"{s.fallback_requests} ({_pct(s.fallback_requests, s.requests)})"
    if s.refused:
        fell_back += f", {s.refused} of them refused by a budget (no answer)"
    table.add_row("requests with a fallback or refusal", fell_back)
    for reason, n in data.reason_requests.items():
        table.add_row(f"  requests where {reason} fired", f"{n} ({_pct(n, s.requests)})")
    for model, n in s.responding_models.items():
        table.add_row(f"  answered by {model}", f"{n} ({_pct(n, s.answered)})")
    p50, p95 = s.latency_p50_s * 1000, s.latency_p95_s * 1000
    table.add_row("latency p50 / p95", f"{p50:.0f} / {p95:.0f} ms")
    for t in data.teams:
        limit = f" of {_usd(t.limit_usd)} per {data.budget_period}" if t.limit_usd else ""
        refused = f", {t.refused} refused" if t.refused else ""
        table.add_row(f"  team {t.team} spend", f"{_usd(t.peak_period_usd)}{limit}{refused}")
    table.add_row("wall time", f"{elapsed_s:.1f} s")
    return table


def _request_table(rows: list[DemoRow]) -> Any:
    from rich.table import Table

    table = Table(title="Requests")
    for col in (
        "#",
        "route",
        "kind",
        "answered by",
        "fallbacks (model: reason)",
        "cost",
        "baseline",
    ):
        table.add_column(col)
    for i, row in enumerate(rows, 1):
        d = row.decision
        fallbacks = "\n".join(f"{a.model}: {a.reason}" for a in d.attempts if a.reason) or "-"
        table.add_row(
            str(i),
            row.route,
            row.kind or "-",
            d.responding_model or f"[red]{d.outcome}[/red]",
            fallbacks,
            _usd(d.cost_usd),
            _usd(d.baseline_cost_usd),
        )
    return table


def run(args: argparse.Namespace) -> int:
    """Run the demo; the last line names the HTML report (or says why none was written).

    Raises `ConfigError` for a bad workload and `LiteLLMExtraMissing` without the
    `litellm` extra, before any output (`modelroute.cli` prints either as one line).
    Without the `report` extra (plotly) the totals are printed and the HTML report is
    skipped with a warning."""
    from rich.console import Console

    from modelroute.report.build import (
        REPORT_EXTRA,
        ReportExtraMissing,
        config_budgets,
        read_report,
        write_report,
    )

    require_litellm()
    started = time.monotonic()
    err = Console(stderr=True)
    out = Console(stderr=args.json, width=None if sys.stdout.isatty() else 120)
    workload = _workload(args, err)
    rows = _route(args, err, workload)
    out_dir = Path(args.out)
    log = out_dir / "decisions.jsonl"
    budgets, tz = config_budgets(out_dir / "config.yaml")
    data, stats = read_report(log, budgets=budgets, timezone=tz)
    try:
        report = write_report(data, stats, log, out_dir / "report.html")
    except ReportExtraMissing:
        report = None
    elapsed = time.monotonic() - started
    if args.verbose:
        out.print(_request_table(rows))
    out.print(_totals_table(data, elapsed, recorded=args.data is not None))
    err.print(f"decision log: {log}  (router config: {out_dir / 'config.yaml'})")
    if args.json:
        payload = {
            "summary": data.summary.to_dict(),
            "report": data.to_dict(),
            # summary.fallback_reasons counts attempts; this counts requests per reason
            "requests_by_fallback_reason": dict(data.reason_requests),
            "decision_log": str(log),
            "report_html": None if report is None else str(report.html_path),
            "report_markdown": None if report is None else str(report.markdown_path),
            "simulation": args.data is None,
            "data": args.data,
            "elapsed_s": elapsed,
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    if report is None:
        err.print(
            f"warning: no HTML report: it {REPORT_EXTRA} (`modelroute report {log}` "
            "writes it once installed)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print(f"HTML report: [bold]{report.html_path}[/bold]", highlight=False)
    return 0
