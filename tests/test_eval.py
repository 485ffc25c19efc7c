"""`modelroute eval` over the local provider server with 3 models: scores, resume, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelroute.cli import main
from modelroute.evaluation.prompts import PromptFileError, load_prompts
from modelroute.evaluation.scoring import expected_match, judge_score, validator_score
from modelroute.report.data import DecisionLog
from modelroute.validators import ValidJSON

MODELS = ("gpt-4.1-nano", "gpt-4.1-mini", "gpt-4o")
PROMPTS = [
    {"id": "capital", "prompt": "Capital of France?", "expected": "Paris", "kind": "simple"},
    {"id": "math", "prompt": "What is 17 * 3?", "expected": "51", "kind": "simple"},
    {"id": "proof", "prompt": "Is sqrt(2) rational?", "expected": "No", "kind": "complex"},
    {"id": "json", "prompt": "Give a JSON object with key a equal 1.", "kind": "format"},
]
ANSWERS = {  # model -> answers to the prompts above, in order
    "gpt-4.1-nano": ["Paris.", "41", "Yes.", "a=1"],
    "gpt-4.1-mini": ["It is Paris.", "51", "Yes, it is.", '{"a": 1}'],
    "gpt-4o": ["Paris.", "17 * 3 = 51.", "No, it is irrational.", '{"a":1}'],
}


def _script(path: Path, answers: dict[str, list[str]], fault: object = None) -> Path:
    models = {}
    for model, texts in answers.items():
        rules = [{"when": p["prompt"], "answer": t} for p, t in zip(PROMPTS, texts, strict=True)]
        models[model] = {
            "rules": rules,
            **({"fault": fault} if fault and model == "gpt-4o" else {}),
        }
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["eval", "--server", "--models", ",".join(MODELS), "--json", *args]) == 0
    out = capsys.readouterr().out
    payload: dict[str, object] = json.loads(out)  # exactly one JSON object on stdout
    return payload


def test_three_models_scored_compared_and_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    out = tmp_path / "out"
    common = ("--prompts", str(prompts), "--out", str(out), "--validators", "json")
    broken = _script(tmp_path / "broken.yaml", ANSWERS, fault=503)
    first = _eval(capsys, *common, "--script", str(broken), "--concurrency", "3")
    assert (first["ran"], first["failed"]) == (12, 4)  # gpt-4o answered nothing

    healthy = _script(tmp_path / "healthy.yaml", ANSWERS)
    second = _eval(capsys, *common, "--script", str(healthy))
    assert (second["ran"], second["skipped"], second["failed"]) == (4, 8, 0)  # only the failures
    models = second["models"]
    assert isinstance(models, dict)
    quality = {m: models[m]["quality"] for m in MODELS}
    assert quality == {"gpt-4.1-nano": 0.25, "gpt-4.1-mini": 0.75, "gpt-4o": 1.0}
    assert models["gpt-4.1-nano"]["cost_usd"] < models["gpt-4o"]["cost_usd"]  # list prices
    kinds = second["kinds"]
    assert isinstance(kinds, dict)
    good = {k: v["good_enough"] for k, v in kinds.items()}
    assert good == {"simple": "gpt-4.1-mini", "complex": "gpt-4o", "format": "gpt-4.1-mini"}

    third = _eval(capsys, *common, "--script", str(healthy))
    assert (third["ran"], third["skipped"]) == (0, 12)  # nothing left to do
    log = DecisionLog(out / "results.jsonl")
    rows = list(log)
    assert log.stats.bad == 0 and len(rows) == 16  # 12 + 4 retried; the last line wins
    assert {d.route for d in rows} == set(MODELS)
    assert all("prompt_id" in d.extra for d in rows)
    html = (out / "report.html").read_text()
    assert html.count('class="plotly-graph-div"') == 3 and "gpt-4.1-mini" in html
    assert "Which tier is good enough" in (out / "report.md").read_text()


def test_a_judge_model_grades_answers_without_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("id,prompt\nsea,Describe the sea.\n")
    grade = "Answer to grade:\n"
    script = {
        "models": {
            "gpt-4.1-nano": {"rules": [{"when": "Describe the sea.", "answer": "Bad answer."}]},
            "gpt-4.1-mini": {"rules": [{"when": "Describe the sea.", "answer": "Good answer."}]},
            "gpt-4o": {
                "rules": [  # as judge first, then as a model under test
                    {"when": grade + "Bad answer.", "answer": "NO"},
                    {"when": grade + "Good", "answer": "YES, correct."},
                    {"when": "Describe the sea.", "answer": "Good sea."},
                ]
            },
        }
    }
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    args = ("--prompts", str(prompts), "--out", str(tmp_path / "out"), "--script", str(path))
    payload = _eval(capsys, *args, "--judge", "gpt-4o")
    models = payload["models"]
    assert isinstance(models, dict)
    assert [models[m]["quality"] for m in MODELS] == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("answer", "expected", "score"),
    [
        ("Paris.", "Paris", 1.0),
        ("The answer is 51.", "51", 1.0),
        ("151", "51", 0.0),  # whole words only
        ('{"a":1}', '{"a": 1}', 1.0),
        ("No idea", "Nope", 0.0),
    ],
)
def test_expected_match(answer: str, expected: str, score: float) -> None:
    assert expected_match(answer, expected).value == score


def test_validator_and_judge_scores() -> None:
    assert validator_score('{"a": 1}', "q", (ValidJSON(),)).value == 1.0
    assert validator_score("a=1", "q", (ValidJSON(),)).detail.startswith("json")
    assert [judge_score(r).value for r in ("YES", "no.", "maybe")] == [1.0, 0.0, None]


def test_prompt_files_need_a_prompt_and_unique_ids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question\nhi\n")
    with pytest.raises(PromptFileError, match="prompt"):
        load_prompts(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x"}\n')
    with pytest.raises(PromptFileError, match="duplicate"):
        load_prompts(dup)
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"prompt": "What is 2 + 2?", "answer": "4"}\n')
    (p,) = load_prompts(plain)
    assert (p.expected, p.kind, len(p.id)) == ("4", "simple", 12)
