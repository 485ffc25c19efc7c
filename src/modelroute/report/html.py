"""One self-contained HTML file: plotly.js inlined once, every figure as a div, no
network access needed to open it. `page` and `table` are shared with the eval report.

The page records script errors in `data-js-errors` on `<html>` (an error handler runs
before plotly.js) and sets `data-plots` to the number of rendered plots once loaded, so a
headless browser can check the rendering from the DOM alone.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelroute.report.aggregate import ReportData

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from modelroute.report.data import LogStats

SECTIONS: Mapping[str, tuple[str, str]] = {
    "cost-distribution": (
        "Cost per request",
        "How many requests fell in each cost band (log scale): blue is what each request "
        "cost with routing (every attempt paid, cascades included), grey what the same "
        "answer would have cost on the baseline model. Mass moved left is money saved.",
    ),
    "cumulative-spend": (
        "Cumulative spend",
        "Total spend as the workload ran, routed vs the baseline counterfactual. The gap "
        "between the lines is the saving so far; a bend shows when traffic got costlier.",
    ),
    "fallback-reasons": (
        "Fallback fire rate by reason",
        "Share of requests in which each reason made the router move on at least once "
        "(rate limits, 5xx, open circuit breakers, invalid or low-confidence answers, "
        "budget refusals).",
    ),
    "fallback-models": (
        "Fallback rate by model",
        "Share of the attempts on each model that did not give the final answer, split by "
        "reason: which provider or tier is the weak link.",
    ),
    "model-mix": (
        "Model mix per route",
        "Which model answered the requests of each route: how much traffic the cheap tiers absorb.",
    ),
    "quality": (
        "Quality per tier",
        "Share of answers judged correct, by the model that answered; the last two bars "
        "compare routed traffic with the baseline model on the same requests. Only "
        "requests with a known score count.",
    ),
    "latency": (
        "Latency percentiles",
        "End-to-end request latency (every attempt and backoff included), p50 to p99, for "
        "all requests and by answering model.",
    ),
    "budget": (
        "Budget use",
        "Cumulative spend of each team within its budget period, with the team's limit "
        "dashed when the config was given. The guard refuses or downgrades calls that "
        "would cross it.",
    ),
}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;
color:#222}
header{background:#1f2d3d;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c8d3df;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
margin:8px 0 18px}
.kpi{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi b{display:block;font-size:22px;margin-top:2px} .kpi span{font-size:12px;color:#667}
section{background:#fff;border-radius:8px;padding:14px 16px;margin:14px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{font-size:17px;margin:0 0 4px} section p.what{margin:0 0 6px;color:#556;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} td,th{padding:4px 10px;
border-bottom:1px solid #e3e6ea;text-align:right} th:first-child,td:first-child{text-align:left}
.note{font-size:12px;color:#667}
"""

_ERROR_HOOK = """
window.addEventListener('error', function (e) {
  var el = document.documentElement;
  var prev = el.getAttribute('data-js-errors');
  el.setAttribute('data-js-errors', (prev ? prev + ' | ' : '') + (e.message || 'error'));
});
"""

_RENDERED_HOOK = """
window.addEventListener('load', function () {
  var divs = document.querySelectorAll('.plotly-graph-div'), n = 0;
  divs.forEach(function (d) { if (d.querySelector('.main-svg')) { n += 1; } });
  document.documentElement.setAttribute('data-plots', String(n));
  document.documentElement.setAttribute('data-plots-expected', String(divs.length));
});
"""


def esc(value: object) -> str:
    """HTML-escaped text of `value`."""
    return html.escape(str(value), quote=True)


