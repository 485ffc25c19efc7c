"""YAML config: validated into routers, errors name the exact path and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import scripted
from modelroute.clock import FakeClock
from modelroute.config import build_catalog, load_config
from modelroute.errors import ConfigError
from modelroute.router import Router

YAML = """
baseline: m-strong
models:
  m-a: {target: openai/m-a, provider: local, input_cost_per_mtok: 1.0, output_cost_per_mtok: 4.0}
  m-b: {input_cost_per_mtok: 2.0, output_cost_per_mtok: 8.0, context_window: 8000,
        supports: {tools: false}}
  m-strong: {input_cost_per_mtok: 5.0, output_cost_per_mtok: 20.0}
  mini: {from_litellm: gpt-4o-mini, api_base: "http://127.0.0.1:9/v1"}
routes:
  summarize:
    primary: m-a
    fallbacks: [m-b, mini]
    validators: [non_empty, {min_length: 3}]
    retries: 1
    timeouts: {attempt_s: 5, deadline_s: 20}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelroute.yaml"
    path.write_text(text)
    return path


def test_yaml_builds_a_working_router(tmp_path: Path) -> None:
    backend = scripted({"m-a": ["summary"], "m-b": ["b"], "mini": ["m"]})
    router = Router.from_config(write(tmp_path, YAML), backend=backend, clock=FakeClock())
    route = router.routes["summarize"]
    assert route.models == ("m-a", "m-b", "mini")
    assert route.retry.retries == 1
    assert route.timeouts.deadline_s == 20
    out = router.complete("text")
    assert out.text == "summary"
    assert out.decision.baseline_model == "m-strong"


def test_prices_are_per_million_tokens_and_litellm_entries_are_read_as_data() -> None:
    catalog = build_catalog(load_config(_yaml_dict()))
    assert catalog.get("m-a").input_cost_per_token == pytest.approx(1e-6)
    mini = catalog.get("mini")
    assert mini.input_cost_per_token == pytest.approx(1.5e-7)  # LiteLLM's list price
    assert mini.target == "gpt-4o-mini"
    assert mini.api_base == "http://127.0.0.1:9/v1"
    assert catalog.get("m-b").supports_tools is False
    assert catalog.get("m-b").max_input_tokens == 8000


def _yaml_dict() -> dict[str, object]:
    import yaml

    data: dict[str, object] = yaml.safe_load(YAML)
    return data


def test_unknown_model_names_the_fallback_path() -> None:
    data = _yaml_dict()
    data["routes"]["summarize"]["fallbacks"] = ["m-b", "gpt-5o"]  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        Router.from_config(data, backend=scripted({}))
    assert str(info.value) == (
        "routes.summarize.fallbacks[1]: unknown model 'gpt-5o' (did you mean 'gpt-5'?)"
    )


@pytest.mark.parametrize(
    ("patch", "path", "fragment"),
    [
        (("routes", "summarize", "retries"), "routes.summarize.retries", "'many'"),
        (("models", "m-a", "input_cost_per_mtok"), "models.m-a.input_cost_per_mtok", "-1"),
        (("routes", "summarize", "timeout"), "routes.summarize.timeout", "Extra inputs"),
    ],
)
def test_invalid_values_name_path_and_value(
    patch: tuple[str, str, str], path: str, fragment: str
) -> None:
    data = _yaml_dict()
    section, name, key = patch
    data[section][name][key] = {"retries": "many", "input_cost_per_mtok": -1}.get(key, 1)  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        load_config(data)
    assert info.value.path == path
    assert fragment in str(info.value)


def test_bad_validator_names_its_index() -> None:
    data = _yaml_dict()
    data["routes"]["summarize"]["validators"] = ["non_empty", "nonempty"]  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        Router.from_config(data, backend=scripted({}))
    assert info.value.path == "routes.summarize.validators[1]"


def test_route_needs_models_or_primary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "routes:\n  r: {validators: []}\n"))
    assert info.value.path == "routes.r"


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "routes: [unclosed"))


def test_a_yaml_syntax_error_is_one_line_naming_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  a: {}\n b: {}\n")  # line 3 is indented one space
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "<unicode string>" not in message
    assert info.value.path == f"{path}:3:2"
    assert message.startswith(f"{path}:3:2: invalid YAML: expected <block end>")


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelroute.offline.artifact import save_router
    from modelroute.offline.calibrate import Target
    from modelroute.offline.data import load_outcomes
    from modelroute.offline.train import train_classifier
    from offline_data import synthetic
    from offline_data import write as write_csv

    folder = tmp_path_factory.mktemp("trained")
    table = load_outcomes(write_csv(folder / "d.csv", synthetic(60)))  # m-small, m-mid, m-big
    path = folder / "clf.bin"
    save_router(train_classifier(table, baseline="m-big", target=Target(quality=0.9)), path)
    return path


