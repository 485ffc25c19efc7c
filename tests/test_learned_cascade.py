"""The trained cascade online (strategies.learned_cascade + the plan's cascade step), over
real HTTP: the LiteLLM backend against the local provider server, which answers each
recorded prompt with each model's recorded answer from a tiny training set. The server's
request log (not the router's records) says which models were called.

The expectations come from the trained router itself: `replay` (`CascadeRouter.run`) for
the consistency test, and the router's own `plans()` / `accept_probability` elsewhere, so
the tests hold whatever plans the offline trainer finds; they check that the online engine
follows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from field_routing import FILTERS, KEY, ask
from helpers import PER_M
from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import FakeClock
from modelroute.config_schema import ModelConfig
from modelroute.config_trained import trained_names
from modelroute.errors import ConfigError, ModelRouteError
from modelroute.offline.artifact import save_router
from modelroute.offline.calibrate import Target
from modelroute.offline.cascade import CascadeRouter
from modelroute.offline.data import OutcomeTable, load_outcomes
from modelroute.offline.train import train_cascade, train_classifier
from modelroute.policies import RetryPolicy
from modelroute.provider_server import AnswerRule, ModelScript, ProviderServer
from modelroute.records import AttemptOutcome, Decision, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.strategies.learned_cascade import LearnedCascade
from modelroute.strategies.renamed import RenamedStrategy
from modelroute.strategies.trained import TrainedRouter
from modelroute.types import Request
from modelroute.verifier import Verifier
from modelroute_litellm import LiteLLMBackend
from offline_data import MODELS, synthetic, write

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

PRICES = {"m-small": (0.1, 0.4), "m-mid": (0.4, 1.6), "m-big": (5.0, 20.0)}  # USD / 1M tokens
NEVER_OPENS = BreakerConfig(failure_threshold=10_000)  # failures here must not skip a model


@dataclass(frozen=True)
class Row:
    """One recorded row and what `replay` did with it."""

    prompt: str
    task: str
    answers: dict[str, str]  # model -> recorded answer
    stages: tuple[str, ...]  # the task's plan
    calls: int  # replay: models called
    picked: str  # replay: the model whose answer was returned

    @property
    def request(self) -> Request:
        return Request.of(self.prompt, task=self.task)


@dataclass(frozen=True)
class Trained:
    path: Path
    router: CascadeRouter
    rows: tuple[Row, ...]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A cascade over m-small / m-mid / m-big trained on a synthetic RouterBench-layout
    CSV (quiz + code tasks), saved to a file, and replay's verdict on every row."""
    folder = tmp_path_factory.mktemp("cascade")
    table = load_outcomes(write(folder / "outcomes.csv", synthetic(120)))
    router = train_cascade(table, baseline="m-big")
    path = folder / "cascade.bin"
    save_router(router, path)
    return Trained(path, router, _replayed(router, table))


# RouterBench names with a slash, as `target`s say them after the provider segment
SLASHED = {
    "m-small": "mistralai/mixtral-8x7b-chat",
    "m-mid": "zero-one-ai/Yi-34B-Chat",
    "m-big": "gpt-4-1106-preview",
}


