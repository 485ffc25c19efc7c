"""`train`, `replay --json` and `calibrate` as a user runs them."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelroute.cli_offline import main
from modelroute.offline.artifact import read_header, save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_cascade
from offline_data import header, synthetic, write

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


def _cli(*argv: str, block_ml: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter; `block_ml` makes numpy/scikit-learn unimportable
    (as without the `ml` extra)."""
    block = "sys.modules.update(numpy=None, sklearn=None, scipy=None); " if block_ml else ""
    code = f"import sys; {block}from modelroute.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["train", "replay"])
def test_binary_data_is_one_line_naming_file_and_offset(
    command: str, trained: tuple[Path, Path], tmp_path: Path
) -> None:
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"prompt,a\n\x89PNG\x00\xff")
    other = (
        ["--out", str(tmp_path / "r.bin")] if command == "train" else ["--router", str(trained[1])]
    )
    proc = _cli(command, "--data", str(blob), *other, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    line = _one_error_line(proc.stderr)
    assert line == f"modelroute {command}: error: {blob}: not UTF-8 text (byte 0x89 at offset 9)"


def test_missing_ml_extra_is_one_line(tmp_path: Path) -> None:
    data = write(tmp_path / "d.csv", synthetic(20))
    proc = _cli("train", "--data", str(data), "--out", str(tmp_path / "r.bin"), block_ml=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert _one_error_line(proc.stderr) == (
        "modelroute train: error: needs the 'ml' extra: pip install 'modelroute[ml]'"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--target-quality", "95", "give a fraction, e.g. 0.95"),
        ("--target-quality", "-1", "must be in (0, 1.5], got -1"),
        ("--target-quality", "0", "must be in (0, 1.5], got 0"),
        ("--target-quality", "nan", "not a finite number"),
        ("--strong-share", "20", "give a fraction, e.g. 0.2"),
        ("--strong-share", "-0.1", "must be in [0, 1], got -0.1"),
    ],
)
@pytest.mark.parametrize("command", ["train", "calibrate"])
def test_targets_are_range_checked_at_parsing(
    command: str, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--data", "d.csv", "--router", "r.bin", "--out", "o.bin", option, value]
             if command == "calibrate" else
             [command, "--data", "d.csv", "--out", "o.bin", option, value])  # fmt: skip
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"modelroute {command}: error: argument {option}: ")
    assert message in last


def test_calibrate_text_mode_prints_the_replay(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, router = trained
    code = main(["calibrate", "--router", str(router), "--out", str(tmp_path / "c.bin"),
                 "--strong-share", "0.2", "--data", str(data)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "Router saved to" in out
    assert "Replay on recorded outcomes" in out
    assert "queries (skipped rows)" in out


def test_unconfirmed_target_warns(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, router = trained
    code = main(["calibrate", "--router", str(router), "--out", str(tmp_path / "c.bin"),
                 "--target-quality", "1.5", "--json"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["calibration"]["target_met_on_training_rows"] is False
    warning = (
        "the target could not be confirmed on held-back halves of the training rows; "
        "expect less on new data"
    )
    assert f"modelroute calibrate: warning: {warning}\n" in captured.err
    assert payload["warnings"] == [warning]


def _without_cost(path: Path, model: str) -> Path:
    fields = [f for f in header() if f != f"{model}|total_cost"]
    rows = synthetic(80)
    for r in rows:
        del r[f"{model}|total_cost"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_quality_column_without_cost_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _without_cost(tmp_path / "d.csv", "m-mid")
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "r.bin"),
                 "--kind", "classifier", "--json"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    warning = f"{data}: column 'm-mid' has no 'm-mid|total_cost' column: left out (not a model)"
    assert f"modelroute train: warning: {warning}\n" in captured.err
    payload = json.loads(captured.out)
    assert payload["models"] == ["m-small", "m-big"]
    assert payload["warnings"] == [warning]
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "r.bin"),
                 "--baseline", "m-mid"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "modelroute train: error: data: unknown model 'm-mid': "
        "the data has no 'm-mid|total_cost' column"
    )


CONFIG = """
models:
  m-small: {input_cost_per_mtok: 0.1, output_cost_per_mtok: 0.4}
  m-big: {input_cost_per_mtok: 2.5, output_cost_per_mtok: 10}
routes:
  default:
    models: [m-small, m-big]
    tier_validators: {m-small: [{min_confidence: -0.5}]}
    verifier: {model: m-big}
    shadow: {model: m-big}
baseline: m-big
"""


def test_replay_of_a_config_warns_about_ignored_features(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    data, _ = trained
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = _cli("replay", "--data", str(data), "--router", str(config), "--json", "--no-curve")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    warnings = json.loads(line)["warnings"]
    assert len(warnings) == 3
    assert ["verifier" in warnings[0], "shadow" in warnings[1]] == [True, True]
    assert "min_confidence" in warnings[2]
    for warning in warnings:
        assert f"modelroute replay: warning: {warning}\n" in proc.stderr


def test_out_is_checked_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "d.csv", synthetic(80))
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "no" / "r.bin")])
    assert code == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) == (
        f"modelroute train: error: --out {tmp_path / 'no' / 'r.bin'}: "
        f"directory {tmp_path / 'no'} does not exist"
    )


