"""A trained router survives a save/load round trip as one file, without its data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelroute.offline.artifact import RouterFileError, load_router, read_header, save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_cascade, train_classifier
from offline_data import synthetic, write


@pytest.mark.parametrize(
    "trainer", [train_cascade, train_classifier], ids=["cascade", "classifier"]
)
def test_round_trip(tmp_path: Path, trainer: object) -> None:
    table = load_outcomes(write(tmp_path / "d.csv", synthetic(120)))
    router = trainer(table, baseline="m-big", target=Target(quality=0.9))  # type: ignore[operator]
    path = tmp_path / "router.bin"
    header = save_router(router, path)
    assert read_header(path) == header
    assert header["kind"] == router.kind
    assert header["models"] == ["m-small", "m-mid", "m-big"]
    assert header["baseline"] == "m-big"
    assert header["calibration"]["target"] == "quality >= 90% of baseline"
    assert set(header["versions"]) == {"modelroute", "scikit-learn", "numpy"}
    (tmp_path / "d.csv").unlink()  # loading needs no training data
    loaded = load_router(path)
    before, after = router.run(table), loaded.run(table)
    np.testing.assert_array_equal(before.answered_by, after.answered_by)
    np.testing.assert_allclose(before.cost, after.cost)


def test_not_a_router_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"hello\n")
    with pytest.raises(RouterFileError, match="not a modelroute router"):
        read_header(path)
    path.write_bytes(b"modelroute-router 99\n{}\n")
    with pytest.raises(RouterFileError, match="format 99"):
        load_router(path)
