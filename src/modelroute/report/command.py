"""`modelroute report LOG.jsonl`: the savings report of a decision log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `report` subcommand."""
    p = sub.add_parser(
        "report",
        help="HTML + markdown savings report of a decision log",
        description="Write one self-contained HTML report (works offline) and a markdown "
        "summary of a JSONL decision log; the log is read line by line.",
    )
    p.add_argument("log", help="the decision log (JSONL, as written by `decision_log:`)")
    p.add_argument("--out", default=None, help="HTML file (default: report.html beside the log)")
    p.add_argument("--config", default=None, help="router config YAML: draws its team budgets")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the report; print the markdown (or JSON) on stdout, file paths on stderr.

    Raises `UsageError` (no such log file; a bad `--config`, naming it), `NoDecisions`
    (a file with no decision line) and `ReportExtraMissing` (no plotly); `modelroute.cli`
    prints them as one line (`modelroute report: error: ...`) and exits with code 2."""
    from modelroute.cli_errors import UsageError, one_line, os_problem
    from modelroute.errors import ConfigError
    from modelroute.report.build import NoDecisions, config_budgets, read_report, write_report

    log = Path(args.log)
    if not log.is_file():
        reason = (
            "is a directory, not a decision log" if log.is_dir() else "no such file or directory"
        )
        raise UsageError(f"{log}: {reason}")
    out = Path(args.out) if args.out else log.with_name("report.html")
    try:
        budgets, tz = config_budgets(args.config)
    except (OSError, ConfigError) as exc:
        problem = os_problem(exc) if isinstance(exc, OSError) else one_line(exc)
        if not problem.startswith(str(args.config)):
            problem = f"{args.config}: {problem}"
        raise UsageError(f"--config {problem}") from None
    data, stats = read_report(log, budgets=budgets, timezone=tz)
    if not stats.decisions:
        raise NoDecisions(str(log), stats)
    result = write_report(data, stats, log, out)
    if args.json:
        payload = {
            **result.data.to_dict(),
            "log": result.stats.to_dict(),
            "html": str(result.html_path),
            "markdown": str(result.markdown_path),
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        sys.stdout.write(result.markdown)
    if result.stats.bad:
        print(f"skipped {result.stats.bad} bad lines", file=sys.stderr)
    print(f"report: {result.html_path} (markdown: {result.markdown_path})", file=sys.stderr)
    return 0
