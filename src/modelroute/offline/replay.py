"""Score a trained router or a YAML route config on recorded outcomes, calling no model.

Every query's answer, quality and cost come from the data: a one-shot router pays for
the one model it picks; a cascade pays for every model it called; a route config walks
its ranked fallback chain, judging each recorded answer with the route's validators.
The report compares with the baseline model, every single model and the per-query
oracle, and gives the router's cost-quality curve (its calibration family swept over
the price of cost), AIQ, and RouteLLM's APGR / CPT on two-model data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from modelroute.offline.data import OutcomeTable
from modelroute.offline.metrics import Outcome, aiq, oracle, pgr, single_model


class Replayable(Protocol):
    """What `replay` needs from a router: a kind, a baseline, and a way to run on a
    prepared table at a price (None = its calibrated setting)."""

    @property
    def kind(self) -> str:
        """`cascade`, `classifier` or `config`."""
        ...

    @property
    def baseline(self) -> str:
        """The reference model."""
        ...

    def prepare(self, table: OutcomeTable) -> Any:
        """Per-table work shared by every price."""
        ...

    def run_prepared(self, table: OutcomeTable, prep: Any, lam: float | None) -> Outcome:
        """What the router does on each row."""
        ...


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Replay results. Quality is per query (0..1), costs USD per query (None without
    prices); `*_vs_baseline` are fractions of the baseline's. `aiq_note` says why `aiq` is
    None (no sweep asked for, no family to sweep, or no prices)."""

    router: str
    queries: int
    skipped_rows: int
    skip_reasons: dict[str, int]
    quality: float
    cost_per_query: float | None
    baseline_model: str
    baseline_quality: float
    baseline_cost_per_query: float | None
    quality_vs_baseline: float | None
    cost_vs_baseline: float | None
    model_share: dict[str, float]
    calls_per_query: float
    strong_share: float
    aiq: float | None
    aiq_single_models: float | None
    curve: list[dict[str, float]]
    single_models: list[dict[str, Any]]
    oracle: dict[str, float | None]
    pgr: dict[str, Any] | None
    setting: dict[str, Any] = field(default_factory=dict)
    decision_seconds: float = 0.0
    aiq_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _money(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _curve(
    router: Replayable, table: OutcomeTable, prep: Any, out: Outcome
) -> list[tuple[float, float]]:
    """The router's family swept over the price of cost; a router without one (a route
    config) is its own single point."""
    calibration = getattr(router, "calibration", None)
    if calibration is None:
        return [(out.mean_cost, out.mean_quality)]
    seen: list[tuple[float, float]] = []
    for lam in calibration.sweep():
        out = router.run_prepared(table, prep, lam)
        point = (out.mean_cost, out.mean_quality)
        if point not in seen:
            seen.append(point)
    return sorted(seen)


def replay(
    router: Replayable, table: OutcomeTable, *, baseline: str | None = None, curve: bool = True
) -> ReplayReport:
    """Score `router` on every row of `table` (see the module docstring).

    Raises `UnknownModelError` when the router names a model the data lacks.
    """
    started = time.perf_counter()
    prep = router.prepare(table)  # checks the router's own models first
    base = baseline or router.baseline
    data_name = getattr(router, "data_name", None)  # a config's names -> the data's
    base = data_name(table, base) if data_name is not None else base
    b = table.column(base, "the baseline")
    out = router.run_prepared(table, prep, None)
    decision_seconds = time.perf_counter() - started
    swept = curve and getattr(router, "calibration", None) is not None
    points = _curve(router, table, prep, out) if curve else []
    singles = [single_model(table.quality, table.cost, j) for j in range(len(table.models))]
    aiq_router, aiq_single = _aiq(table, singles, points if swept else [])
    note = _aiq_note(router, table, curve)
    best = oracle(table.quality, table.cost)
    base_q, base_c = singles[b].mean_quality, _money(singles[b].mean_cost)
    cost = _money(out.mean_cost)
    return ReplayReport(
        router=router.kind,
        queries=len(table),
        skipped_rows=table.skipped_rows,
        skip_reasons=dict(table.skipped),
        quality=out.mean_quality,
        cost_per_query=cost,
        baseline_model=base,
        baseline_quality=base_q,
        baseline_cost_per_query=base_c,
        quality_vs_baseline=_ratio(out.mean_quality, base_q),
        cost_vs_baseline=_ratio(cost, base_c),
        model_share=out.model_share(table.models),
        calls_per_query=float(out.calls.mean()) if len(table) else 0.0,
        strong_share=float(out.strong.mean()) if len(table) else 0.0,
        aiq=aiq_router,
        aiq_single_models=aiq_single,
        curve=[_point(c, q, base_q, base_c) for c, q in points],
        single_models=[
            {"model": m, **_point(s.mean_cost, s.mean_quality, base_q, base_c)}
            for m, s in zip(table.models, singles, strict=True)
        ],
        oracle=_point(best.mean_cost, best.mean_quality, base_q, base_c),
        pgr=_two_model(router, table, b),
        setting=_setting(router),
        decision_seconds=decision_seconds,
        aiq_note=note,
    )


def _aiq_note(router: Replayable, table: OutcomeTable, curve: bool) -> str | None:
    """Why AIQ is not reported, or None when it is."""
    if not table.has_costs or not len(table):
        return "no AIQ: the data has no prices"
    if not curve:
        return "no AIQ: the cost-quality sweep was skipped"
    if getattr(router, "calibration", None) is None:
        return (
            f"no AIQ: a {router.kind} has one operating point, not a curve; the area under "
            "one point's hull is not comparable with a swept router's AIQ"
        )
    return None


def _aiq(
    table: OutcomeTable, singles: list[Outcome], points: list[tuple[float, float]]
) -> tuple[float | None, float | None]:
    """AIQ of the router's curve `points` (None without a curve) and of the single
    models, over the single models' cost range."""
    if not table.has_costs or not len(table):
        return None, None
    single_points = [(s.mean_cost, s.mean_quality) for s in singles]
    lo, hi = min(c for c, _ in single_points), max(c for c, _ in single_points)
    return (aiq(points, lo, hi) if points else None), aiq(single_points, lo, hi)


def _point(cost: float, quality: float, base_q: float, base_c: float | None) -> dict[str, Any]:
    c = _money(cost)
    return {
        "cost_per_query": c,
        "quality": quality,
        "cost_vs_baseline": _ratio(c, base_c),
        "quality_vs_baseline": _ratio(quality, base_q),
    }


def _two_model(router: Replayable, table: OutcomeTable, strong: int) -> dict[str, Any] | None:
    scorer = getattr(router, "strong_scores", None)
    if len(table.models) != 2 or scorer is None:
        return None
    weak = 1 - strong
    result = pgr(table.quality[:, weak], table.quality[:, strong], scorer(table))
    if result is None:
        return None
    return {
        "weak_model": table.models[weak],
        "strong_model": table.models[strong],
        "apgr": result.apgr,
        "cpt50": result.cpt50,
        "cpt80": result.cpt80,
    }


def _setting(router: Replayable) -> dict[str, Any]:
    calibration = getattr(router, "calibration", None)
    return {} if calibration is None else calibration.choice.to_dict()


def _aiq_text(report: ReplayReport) -> str:
    singles = "-" if report.aiq_single_models is None else f"{report.aiq_single_models:.3f}"
    if report.aiq is None:
        return f"- ({singles}): {report.aiq_note}" if report.aiq_note else f"- ({singles})"
    return f"{report.aiq:.3f} ({singles})"


def summary_rows(report: ReplayReport) -> Sequence[tuple[str, str]]:
    """(label, value) pairs for a human-readable table."""

    def usd(v: float | None) -> str:
        return "-" if v is None else f"${v:.6f}"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    rows = [
        ("router", report.router),
        ("queries (skipped rows)", f"{report.queries} ({report.skipped_rows})"),
        ("quality", f"{report.quality:.4f} ({pct(report.quality_vs_baseline)} of baseline)"),
        (
            "cost per query",
            f"{usd(report.cost_per_query)} ({pct(report.cost_vs_baseline)} of baseline)",
        ),
        ("baseline", f"{report.baseline_model}: {report.baseline_quality:.4f}"),
        ("baseline cost per query", usd(report.baseline_cost_per_query)),
        ("calls per query", f"{report.calls_per_query:.2f}"),
        ("strong-model share", pct(report.strong_share)),
        ("AIQ (single models)", _aiq_text(report)),
        ("oracle", f"{report.oracle['quality']:.4f} at {usd(report.oracle['cost_per_query'])}"),
    ]
    if report.pgr is not None:
        p = report.pgr
        rows.append(
            ("APGR / CPT(50%) / CPT(80%)", f"{p['apgr']:.3f} / {p['cpt50']:.1%} / {p['cpt80']:.1%}")
        )
    return rows
