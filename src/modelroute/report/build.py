"""`build_report`: read a decision log, aggregate it, write the HTML and markdown files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelroute.report.aggregate import ReportAggregator, ReportData
from modelroute.report.data import DecisionLog, LogStats

if TYPE_CHECKING:
    from modelroute.limits.budget import Budget


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What `build_report` produced: the figures, what reading met, the files written."""

    data: ReportData
    stats: LogStats
    html_path: Path
    markdown_path: Path
    markdown: str


def build_report(
    log: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    budgets: Sequence[Budget] = (),
    timezone: str = "UTC",
) -> ReportResult:
    """Write the report of decision log `log` to `out` (HTML) and `out` with a `.md`
    suffix (markdown). `budgets`/`timezone` (from a config's `limits:`) add the team
    budget lines. Bad lines are skipped and counted in `stats`."""
    from modelroute.report.html import render_report, write_text
    from modelroute.report.markdown import render_markdown

    reader = DecisionLog(log)
    acc = ReportAggregator(budgets, timezone)
    for decision in reader:
        acc.add(decision)
    data = acc.result()
    source = os.fspath(log)
    html_path = write_text(out, render_report(data, source=source, stats=reader.stats))
    markdown = render_markdown(data, source=source, stats=reader.stats)
    md_path = write_text(html_path.with_suffix(".md"), markdown)
    return ReportResult(data, reader.stats, html_path, md_path, markdown)


def config_budgets(config: str | os.PathLike[str] | None) -> tuple[list[Budget], str]:
    """The budgets and time zone of a router config's `limits:` (none without one)."""
    if config is None:
        return [], "UTC"
    from modelroute.config import load_config

    cfg = load_config(config)
    if cfg.limits is None:
        return [], "UTC"
    return cfg.limits.budget_limits(), cfg.limits.timezone
