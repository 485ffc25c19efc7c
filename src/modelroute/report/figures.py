"""Plotly figures of a `ReportData`: each function formats numbers computed in
`aggregate`, computes nothing new, and returns None when the log has nothing to show.

Needs the `report` extra (plotly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from modelroute.report.aggregate import ReportData

if TYPE_CHECKING:
    from modelroute.report.series import Series

PALETTE = (
    "#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB",
    "#332288", "#117733", "#DDCC77", "#882255", "#44AA99",
)  # fmt: skip  # Paul Tol's colour-blind-safe sets
ROUTED = "#4477AA"
BASELINE = "#BBBBBB"
FAULT = "#EE6677"


class Colors:
    """One stable colour per name (model, reason, team) across every figure."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._given: dict[str, str] = {}
        for name in names:
            self(name)

    def __call__(self, name: str) -> str:
        if name not in self._given:
            self._given[name] = PALETTE[len(self._given) % len(PALETTE)]
        return self._given[name]


def house_style(fig: go.Figure, title: str, **kwargs: Any) -> go.Figure:
    """House style; `title` is kept as the figure's name (the page shows its own heading)."""
    fig.update_layout(
        meta={"title": title},
        template="plotly_white",
        height=kwargs.pop("height", 360),
        margin={"l": 60, "r": 20, "t": 36, "b": 50},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        **kwargs,
    )
    return fig


def _usd(value: float) -> str:
    return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"


def cost_distribution(data: ReportData) -> go.Figure | None:
    """Per-request cost with routing vs the same requests on the baseline model."""
    h = data.cost_histogram
    if not h.edges:
        return None
    fig = go.Figure()
    lines = (("with routing", h.actual, ROUTED), (_baseline_label(data), h.baseline, BASELINE))
    for name, counts, color in lines:
        if not any(counts):
            continue
        xs, ys = [], []
        for i, n in enumerate(counts):
            xs += [h.edges[i], h.edges[i + 1]]
            ys += [n, n]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines",
                line={"color": color, "width": 2},
                fill="tozeroy",
                hovertemplate="%{x:$.2e}: %{y} requests<extra>" + name + "</extra>",
            )
        )
    fig.update_xaxes(
        type="log", title="cost per request (USD, log scale)", tickformat="$.0e", dtick=1
    )
    fig.update_yaxes(title="requests")
    return house_style(fig, "Cost per request: routed vs all on the baseline")


def _baseline_label(data: ReportData) -> str:
    return f"all on {data.baseline_model}" if data.baseline_model else "all on the baseline"


def cumulative_spend(data: ReportData) -> go.Figure | None:
    """Cumulative spend over time, routed vs baseline counterfactual."""
    if not data.spend_actual.t:
        return None
    fig = go.Figure()
    minutes = _minutes(data.spend_actual, data.spend_baseline)
    for name, series, color in (
        (_baseline_label(data), data.spend_baseline, BASELINE),
        ("with routing", data.spend_actual, ROUTED),
    ):
        if series.t:
            fig.add_trace(
                go.Scatter(
                    x=[t / 60 if minutes else t for t in series.t],
                    y=list(series.y),
                    name=name,
                    mode="lines",
                    line={"color": color, "width": 3, "shape": "hv"},
                )
            )
    fig.update_xaxes(title="minutes since the first request" if minutes else "seconds")
    fig.update_yaxes(title="cumulative spend (USD)", tickformat="$.4f", rangemode="tozero")
    return house_style(fig, "Cumulative spend over time")


def _minutes(*series: Series) -> bool:
    return max((s.t[-1] for s in series if s.t), default=0.0) > 300


def fallback_by_reason(data: ReportData) -> go.Figure | None:
    """Share of requests in which each fallback reason fired."""
    if not data.reason_requests:
        return None
    items = sorted(data.reason_requests.items(), key=lambda kv: kv[1])
    total = data.summary.requests
    fig = go.Figure(
        go.Bar(
            x=[100 * n / total for _, n in items],
            y=[r for r, _ in items],
            orientation="h",
            marker_color=FAULT,
            text=[f"{100 * n / total:.1f}% ({n})" for _, n in items],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2f}% of requests<extra></extra>",
        )
    )
    fig.update_xaxes(title="requests where the reason fired (%)", rangemode="tozero")
    return house_style(fig, "Fallback fire rate by reason", height=max(260, 60 + 32 * len(items)))


