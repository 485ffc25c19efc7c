"""`from_config` options (observers, guards), `decision_log` relative to the config file,
the provider taken from a LiteLLM-style target, and `ModelScript.usage` given as a dict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelroute.backend import FakeBackend
from modelroute.catalog import ModelInfo, model_info_from_map, provider_of_target
from modelroute.clock import FakeClock
from modelroute.config import build_router, load_config
from modelroute.provider_server import AnswerRule, ModelScript, ProviderServer, Usage
from modelroute.provider_server.faults import ContentOverride
from modelroute.records import Attempt
from modelroute.router import Router
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend
from modelroute_otel import OTelObserver

# -- 1 + 3: from_config takes observers and guards; the provider comes from the target --------


class CountingGuard:
    """Admits every call and remembers which models it admitted and settled."""

    def __init__(self) -> None:
        self.admitted: list[str] = []
        self.settled: list[str | None] = []

    def admit(self, request: Request, model: ModelInfo) -> object:
        self.admitted.append(model.name)
        return model.name

    async def aadmit(self, request: Request, model: ModelInfo) -> object:
        return self.admit(request, model)

    def settle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settled.append(attempt.model if attempt is not None else None)

    async def asettle(self, ticket: object, attempt: Attempt | None) -> None:
        self.settle(ticket, attempt)


def _yaml_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(
        f"""
models:
  cheap: {{target: openai/m-a, api_base: "{base_url}"}}
  strong: {{target: openai/m-b, api_base: "{base_url}", provider: local}}
routes:
  geo: {{models: [cheap, strong]}}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_from_config_yaml_traces_with_observers_and_guards_over_http(
    provider_server: ProviderServer, tmp_path: Path, mode: str
) -> None:
    provider_server.set_faults("m-a", [ContentOverride("")])  # empty answer: falls back once
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    guard = CountingGuard()
    router = Router.from_config(
        _yaml_config(tmp_path, provider_server.base_url),
        backend=LiteLLMBackend(api_key="sk-local"),
        clock=FakeClock(),
        observers=[OTelObserver(tracer_provider)],
        guards=[guard],
        seed=7,
    )
    out = router.complete("hi") if mode == "sync" else await router.acomplete("hi")

    assert out.text == "Hello from m-b."
    cheap, strong = out.decision.attempts
    assert (cheap.model, cheap.provider, cheap.reason) == (
        "cheap",
        "openai",
        "invalid_output:empty",
    )
    assert (strong.model, strong.provider) == ("strong", "local")  # explicit provider wins
    assert out.decision.responding_provider == "local"
    assert guard.admitted == ["cheap", "strong"]
    assert guard.settled == ["cheap", "strong"]
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert by_name["chat m-a"].attributes is not None
    assert by_name["chat m-a"].attributes["gen_ai.provider.name"] == "openai"
    assert by_name["chat m-b"].attributes is not None
    assert by_name["chat m-b"].attributes["gen_ai.provider.name"] == "local"
    assert "modelroute.route geo" in by_name


def test_build_router_keeps_the_config_guard_and_tracker_first() -> None:
    cfg = load_config(
        {
            "models": {"a": {}},
            "routes": {"r": {"models": ["a"]}},
            "limits": {"per_user_per_minute": 100},
        }
    )
    guard = CountingGuard()
    observer = OTelObserver(TracerProvider())
    router = build_router(
        cfg, backend=FakeBackend(lambda m, r: "x"), guards=[guard], observers=[observer]
    )
    assert len(router.guards) == 2 and router.guards[1] is guard
    assert type(router.guards[0]).__name__ == "LimitsGuard"
    router.complete("hi")
    assert guard.admitted == ["a"]


def test_provider_of_target() -> None:
    assert provider_of_target("openai/m-a") == "openai"
    assert provider_of_target("openrouter/anthropic/claude-3") == "openrouter"
    assert provider_of_target("gpt-4o") is None
    assert provider_of_target(None) is None
    assert provider_of_target("/m-a") is None


def test_model_info_derives_the_provider_unless_given() -> None:
    assert ModelInfo("m", target="openai/m-a").provider == "openai"
    assert ModelInfo("m", target="openai/m-a", provider="azure").provider == "azure"
    assert ModelInfo("m").provider is None
    assert ModelInfo("m", target="m-a").provider is None


