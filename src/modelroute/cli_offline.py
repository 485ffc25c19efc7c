"""`modelroute train`, `replay` and `calibrate`: routers from recorded outcomes.

`register(sub)` adds the three subcommands to the `modelroute` parser. With `--json`,
stdout carries exactly one JSON object; progress and logs go to stderr. Errors in the
data, the config or the router file exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelroute.errors import ModelRouteError

if TYPE_CHECKING:
    from rich.console import Console

    from modelroute.offline.calibrate import Target
    from modelroute.offline.replay import Replayable, ReplayReport

_YAML = {".yaml", ".yml"}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_clean(payload), allow_nan=False) + "\n")


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _target(args: argparse.Namespace, default_quality: float | None) -> Target:
    from modelroute.offline.calibrate import Target

    if args.strong_share is not None:
        return Target(strong_share=args.strong_share)
    return Target(
        quality=args.target_quality if args.target_quality is not None else default_quality
    )


def _load(path: str) -> Replayable:
    if Path(path).suffix.lower() in _YAML:
        from modelroute.offline.config_replay import ConfigRouter

        return ConfigRouter.from_yaml(path)
    from modelroute.offline.artifact import load_router

    return load_router(path)


def _print_report(report: ReplayReport, console: Console) -> None:
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


def cmd_train(args: argparse.Namespace) -> int:
    """Fit a router on `--data`, calibrate it on the same rows, save it to `--out`."""
    from modelroute.offline.artifact import save_router
    from modelroute.offline.data import load_outcomes
    from modelroute.offline.train import train_router

    err = _err()
    table = load_outcomes(args.data)
    err.print(f"loaded {len(table)} rows ({table.skipped_rows} skipped) from {args.data}")
    with err.status("training (cross-validated on these rows)..."):
        router = train_router(
            table,
            kind=args.kind,
            baseline=args.baseline,
            target=_target(args, 0.95),
            progress=lambda msg: err.print(f"  {msg}", highlight=False),
            folds=args.folds,
            seed=args.seed,
        )
    header = save_router(router, args.out)
    payload = {
        "router": str(args.out),
        "rows": len(table),
        "skipped_rows": table.skipped_rows,
        **header,
    }
    if args.json:
        _emit_json(payload)
    else:
        _print_setting(payload)
    return 0


def _print_setting(payload: dict[str, Any]) -> None:
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
    for group, setting in cal["settings"].items():
        table.add_row(f"plan for {group or '(no task)'}", escape(setting))
    Console().print(table)


def cmd_replay(args: argparse.Namespace) -> int:
    """Score a router file or a YAML route config on `--data`."""
    from modelroute.offline.data import load_outcomes
    from modelroute.offline.replay import replay

    err = _err()
    router = _load(args.router)
    table = load_outcomes(args.data)
    err.print(f"replaying {router.kind} on {len(table)} rows ({table.skipped_rows} skipped)")
    report = replay(router, table, baseline=args.baseline, curve=not args.no_curve)
    if args.json:
        _emit_json(report.to_dict())
    else:
        from rich.console import Console

        _print_report(report, Console())
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Re-target a trained router from its stored cross-validated points (no data
    needed); with `--data`, also replay the result there."""
    from modelroute.offline.artifact import load_router, save_router

    if args.target_quality is None and args.strong_share is None:
        raise ModelRouteError("give --target-quality or --strong-share")
    router = load_router(args.router).retarget(_target(args, None))
    header = save_router(router, args.out)
    payload: dict[str, Any] = {"router": str(args.out), **header}
    if args.data:
        from modelroute.offline.data import load_outcomes
        from modelroute.offline.replay import replay

        payload["replay"] = replay(router, load_outcomes(args.data), curve=False).to_dict()
    if args.json:
        _emit_json(payload)
    else:
        _print_setting(payload)
    return 0


def _guarded(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            code: int = func(args)
        except (ModelRouteError, OSError) as exc:
            sys.stderr.write(f"modelroute {getattr(args, 'command', '')}: error: {exc}\n")
            return 2
        return code

    return run


def _targets(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--target-quality",
        type=float,
        default=None,
        help="fraction of the baseline's quality to reach at the least cost (e.g. 0.95)",
    )
    group.add_argument(
        "--strong-share",
        type=float,
        default=None,
        help="at most this share of queries may call the baseline (strong) model",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train`, `replay` and `calibrate` to the `modelroute` subcommands."""
    train = sub.add_parser("train", help="fit a router on recorded outcomes (RouterBench CSV)")
    train.add_argument("--data", required=True, help="a CSV file or a directory of them")
    train.add_argument("--out", required=True, help="router file to write")
    train.add_argument("--kind", choices=("auto", "cascade", "classifier"), default="auto")
    train.add_argument("--baseline", default=None, help="reference model (default: best quality)")
    _targets(train)
    train.add_argument("--folds", type=int, default=5)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    train.set_defaults(func=_guarded(cmd_train))

    rep = sub.add_parser(
        "replay", help="score a router or a YAML route config on recorded outcomes"
    )
    rep.add_argument("--data", required=True, help="a CSV file or a directory of them")
    rep.add_argument("--router", required=True, help="a router file or a YAML route config")
    rep.add_argument("--baseline", default=None, help="reference model (default: the router's)")
    rep.add_argument("--no-curve", action="store_true", help="skip the cost-quality sweep")
    rep.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rep.set_defaults(func=_guarded(cmd_replay))

    cal = sub.add_parser("calibrate", help="re-target a trained router's thresholds")
    cal.add_argument("--router", required=True, help="router file to read")
    cal.add_argument("--out", required=True, help="router file to write")
    _targets(cal)
    cal.add_argument("--data", default=None, help="optionally replay the result on this data")
    cal.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    cal.set_defaults(func=_guarded(cmd_calibrate))


def main(argv: list[str] | None = None) -> int:
    """Run the three subcommands on their own (`python -m modelroute.cli_offline`)."""
    parser = argparse.ArgumentParser(prog="modelroute", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
