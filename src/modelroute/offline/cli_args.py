"""The options of `modelroute train`, `replay` and `calibrate`, checked before any work.

The `argparse` types refuse out-of-range targets at parsing (under `modelroute`: one line
on stderr naming the option, exit code 2, see `modelroute.cli_errors`); the
`--out` check raises `OutputPathError` before a long training run rather than after it.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from modelroute.cli_errors import whole_number_at_least
from modelroute.errors import ModelRouteError

MAX_QUALITY = 1.5  # a quality target above 150% of the baseline is surely a typo
_NOT_A_ROUTER_FILE = frozenset({".json", ".csv", ".yaml", ".yml"})


class OutputPathError(ModelRouteError, ValueError):
    """`--out` cannot be written: its directory is missing or not writable, or it is a
    directory."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def target_quality(text: str) -> float:
    """`--target-quality`: a fraction of the baseline's quality in (0, 1.5]. Raises
    `argparse.ArgumentTypeError` (a percentage such as 95 gets a hint)."""
    value = _number(text)
    if value > MAX_QUALITY:
        raise argparse.ArgumentTypeError(
            f"{text} is above {MAX_QUALITY} times the baseline's quality: "
            "give a fraction, e.g. 0.95"
        )
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_QUALITY}], got {text}")
    return value


def strong_share(text: str) -> float:
    """`--strong-share`: a share of queries in [0, 1]. Raises `argparse.ArgumentTypeError`
    (a percentage such as 20 gets a hint)."""
    value = _number(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is above 1: give a fraction, e.g. 0.2")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


positive_int = whole_number_at_least(2)
"""A whole number >= 2 (`--folds`). Raises `argparse.ArgumentTypeError`."""


def check_out(path: str) -> list[str]:
    """Check that a router file can be written at `path` before any work; returns
    warnings (a `.json`/`.csv`/`.yaml` name for what is a pickle). Raises
    `OutputPathError` when the directory is missing or not writable, or `path` is a
    directory."""
    out = Path(path)
    parent = out.parent
    if not parent.is_dir():
        raise OutputPathError(f"--out {path}: directory {parent} does not exist")
    if out.is_dir():
        raise OutputPathError(f"--out {path}: is a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise OutputPathError(f"--out {path}: not writable")
    if out.suffix.lower() in _NOT_A_ROUTER_FILE:
        return [
            f"--out {path}: a router file is a pickle, not {out.suffix.lower()[1:].upper()} "
            "(e.g. name it router.bin)"
        ]
    return []


def _targets(parser: argparse.ArgumentParser, default: str) -> None:
    """`--target-quality` or `--strong-share` (one of them); `default` says what applies
    when neither is given."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--target-quality",
        type=target_quality,
        default=None,
        metavar="FRACTION",
        help="fraction of the baseline's quality to reach at the least cost, in (0, 1.5] "
        f"(e.g. 0.95, not 95; {default})",
    )
    group.add_argument(
        "--strong-share",
        type=strong_share,
        default=None,
        metavar="FRACTION",
        help="at most this share of queries, in [0, 1], may call the baseline (strong) model",
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `modelroute train`."""
    parser.add_argument("--data", required=True, help="a CSV file or a directory of them")
    parser.add_argument("--out", required=True, help="router file to write (a pickle, e.g. r.bin)")
    parser.add_argument(
        "--kind",
        choices=("auto", "cascade", "classifier"),
        default="auto",
        help="cascade: cheap models first, a learned verifier escalates (needs recorded "
        "answers); classifier: picks one model from the prompt alone; auto: both, keeping "
        "the one meeting the target at the lower cross-validated cost (default: auto)",
    )
    parser.add_argument("--baseline", default=None, help="reference model (default: best quality)")
    _targets(parser, "default: 0.95")
    parser.add_argument(
        "--folds",
        type=positive_int,
        default=5,
        help="cross-validation folds the settings are scored with (default: 5)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the folds and halvings (default: 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `modelroute replay`."""
    parser.add_argument("--data", required=True, help="a CSV file or a directory of them")
    parser.add_argument("--router", required=True, help="a router file or a YAML route config")
    parser.add_argument("--baseline", default=None, help="reference model (default: the router's)")
    parser.add_argument("--no-curve", action="store_true", help="skip the cost-quality sweep")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `modelroute calibrate`."""
    parser.add_argument("--router", required=True, help="router file to read")
    parser.add_argument("--out", required=True, help="router file to write (a pickle)")
    _targets(parser, "one of the two is required")
    parser.add_argument("--data", default=None, help="optionally replay the result on this data")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
