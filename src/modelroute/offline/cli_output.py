"""What `modelroute train`, `replay` and `calibrate` print.

stdout: one JSON object (`emit_json`, NaN/inf as null) or rich tables; stderr: progress,
`warn` lines (`modelroute <command>: warning: ...`) and, through `guarded`, one error
line with exit status 2 for our errors, OS errors and a missing `ml` extra.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelroute.cli_errors import error_line, one_line, os_problem
from modelroute.errors import ModelRouteError

if TYPE_CHECKING:
    from rich.console import Console

    from modelroute.offline.replay import ReplayReport

_ML_MODULES = frozenset({"numpy", "scipy", "sklearn", "joblib"})  # the `ml` extra
Command = Callable[[argparse.Namespace], int]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """`payload` as one JSON line on stdout (NaN/inf as null)."""
    sys.stdout.write(json.dumps(_clean(payload), allow_nan=False) + "\n")


def err_console() -> Console:
    """A rich console on stderr (progress, status)."""
    from rich.console import Console

    return Console(stderr=True)


def warn(args: argparse.Namespace, warnings: list[str], message: str) -> None:
    """One warning line on stderr, also kept for the JSON's `warnings`."""
    sys.stderr.write(f"modelroute {getattr(args, 'command', '')}: warning: {message}\n")
    warnings.append(message)


def guarded(func: Command) -> Command:
    """Exit 2 with one line on stderr for our errors, OS errors and a missing `ml` extra
    (an ImportError of numpy/scipy/scikit-learn); anything else is a bug and propagates."""

    def run(args: argparse.Namespace) -> int:
        prog = f"modelroute {getattr(args, 'command', '')}".rstrip()
        try:
            code: int = func(args)
        except ModelRouteError as exc:
            sys.stderr.write(error_line(prog, one_line(exc)) + "\n")
            return 2
        except OSError as exc:
            sys.stderr.write(error_line(prog, os_problem(exc)) + "\n")
            return 2
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] not in _ML_MODULES:
                raise
            problem = "needs the 'ml' extra: pip install 'modelroute[ml]'"
            sys.stderr.write(error_line(prog, problem) + "\n")
            return 2
        return code

    return run


def print_report(report: ReplayReport, console: Console) -> None:
    """A replay's summary and its answers per model, as two tables."""
    from rich.table import Table

    from modelroute.offline.replay import summary_rows

    table = Table(title="Replay on recorded outcomes (no model called)", show_header=False)
    for label, value in summary_rows(report):
        table.add_row(label, value)
    console.print(table)
    share = Table(title="Answers per model")
    share.add_column("model")
    share.add_column("share", justify="right")
    for model, part in sorted(report.model_share.items(), key=lambda kv: -kv[1]):
        if part > 0:
            share.add_row(model, f"{part:.1%}")
    console.print(share)


def print_setting(payload: dict[str, Any]) -> None:
    """A saved router's calibration as a table on stdout. A classifier shows the price of
    cost it routes with (`lam` in the JSON) beside the grid price its cross-validated
    point was scored at (`settings["*"]`; see `modelroute.offline.classifier`)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    cal = payload["calibration"]
    table = Table(title=f"Router saved to {payload['router']}", show_header=False)
    table.add_row("kind", payload["kind"])
    table.add_row("baseline", payload["baseline"])
    table.add_row("target", cal["target"])
    if cal.get("cross_checked_goal") is not None:
        table.add_row("cross-checked goal", f"{cal['cross_checked_goal']:.1%} of baseline")
    table.add_row("cross-validated quality", f"{cal['cv_quality_vs_baseline']:.1%} of baseline")
    table.add_row("cross-validated cost", f"{cal['cv_cost_vs_baseline']:.1%} of baseline")
    table.add_row("met on training rows", str(cal["target_met_on_training_rows"]))
    if payload["kind"] == "classifier":
        (price,) = cal["settings"].values()
        table.add_row("price of cost lam (routes by P(good) - lam x cost)", f"{cal['lam']:.4g}")
        table.add_row("cross-validated at grid price", f"{float(price):.4g}")
    else:
        for group, setting in cal["settings"].items():
            table.add_row(f"plan for {group or '(no task)'}", escape(setting))
    Console().print(table)