def test_out_named_like_json_warns(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, router = trained
    out = tmp_path / "r.json"
    code = main(["calibrate", "--router", str(router), "--out", str(out), "--strong-share", "0.3"])
    assert code == 0
    assert f"modelroute calibrate: warning: --out {out}: a router file is a pickle, not JSON" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("missing", ["--data", "--router"])
def test_missing_files_read_the_same(
    missing: str, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, router = trained
    paths = {"--data": str(data), "--router": str(router), missing: str(tmp_path / "gone")}
    code = main(["replay", *(x for kv in paths.items() for x in kv)])
    assert code == 2
    assert _one_error_line(capsys.readouterr().err) == (
        f"modelroute replay: error: {tmp_path / 'gone'}: no such file or directory"
    )


def test_train_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("(default: auto)", "(default: 5)", "(default: 0)", "cross-validation folds",
                     "seed of the folds", "0.95, not 95"):  # fmt: skip
        assert expected in text


def test_classifier_summary_labels_both_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "d.csv", synthetic(80))
    out = tmp_path / "r.bin"
    code = main(["train", "--data", str(data), "--out", str(out), "--kind", "classifier",
                 "--baseline", "m-big", "--target-quality", "0.9"])  # fmt: skip
    assert code == 0
    cal = read_header(out)["calibration"]
    text = capsys.readouterr().out
    assert "plan for *" not in text
    lam = f"{cal['lam']:.4g}"
    assert re.search(rf"price of cost lam .*│ {re.escape(lam)} ", text)
    grid = f"{float(cal['settings']['*']):.4g}"
    assert re.search(rf"cross-validated at grid price +│ {re.escape(grid)} ", text)


CASCADE_CONFIG = """
models:
  small: {{target: openai/m-small, input_cost_per_mtok: 0.1, output_cost_per_mtok: 0.4}}
  mid: {{target: m-mid, input_cost_per_mtok: 0.5, output_cost_per_mtok: 2}}
  big: {{target: m-big, input_cost_per_mtok: 2.5, output_cost_per_mtok: 10}}
routes:
  default:
    models: [small, mid, big]
    strategy: {{type: trained, path: {path}}}
baseline: big
"""


def _replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["replay", *argv, "--json"]) == 0
    payload: dict[str, Any] = json.loads(capsys.readouterr().out)
    return payload


def test_config_replay_runs_a_trained_cascade_like_its_file(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, router = trained
    config = tmp_path / "routes.yaml"
    config.write_text(CASCADE_CONFIG.format(path=router), encoding="utf-8")
    direct = _replay_json(capsys, "--data", str(data), "--router", str(router))
    via = _replay_json(capsys, "--data", str(data), "--router", str(config))
    assert direct["calls_per_query"] > 1  # the cascade escalates on some rows
    for key in ("quality", "cost_per_query", "strong_share", "calls_per_query", "model_share"):
        assert via[key] == pytest.approx(direct[key]), key
    assert via["baseline_model"] == "m-big"  # config `big` matched by its target
    assert via["warnings"] == []
    # one operating point: no AIQ (not comparable with a swept router's), and why
    assert direct["aiq"] is not None and direct["aiq_note"] is None
    assert via["aiq"] is None
    assert "one operating point" in via["aiq_note"]


def test_config_replay_names_the_matching_rule_for_unknown_models(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = trained
    config = tmp_path / "routes.yaml"
    config.write_text(
        "models:\n  gpt4: {target: openai/gpt-4, input_cost_per_mtok: 1, output_cost_per_mtok: 1}\n"
        "routes:\n  default: {models: [gpt4]}\nbaseline: gpt4\n",
        encoding="utf-8",
    )
    code = main(["replay", "--data", str(data), "--router", str(config), "--json"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "modelroute replay: error: data (routes.default.models[0]): unknown model 'gpt4' "
        "(config replay matches each route model to a data model column by its config name "
        "or its `target` (tried ['gpt4', 'openai/gpt-4', 'gpt-4'])); "
        "the data's model columns are ['m-small', 'm-mid', 'm-big']"
    )


def test_unknown_baseline_lists_the_data_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "d.csv", synthetic(20))
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "r.bin"),
                 "--baseline", "gpt-5"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "modelroute train: error: data: unknown model 'gpt-5' (--baseline); "
        "the data's model columns are ['m-small', 'm-mid', 'm-big']"
    )


def test_calibrate_with_data_reports_aiq(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, router = trained
    code = main(["calibrate", "--router", str(router), "--out", str(tmp_path / "c.bin"),
                 "--target-quality", "0.9", "--data", str(data), "--json"])  # fmt: skip
    assert code == 0
    replayed = json.loads(capsys.readouterr().out)["replay"]
    assert 0.0 < replayed["aiq"] <= 1.0
    assert replayed["aiq_note"] is None
    assert len(replayed["curve"]) >= 2