@pytest.fixture(scope="module")
def slashed(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The same data with the models named as RouterBench names them (with slashes)."""
    folder = tmp_path_factory.mktemp("slashed")
    rows = []
    for row in synthetic(120):
        renamed = dict(row)
        for old, new in SLASHED.items():
            for suffix in ("", "|model_response", "|total_cost"):
                renamed[new + suffix] = renamed.pop(old + suffix)
        rows.append(renamed)
    csv_path = write(folder / "outcomes.csv", rows, models=tuple(SLASHED.values()))
    table = load_outcomes(csv_path)
    router = train_cascade(table, baseline=SLASHED["m-big"])
    path = folder / "cascade.bin"
    save_router(router, path)
    return Trained(path, router, _replayed(router, table))


def _replayed(router: CascadeRouter, table: OutcomeTable) -> tuple[Row, ...]:
    assert table.responses is not None
    outcome = router.run(table)
    plans = router.plans()
    rows = []
    for i, prompt in enumerate(table.prompts):
        task = table.tasks[i]
        answers = dict(zip(table.models, table.responses[i], strict=True))
        stages = plans[task].stages if task in plans else (router.baseline,)
        picked = table.models[int(outcome.answered_by[i])]
        rows.append(Row(prompt, task, answers, stages, int(outcome.calls[i]), picked))
    return tuple(rows)


def first(rows: tuple[Row, ...], kind: str) -> Row:
    """The first row whose replay shows `kind` (the synthetic data has each)."""
    tests = {
        "accept_first": lambda r: r.calls == 1 and len(r.stages) > 1,
        "escalate_then_own": lambda r: r.calls == 2 and r.picked == r.stages[1],
        "earlier_pick": lambda r: r.picked != r.stages[r.calls - 1],
        "to_last": lambda r: r.calls == len(r.stages) >= 2,
    }
    found = [r for r in rows if tests[kind](r)]
    assert found, f"the training set has no row of kind {kind}"
    return found[0]


def serving(rows: tuple[Row, ...]) -> ProviderServer:
    """A provider server answering every prompt of `rows` with each model's answer."""
    scripts = {
        m: ModelScript(
            answer=f"unscripted {m}",
            rules=tuple(AnswerRule(when=r.prompt, answer=r.answers[m]) for r in rows),
        )
        for m in rows[0].answers
    }
    return ProviderServer(scripts)


@pytest.fixture
def srv(trained: Trained) -> Iterator[ProviderServer]:
    """A provider server answering every recorded prompt with each model's recorded answer."""
    with serving(trained.rows).running() as server:
        yield server


def catalog() -> Catalog:
    return Catalog(
        ModelInfo(
            name,
            provider="local",
            target=f"openai/{name}",
            input_cost_per_token=inp * PER_M,
            output_cost_per_token=out * PER_M,
        )
        for name, (inp, out) in PRICES.items()
    )


def make(
    srv: ProviderServer, strategy: LearnedCascade, retry: RetryPolicy | None = None
) -> tuple[Router, MemorySink]:
    sink = MemorySink()
    route = Route(
        "qa", ("m-big", "m-mid", "m-small"), ranker=strategy, retry=retry or RetryPolicy()
    )
    router = Router(
        [route],
        backend=LiteLLMBackend(api_base=srv.base_url, api_key=KEY),
        catalog=catalog(),
        sinks=[sink],
        clock=FakeClock(),
        breaker=NEVER_OPENS,
    )
    return router, sink


def served(srv: ProviderServer) -> list[str]:
    return [r.model for r in srv.requests()]


def check_accounting(d: Decision) -> None:
    """Cost sums every call; the responding model wrote the returned text."""
    assert d.cost_usd == pytest.approx(sum(a.cost_usd for a in d.attempts))
    assert d.responding_model in d.models_attempted
    picked = d.extra["cascade"]["picked"]
    assert picked == d.responding_model


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_online_cascade_matches_replay(trained: Trained, srv: ProviderServer, mode: str) -> None:
    router, _ = make(srv, LearnedCascade.load(trained.path))
    kinds = ("accept_first", "escalate_then_own", "earlier_pick", "to_last")
    chosen = {id(r): r for r in (first(trained.rows, k) for k in kinds)}
    code = [r for r in trained.rows if r.task == "code"][:2]
    rows = [*chosen.values(), *(r for r in code if id(r) not in chosen), *trained.rows[:6]]
    for row in rows:
        srv.reset()
        out = ask(router, mode, row.request)
        d = out.decision
        assert served(srv) == list(row.stages[: row.calls]), row.prompt
        assert (d.responding_model, len(d.models_attempted)) == (row.picked, row.calls)
        assert out.text == row.answers[row.picked]
        assert d.outcome.succeeded
        check_accounting(d)


def test_accept_at_stage_one(trained: Trained, srv: ProviderServer) -> None:
    row = first(trained.rows, "accept_first")
    out = make(srv, LearnedCascade.load(trained.path))[0].complete(row.request)
    d = out.decision
    assert served(srv) == [row.stages[0]]
    (attempt,) = d.attempts
    assert (attempt.outcome, attempt.reason) == (AttemptOutcome.OK, None)
    verdict = attempt.verdicts[-1]
    assert verdict.name == "cascade" and verdict.ok and "P(right)=" in verdict.detail
    p, threshold = d.extra["cascade"]["probability"], d.extra["cascade"]["threshold"]
    assert p is not None and threshold is not None and p >= threshold
    assert d.threshold == threshold and d.outcome == RequestOutcome.SUCCESS
    assert d.score == p  # the verifier's P(right) of the returned answer
    assert (d.strategy_reason or "").startswith(f"task {row.task!r}: {' -> '.join(row.stages)}")


def test_escalation_records_low_confidence(trained: Trained, srv: ProviderServer) -> None:
    row = first(trained.rows, "escalate_then_own")
    d = make(srv, LearnedCascade.load(trained.path))[0].complete(row.request).decision
    low, accepted = d.attempts
    assert (low.model, low.outcome) == (row.stages[0], AttemptOutcome.REJECTED)
    assert low.reason == "verifier_rejected:low_confidence"
    assert low.verdicts[-1].detail.startswith("low_confidence: P(right)=")
    assert low.cost_usd > 0 and accepted.cost_usd > 0  # the rejected answer is paid for
    assert d.cost_usd == pytest.approx(low.cost_usd + accepted.cost_usd)
    assert d.outcome == RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert d.responding_model == row.stages[1] == accepted.model


def test_an_earlier_stage_answer_is_returned(trained: Trained, srv: ProviderServer) -> None:
    row = first(trained.rows, "earlier_pick")
    out = make(srv, LearnedCascade.load(trained.path))[0].complete(row.request)
    d = out.decision
    last = d.attempts[-1]
    assert last.model == row.stages[row.calls - 1] != row.picked
    assert (out.text, d.responding_model) == (row.answers[row.picked], row.picked)
    answered = next(a for a in d.attempts if a.model == row.picked)
    assert d.answering_attempt is answered
    # its record stays honest: escalated first (rejected), picked by a later judgement
    assert answered.outcome == AttemptOutcome.REJECTED
    assert (answered.reason or "").startswith("verifier_rejected:")
    assert d.served_model == answered.response_model is not None
    assert d.responding_provider == answered.provider
    assert d.baseline_cost_usd == answered.baseline_cost_usd
    check_accounting(d)


def test_the_picked_earlier_text_is_returned_verbatim(trained: Trained) -> None:
    """Stage 2 says the same letter in other words ("A) one" for "A"): when the verifier
    picks stage 1's candidate, the caller gets stage 1's text, not stage 2's."""
    cascade = LearnedCascade.load(trained.path)
    found = []
    for row in trained.rows:
        if row.task != "quiz" or row.calls < 2 or row.picked != row.stages[0]:
            continue
        first_stage, second = row.stages[:2]
        reworded = f"{row.answers[second]}) option"
        held = {first_stage: row.answers[first_stage], second: reworded}
        step = cascade.judge(row.request, held, len(row.stages) == 2)
        if step.accept and step.pick == first_stage and reworded != held[first_stage]:
            found.append((row, {**row.answers, second: reworded}))
    assert found, "no row where the verifier picks stage 1 over a reworded stage 2"
    row, answers = found[0]
    changed = Row(row.prompt, row.task, answers, row.stages, row.calls, row.picked)
    with serving((changed,)).running() as server:
        out = make(server, cascade)[0].complete(row.request)
    assert served(server) == list(row.stages[:2])
    assert out.text == row.answers[row.stages[0]] != answers[row.stages[1]]
    assert out.decision.responding_model == row.stages[0]
    assert out.decision.attempts[-1].model == row.stages[1]


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ("never-seen", "task 'never-seen' unseen in training: baseline only"),
        (None, "no task: baseline only"),
    ],
)
def test_an_unknown_task_goes_to_the_baseline_only(
    trained: Trained, srv: ProviderServer, task: str | None, reason: str
) -> None:
    router, _ = make(srv, LearnedCascade.load(trained.path))
    out = router.complete(Request.of(trained.rows[0].prompt, task=task))
    d = out.decision
    assert served(srv) == ["m-big"] and d.candidates == ("m-big",)
    assert d.strategy_reason == reason
    assert d.attempts[0].verdicts[-1].detail == "unseen task: the baseline answers"
    assert (d.responding_model, out.text) == ("m-big", trained.rows[0].answers["m-big"])


