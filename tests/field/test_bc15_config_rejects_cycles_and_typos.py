"""BC-15: fallback cycles, dangling names and malformed entries are rejected when the config
loads, all at once, each with its path.

modelroute's config has no per-model fallback map: a route is an ordered chain (`models`, or
`primary` + `fallbacks`), and the one place a name leads to another name is a route's
`overflow_route` (rules and `default_route` name routes too). So the case maps as:
C1 three-hop cycle -> overflow cycle r1 -> r2 -> r3 -> r1; C2 self -> `primary: m-a,
fallbacks: [m-a]`, and `overflow_route` naming its own route; C3 typo -> `fallbacks: [m-bb]`;
C4 malformed entries -> `fallbacks: [{mdl: m-b}, 42]`; C5 duplicate -> `fallbacks: [m-b, m-b]`
(documented as an error; a programmatic `Route` listing a model twice is de-duplicated, each
model tried once); C6 -> a misspelled top-level key `fallbackz` and `breaker.cooldown`;
C7 -> a valid config plus a per-request ranking (the strategy hook that orders a route's
models for each request) that cycles back to m-a, and an overflow cycle built in code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from field_routing import FILTERS, KEY, catalog
from modelroute.catalog import Catalog
from modelroute.config_check import InvalidConfig
from modelroute.errors import AllAttemptsFailed, ConfigError, InputTooLong
from modelroute.provider_server import ProviderServer
from modelroute.route import Route
from modelroute.router import Router
from modelroute.strategies.base import Ranking
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

MODELS = {
    name: {"target": f"openai/{name}", "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 4.0}
    for name in ("m-a", "m-b", "m-c")
}
LOOP = "a request too long for one route must end somewhere"
TWICE = "a model cannot fall back to itself, each model is tried at most once"


def _config(routes: Mapping[str, Any], **top: Any) -> dict[str, Any]:
    return {"models": MODELS, "routes": dict(routes), **top}


def _overflow(model: str, to: str) -> dict[str, Any]:
    return {"models": [model], "max_input_tokens": 1000, "overflow_route": to}


CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "C1-three-hop-cycle": (
        _config(
            {
                "r1": _overflow("m-a", "r2"),
                "r2": _overflow("m-b", "r3"),
                "r3": _overflow("m-c", "r1"),
            }
        ),
        [("routes.r1.overflow_route", f"overflow cycle r1 → r2 → r3 → r1: {LOOP}")],
    ),
    "C2-self-fallback": (
        _config({"r1": {"primary": "m-a", "fallbacks": ["m-a"]}}),
        [("routes.r1.fallbacks[0]", f"'m-a' is already at routes.r1.primary: {TWICE}")],
    ),
    "C2-self-overflow": (
        _config({"r1": _overflow("m-a", "r1")}),
        [("routes.r1.overflow_route", f"overflow cycle r1 → r1: {LOOP}")],
    ),
    "C3-typo": (
        _config({"r1": {"primary": "m-a", "fallbacks": ["m-bb"]}}),
        [("routes.r1.fallbacks[0]", "unknown model 'm-bb' (did you mean 'm-b'?)")],
    ),
    "C4-malformed-entries": (
        _config({"r1": {"primary": "m-a", "fallbacks": [{"mdl": "m-b"}, 42]}}),
        [
            ("routes.r1.fallbacks[0]", "Input should be a valid string"),
            ("routes.r1.fallbacks[1]", "Input should be a valid string (got 42)"),
        ],
    ),
    "C5-duplicate": (
        _config({"r1": {"primary": "m-a", "fallbacks": ["m-b", "m-b"]}}),
        [("routes.r1.fallbacks[1]", f"'m-b' is already at routes.r1.fallbacks[0]: {TWICE}")],
    ),
    "C6-misspelled-top-level-key": (
        _config({"r1": {"models": ["m-a", "m-b"]}}, fallbackz={"m-a": ["m-b"]}),
        [("fallbackz", "Extra inputs are not permitted (did you mean 'fallbacks'?)")],
    ),
    "C6-misspelled-cooldown": (
        _config({"r1": {"models": ["m-a", "m-b"]}}, breaker={"cooldown": 30}),
        [
            (
                "breaker.cooldown",
                "Extra inputs are not permitted (got 30) (did you mean 'cooldown_s'?)",
            )
        ],
    ),
    "all-problems-at-once": (
        _config(
            {
                "r1": {
                    "primary": "m-a",
                    "fallbacks": ["m-bb", "m-c", "m-c"],
                    "overflow_route": "r2",
                },
                "r2": {"models": ["m-b"], "overflow_route": "r1"},
            },
            rules=[{"route": "r-1", "when": {"tags_any": ["x"]}}],
            default_route="r11",
        ),
        [
            ("routes.r1.fallbacks[0]", "unknown model 'm-bb' (did you mean 'm-b'?)"),
            ("routes.r1.fallbacks[2]", f"'m-c' is already at routes.r1.fallbacks[1]: {TWICE}"),
            ("rules[0].route", "unknown route 'r-1' (did you mean 'r1'?)"),
            ("default_route", "unknown route 'r11' (did you mean 'r1'?)"),
            ("routes.r1.overflow_route", f"overflow cycle r1 → r2 → r1: {LOOP}"),
        ],
    ),
}
FORMATS = ("yaml", "json", "dict")


def _as(fmt: str, data: dict[str, Any], tmp_path: Path) -> Any:
    if fmt == "dict":
        return data
    path = tmp_path / f"modelroute.{fmt}"
    text = json.dumps(data) if fmt == "json" else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def _problems(error: ConfigError) -> list[tuple[str, str]]:
    assert isinstance(error, InvalidConfig)
    return [(p.path, p.message) for p in error.problems]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_construction_listing_every_problem(
    provider_server: ProviderServer, tmp_path: Path, case: str
) -> None:
    data, expected = CASES[case]
    backend = LiteLLMBackend(api_base=provider_server.base_url, api_key=KEY)
    threads = threading.active_count()
    found = []
    for fmt in FORMATS:
        with pytest.raises(ConfigError) as info:
            Router.from_config(_as(fmt, data, tmp_path), backend=backend)
        found.append(_problems(info.value))
        first_path, first_message = expected[0]
        assert (info.value.path, info.value.message) == (first_path, first_message)
        for path, message in expected:
            assert f"{path}: {message}" in str(info.value)
    assert found == [expected] * len(FORMATS)  # YAML, JSON and dict: identical lists
    assert provider_server.requests() == []  # no network call
    assert threading.active_count() == threads  # no background task


def _all_503(srv: ProviderServer) -> None:
    for name in ("m-a", "m-b", "m-c"):
        srv.set_default_fault(name, 503)


class Loop:
    """A per-request ranking that cycles back: m-a -> m-b -> m-c -> m-a -> m-b."""

    name = "loop"

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        return Ranking(models + models[:2], reason="cycles back to the primary")


def test_c7_a_per_request_cycle_tries_each_model_once(provider_server: ProviderServer) -> None:
    srv = provider_server
    _all_503(srv)
    valid = _config({"r1": {"primary": "m-a", "fallbacks": ["m-b", "m-c"]}})
    backend = LiteLLMBackend(api_base=srv.base_url, api_key=KEY)
    router = Router.from_config(valid, backend=backend)
    router.routes["r1"] = Route("r1", router.routes["r1"].models, ranker=Loop())
    with pytest.raises(AllAttemptsFailed) as info:
        router.complete("hi")
    assert [a.model for a in info.value.attempts] == ["m-a", "m-b", "m-c"]
    assert {a.reason for a in info.value.attempts} == {"unavailable"}
    srv.wait_idle(5.0)
    assert [srv.calls(m) for m in ("m-a", "m-b", "m-c")] == [1, 1, 1]


def test_c5_a_route_built_in_code_with_a_model_twice_tries_it_once(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    _all_503(srv)
    router = Router(
        [Route("r1", ("m-a", "m-b", "m-b", "m-a"))],
        backend=LiteLLMBackend(api_base=srv.base_url, api_key=KEY),
        catalog=catalog(("m-a", "m-b")),
    )
    with pytest.raises(AllAttemptsFailed) as info:
        router.complete("hi")
    assert info.value.decision.candidates == ("m-a", "m-b")
    assert [a.model for a in info.value.attempts] == ["m-a", "m-b"]
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-b")) == (1, 1)


def test_c7_an_overflow_cycle_built_in_code_ends_without_a_call(
    provider_server: ProviderServer,
) -> None:
    routes = [
        Route("r1", ("m-a",), max_input_tokens=5, overflow_route="r2"),
        Route("r2", ("m-b",), max_input_tokens=5, overflow_route="r1"),
    ]
    backend = LiteLLMBackend(api_base=provider_server.base_url, api_key=KEY)
    router = Router(routes, backend=backend, catalog=catalog(("m-a", "m-b")))
    with pytest.raises(InputTooLong):
        router.complete("word " * 100)
    assert provider_server.requests() == []
