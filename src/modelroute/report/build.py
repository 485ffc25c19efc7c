"""`build_report`: read a decision log, aggregate it, write the HTML and markdown files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelroute.errors import ModelRouteError
from modelroute.report.aggregate import ReportAggregator, ReportData
from modelroute.report.data import DecisionLog, LogStats

if TYPE_CHECKING:
    from modelroute.limits.budget import Budget


REPORT_EXTRA = "needs the 'report' extra: pip install 'modelroute[report]'"


class ReportExtraMissing(ModelRouteError, ImportError):
    """The HTML report needs plotly, which comes with the `report` extra."""

    def __init__(self) -> None:
        super().__init__(f"the HTML report {REPORT_EXTRA}", name="plotly")


class NoDecisions(ModelRouteError, ValueError):
    """A file given as a decision log holds no decision line (empty, or not a log).

    `path` is the file, `stats` what reading it met."""

    def __init__(self, path: str, stats: LogStats) -> None:
        self.path = path
        self.stats = stats
        seen = f"{stats.lines} lines, {stats.bad} not valid records"
        if stats.bad_examples:
            number, problem = stats.bad_examples[0]
            seen += f"; line {number}: {problem}"
        super().__init__(f"{path}: no decision lines, not a decision log ({seen})")


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
    budget lines. Bad lines are skipped and counted in `stats`. Raises
    `ReportExtraMissing` (an ImportError) without the `report` extra (plotly), OSError
    when `log` cannot be read."""
    data, stats = read_report(log, budgets=budgets, timezone=timezone)
    return write_report(data, stats, log, out)


def read_report(
    log: str | os.PathLike[str], *, budgets: Sequence[Budget] = (), timezone: str = "UTC"
) -> tuple[ReportData, LogStats]:
    """Every number of the report of decision log `log`, and what reading it met (no
    plotly needed). Raises OSError when `log` cannot be read."""
    reader = DecisionLog(log)
    acc = ReportAggregator(budgets, timezone)
    for decision in reader:
        acc.add(decision)
    return acc.result(), reader.stats


def write_report(
    data: ReportData, stats: LogStats, log: str | os.PathLike[str], out: str | os.PathLike[str]
) -> ReportResult:
    """Write the HTML report of `data` (read from `log`) to `out` and its markdown beside
    it. Raises `ReportExtraMissing` (an ImportError) without the `report` extra (plotly)."""
    from modelroute.report.html import render_report, write_text
    from modelroute.report.markdown import render_markdown

    source = os.fspath(log)
    try:
        page = render_report(data, source=source, stats=stats)
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] != "plotly":
            raise
        raise ReportExtraMissing() from None
    html_path = write_text(out, page)
    markdown = render_markdown(data, source=source, stats=stats)
    md_path = write_text(html_path.with_suffix(".md"), markdown)
    return ReportResult(data, stats, html_path, md_path, markdown)


def config_budgets(config: str | os.PathLike[str] | None) -> tuple[list[Budget], str]:
    """The budgets and time zone of a router config's `limits:` (none without one).
    Raises `ConfigError` for an invalid config, OSError when it cannot be read."""
    if config is None:
        return [], "UTC"
    from modelroute.config import load_config

    cfg = load_config(config)
    if cfg.limits is None:
        return [], "UTC"
    return cfg.limits.budget_limits(), cfg.limits.timezone