def test_a_failing_stage_falls_back_to_the_next(trained: Trained, srv: ProviderServer) -> None:
    cascade = LearnedCascade.load(trained.path)
    row = first(trained.rows, "to_last")
    srv.set_faults(row.stages[0], [503])
    out = make(srv, cascade)[0].complete(row.request)
    d = out.decision
    failed = d.attempts[0]
    assert (failed.model, failed.outcome, failed.reason) == (
        row.stages[0],
        AttemptOutcome.ERROR,
        "unavailable",
    )
    # from stage 2 on, the cascade judges what it has: the next stage's answer alone
    second = row.stages[1]
    step = cascade.judge(row.request, {second: row.answers[second]}, len(row.stages) == 2)
    calls = served(srv)
    assert calls[:2] == [row.stages[0], second]
    assert d.attempts[1].verdicts[-1] == step.verdict
    if step.accept:
        assert len(calls) == 2 and d.responding_model == step.pick
    else:
        assert len(calls) > 2 and calls == list(row.stages[: len(calls)])
    assert out.text == row.answers[d.responding_model or ""]
    check_accounting(d)


NON_ANSWER = "I do not know."


def _best_held_not_newest(trained: Trained) -> tuple[Row, float, str]:
    """A row of a 3-stage plan whose stage 2 answers `NON_ANSWER` (valid, but no option),
    so that, by the router's own scoring, both stages escalate and the best held answer is
    stage 1's. Returns the changed row, the best answer's P(right) and its model."""
    plans = trained.router.plans()
    for row in trained.rows:
        if row.calls == len(row.stages) == 3:
            first_stage, second = row.stages[:2]
            held = {first_stage: row.answers[first_stage], second: NON_ANSWER}
            p, best = trained.router.accept_probability(row.task, held)
            if best == first_stage and p < plans[row.task].threshold:
                answers = {**row.answers, second: NON_ANSWER}
                changed = Row(row.prompt, row.task, answers, row.stages, row.calls, best)
                return changed, p, best
    raise AssertionError("no row where the verifier prefers stage 1's answer over stage 2's")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failing_last_stage_returns_the_best_held_answer(trained: Trained, mode: str) -> None:
    """The last stage fails after its retry: the verifier's best held answer is returned
    (stage 1's here), not the newest one (stage 2's non-answer)."""
    row, p, best = _best_held_not_newest(trained)
    with serving((row,)).running() as server:
        server.set_faults(row.stages[-1], [503, 503])
        router = make(server, LearnedCascade.load(trained.path), RetryPolicy(retries=1))[0]
        out = ask(router, mode, row.request)
        calls = served(server)
    d = out.decision
    assert calls == [*row.stages, row.stages[-1]]  # the last stage and its retry
    assert [a.reason for a in d.attempts[-2:]] == ["unavailable", "unavailable"]
    assert d.outcome.succeeded
    assert (d.responding_model, out.text) == (best, row.answers[best])
    assert out.text != NON_ANSWER
    detail = d.extra["cascade"]["detail"]
    assert detail == f"no answer from the final stage, best held: {best} P(right)={p:.3f}"
    assert d.score == pytest.approx(p) == d.extra["cascade"]["probability"]
    answered = d.answering_attempt  # the way to find the returned answer's attempt
    assert answered is not None and answered.model == best
    assert answered.outcome == AttemptOutcome.REJECTED  # escalated first, picked at the end
    assert answered.reason == "verifier_rejected:low_confidence"
    check_accounting(d)


