"""A trained prompt-only router ranks a route's models online (strategies.trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelroute.catalog import Catalog
from modelroute.offline.artifact import save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.data import load_outcomes
from modelroute.offline.train import train_cascade, train_classifier
from modelroute.strategies.base import Strategy
from modelroute.strategies.trained import TrainedRouter
from modelroute.types import Request
from offline_data import synthetic, write


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("online")
    table = load_outcomes(write(folder / "d.csv", synthetic(120)))
    path = folder / "clf.bin"
    save_router(train_classifier(table, baseline="m-big", target=Target(quality=0.9)), path)
    return path


def test_rank_returns_score_threshold_and_tier(router_file: Path) -> None:
    strategy = TrainedRouter.load(router_file)
    assert isinstance(strategy, Strategy)
    request = Request.of("Question 3 about topic 3?\nA) one\nB) two\nAnswer:", task="quiz")
    ranking = strategy.rank(request, ("m-big", "other", "m-small", "m-mid"), Catalog())
    assert sorted(ranking.models) == ["m-big", "m-mid", "m-small", "other"]
    assert ranking.models[-1] == "other"  # unknown to the router: last
    assert ranking.tier == ranking.models[0]
    assert ranking.score is not None and 0.0 <= ranking.score <= 1.0
    assert ranking.threshold == pytest.approx(strategy.classifier.lam)


def test_a_high_price_of_cost_prefers_the_cheapest(router_file: Path) -> None:
    strategy = TrainedRouter.load(router_file, lam=1000.0)
    ranking = strategy.rank(Request.of("anything", task="quiz"), ("m-big", "m-small"), Catalog())
    assert ranking.models == ("m-small", "m-big")


def test_a_cascade_file_is_refused(tmp_path: Path) -> None:
    table = load_outcomes(write(tmp_path / "d.csv", synthetic(60)))
    path = tmp_path / "c.bin"
    save_router(train_cascade(table, baseline="m-big"), path)
    with pytest.raises(ValueError, match="use a classifier"):
        TrainedRouter.load(path)