def test_config_provider_from_target_from_litellm_and_explicit() -> None:
    router = Router.from_config(
        {
            "models": {
                "t": {"target": "anthropic/claude-x"},
                "p": {"target": "openai/m-a", "provider": "local"},
                "plain": {"target": "m-a"},
                "ll": {"from_litellm": "gpt-4o-mini"},
            },
            "routes": {"r": {"models": ["t", "p", "plain", "ll"]}},
        },
        backend=FakeBackend(lambda m, r: "x"),
    )
    providers = {name: router.catalog.get(name).provider for name in ("t", "p", "plain", "ll")}
    assert providers == {"t": "anthropic", "p": "local", "plain": None, "ll": "openai"}
    # the LiteLLM map's own label is kept for map entries (its name carries no prefix)
    assert model_info_from_map("gpt-4o-mini", {"litellm_provider": "openai"}).provider == "openai"


# -- 2: decision_log relative to the config file ------------------------------------------------

CONFIG = {"models": {"a": {}}, "routes": {"r": {"models": ["a"]}}}


def test_relative_decision_log_in_a_file_is_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    (conf_dir / "logs").mkdir(parents=True)
    elsewhere.mkdir()
    path = conf_dir / "router.yaml"
    path.write_text(json.dumps({**CONFIG, "decision_log": "logs/decisions.jsonl"}), "utf-8")
    monkeypatch.chdir(elsewhere)

    assert load_config(path).decision_log == str(conf_dir / "logs" / "decisions.jsonl")
    router = Router.from_config(str(path), backend=FakeBackend(lambda m, r: "x"))
    router.complete("hi")
    lines = (conf_dir / "logs" / "decisions.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["responding_model"] == "a"
    assert list(elsewhere.iterdir()) == []


def test_absolute_decision_log_in_a_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs.jsonl"
    path = tmp_path / "router.json"
    path.write_text(json.dumps({**CONFIG, "decision_log": str(target)}), "utf-8")
    assert load_config(path).decision_log == str(target)


def test_relative_decision_log_in_a_dict_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config({**CONFIG, "decision_log": "decisions.jsonl"})
    assert cfg.decision_log == "decisions.jsonl"
    Router.from_config(cfg, backend=FakeBackend(lambda m, r: "x")).complete("hi")
    assert (tmp_path / "decisions.jsonl").is_file()
    assert os.listdir(tmp_path) == ["decisions.jsonl"]


# -- 4: usage given as a dict -------------------------------------------------------------------


def test_model_script_usage_dict_is_converted() -> None:
    script = ModelScript(usage={"prompt_tokens": 400, "completion_tokens": 200})  # type: ignore[arg-type]
    assert script.usage == Usage(prompt_tokens=400, completion_tokens=200)
    rule = AnswerRule(when="x", usage={"completion_tokens": 3})  # type: ignore[arg-type]
    assert rule.usage == Usage(completion_tokens=3)
    assert ModelScript().usage is None


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ModelScript(usage={"prompt": 4}), "ModelScript.usage"),
        (lambda: ModelScript(usage=[4, 2]), "ModelScript.usage"),
        (lambda: AnswerRule(when="x", usage="400"), "AnswerRule.usage"),
        (lambda: ModelScript(usage={"prompt_tokens": "400"}), "Usage.prompt_tokens"),
        (lambda: Usage(completion_tokens=2.5), "Usage.completion_tokens"),  # type: ignore[arg-type]
    ],
)
def test_bad_usage_raises_type_error_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(TypeError, match=field.replace(".", r"\.")):
        make()  # type: ignore[operator]


def test_negative_usage_count_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"Usage\.total_tokens"):
        Usage(total_tokens=-1)


@pytest.mark.parametrize(
    "provider_server",
    [{"m-a": ModelScript(usage={"prompt_tokens": 400, "completion_tokens": 200})}],  # type: ignore[arg-type]
    indirect=True,
)
def test_server_reports_a_dict_usage_over_http(provider_server: ProviderServer) -> None:
    body = httpx.post(
        f"{provider_server.base_url}/chat/completions",
        json={"model": "m-a", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10.0,
    ).json()
    assert body["usage"] == {"prompt_tokens": 400, "completion_tokens": 200, "total_tokens": 600}
