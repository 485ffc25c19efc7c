"""Save and load a trained router as one file.

Layout: a first line `modelroute-router <format>`, a second line of JSON (the header:
format, modelroute / scikit-learn versions, kind, models, baseline and the calibrated
setting), then the router pickled (scikit-learn objects included). `read_header` reads
the header without unpickling. Loading needs no training data.

Unpickling runs code: load only router files you made or trust.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from modelroute.errors import ModelRouteError
from modelroute.offline.cascade import CascadeRouter
from modelroute.offline.classifier import PromptClassifier

MAGIC = b"modelroute-router"
FORMAT = 2  # 2: calibrations carry half-against-half cross-checks
TrainedRouter = CascadeRouter | PromptClassifier


class RouterFileError(ModelRouteError, ValueError):
    """The file is not a router saved by this version of modelroute."""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("modelroute", "scikit-learn", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def header_of(router: TrainedRouter) -> dict[str, Any]:
    """The JSON header describing `router`."""
    return {
        "format": FORMAT,
        "versions": _versions(),
        "kind": router.kind,
        "models": list(router.models),
        "baseline": router.baseline,
        "calibration": router.calibration.choice.to_dict(),
    }


def save_router(router: TrainedRouter, path: str | Path) -> dict[str, Any]:
    """Write `router` to `path` (one file); returns the header written."""
    header = header_of(router)
    with Path(path).open("wb") as fh:
        fh.write(MAGIC + b" " + str(FORMAT).encode() + b"\n")
        fh.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        pickle.dump(router, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return header


def _open_header(fh: Any, path: Path) -> dict[str, Any]:
    first = fh.readline().rstrip(b"\n")
    if not first.startswith(MAGIC):
        raise RouterFileError(f"{path}: not a modelroute router file")
    try:
        fmt = int(first[len(MAGIC) :].strip())
        header: dict[str, Any] = json.loads(fh.readline())
    except ValueError as exc:
        raise RouterFileError(f"{path}: unreadable header ({exc})") from None
    if fmt != FORMAT:
        raise RouterFileError(f"{path}: router format {fmt}, this modelroute reads {FORMAT}")
    return header


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a router file, without unpickling anything."""
    p = Path(path)
    with p.open("rb") as fh:
        return _open_header(fh, p)


def load_router(path: str | os.PathLike[str]) -> TrainedRouter:
    """Load a router saved by `save_router`. Warns when it was saved with another
    scikit-learn version (predictions may differ)."""
    p = Path(path)
    with p.open("rb") as fh:
        header = _open_header(fh, p)
        saved = header.get("versions", {}).get("scikit-learn")
        now = _versions()["scikit-learn"]
        if saved and saved != now:
            warnings.warn(
                f"{p}: saved with scikit-learn {saved}, running {now}", RuntimeWarning, stacklevel=2
            )
        router = pickle.load(fh)
    if not isinstance(router, CascadeRouter | PromptClassifier):
        raise RouterFileError(f"{p}: holds a {type(router).__name__}, not a router")
    return router
