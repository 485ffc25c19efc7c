"""Replay on a tiny table: every number computed by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelroute.errors import UnknownModelError
from modelroute.offline.calibrate import Calibration, OperatingPoint, Target
from modelroute.offline.cascade import CascadeRouter, Plan, TaskVerifier
from modelroute.offline.config_replay import ConfigRouter
from modelroute.offline.data import OutcomeTable, load_outcomes
from modelroute.offline.probability import Constant
from modelroute.offline.replay import replay
from offline_data import row, write

MODELS = ("cheap1", "cheap2", "strong")
COSTS = {"cheap1": 0.001, "cheap2": 0.002, "strong": 0.010}
ROWS = [  # answers of cheap1, cheap2, strong; quality of each
    (("A", "A", "A"), (1, 1, 1)),
    (("A", "B", "B"), (0, 1, 1)),
    (("C", "D", "C"), (1, 0, 1)),
    (("B", "B", "C"), (0, 0, 1)),
]


class AgreeShare:
    """Test verifier: P(right) = share of the called models giving this answer."""

    def __init__(self, called: int) -> None:
        self.called = called

    def predict_proba(self, x: Any) -> Any:
        p = np.asarray(x)[:, : self.called].mean(axis=1)
        return np.column_stack([1 - p, p])


def _table(tmp_path: Path, rows: list[tuple[tuple[str, ...], tuple[int, ...]]]) -> OutcomeTable:
    written = [
        row(
            i,
            "quiz",
            f"q{i}",
            dict(zip(MODELS, q, strict=True)),
            dict(zip(MODELS, a, strict=True)),
            COSTS,
        )
        for i, (a, q) in enumerate(rows)
    ]
    return load_outcomes(write(tmp_path / "t.csv", written, MODELS))


def _cascade(threshold: float) -> CascadeRouter:
    plan = Plan(MODELS, threshold)
    verifier = TaskVerifier(
        "choice",
        np.zeros((3, 6)),
        {("cheap1",): Constant(0.5), ("cheap1", "cheap2"): AgreeShare(2)},
    )
    point = OperatingPoint("quiz", plan, 4, 3.0, 1.0, 2.0)
    cal = Calibration.fit({"quiz": [point]}, Target(quality=0.5), rows=4, baseline_quality=4.0)
    return CascadeRouter(MODELS, "strong", {"quiz": verifier}, cal)


def test_cascade_replay_by_hand(tmp_path: Path) -> None:
    table = _table(tmp_path, ROWS)
    report = replay(_cascade(0.9), table)
    # rows 0 and 3: both cheap models agree (p=1) -> cheap1's answer after 2 calls ($0.003)
    # rows 1 and 2: they disagree (p=.5) -> the strong model after 3 calls ($0.013)
    assert report.queries == 4
    assert report.quality == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert report.cost_per_query == pytest.approx((0.003 + 0.013 + 0.013 + 0.003) / 4)
    assert report.baseline_model == "strong"
    assert report.baseline_quality == pytest.approx(1.0)
    assert report.baseline_cost_per_query == pytest.approx(0.010)
    assert report.model_share == {"cheap1": 0.5, "cheap2": 0.0, "strong": 0.5}
    assert report.calls_per_query == pytest.approx(2.5)
    assert report.strong_share == pytest.approx(0.5)
    assert report.oracle["quality"] == pytest.approx(1.0)
    assert report.oracle["cost_per_query"] == pytest.approx((0.001 + 0.002 + 0.001 + 0.010) / 4)


def test_cascade_cost_is_the_sum_of_every_model_called(tmp_path: Path) -> None:
    table = _table(tmp_path, ROWS)
    never = _cascade(1.01).run(table)  # nothing is ever accepted early
    np.testing.assert_allclose(never.cost, 0.013)
    np.testing.assert_array_equal(never.calls, 3)
    assert never.strong.all()
    assert never.mean_quality == pytest.approx(1.0)
    always = _cascade(0.0).run(table)  # stage 1 (p=.5) always accepted
    np.testing.assert_allclose(always.cost, 0.001)
    np.testing.assert_array_equal(always.answered_by, 0)


def test_cascade_needs_only_the_columns_its_plans_call(tmp_path: Path) -> None:
    table = _table(tmp_path, ROWS)
    router = _cascade(0.9)
    extra = CascadeRouter(
        (*MODELS, "gpt-9"), "strong", router.verifiers, router.calibration
    )  # knows a model no plan calls: the data need not have it
    assert replay(extra, table).quality == replay(router, table).quality
    lacking = [
        row(i, "quiz", f"q{i}", {"cheap1": 1, "strong": 1}, {"cheap1": "A", "strong": "A"}, COSTS)
        for i in range(3)
    ]
    other = load_outcomes(write(tmp_path / "o.csv", lacking, ("cheap1", "strong")))
    with pytest.raises(UnknownModelError) as err:
        replay(router, other)
    assert err.value.model == "cheap2"
    assert str(err.value) == (
        "data: unknown model 'cheap2' (the cascade router calls it); "
        "the data's model columns are ['cheap1', 'strong']"
    )


CONFIG = """
models:
  cheap1: {input_cost_per_mtok: 1, output_cost_per_mtok: 1}
  cheap2: {input_cost_per_mtok: 2, output_cost_per_mtok: 2}
  strong: {input_cost_per_mtok: 10, output_cost_per_mtok: 10}
