"""A streamed answer that fails validation after text reached the caller is a typed
`StreamRejected` (not "interrupted"), and a route's `non_empty` does not run twice."""

from __future__ import annotations

import pytest

from helpers import catalog, collect_stream
from modelroute.breaker import BreakerConfig
from modelroute.catalog import Catalog, ModelInfo
from modelroute.clock import FakeClock
from modelroute.config import build_router, load_config
from modelroute.errors import StreamBroken, StreamInterrupted, StreamRejected
from modelroute.provider_server import ModelScript, ProviderServer, auth_error
from modelroute.provider_server.faults import HttpError
from modelroute.records import AttemptOutcome, RequestOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import StreamChunk, Usage
from modelroute.validators import MinLength, NonEmpty, NoRefusal
from modelroute_litellm import LiteLLMBackend
from test_streaming import StreamScript

MODES = ["sync", "async"]
END = StreamChunk(finish_reason="stop", usage=Usage(10, 5))
SHORT = {"m-a": ModelScript(answer="ok"), "m-b": ModelScript(answer="a long enough answer")}


def http_catalog(srv: ProviderServer) -> Catalog:
    return Catalog(
        ModelInfo(name, target=f"openai/{name}", api_base=srv.base_url) for name in ("m-a", "m-b")
    )


@pytest.mark.parametrize("provider_server", [SHORT], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_stream_failing_a_validator_after_delivery_is_rejected_not_interrupted(
    provider_server: ProviderServer, mode: str
) -> None:
    route = Route("default", ("m-a", "m-b"), validators=(MinLength(10),))
    router = Router(
        [route],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=http_catalog(provider_server),
        clock=FakeClock(),
    )
    seen: list[str] = []
    with pytest.raises(StreamRejected) as info:
        collect_stream(router, mode, "q", on_chunk=seen.append)
    error = info.value
    assert isinstance(error, StreamInterrupted)  # existing `except StreamInterrupted` still works
    assert "".join(seen) == error.partial_text == "ok"
    assert error.reason == "invalid_output:too_short"
    assert str(error) == (
        "route 'default': the streamed answer failed validation (invalid_output:too_short) "
        "after 2 characters reached the caller; a stream cannot fall back once text was "
        "delivered (call complete()/acomplete() to fall back on invalid answers)"
    )
    assert "interrupted" not in str(error)
    assert error.decision.outcome == RequestOutcome.INTERRUPTED
    assert [(a.model, a.reason) for a in error.attempts] == [("m-a", "invalid_output:too_short")]
    assert error.attempts[-1].outcome == AttemptOutcome.INVALID
    assert provider_server.calls("m-b") == 0  # no fallback: the caller holds the text


@pytest.mark.parametrize("provider_server", [SHORT], indirect=True)
def test_the_same_answer_non_streamed_falls_back(provider_server: ProviderServer) -> None:
    route = Route("default", ("m-a", "m-b"), validators=(MinLength(10),))
    router = Router(
        [route],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=http_catalog(provider_server),
        clock=FakeClock(),
    )
    out = router.complete("q")
    assert out.text == "a long enough answer"
    assert out.decision.fallback_reasons == ("invalid_output:too_short",)


@pytest.mark.parametrize("mode", MODES)
def test_a_broken_stream_is_still_interrupted_not_rejected(mode: str) -> None:
    script = StreamScript(
        {"m-a": [StreamChunk("Hel"), StreamBroken("cut", status_code=None)], "m-b": [END]}
    )
    router = Router([Route("r1", ("m-a", "m-b"))], backend=script, catalog=catalog())
    with pytest.raises(StreamInterrupted) as info:
        collect_stream(router, mode, "q")
    assert not isinstance(info.value, StreamRejected)
    assert (
        str(info.value) == "route 'r1': stream interrupted after 3 characters (stream_interrupted)"
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_stream_still_falls_back(mode: str) -> None:
    script = StreamScript({"m-a": [END], "m-b": [StreamChunk("fine"), END]})
    route = Route("r1", ("m-a", "m-b"), validators=(MinLength(3),))
    router = Router([route], backend=script, catalog=catalog())
    chunks, decision = collect_stream(router, mode, "q")
    assert "".join(c.text for c in chunks) == "fine"
    assert decision.fallback_reasons == ("invalid_output:empty",)  # type: ignore[attr-defined]


# -- a route's own non_empty is not added twice ---------------------------------------------


def test_route_drops_repeats_and_the_implied_empty_check() -> None:
    route = Route(
        "r",
        ("m-a", "m-b"),
        validators=(NonEmpty(), NoRefusal(), MinLength(5), NoRefusal(), MinLength(6)),
        tier_validators={"m-a": (NonEmpty(), MinLength(5), MinLength(9))},
    )
    assert route.validators == (NoRefusal(), MinLength(5), MinLength(6))
    assert dict(route.tier_validators) == {"m-a": (MinLength(9),)}


@pytest.mark.parametrize("provider_server", [SHORT], indirect=True)
def test_yaml_non_empty_runs_the_empty_check_once(provider_server: ProviderServer) -> None:
    cfg = load_config(
        {
            "models": {
                name: {"target": f"openai/{name}", "api_base": provider_server.base_url}
                for name in ("m-a", "m-b")
            },
            "routes": {
                "default": {
                    "primary": "m-a",
                    "validators": ["non_empty", "no_refusal", {"min_length": 2}, "non_empty"],
                }
            },
        }
    )
    router = build_router(cfg, backend=LiteLLMBackend(api_key="sk-local"), clock=FakeClock())
    out = router.complete("q")
    names = [v.name for v in out.decision.attempts[0].verdicts]
    assert names == ["empty", "refusal", "too_short"]


# -- 401/403: fall back with reason `auth`, counted against the breaker (docs/failure_modes.md)


@pytest.mark.parametrize("provider_server", [SHORT], indirect=True)
@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_fall_back_and_count_against_the_breaker(
    provider_server: ProviderServer, status: int
) -> None:
    srv = provider_server
    srv.set_faults("m-a", [auth_error() if status == 401 else HttpError(status)])
    router = Router(
        [Route("default", ("m-a", "m-b"))],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=http_catalog(srv),
        clock=FakeClock(),
        breaker=BreakerConfig(failure_threshold=1),  # one counted failure opens it: certain
    )
    first = router.complete("q")
    assert [(a.model, a.reason, a.status_code) for a in first.decision.attempts] == [
        ("m-a", "auth", status),
        ("m-b", None, None),
    ]
    second = router.complete("q")  # sequential: m-a's breaker is open, so it is skipped
    assert [(a.model, a.reason) for a in second.decision.attempts] == [
        ("m-a", "circuit_open"),
        ("m-b", None),
    ]
    assert srv.calls("m-a") == 1  # no same-model retry, no call while open
