"""The eval comparison report: one self-contained HTML file and a markdown summary.

Formats a `Comparison` with the savings report's page, tables and colours.
"""

from __future__ import annotations

from typing import Any

from modelroute.evaluation.compare import Comparison
from modelroute.report.html import figure_div, kpis, ms, page, section, table, usd
from modelroute.report.markdown import md_table

SECTIONS = {
    "quality-cost": (
        "Quality vs cost",
        "Each model's share of answers scored correct against its mean cost per prompt "
        "(log scale): up and to the left is better value.",
    ),
    "quality-kind": (
        "Quality per kind of prompt",
        "Share correct per kind of prompt and model: where the cheap tiers are enough and "
        "where only the strong ones are.",
    ),
    "latency": ("Latency", "Per-model request latency, p50 and p95 (answered prompts)."),
}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _figures(c: Comparison) -> dict[str, Any]:
    import plotly.graph_objects as go

    from modelroute.report.figures import Colors, house_style

    colors = Colors(m.model for m in c.models)
    scored = [m for m in c.models if m.quality is not None]
    out: dict[str, Any] = {}
    if scored:
        fig = go.Figure()
        for m in scored:
            fig.add_trace(
                go.Scatter(
                    x=[max(m.cost_per_prompt, 1e-12)],
                    y=[100 * (m.quality or 0.0)],
                    mode="markers+text",
                    text=[m.model],
                    textposition="top center",
                    name=m.model,
                    marker={"size": 16, "color": colors(m.model)},
                    hovertemplate=m.model + ": %{y:.1f}% at %{x:$.2e} per prompt<extra></extra>",
                )
            )
        fig.update_xaxes(
            type="log", title="mean cost per prompt (USD, log scale)", tickformat="$.0e", dtick=1
        )
        fig.update_yaxes(title="answers scored correct (%)", range=[0, 105])
        out["quality-cost"] = house_style(fig, "Quality vs cost")
    kinds = [k for k in c.kinds if any(q is not None for q in k.quality.values())]
    if kinds:
        fig = go.Figure()
        for m in c.models:
            values = [k.quality.get(m.model) for k in kinds]
            fig.add_trace(
                go.Bar(
                    x=[k.kind for k in kinds],
                    y=[100 * (v or 0.0) for v in values],
                    name=m.model,
                    marker_color=colors(m.model),
                    text=[_pct(v) for v in values],
                    textposition="auto",
                )
            )
        fig.update_layout(barmode="group")
        fig.update_yaxes(title="answers scored correct (%)", range=[0, 105])
        out["quality-kind"] = house_style(fig, "Quality per kind")
    if c.models:
        fig = go.Figure()
        for p, attr, shade in (
            ("p50", "latency_p50_s", "#4477AA"),
            ("p95", "latency_p95_s", "#CCBB44"),
        ):
            fig.add_trace(
                go.Bar(
                    x=[m.model for m in c.models],
                    name=p,
                    marker_color=shade,
                    y=[1000 * getattr(m, attr) for m in c.models],
                )
            )
        fig.update_layout(barmode="group")
        fig.update_yaxes(title="latency (ms)")
        out["latency"] = house_style(fig, "Latency")
    return out


def _model_rows(c: Comparison) -> list[tuple[str, ...]]:
    return [
        (
            m.model,
            f"{m.answered}/{m.prompts}",
            _pct(m.quality),
            str(m.scored),
            usd(m.cost_per_prompt),
            usd(m.cost_usd),
            ms(m.latency_p50_s),
            ms(m.latency_p95_s),
        )
        for m in c.models
    ]


MODEL_HEADERS = ("model", "answered", "quality", "scored", "cost/prompt", "cost", "p50", "p95")
KIND_HEADERS = ("kind", "prompts", "good enough", "best", "quality per model")


def _kind_rows(c: Comparison) -> list[tuple[str, ...]]:
    return [
        (
            k.kind,
            str(k.prompts),
            k.good_enough or "-",
            k.best or "-",
            ", ".join(f"{m} {_pct(q)}" for m, q in k.quality.items()),
        )
        for k in c.kinds
    ]


def render_html(c: Comparison, *, source: str, subtitle: str = "") -> str:
    """The comparison as one HTML document."""
    best = max(
        (m for m in c.models if m.quality is not None), key=lambda m: m.quality or 0.0, default=None
    )
    cards = [
        ("models", str(len(c.models))),
        ("prompts", str(max((m.prompts for m in c.models), default=0))),
        ("best quality", f"{best.model} {_pct(best.quality)}" if best else "-"),
        ("good enough", f"within {100 * c.target:.0f}% of the best"),
    ]
    blocks = [kpis(cards)]
    for key, fig in _figures(c).items():
        title, what = SECTIONS[key]
        blocks.append(section(key, title, what, figure_div(fig, key)))
    blocks.append(
        section(
            "tiers",
            "Which tier is good enough",
            f"Per kind of prompt, the cheapest model scoring at least {100 * c.target:.0f}% of "
            "the best model's quality on it.",
            table(KIND_HEADERS, _kind_rows(c)),
        )
    )
    blocks.append(section("models", "Per model", "", table(MODEL_HEADERS, _model_rows(c))))
    title = "modelroute eval: model comparison"
    return page(title, f"results {source}{subtitle}", "".join(blocks))


def render_markdown(c: Comparison, *, source: str) -> str:
    """The comparison as markdown."""
    parts = [
        f"# modelroute eval: model comparison\n\nResults: `{source}`",
        "## Per model\n\n" + md_table(MODEL_HEADERS, _model_rows(c)),
        f"## Which tier is good enough (within {100 * c.target:.0f}% of the best)\n\n"
        + md_table(KIND_HEADERS, _kind_rows(c)),
    ]
    return "\n\n".join(parts) + "\n"
