"""The plan's fast record constructors (`modelroute.records_fast`) build the very records the
public constructors build: same fields in the same order, equal, hashed, pickled, copied,
logged and read back alike, for records made by a real request over HTTP."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.provider_server import HttpError, ProviderServer
from modelroute.records import (
    Attempt,
    AttemptOutcome,
    Decision,
    RequestOutcome,
    Segment,
    Verdict,
)
from modelroute.records_fast import new_attempt, new_decision
from modelroute.report.data import decision_from_dict
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import JsonlSink, MemorySink
from modelroute.types import Request, Usage
from modelroute_litellm import LiteLLMBackend

NEVER_OPENS = BreakerConfig(failure_threshold=10_000)


@pytest.mark.parametrize(("build", "cls"), [(new_attempt, Attempt), (new_decision, Decision)])
def test_the_fast_constructors_take_every_field_in_declaration_order(build: Any, cls: type) -> None:
    params = list(inspect.signature(build).parameters.values())
    assert [p.name for p in params] == [f.name for f in dataclasses.fields(cls)]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params)


def _attempt_fields() -> dict[str, Any]:
    return {
        "index": 1,
        "model": "m-b",
        "provider": "local",
        "outcome": AttemptOutcome.INVALID,
        "reason": "invalid_output:json",
        "retry": 2,
        "error_type": "ProviderUnavailable",
        "error_message": "not JSON",
        "status_code": 503,
        "retry_after_s": 1.5,
        "latency_s": 0.25,
        "ttft_s": 0.125,
        "usage": Usage(12, 3),
        "cost_usd": 1e-5,
        "baseline_cost_usd": 2e-5,
        "response_model": "m-b-2026",
        "finish_reason": "stop",
        "priced_as": "m-b",
        "substituted": True,
        "price_unknown": True,
        "verdicts": (Verdict("json", False, "not JSON"),),
        "verifier_model": "m-judge",
        "verifier_cost_usd": 3e-6,
        "started_at": 1700000000.5,
    }


def _decision_fields(attempt: Attempt) -> dict[str, Any]:
    return {
        "request_id": "r-1",
        "route": "chain",
        "strategy": "fallback",
        "candidates": ("m-a", "m-b"),
        "attempts": (attempt,),
        "outcome": RequestOutcome.SUCCESS_AFTER_FALLBACK,
        "responding_model": "m-b",
        "responding_provider": "local",
        "baseline_model": "m-strong",
        "cost_usd": 1e-5,
        "baseline_cost_usd": 2e-5,
        "latency_s": 0.5,
        "started_at": 1700000000.0,
        "user": "u-1",
        "team": "t",
        "task": "extract",
        "tags": ("a", "b"),
        "prompt_version": "v2",
        "stream": True,
        "strategy_reason": "cheapest",
        "score": 0.5,
        "threshold": 0.25,
        "tier": "strong",
        "requires_human_review": True,
        "routed_from": "short",
        "resumed": True,
        "segments": (Segment("m-a", 0, 0, 3), Segment("m-b", 1, 3, 9)),
        "shadow_of": "r-0",
        "extra": {"k": [1, 2]},
    }


def test_fast_records_equal_the_public_constructors_in_every_way() -> None:
    values = _attempt_fields()
    fast, slow = new_attempt(*values.values()), Attempt(**values)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.to_dict() == slow.to_dict()
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert copy.deepcopy(fast) == slow
    assert dataclasses.replace(fast, retry=3) == dataclasses.replace(slow, retry=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.retry = 5  # type: ignore[misc]
    assert fast != dataclasses.replace(slow, verifier_cost_usd=0.0)

    decision_values = _decision_fields(slow)
    fast_d, slow_d = new_decision(*decision_values.values()), Decision(**decision_values)
    assert fast_d == slow_d and repr(fast_d) == repr(slow_d)
    assert fast_d.to_dict() == slow_d.to_dict()
    assert pickle.loads(pickle.dumps(fast_d)) == slow_d
    assert fast_d.fallback_reasons == ("invalid_output:json",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast_d.cost_usd = 0.0  # type: ignore[misc]


def _public_copy(decision: Decision) -> Decision:
    """The same decision rebuilt through the public constructors."""
    attempts = tuple(
        Attempt(**{f.name: getattr(a, f.name) for f in dataclasses.fields(a)})
        for a in decision.attempts
    )
    values = {f.name: getattr(decision, f.name) for f in dataclasses.fields(decision)}
    return Decision(**{**values, "attempts": attempts})


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_routed_requests_records_read_back_equal(
    provider_server: ProviderServer, tmp_path: Path, mode: str
) -> None:
    """m-x is skipped (its context window is too small), m-a answers 503, m-b answers: a
    skipped, a failed and an answered attempt, each written through the fast path."""
    srv = provider_server
    srv.set_faults("m-a", [HttpError(503)])
    log, memory = tmp_path / "decisions.jsonl", MemorySink()

    def model(name: str, **fields: Any) -> ModelInfo:
        return ModelInfo(
            name,
            provider="local",
            target=f"openai/{name if name != 'm-x' else 'm-c'}",
            api_base=srv.base_url,
            input_cost_per_token=1e-6,
            output_cost_per_token=2e-6,
            **fields,
        )

    router = Router(
        [Route("chain", ("m-x", "m-a", "m-b"))],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=Catalog([model("m-x", max_input_tokens=1), model("m-a"), model("m-b")]),
        baseline="m-b",
        breaker=NEVER_OPENS,
        sinks=[JsonlSink(log), memory],
    )
    request = Request.of("Summarize Hamlet", user="u-1", tags=("t",))
    out = router.complete(request) if mode == "sync" else await router.acomplete(request)

    decision = out.decision
    assert [a.outcome for a in decision.attempts] == [
        AttemptOutcome.SKIPPED,
        AttemptOutcome.ERROR,
        AttemptOutcome.OK,
    ]
    assert decision.attempts[1].status_code == 503 and decision.attempts[2].cost_usd > 0
    assert decision.outcome is RequestOutcome.SUCCESS_AFTER_FALLBACK
    assert decision.cost_usd == sum(a.cost_usd for a in decision.attempts)
    assert memory.decisions == [decision]
    public = _public_copy(decision)
    assert decision == public and repr(decision) == repr(public)
    assert [hash(a) for a in decision.attempts] == [hash(a) for a in public.attempts]
    assert pickle.loads(pickle.dumps(decision)) == decision
    (line,) = log.read_text(encoding="utf-8").splitlines()
    raw = json.loads(line)
    assert raw["type"] == "decision" and raw["fallback_reasons"] == list(decision.fallback_reasons)
    assert decision_from_dict(raw) == decision
