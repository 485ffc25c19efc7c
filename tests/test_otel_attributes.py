"""Attribute names and the pure record-to-attribute functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelroute_otel
from modelroute.catalog import ModelInfo
from modelroute.records import Attempt, AttemptOutcome, Verdict
from modelroute.types import Usage
from modelroute_otel import attributes as a
from modelroute_otel import span_attributes as sa


def test_all_matches_the_public_names() -> None:
    public = {n for n in dir(modelroute_otel) if not n.startswith("_")}
    public -= {
        "annotations",
        "content",
        "inflight",
        "metrics",
        "observer",
        "providers",
        "transitions",
    }
    public -= {"span_attributes"}
    assert sorted(modelroute_otel.__all__) == sorted(public)


def test_genai_names_match_the_installed_semantic_conventions() -> None:
    semconv = pytest.importorskip("opentelemetry.semconv._incubating.attributes.gen_ai_attributes")
    metrics = pytest.importorskip("opentelemetry.semconv._incubating.metrics.gen_ai_metrics")
    for name in dir(a):
        if name.startswith("GEN_AI_") and hasattr(semconv, name):
            assert getattr(a, name) == getattr(semconv, name), name
    assert a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS == semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
    assert a.METRIC_OPERATION_DURATION == metrics.GEN_AI_CLIENT_OPERATION_DURATION
    assert a.METRIC_TOKEN_USAGE == metrics.GEN_AI_CLIENT_TOKEN_USAGE


def test_import_pulls_in_neither_litellm_nor_langchain() -> None:
    code = (
        "import sys, modelroute_otel; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'langchain_core')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (None, (None, None)),
        ("http://127.0.0.1:8080/v1", ("127.0.0.1", 8080)),
        ("https://api.openai.com/v1", ("api.openai.com", 443)),
        ("http://user:pw@host.test/v1", ("host.test", 80)),
        ("localhost:4000", ("localhost", 4000)),
        ("http://host:notaport/", (None, None)),
    ],
)
def test_server_address_and_port(api_base: str | None, expected: tuple[object, object]) -> None:
    assert sa.server_of(api_base) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [(None, "m-a"), ("gpt-4o", "gpt-4o"), ("openai/m-a", "m-a"), ("hf/org/model", "org/model")],
)
def test_request_model_drops_the_litellm_provider_prefix(target: str | None, expected: str) -> None:
    assert sa.request_model(ModelInfo("m-a", target=target)) == expected


def test_provider_names_follow_the_conventions() -> None:
    assert a.provider_name("bedrock") == "aws.bedrock"
    assert a.provider_name("openai") == "openai"
    assert a.provider_name(None) is None


def test_none_values_are_dropped() -> None:
    assert sa.clean((("a", None), ("b", 0), ("c", ""), ("d", False))) == {
        "b": 0,
        "c": "",
        "d": False,
    }


def test_attempt_end_attributes() -> None:
    attempt = Attempt(
        index=2,
        model="m-a",
        provider="local",
        outcome=AttemptOutcome.OK,
        usage=Usage(10, 5, cached_input_tokens=4),
        cost_usd=0.25,
        baseline_cost_usd=1.0,
        response_model="m-a-v2",
        ttft_s=0.3,
        verdicts=(Verdict("empty", True), Verdict("json", True)),
    )
    assert sa.attempt_end(attempt, cost_aliases=True) == {
        "modelroute.attempt.outcome": "ok",
        "gen_ai.response.model": "m-a-v2",
        "gen_ai.response.time_to_first_chunk": 0.3,
        "modelroute.cost.usd": 0.25,
        "gen_ai.usage.cost": 0.25,
        "llm.cost.total": 0.25,
        "modelroute.baseline.cost.usd": 1.0,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "modelroute.validators.passed": ["empty", "json"],
    }


def test_estimated_usage_is_not_reported_as_genai_tokens() -> None:
    attempt = Attempt(0, "m-a", None, AttemptOutcome.OK, usage=Usage(10, 5, estimated=True))
    out = sa.attempt_end(attempt)
    assert "gen_ai.usage.input_tokens" not in out
    assert out["modelroute.usage.estimated"] is True
    assert out["modelroute.usage.estimated.input_tokens"] == 10
    assert "gen_ai.usage.cost" not in out  # aliases are opt-in