def _trained(path: Path, models: dict[str, dict[str, str]]) -> dict[str, object]:
    strategy = {"type": "trained", "path": str(path), "lam": 1000}
    return {"models": models, "routes": {"qa": {"models": list(models), "strategy": strategy}}}


def test_trained_strategy_matches_models_by_target(router_file: Path) -> None:
    from modelroute.types import Request

    price = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 1.0}
    models = {"big": {"target": "openai/m-big", **price}, "small": {"target": "m-small", **price}}
    backend = scripted({"big": ["big"], "small": ["small"]})
    router = Router.from_config(_trained(router_file, models), backend=backend, clock=FakeClock())
    d = router.complete(Request.of("Question 1?\nA) x\nB) y\nAnswer:", task="quiz")).decision
    # the router knows m-small/m-big; the route's names come back: cost weighs at lam=1000
    assert (d.strategy, d.tier, d.candidates) == ("trained", "small", ("small", "big"))
    assert d.responding_model == "small"


def test_trained_strategy_prefers_the_config_name_over_a_target() -> None:
    from modelroute.config import ModelConfig
    from modelroute.config_trained import trained_names

    known = ("m-small", "m-mid", "gpt-4o", "m-big")
    models = {
        "m-big": ModelConfig(target="m-small"),
        "x": ModelConfig(target="openai/m-mid"),
        "z": ModelConfig(from_litellm="gpt-4o"),
    }
    names = trained_names(["m-big", "x", "z"], known, models)
    assert names == {"m-big": "m-big", "x": "m-mid", "z": "gpt-4o"}
    # a name that is another route model's config name is not borrowed
    models = {"m-big": ModelConfig(), "y": ModelConfig(target="m-big")}
    assert trained_names(["m-big", "y"], known, models) == {"m-big": "m-big"}


def test_trained_strategy_without_a_shared_model_hints_at_target(router_file: Path) -> None:
    cfg = _trained(router_file, {"gpt4": {"target": "gpt-4-1106-preview"}, "yi": {}})
    with pytest.raises(ConfigError, match="none of the route's models") as info:
        Router.from_config(cfg, backend=scripted({}))
    assert info.value.path == "routes.qa.strategy.path"
    assert "`target` or `from_litellm`" in info.value.message


STRATEGY_YAML = """
models:
  cheap: {input_cost_per_mtok: 0.1, output_cost_per_mtok: 0.4}
  mid: {input_cost_per_mtok: 1.0, output_cost_per_mtok: 4.0}
  big: {input_cost_per_mtok: 5.0, output_cost_per_mtok: 20.0, context_window: 1000000}
rules:
  - {when: {tags_any: [legal]}, route: legal}
routes:
  default:
    models: [big, mid, cheap]
    strategy: {type: cheapest}
  tiered:
    models: [cheap, mid, big]
    strategy: {type: threshold, thresholds: [0.2, 0.5]}
  cascade:
    models: [cheap, big]
    tier_validators: {cheap: [{min_length: 10}]}
  canary:
    models: [mid, cheap]
    strategy: {type: split, weights: {mid: 0.5, cheap: 0.5}, key: user}
  legal:
    models: [big]
    require_human_review: true
  summarize:
    models: [cheap]
    max_input_tokens: 50
    overflow_route: legal
"""


def test_strategies_rules_and_limits_from_yaml() -> None:
    import yaml

    backend = scripted({"cheap": ["short"], "mid": ["mid answer"], "big": ["a big answer"]})
    router = Router.from_config(yaml.safe_load(STRATEGY_YAML), backend=backend, clock=FakeClock())
    d = router.complete("hi").decision
    assert (d.strategy, d.responding_model) == ("cheapest", "cheap")
    d = router.complete("hi", route="tiered").decision
    assert (d.strategy, d.tier) == ("threshold", "cheap")
    d = router.complete("hi", route="cascade").decision
    assert d.fallback_reasons == ("invalid_output:too_short",) and d.responding_model == "big"
    from modelroute.types import Request

    d = router.complete(Request.of("nda", tags=["legal"])).decision
    assert (d.route, d.requires_human_review) == ("legal", True)
    d = router.complete("word " * 100, route="summarize").decision
    assert (d.route, d.routed_from) == ("legal", "summarize")


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        ({"strategy": {"type": "threshold", "thresholds": [0.5]}}, "routes.r.strategy.thresholds"),
        ({"strategy": {"type": "split", "weights": {"zzz": 1}}}, "routes.r.strategy.weights.zzz"),
        ({"tier_validators": {"zzz": ["non_empty"]}}, "routes.r.tier_validators.zzz"),
        ({"strategy": {"type": "magic"}}, "routes.r.strategy.type"),
    ],
)
def test_strategy_config_errors_name_the_path(edit: dict[str, object], path: str) -> None:
    data = {
        "models": {"a": {}, "b": {}, "c": {}},
        "routes": {"r": {"models": ["a", "b", "c"], **edit}},
    }
    with pytest.raises(ConfigError) as info:
        Router.from_config(data, backend=scripted({}))
    assert info.value.path == path