def test_a_last_stage_that_answers_returns_its_own_answer(trained: Trained) -> None:
    row, _, _ = _best_held_not_newest(trained)  # the same row, nothing failing
    with serving((row,)).running() as server:
        out = make(server, LearnedCascade.load(trained.path))[0].complete(row.request)
        assert served(server) == list(row.stages)
    d = out.decision
    assert (d.responding_model, out.text) == (row.stages[-1], row.answers[row.stages[-1]])
    assert d.extra["cascade"]["detail"] == "final stage: its own answer"
    assert d.score is None


def test_a_cascade_route_refuses_a_verifier(trained: Trained) -> None:
    cascade = LearnedCascade.load(trained.path)
    with pytest.raises(ValueError, match="judges answers itself"):
        Route("qa", ("m-big",), ranker=cascade, verifier=Verifier(model="m-big"))


def test_load_refuses_a_file_that_is_not_a_cascade(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"not a router")
    with pytest.raises(ValueError, match="not a modelroute router file"):
        LearnedCascade.load(path)


def test_each_load_points_to_the_other_kind(trained: Trained, tmp_path: Path) -> None:
    table = load_outcomes(write(tmp_path / "d.csv", synthetic(60)))
    classifier = tmp_path / "clf.bin"
    save_router(train_classifier(table, baseline="m-big", target=Target(quality=0.9)), classifier)
    with pytest.raises(ConfigError, match=r"a classifier router, not a cascade.*TrainedRouter"):
        LearnedCascade.load(classifier)
    with pytest.raises(ConfigError, match=r"a cascade router, not a classifier.*LearnedCascade"):
        TrainedRouter.load(trained.path)