def fallback_by_model(data: ReportData, reason_colors: Colors) -> go.Figure | None:
    """Share of each model's attempts that fell back, split by reason."""
    models = [m for m in data.models if m.attempts]
    reasons = sorted({r for m in models for r in m.failed})
    if not reasons:
        return None
    fig = go.Figure()
    for reason in reasons:
        fig.add_trace(
            go.Bar(
                y=[m.model for m in models],
                x=[100 * m.failed.get(reason, 0) / m.attempts for m in models],
                name=reason,
                orientation="h",
                marker_color=reason_colors(reason),
                customdata=[[m.failed.get(reason, 0), m.attempts] for m in models],
                hovertemplate="%{y} " + reason + ": %{customdata[0]} of %{customdata[1]} "
                "attempts (%{x:.1f}%)<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="attempts on the model that fell back (%)", rangemode="tozero")
    return house_style(
        fig, "Fallback rate by model and reason", height=max(300, 90 + 40 * len(models))
    )


def model_mix(data: ReportData, colors: Colors) -> go.Figure | None:
    """Which model answered, per route (share of answered requests)."""
    if not data.route_mix:
        return None
    routes = list(data.route_mix)
    answering = {m for mix in data.route_mix.values() for m in mix}
    models = [m.model for m in data.models if m.model in answering]
    models += sorted(answering - set(models))
    fig = go.Figure()
    for model in models:
        counts = [data.route_mix[r].get(model, 0) for r in routes]
        totals = [sum(data.route_mix[r].values()) for r in routes]
        fig.add_trace(
            go.Bar(
                x=routes,
                y=[100 * c / t if t else 0 for c, t in zip(counts, totals, strict=True)],
                name=model,
                marker_color=colors(model),
                customdata=counts,
                hovertemplate="%{x}: " + model + " %{customdata} (%{y:.1f}%)<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="answered requests (%)", range=[0, 100])
    fig.update_xaxes(title="route")
    return house_style(fig, "Model mix per route")


def quality(data: ReportData, colors: Colors) -> go.Figure | None:
    """Mean quality of the answers each model returned, plus routed vs baseline overall."""
    if not data.quality:
        return None
    names = [q.model for q in data.quality]
    values = [q.mean for q in data.quality]
    labels = [f"{q.mean:.1%} (n={q.known})" for q in data.quality]
    bar_colors = [colors(n) for n in names]
    if data.quality_routed is not None and data.quality_baseline is not None:
        names += ["routed, all requests", f"{_baseline_label(data)}"]
        values += [data.quality_routed, data.quality_baseline]
        labels += [f"{data.quality_routed:.1%}", f"{data.quality_baseline:.1%}"]
        bar_colors += [ROUTED, BASELINE]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[100 * v for v in values],
            text=labels,
            marker_color=bar_colors,
            textposition="auto",
            hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
        )
    )
    fig.update_yaxes(title="answers judged correct (%)", range=[0, 105])
    return house_style(fig, "Quality per tier (answering model), where known")


def latency(data: ReportData) -> go.Figure | None:
    """Request latency percentiles, overall and by answering model."""
    if data.summary.requests == 0:
        return None
    groups = list(data.latency)
    fig = go.Figure()
    shades = {"p50": "#4477AA", "p90": "#66CCEE", "p95": "#CCBB44", "p99": "#EE6677"}
    for p, shade in shades.items():
        fig.add_trace(
            go.Bar(
                x=groups,
                y=[1000 * data.latency[g].get(p, 0.0) for g in groups],
                name=p,
                marker_color=shade,
                hovertemplate="%{x} " + p + ": %{y:.0f} ms<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="latency (ms)")
    return house_style(fig, "Latency percentiles (all requests, then by answering model)")


def budget_use(data: ReportData, colors: Colors) -> go.Figure | None:
    """Cumulative spend per team within each budget period: as a share of the team's
    limit when every team has one (one scale for all), else in USD."""
    teams = [t for t in data.teams if t.series.t]
    if not teams:
        return None
    minutes = _minutes(*(t.series for t in teams))
    share = all(t.limit_usd for t in teams)
    fig = go.Figure()
    for team in teams:
        xs = [t / 60 if minutes else t for t in team.series.t]
        scale = 100 / team.limit_usd if share and team.limit_usd else 1.0
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[v * scale for v in team.series.y],
                name=f"team {team.team}",
                mode="lines",
                line={"color": colors(team.team), "width": 3, "shape": "hv"},
                customdata=list(team.series.y),
                hovertemplate="%{customdata:$.6f}<extra>" + team.team + "</extra>",
            )
        )
    if share:
        fig.add_hline(y=100, line_dash="dash", line_color=FAULT, annotation_text="budget")
        fig.update_yaxes(title=f"share of the team's budget per {data.budget_period} (%)")
    else:
        for team in teams:
            if team.limit_usd is not None:
                fig.add_hline(
                    y=team.limit_usd,
                    line_dash="dash",
                    line_color=colors(team.team),
                    annotation_text=f"{team.team} budget",
                )
        fig.update_yaxes(title="spend in the budget period (USD)", tickformat="$.4f")
    fig.update_xaxes(title="minutes since the first request" if minutes else "seconds")
    return house_style(fig, "Budget use per team")


def all_figures(data: ReportData) -> Mapping[str, go.Figure]:
    """Every figure that has data, by section id, in reading order."""
    colors = Colors(m.model for m in data.models)
    built = {
        "cost-distribution": cost_distribution(data),
        "cumulative-spend": cumulative_spend(data),
        "fallback-reasons": fallback_by_reason(data),
        "fallback-models": fallback_by_model(data, Colors()),
        "model-mix": model_mix(data, colors),
        "quality": quality(data, colors),
        "latency": latency(data),
        "budget": budget_use(data, Colors()),
    }
    return {key: fig for key, fig in built.items() if fig is not None}
