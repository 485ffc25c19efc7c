"""`train`, `replay --json` and `calibrate` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelroute.cli_offline import main
from modelroute.offline.artifact import save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_cascade
from offline_data import synthetic, write

ROOT = Path(__file__).resolve().parent.parent
KEYS = (
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
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    data = write(folder / "d.csv", synthetic(160))
    router = folder / "router.bin"
    cascade = train_cascade(load_outcomes(data), baseline="m-big", target=Target(quality=0.95))
    save_router(cascade, router)
    return data, router


def test_replay_json_prints_exactly_one_object(trained: tuple[Path, Path]) -> None:
    data, router = trained
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelroute.cli_offline", "replay", "--data", str(data),
         "--router", str(router), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(KEYS) <= set(report)
    assert report["queries"] == 160
    assert report["baseline_model"] == "m-big"
    assert "replaying" in proc.stderr


def test_train_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "d.csv", synthetic(80))
    out = tmp_path / "r.bin"
    code = main(["train", "--data", str(data), "--out", str(out), "--kind", "classifier",
                 "--baseline", "m-big", "--target-quality", "0.9", "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["kind"] == "classifier"
    assert payload["rows"] == 80
    assert out.exists()


def test_calibrate_retargets_without_data(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, router = trained
    out = tmp_path / "cheap.bin"
    code = main(["calibrate", "--router", str(router), "--out", str(out),
                 "--strong-share", "0.2", "--data", str(data), "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["calibration"]["target"] == "strong-model share <= 20%"
    assert payload["replay"]["strong_share"] <= 0.3


def test_errors_exit_2_with_one_line(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, router = trained
    other = write(tmp_path / "other.csv", [], models=("x", "y"))
    code = main(["replay", "--data", str(other), "--router", str(router), "--json"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: data: unknown model 'm-" in captured.err
