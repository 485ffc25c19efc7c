"""The savings report: a decision log in, one self-contained HTML file and a markdown
summary out.

    from modelroute.report import build_report
    result = build_report("out/demo/decisions.jsonl", "out/demo/report.html")
    print(result.data.summary.saving_pct, result.stats.bad)

`data` streams the log line by line, `aggregate` computes every number in one pass,
`figures`/`html`/`markdown` only format them. The HTML needs the `report` extra (plotly).
Names load on first use, so the CLI can import `modelroute.report.command` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelroute.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from modelroute.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'modelroute.report' has no attribute {name!r}")
