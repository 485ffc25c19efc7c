"""`modelroute train`, `replay` and `calibrate`: routers from recorded outcomes.

`register(sub)` adds the three subcommands to the `modelroute` parser. With `--json`,
stdout carries exactly one JSON object; progress, logs and warnings go to stderr (the
warnings are also listed under `warnings` in the JSON). Errors in the arguments, the
data, the config or the router file, and a missing `ml` extra, exit with status 2 and
one line on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelroute.errors import ModelRouteError
from modelroute.offline import cli_args
from modelroute.offline.cli_output import (
    emit_json,
    err_console,
    guarded,
    print_report,
    print_setting,
    warn,
)

if TYPE_CHECKING:
    from modelroute.offline.calibrate import Target
    from modelroute.offline.data import OutcomeTable
    from modelroute.offline.replay import Replayable, ReplayReport

_YAML = {".yaml", ".yml"}
_UNCONFIRMED = {
    "cost": "the target could not be confirmed on held-back halves of the training rows; "
    "expect less on new data",
    "strong": "no setting keeps the strong-model share this low on the training rows; "
    "the closest one was kept",
}


def _target(args: argparse.Namespace, default_quality: float | None) -> Target:
    from modelroute.offline.calibrate import Target

    try:
        if args.strong_share is not None:
            return Target(strong_share=args.strong_share)
        quality = args.target_quality if args.target_quality is not None else default_quality
        return Target(quality=quality)
    except ValueError as exc:  # the argparse types check ranges first; this is a backstop
        raise ModelRouteError(f"target: {exc}") from None


def _load_data(args: argparse.Namespace, path: str, warnings: list[str]) -> OutcomeTable:
    """Load outcomes, warning about quality columns left out for lack of a cost column."""
    from modelroute.offline.data import COST_SUFFIX, load_outcomes

    table = load_outcomes(path)
    for column in table.uncosted:
        warn(
            args,
            warnings,
            f"{path}: column {column!r} has no {column + COST_SUFFIX!r} column: "
            "left out (not a model)",
        )
    return table


def _check_calibration(args: argparse.Namespace, header: dict[str, Any], out: list[str]) -> None:
    cal = header["calibration"]
    if not cal["target_met_on_training_rows"]:
        warn(args, out, _UNCONFIRMED[cal["axis"]])


def _load(path: str) -> Replayable:
    if Path(path).suffix.lower() in _YAML:
        from modelroute.offline.config_replay import ConfigRouter

        return ConfigRouter.from_yaml(path)
    from modelroute.offline.artifact import load_router

    return load_router(path)


def cmd_train(args: argparse.Namespace) -> int:
    """Fit a router on `--data`, calibrate it on the same rows, save it to `--out`."""
    from modelroute.offline.artifact import save_router
    from modelroute.offline.train import train_router

    warnings: list[str] = []
    for message in cli_args.check_out(args.out):
        warn(args, warnings, message)
    err = err_console()
    table = _load_data(args, args.data, warnings)
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
    _check_calibration(args, header, warnings)
    payload = {
        "router": str(args.out),
        "rows": len(table),
        "skipped_rows": table.skipped_rows,
        **header,
        "warnings": warnings,
    }
    if args.json:
        emit_json(payload)
    else:
        print_setting(payload)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Score a router file or a YAML route config on `--data`."""
    from modelroute.offline.config_replay import ConfigRouter
    from modelroute.offline.replay import replay

    warnings: list[str] = []
    err = err_console()
    router = _load(args.router)
    for message in router.ignored if isinstance(router, ConfigRouter) else ():
        warn(args, warnings, message)
    table = _load_data(args, args.data, warnings)
    err.print(f"replaying {router.kind} on {len(table)} rows ({table.skipped_rows} skipped)")
    report = replay(router, table, baseline=args.baseline, curve=not args.no_curve)
    if args.json:
        emit_json({**report.to_dict(), "warnings": warnings})
    else:
        from rich.console import Console

        print_report(report, Console())
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Re-target a trained router from its stored cross-validated points (no data
    needed); with `--data`, also replay the result there."""
    from modelroute.offline.artifact import load_router, save_router

    if args.target_quality is None and args.strong_share is None:
        raise ModelRouteError("give --target-quality or --strong-share")
    warnings: list[str] = []
    for message in cli_args.check_out(args.out):
        warn(args, warnings, message)
    router = load_router(args.router).retarget(_target(args, None))
    header = save_router(router, args.out)
    _check_calibration(args, header, warnings)
    payload: dict[str, Any] = {"router": str(args.out), **header}
    report: ReplayReport | None = None
    if args.data:
        from modelroute.offline.replay import replay

        report = replay(router, _load_data(args, args.data, warnings))
        payload["replay"] = report.to_dict()
    payload["warnings"] = warnings
    if args.json:
        emit_json(payload)
    else:
        print_setting(payload)
        if report is not None:
            from rich.console import Console

            print_report(report, Console())
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `train`, `replay` and `calibrate` to the `modelroute` subcommands."""
    train = sub.add_parser("train", help="fit a router on recorded outcomes (RouterBench CSV)")
    cli_args.add_train_arguments(train)
    train.set_defaults(func=guarded(cmd_train))
    rep = sub.add_parser(
        "replay", help="score a router or a YAML route config on recorded outcomes"
    )
    cli_args.add_replay_arguments(rep)
    rep.set_defaults(func=guarded(cmd_replay))
    cal = sub.add_parser("calibrate", help="re-target a trained router's thresholds")
    cli_args.add_calibrate_arguments(cal)
    cal.set_defaults(func=guarded(cmd_calibrate))


def main(argv: list[str] | None = None) -> int:
    """Run the three subcommands on their own (`python -m modelroute.cli_offline`)."""
    parser = argparse.ArgumentParser(prog="modelroute", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
