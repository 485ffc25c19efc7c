"""`modelroute report` ends bad input with one line on stderr and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import modelroute, one_line_error
from report_helpers import write_log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.jsonl"
    write_log(path, 20)
    return path


@pytest.mark.parametrize(
    ("text", "name"), [("", "empty.jsonl"), ("model,cost\ngpt-4o,0.1\n", "costs.csv")]
)
def test_a_file_without_decision_lines_is_an_error(tmp_path: Path, text: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    line = one_line_error(modelroute("report", str(path)), "report")
    assert f"{path}: no decision lines" in line
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "missing.yaml: no such file or directory"),
        ("routes: [unclosed\n", "bad.yaml:2:1: invalid YAML: "),
        ("routs: {}\n", "bad.yaml: 2 problems in the config: routes: Field required; routs:"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file(
    log: Path, tmp_path: Path, config: str | None, expected: str
) -> None:
    path = tmp_path / ("missing.yaml" if config is None else "bad.yaml")
    if config is not None:
        path.write_text(config)
    line = one_line_error(modelroute("report", str(log), "--config", str(path)), "report")
    assert f"--config {tmp_path}/{expected}" in line


def test_without_plotly_the_report_names_the_extra(log: Path) -> None:
    line = one_line_error(modelroute("report", str(log), block="plotly"), "report")
    assert line.endswith("needs the 'report' extra: pip install 'modelroute[report]'")


def test_a_good_log_still_reports(log: Path) -> None:
    proc = modelroute("report", str(log))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# modelroute savings report")
    assert (log.parent / "report.html").stat().st_size > 100_000
