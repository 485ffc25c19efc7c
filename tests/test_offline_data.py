"""Loading RouterBench / RouteLLM CSVs: bad rows are skipped and counted."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from modelroute.errors import UnknownModelError
from modelroute.offline.data import DataFormatError, UncostedModelError, load_outcomes
from offline_data import COSTS, MODELS, header, row, write

GOOD_Q = {"m-small": 0.0, "m-mid": 1.0, "m-big": 1.0}
ANSWERS = {"m-small": "A", "m-mid": "B", "m-big": "B"}


def _rows() -> list[dict[str, str]]:
    rows = [row(i, "quiz", f"q{i}", GOOD_Q, ANSWERS, COSTS) for i in range(3)]
    missing = row(3, "quiz", "q3", {**GOOD_Q, "m-mid": ""}, ANSWERS, COSTS)
    bad_quality = row(4, "quiz", "q4", {**GOOD_Q, "m-big": "yes"}, ANSWERS, COSTS)
    above_one = row(5, "quiz", "q5", {**GOOD_Q, "m-big": 1.5}, ANSWERS, COSTS)
    bad_cost = row(6, "quiz", "q6", GOOD_Q, ANSWERS, {**COSTS, "m-small": -1.0})
    bad_prompt = row(7, "quiz", "q7", GOOD_Q, ANSWERS, COSTS)
    bad_prompt["prompt"] = "['unclosed"
    bad_answer = row(8, "quiz", "q8", GOOD_Q, ANSWERS, COSTS)
    bad_answer["m-big|model_response"] = "[1, 2]"
    return [*rows, missing, bad_quality, above_one, bad_cost, bad_prompt, bad_answer]


def test_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    table = load_outcomes(write(tmp_path / "d.csv", _rows()))
    assert len(table) == 3
    assert table.skipped == {
        "missing_cell": 1,
        "bad_quality": 2,
        "bad_cost": 1,
        "bad_prompt": 1,
        "bad_response": 1,
    }
    assert table.skipped_rows == 6
    assert table.models == MODELS
    assert table.prompts[0] == "q0"
    assert table.tasks == ("quiz",) * 3
    assert table.responses is not None and table.responses[0] == ("A", "B", "B")
    np.testing.assert_array_equal(table.quality[0], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(table.cost[0], [COSTS[m] for m in MODELS])


def test_directory_of_files_is_one_table(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", [row(0, "x", "p0", GOOD_Q, ANSWERS, COSTS)])
    write(tmp_path / "b.csv", [row(1, "y", "p1", GOOD_Q, ANSWERS, COSTS)])
    table = load_outcomes(tmp_path)
    assert table.prompts == ("p0", "p1")
    assert table.tasks == ("x", "y")


def test_files_with_other_model_columns_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", [row(0, "x", "p0", GOOD_Q, ANSWERS, COSTS)])
    two = MODELS[:2]
    write(
        tmp_path / "b.csv",
        [row(1, "x", "p1", {m: 1.0 for m in two}, ANSWERS, COSTS)],
        models=two,
    )
    with pytest.raises(DataFormatError, match="model columns differ"):
        load_outcomes(tmp_path)


def test_unknown_model_names_raise_a_typed_error(tmp_path: Path) -> None:
    table = load_outcomes(write(tmp_path / "d.csv", _rows()))
    with pytest.raises(UnknownModelError) as info:
        table.columns(["m-big", "gpt-9"])
    assert info.value.model == "gpt-9"


def test_routellm_two_model_layout(tmp_path: Path) -> None:
    path = tmp_path / "mmlu_x.csv"
    path.write_text(
        'prompt,weak,strong\n"Q1\nA. a\nAnswer:",True,True\nQ2,False,True\nQ3,maybe,True\n',
        encoding="utf-8",
    )
    table = load_outcomes(path)
    assert table.models == ("weak", "strong")
    assert not table.has_costs
    assert table.responses is None
    assert table.skipped == {"bad_quality": 1}
    np.testing.assert_array_equal(table.quality, [[1.0, 1.0], [0.0, 1.0]])


def test_missing_path_and_no_model_columns(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        load_outcomes(tmp_path / "nope.csv")
    (tmp_path / "x.csv").write_text("prompt,other\np,1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no model columns"):
        load_outcomes(tmp_path / "x.csv")


def test_non_utf8_file_names_the_file_and_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", _rows()[:3])
    text = path.read_bytes()
    at = text.index(b"q1")
    path.write_bytes(text[:at] + b"\xff" + text[at:])
    with pytest.raises(
        DataFormatError, match=rf"d\.csv: not UTF-8 text \(byte 0xff at offset {at}\)"
    ):
        load_outcomes(path)


def test_binary_file_is_a_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(
        DataFormatError, match=r"blob\.csv: not UTF-8 text \(byte 0x89 at offset 0\)"
    ):
        load_outcomes(path)


def test_quality_column_without_cost_is_listed_not_dropped_silently(tmp_path: Path) -> None:
    rows = _rows()[:3]
    for r in rows:
        del r["m-big|total_cost"]
    fields = [f for f in header() if f != "m-big|total_cost"]
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    table = load_outcomes(path)
    assert table.models == ("m-small", "m-mid")
    assert table.uncosted == ("m-big",)
    assert table.take([0]).uncosted == ("m-big",)
    with pytest.raises(UncostedModelError, match=r"'m-big\|total_cost'"):
        table.column("m-big")
    with pytest.raises(UnknownModelError) as plain:
        table.column("m-huge")
    assert not isinstance(plain.value, UncostedModelError)