def figure_div(fig: go.Figure, div_id: str) -> str:
    """The figure as a div and its plotting script (plotly.js itself is in the page head)."""
    config = {"displaylogo": False, "responsive": True}
    out: str = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"plot-{div_id}", config=config
    )
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain HTML table (every cell escaped)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kpis(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures as cards: (label, value) pairs."""
    cards = "".join(
        f'<div class="kpi"><span>{esc(k)}</span><b>{esc(v)}</b></div>' for k, v in items
    )
    return f'<div class="kpis">{cards}</div>'


def section(key: str, title: str, what: str, body: str) -> str:
    """One titled block with its one-line explanation."""
    return (
        f'<section id="{esc(key)}"><h2>{esc(title)}</h2>'
        f'<p class="what">{esc(what)}</p>{body}</section>'
    )


def page(title: str, subtitle: str, body: str) -> str:
    """The full self-contained document."""
    from plotly.offline import get_plotlyjs

    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style>"
        f"<script>{_ERROR_HOOK}</script>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        f"<script>{_RENDERED_HOOK}</script></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>"
    )


def pct(value: float | None) -> str:
    """`12.3%`, or `-` for None."""
    return "-" if value is None else f"{value:.1f}%"


def usd(value: float | None) -> str:
    """`$0.001234`, or `-` for None."""
    return "-" if value is None else f"${value:,.6f}"


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds."""
    return f"{seconds * 1000:,.0f} ms"


def headline(data: ReportData) -> list[tuple[str, str]]:
    """The report's headline cards."""
    s = data.summary
    items = [
        ("requests (answered / failed)", f"{s.requests:,} ({s.answered:,} / {s.failed:,})"),
        ("cost with routing", usd(s.cost_usd)),
        (f"cost all on {data.baseline_model or 'baseline'}", usd(s.baseline_cost_usd)),
        ("saving", pct(s.saving_pct)),
        (
            "requests with a fallback or refusal",
            pct(100 * s.fallback_requests / s.requests if s.requests else None),
        ),
        ("latency p50 / p95", f"{ms(s.latency_p50_s)} / {ms(s.latency_p95_s)}"),
    ]
    if data.quality_routed is not None:
        routed = f"{100 * data.quality_routed:.1f}%"
        if data.quality_baseline is not None:
            routed += f" vs {100 * data.quality_baseline:.1f}%"
        items.append(("quality routed vs baseline", routed))
    if s.shadow_calls:
        shadow = f"{s.shadow_calls:,}, {usd(s.shadow_cost_usd)}"
        items.append(("shadow copies (not returned)", shadow))
    return items


def _model_table(data: ReportData) -> str:
    rows = [
        (
            m.model,
            f"{m.attempts:,}",
            f"{m.answered:,}",
            f"{100 * m.fire_rate:.1f}%",
            usd(m.cost_usd),
            ", ".join(f"{r}: {n}" for r, n in m.failed.items()) or "-",
        )
        for m in data.models
    ]
    headers = ("model", "attempts", "answered", "fell back", "spend", "reasons")
    return table(headers, rows)


def _source_note(stats: LogStats | None) -> str:
    if stats is None:
        return ""
    note = (
        f"{stats.lines:,} lines read: {stats.decisions:,} decisions, "
        f"{sum(stats.transitions.values()):,} breaker transitions, {stats.bad:,} bad lines skipped"
    )
    if stats.bad_examples:
        shown = "; ".join(f"line {n}: {p}" for n, p in stats.bad_examples)
        note += f" (first: {shown})"
    return f'<p class="note">{esc(note)}</p>'


def render_report(data: ReportData, *, source: str, stats: LogStats | None = None) -> str:
    """The savings report of `data` as one HTML document."""
    from modelroute.report.figures import all_figures

    blocks = [kpis(headline(data)), _source_note(stats)]
    for key, fig in all_figures(data).items():
        title, what = SECTIONS[key]
        blocks.append(section(key, title, what, figure_div(fig, key)))
    blocks.append(
        section(
            "models", "Per model", "Attempts, answers, fallbacks and spend.", _model_table(data)
        )
    )
    subtitle = f"decision log {source}" + _span(data)
    return page("modelroute savings report", subtitle, "".join(blocks))


def _span(data: ReportData) -> str:
    if data.first_started_at is None or data.last_started_at is None:
        return ""
    from datetime import UTC, datetime

    def fmt(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    return f", {fmt(data.first_started_at)} to {fmt(data.last_started_at)}"


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` (parents created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
