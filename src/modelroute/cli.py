"""The `modelroute` command line: `demo` and `serve`.

With `--json`, stdout carries exactly one JSON object; progress and logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from modelroute.demo.runner import DemoRow


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def _row_cells(index: int, row: DemoRow) -> list[str]:
    d = row.decision
    fallbacks = [f"{a.model}: {a.reason}" for a in d.attempts if a.reason is not None]
    answered = next((a for a in reversed(d.attempts) if a.reason is None), None)
    usage = answered.usage if answered is not None else None
    tokens = f"{usage.input_tokens}/{usage.output_tokens}" if usage else "-"
    return [
        str(index),
        row.route,
        d.responding_model or "[red]failed[/red]",
        "\n".join(fallbacks) or "-",
        tokens,
        _usd(d.cost_usd),
        _usd(d.baseline_cost_usd),
        f"{d.latency_s * 1000:.0f} ms",
    ]


def _print_summary(console: Console, rows: list[DemoRow]) -> dict[str, object]:
    from rich.table import Table

    from modelroute.summary import summarize

    s = summarize(r.decision for r in rows)
    table = Table(title="Totals", show_header=False)
    table.add_row("requests (answered / failed)", f"{s.requests} ({s.answered} / {s.failed})")
    table.add_row("cost with routing", _usd(s.cost_usd))
    table.add_row("cost if every answer came from the baseline", _usd(s.baseline_cost_usd))
    saving = "-" if s.saving_pct is None else f"{s.saving_pct:.1f}%"
    table.add_row("saving against the baseline", saving)
    table.add_row("requests with a fallback", f"{s.fallback_requests} of {s.requests}")
    for reason, count in s.fallback_reasons.items():
        table.add_row(f"  fallback reason {reason}", str(count))
    for model, count in s.responding_models.items():
        table.add_row(f"  answered by {model}", f"{count} ({100 * count / s.requests:.0f}%)")
    table.add_row(
        "latency p50 / p95", f"{s.latency_p50_s * 1000:.0f} / {s.latency_p95_s * 1000:.0f} ms"
    )
    console.print(table)
    return s.to_dict()


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the simulated workload and print per-request lines and totals."""
    from rich.console import Console
    from rich.table import Table

    from modelroute.demo.runner import run_demo
    from modelroute.summary import summarize

    err = Console(stderr=True)
    out = Console(stderr=args.json, width=160 if not sys.stdout.isatty() else None)
    err.print(
        "[bold]modelroute demo[/bold]: a simulation. Answers come from the local provider "
        "server on 127.0.0.1 with injected faults; prices are LiteLLM's list prices (USD)."
    )
    table = Table(title="Requests")
    for col in (
        "#",
        "route",
        "answered by",
        "fallbacks (model: reason)",
        "tokens in/out",
        "cost",
        "baseline cost",
        "latency",
    ):
        table.add_column(col)
    rows: list[DemoRow] = []

    def on_row(row: DemoRow) -> None:
        rows.append(row)
        err.print(f"  request {len(rows)} done", highlight=False)

    with err.status("routing the workload (the first call imports LiteLLM, ~5 s)..."):
        run_demo(Path(args.out), on_row=on_row, workload_path=args.workload)
    for i, row in enumerate(rows, 1):
        table.add_row(*_row_cells(i, row))
    out.print(table)
    _print_summary(out, rows)
    log = Path(args.out) / "decisions.jsonl"
    err.print(f"decision log: {log}")
    if args.json:
        s = summarize(r.decision for r in rows)
        payload = {"summary": s.to_dict(), "decision_log": str(log)}
        sys.stdout.write(json.dumps(payload) + "\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the local provider server in the foreground."""
    from modelroute.provider_server.__main__ import main as serve_main

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.script:
        argv += ["--script", args.script]
    return serve_main(argv)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `modelroute`."""
    parser = argparse.ArgumentParser(prog="modelroute", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a simulated routed workload (no API keys)")
    demo.add_argument("--out", default="out/demo", help="folder for the decision log")
    demo.add_argument("--workload", default=None, help="a workload YAML (default: packaged)")
    demo.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    demo.set_defaults(func=cmd_demo)
    serve = sub.add_parser("serve", help="run the local OpenAI-compatible provider server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--script", default=None, help="a model script YAML/JSON file")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelroute` command."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