@pytest.mark.parametrize("load", [LearnedCascade.load, TrainedRouter.load])
def test_a_missing_router_file_is_a_typed_error(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "missing.bin"
    with pytest.raises(ModelRouteError, match=r"missing\.bin") as info:
        load(path)
    assert isinstance(info.value, ConfigError)
    assert not isinstance(info.value, OSError)


@pytest.mark.parametrize("models", [("m-small", "m-mid"), ("other",)])
def test_a_python_route_must_hold_every_model_the_cascade_calls(
    trained: Trained, models: tuple[str, ...]
) -> None:
    """Before: a missing stage was silently skipped, a route sharing no model failed every
    request; now building the route fails, naming what is missing."""
    cascade = LearnedCascade.load(trained.path)
    missing = [m for m in cascade.needed_models if m not in models]
    assert "m-big" in missing  # the baseline, which every unseen task calls
    with pytest.raises(ValueError, match=r"route 'qa': the cascade calls") as info:
        Route("qa", models, ranker=cascade)
    assert str(info.value).startswith(f"route 'qa': the cascade calls {missing}")
    Route("qa", cascade.needed_models, ranker=cascade)  # every called model: accepted


def _config(srv: ProviderServer, path: str, route_models: list[str]) -> dict[str, object]:
    models = {  # config names differ from the trained ones: matched by `target`
        f"local-{m}": {
            "target": f"openai/{m}",
            "api_base": srv.base_url,
            "input_cost_per_mtok": PRICES[m][0],
            "output_cost_per_mtok": PRICES[m][1],
        }
        for m in MODELS
    }
    route = {"models": route_models, "strategy": {"type": "trained", "path": path}}
    return {"models": models, "routes": {"qa": route}}


def test_a_cascade_from_yaml(trained: Trained, srv: ProviderServer, tmp_path: Path) -> None:
    (tmp_path / "routers").mkdir()
    (tmp_path / "routers" / "qa.bin").write_bytes(trained.path.read_bytes())
    config = _config(srv, "routers/qa.bin", [f"local-{m}" for m in MODELS])
    path = tmp_path / "modelroute.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    router = Router.from_config(path, backend=LiteLLMBackend(api_key=KEY), clock=FakeClock())
    row = first(trained.rows, "earlier_pick")
    out = router.complete(row.request)
    d = out.decision
    assert d.strategy == "cascade"
    local = " -> ".join(f"local-{m}" for m in row.stages)
    assert (d.strategy_reason or "").startswith(f"task {row.task!r}: {local} (")
    assert served(srv) == list(row.stages[: row.calls])
    assert d.models_attempted == tuple(f"local-{m}" for m in row.stages[: row.calls])
    assert (d.responding_model, out.text) == (f"local-{row.picked}", row.answers[row.picked])


@pytest.mark.parametrize(
    ("route_models", "message"),
    [
        (["local-m-small", "local-m-mid"], "the cascade calls ['m-big']"),
        (["other"], "(its plans' stages and its baseline), none of the route's models"),
    ],
)
def test_yaml_errors_name_the_strategy_path(
    trained: Trained, srv: ProviderServer, route_models: list[str], message: str
) -> None:
    config = _config(srv, str(trained.path), route_models)
    if "other" in route_models:
        config["models"]["other"] = {"input_cost_per_mtok": 1.0}  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        Router.from_config(config, backend=LiteLLMBackend(api_key=KEY))
    assert message in info.value.message
    assert info.value.path == "routes.qa.strategy.path"
    if "other" in route_models:  # the models its plans call, not every trained one
        called = LearnedCascade.load(trained.path).needed_models
        assert f"the cascade calls {list(called)}" in info.value.message
        assert f"e.g. `other: {{target: {called[0]}}}`" in info.value.message


def test_python_names_reach_the_reason_and_the_route_check(trained: Trained) -> None:
    """`names` (route name -> trained name) renames a cascade without hiding its judge."""
    names = {"small": "m-small", "mid": "m-mid", "big": "m-big"}
    cascade = LearnedCascade.load(trained.path, names=names)
    row = first(trained.rows, "to_last")
    ranking = cascade.rank(row.request, ("small", "mid", "big"), Catalog())
    back = {v: k for k, v in names.items()}
    shown = " -> ".join(back[m] for m in row.stages)
    assert ranking.models == tuple(back[m] for m in row.stages)
    assert ranking.reason.startswith(f"task {row.task!r}: {shown}")
    assert "m-" not in ranking.reason
    with pytest.raises(ValueError, match=r"the cascade calls \['big'\]"):
        Route("qa", ("small", "mid", "m-big"), ranker=cascade)


def test_trained_names_match_slashed_targets() -> None:
    known = (*SLASHED.values(), "gpt-4o")
    models = {
        "yi": ModelConfig(target="openai/zero-one-ai/Yi-34B-Chat"),  # without the provider
        "mix": ModelConfig(target="together_ai/mixtral-8x7b-chat"),  # the last segment
        "gpt4": ModelConfig(target="gpt-4-1106-preview"),  # the full target
        "4o": ModelConfig(target="openai/gpt-4o"),
    }
    names = trained_names(list(models), known, models)
    assert names == {
        "yi": "zero-one-ai/Yi-34B-Chat",
        "gpt4": "gpt-4-1106-preview",
        "4o": "gpt-4o",
    }  # `mix`: RouterBench says mistralai/mixtral-8x7b-chat, not mixtral-8x7b-chat
    models["mix"] = ModelConfig(target="openai/mistralai/mixtral-8x7b-chat")
    assert trained_names(["mix"], known, models) == {"mix": "mistralai/mixtral-8x7b-chat"}
    models["mix"] = ModelConfig(target="vendor/v2/mixtral-8x7b-chat")
    assert trained_names(["mix"], ("mixtral-8x7b-chat",), models) == {"mix": "mixtral-8x7b-chat"}


def test_a_cascade_from_yaml_with_slashed_names(slashed: Trained, tmp_path: Path) -> None:
    """RouterBench names with a slash match `openai/<name>` targets; the records and the
    strategy's reason speak the config names."""
    config_names = dict(zip(SLASHED.values(), ("mix", "yi", "gpt4"), strict=True))
    row = first(slashed.rows, "to_last")
    with serving(slashed.rows).running() as server:
        models = {
            config_names[trained]: {
                "target": f"openai/{trained}",
                "api_base": server.base_url,
                "input_cost_per_mtok": PRICES[plain][0],
                "output_cost_per_mtok": PRICES[plain][1],
            }
            for plain, trained in SLASHED.items()
        }
        route = {"models": list(models), "strategy": {"type": "trained", "path": str(slashed.path)}}
        config = {"models": models, "routes": {"qa": route}}
        router = Router.from_config(config, backend=LiteLLMBackend(api_key=KEY), clock=FakeClock())
        out = router.complete(row.request)
        calls = served(server)
    d = out.decision
    assert calls == list(row.stages[: row.calls])  # the provider saw the trained names
    assert d.models_attempted == tuple(config_names[m] for m in row.stages[: row.calls])
    assert (d.responding_model, out.text) == (config_names[row.picked], row.answers[row.picked])
    shown = " -> ".join(config_names[m] for m in row.stages)
    assert (d.strategy_reason or "").startswith(f"task {row.task!r}: {shown}")
    assert "/" not in (d.strategy_reason or "")


def test_yaml_with_a_corrupt_file_is_a_config_error(srv: ProviderServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"modelroute-router 2\n{}\nnot a pickle")
    with pytest.raises(ConfigError, match="cannot load router file") as info:
        Router.from_config(_config(srv, str(bad), ["local-m-big"]), backend=LiteLLMBackend())
    assert info.value.path == "routes.qa.strategy.path"


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_goes_to_the_last_stage(trained: Trained, srv: ProviderServer, mode: str) -> None:
    row = first(trained.rows, "accept_first")  # would stop at stage 1 if not streamed
    router, _ = make(srv, LearnedCascade.load(trained.path))
    out = ask(router, mode, row.request)
    assert served(srv) == [row.stages[-1]]
    assert out.decision.candidates == row.stages[::-1]
    assert "streamed" in (out.decision.strategy_reason or "")
    assert (out.text, out.decision.responding_model) == (
        row.answers[row.stages[-1]],
        row.stages[-1],
    )


def test_yaml_cascade_with_a_verifier_is_a_config_error(
    trained: Trained, srv: ProviderServer
) -> None:
    config = _config(srv, str(trained.path), [f"local-{m}" for m in MODELS])
    config["routes"]["qa"]["verifier"] = {"model": "local-m-big"}  # type: ignore[index]
    with pytest.raises(ConfigError, match="judges answers itself") as info:
        Router.from_config(config, backend=LiteLLMBackend(api_key=KEY))
    assert info.value.path == "routes.qa.verifier"


def test_renamed_strategy_refuses_a_cascade(trained: Trained) -> None:
    """The wrapper would hide `judge`, and the route would silently stop being a cascade."""
    with pytest.raises(ValueError, match="names=") as info:
        RenamedStrategy(LearnedCascade.load(trained.path), {"small": MODELS[0]})
    assert "judges answers" in str(info.value)
