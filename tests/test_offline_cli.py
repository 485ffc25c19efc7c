"""`train`, `replay --json` and `calibrate` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline_data import synthetic, write

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "modelroute.cli_offline", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    data = write(folder / "d.csv", synthetic(160))
    router = folder / "router.bin"
    proc = _run(
        "train",
        "--data",
        str(data),
        "--out",
        str(router),
        "--kind",
        "cascade",
        "--baseline",
        "m-big",
        "--target-quality",
        "0.95",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "cascade"
    return data, router


def test_replay_json_prints_exactly_one_object(trained: tuple[Path, Path]) -> None:
    data, router = trained
    proc = _run("replay", "--data", str(data), "--router", str(router), "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in (
        "queries",
        "skipped_rows",
        "quality",
        "cost_per_query",
        "baseline_model",
        "baseline_quality",
        "baseline_cost_per_query",
        "model_share",
        "aiq",
        "curve",
    ):
        assert key in report
    assert report["queries"] == 160
    assert report["baseline_model"] == "m-big"
    assert "replaying" in proc.stderr


def test_calibrate_retargets_without_data(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, router = trained
    out = tmp_path / "cheap.bin"
    proc = _run(
        "calibrate",
        "--router",
        str(router),
        "--out",
        str(out),
        "--strong-share",
        "0.2",
        "--data",
        str(data),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["calibration"]["target"] == "strong-model share <= 20%"
    assert payload["replay"]["strong_share"] <= 0.3


def test_errors_exit_2_with_one_line(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, router = trained
    other = write(tmp_path / "other.csv", [], models=("x", "y"))
    proc = _run("replay", "--data", str(other), "--router", str(router), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown model 'm-" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2  # the progress line and the error
