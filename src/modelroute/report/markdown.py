"""The savings report as a markdown summary (for a PR comment, a wiki page, a terminal).

Formats a `ReportData`; every number comes from `aggregate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelroute.report.aggregate import ReportData
from modelroute.report.html import headline, ms, usd

if TYPE_CHECKING:
    from modelroute.report.data import LogStats


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (pipes in cells escaped)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, *, source: str, stats: LogStats | None = None) -> str:
    """The report's numbers as markdown."""
    s = data.summary
    parts = [f"# modelroute savings report\n\nDecision log: `{source}`"]
    if stats is not None:
        parts.append(
            f"{stats.lines:,} lines: {stats.decisions:,} decisions, "
            f"{sum(stats.transitions.values()):,} breaker transitions, {stats.bad:,} bad lines"
        )
    parts.append(md_table(("figure", "value"), headline(data)))
    if data.reason_requests:
        reason_rows = [
            (r, n, f"{100 * n / s.requests:.1f}%", s.fallback_reasons.get(r, 0))
            for r, n in data.reason_requests.items()
        ]
        parts.append(
            "## Fallbacks by reason\n\n"
            + md_table(("reason", "requests", "fire rate", "attempts"), reason_rows)
        )
    rows = [
        (m.model, m.attempts, m.answered, f"{100 * m.fire_rate:.1f}%", usd(m.cost_usd))
        for m in data.models
    ]
    parts.append(
        "## Models\n\n" + md_table(("model", "attempts", "answered", "fell back", "spend"), rows)
    )
    mix_rows = [
        (route, ", ".join(f"{m} {100 * n / sum(mix.values()):.0f}%" for m, n in mix.items()))
        for route, mix in data.route_mix.items()
    ]
    parts.append("## Model mix per route\n\n" + md_table(("route", "answered by"), mix_rows))
    if data.quality:
        q_rows = [(q.model, q.known, f"{100 * q.mean:.1f}%") for q in data.quality]
        parts.append("## Quality per tier\n\n" + md_table(("model", "scored", "correct"), q_rows))
    lat_rows = [(g, *(ms(v) for v in p.values())) for g, p in data.latency.items()]
    parts.append("## Latency\n\n" + md_table(("", "p50", "p90", "p95", "p99"), lat_rows))
    if data.teams:
        t_rows = [
            (
                t.team,
                t.requests,
                usd(t.spent_usd),
                f"{usd(t.peak_period_usd)} ({t.period_label})",
                usd(t.limit_usd),
                t.refused,
                t.downgraded,
            )
            for t in data.teams
        ]
        headers = ("team", "requests", "spent", "busiest period", "limit", "refused", "downgraded")
        parts.append("## Budget use\n\n" + md_table(headers, t_rows))
    return "\n\n".join(parts) + "\n"