routes:
  default:
    models: [cheap1, strong]
    validators: [{min_length: 3}]
  other:
    models: [cheap2]
baseline: strong
"""


def test_yaml_config_replay_walks_the_chain_with_validators(tmp_path: Path) -> None:
    rows = [
        (("long answer", "x", "S"), (1, 0, 1)),
        (("no", "x", "S"), (1, 0, 0)),  # too short: the strong model answers (wrongly)
        (("fine text", "x", "S"), (0, 1, 1)),
    ]
    table = _table(tmp_path, rows)
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    report = replay(ConfigRouter.from_yaml(config), table, curve=False)
    assert report.quality == pytest.approx((1 + 0 + 0) / 3)
    assert report.cost_per_query == pytest.approx((0.001 + 0.011 + 0.001) / 3)
    assert report.model_share["strong"] == pytest.approx(1 / 3)
    assert report.calls_per_query == pytest.approx(4 / 3)


def test_yaml_config_naming_a_model_the_data_lacks(tmp_path: Path) -> None:
    table = _table(tmp_path, ROWS)
    config = tmp_path / "routes.yaml"
    config.write_text(
        CONFIG.replace("[cheap2]", "[gpt-4o]").replace("cheap2: {", "gpt-4o: {"), encoding="utf-8"
    )
    with pytest.raises(UnknownModelError, match="gpt-4o"):
        replay(ConfigRouter.from_yaml(config), table)


def test_yaml_config_lists_the_features_replay_ignores(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    assert ConfigRouter.from_yaml(config).ignored == []
    extra = """    tier_validators: {cheap1: [{min_confidence: -0.5}]}
    verifier: {model: strong}
  other:
    models: [cheap2]
    shadow: {model: strong, fraction: 0.5}
"""
    config.write_text(CONFIG.replace("  other:\n    models: [cheap2]\n", extra), encoding="utf-8")
    ignored = ConfigRouter.from_yaml(config).ignored
    assert len(ignored) == 3
    assert ignored[0].startswith("routes.default.verifier ignored")
    assert "routes.default: min_confidence" in ignored[1]
    assert ignored[2].startswith("routes.other.shadow ignored")


def test_plan_that_never_accepts_early_says_so() -> None:
    plan = Plan(("cheap1", "strong"), vote_at_end=True)
    assert str(plan) == "cheap1 -> strong (call all, accept none early) [vote]"
    assert str(Plan(("cheap1", "strong"), 0.8)) == "cheap1 -> strong (accept p>=0.800)"
    assert str(Plan(("strong",))) == "strong"


CASCADE_CONFIG = """
models:
  cheap1: {{input_cost_per_mtok: 1, output_cost_per_mtok: 1}}
  cheap2: {{input_cost_per_mtok: 2, output_cost_per_mtok: 2}}
  strong: {{input_cost_per_mtok: 10, output_cost_per_mtok: 10}}
routes:
  default:
    models: [cheap1, cheap2, strong]
    strategy: {{type: trained, path: {path}}}
    validators: [{{min_length: 2}}]
baseline: strong
"""


def test_yaml_config_with_a_trained_cascade_runs_the_cascade(tmp_path: Path) -> None:
    from modelroute.offline.artifact import save_router

    rows = [  # answers are "X." so that they pass min_length 2; "?" fails it
        (("A.", "A.", "A."), (1, 1, 1)),  # agree: cheap1 after 2 calls
        (("A.", "B.", "B."), (0, 1, 1)),  # disagree: strong answers after 3 calls
        (("C.", "D.", "?"), (1, 0, 0)),  # strong's answer is invalid: the best held one
    ]
    table = _table(tmp_path, rows)
    router = _cascade(0.9)
    path = tmp_path / "cascade.bin"
    save_router(router, path)
    config = tmp_path / "routes.yaml"
    config.write_text(CASCADE_CONFIG.format(path=path), encoding="utf-8")
    via_config = ConfigRouter.from_yaml(config)
    out = via_config.run_prepared(table, via_config.prepare(table), None)
    assert out.calls.tolist() == [2, 3, 3]
    # row 2: the last stage's answer is invalid, so a held cheap answer (the judge's pick)
    assert out.answered_by[:2].tolist() == [0, 2] and out.answered_by[2] in (0, 1)
    assert out.quality.tolist() == [1, 1, 1 - out.answered_by[2]]
    np.testing.assert_allclose(out.cost, [0.003, 0.013, 0.013])
    assert out.strong.tolist() == [False, True, True]
    direct = router.run(table.take([0, 1]))  # where no answer is invalid: the same
    assert direct.answered_by.tolist() == out.answered_by[:2].tolist()
    report = replay(via_config, table)
    assert report.aiq is None and report.aiq_note is not None
