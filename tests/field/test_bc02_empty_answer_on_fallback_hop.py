"""BC-02: an HTTP 200 with an empty answer on a fallback hop does not end the chain.

Route r2 = [m-a, m-b, m-c], no same-model retries, the default non-empty check. m-a always
503 (case label server_error -> `unavailable`), m-c answers normally; m-b's reply varies:
V1 content "" (usage 50 in / 0 out), V2 content null, V3 whitespace only, V4 a stream of a
role-only delta then a finish chunk (no content), V5 (control) a tool call only. Every
variant runs on all four paths (sync, async, sync stream, async stream); V4's shape is what a
streamed V2 sends. The provider server's log counts the calls.
"""

from __future__ import annotations

import pytest

from field_routing import FILTERS, MODES, STREAM_MODES, ask, make_router
from helpers import PER_M
from modelroute.provider_server import (
    ContentOverride,
    ModelScript,
    ProviderServer,
    ToolCall,
    Usage,
    empty_content,
    null_content,
    whitespace_content,
)
from modelroute.reasons import FallbackReason
from modelroute.records import AttemptOutcome
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

C_TEXT = "Paris is the capital of France."
SCRIPTS = {
    "m-a": ModelScript(),
    "m-b": ModelScript(
        usage=Usage(prompt_tokens=50, completion_tokens=0),
        tool_calls=(ToolCall(name="lookup", arguments={"q": "weather"}, id="call_b_01"),),
    ),
    "m-c": ModelScript(answer=C_TEXT, usage=Usage(prompt_tokens=50, completion_tokens=10)),
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
M_B_COST = 50 * 2.00 * PER_M  # billed input of the empty answer: $0.0001
M_C_COST = 50 * 0.50 * PER_M + 10 * 1.50 * PER_M

EMPTY_VARIANTS: dict[str, ContentOverride] = {
    "V1-empty": empty_content(),
    "V2-null": null_content(),
    "V3-whitespace": whitespace_content(),
}


def _route(srv: ProviderServer) -> Router:
    srv.set_default_fault("m-a", 503)
    return make_router(srv, [Route("r2", ("m-a", "m-b", "m-c"))]).router


def _check_falls_through(srv: ProviderServer, mode: str, fault: ContentOverride) -> None:
    router = _route(srv)
    srv.set_faults("m-b", [fault])
    out = ask(router, mode, "What is the capital of France?")

    assert out.text == C_TEXT
    if out.chunks:  # nothing of m-b's rejected stream reached the caller
        assert "".join(c.text for c in out.chunks) == C_TEXT
        assert all(c.model in (None, "m-c") for c in out.chunks)
        assert out.chunks[-1].model == "m-c"
    d = out.decision
    assert [(a.model, a.outcome, a.reason) for a in d.attempts] == [
        ("m-a", AttemptOutcome.ERROR, FallbackReason.UNAVAILABLE),
        ("m-b", AttemptOutcome.INVALID, FallbackReason.invalid_output("empty")),
        ("m-c", AttemptOutcome.OK, None),
    ]
    a, b, c = d.attempts
    assert (a.status_code, a.cost_usd) == (503, 0.0)
    assert b.finish_reason == "stop" and b.usage is not None and not b.usage.estimated
    assert b.cost_usd == pytest.approx(M_B_COST, abs=1e-9)
    assert c.cost_usd == pytest.approx(M_C_COST, abs=1e-9)
    assert d.cost_usd == pytest.approx(M_B_COST + M_C_COST, abs=1e-9)
    assert d.responding_model == "m-c"
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-b"), srv.calls("m-c")) == (1, 1, 1)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("variant", list(EMPTY_VARIANTS))
@pytest.mark.parametrize("mode", MODES)
def test_v1_to_v3_empty_reply_falls_through(
    provider_server: ProviderServer, mode: str, variant: str
) -> None:
    _check_falls_through(provider_server, mode, EMPTY_VARIANTS[variant])


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", STREAM_MODES)
def test_v4_role_only_stream_is_rejected_before_any_byte(
    provider_server: ProviderServer, mode: str
) -> None:
    """Role-only first delta, then finish_reason "stop" with no content, then [DONE]: no
    "stream interrupted" (nothing was committed), the caller sees only m-c's chunks."""
    srv = provider_server
    _check_falls_through(srv, mode, null_content())
    (record,) = srv.requests("m-b")
    assert record.stream and record.status == 200 and not record.disconnected


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_v5_tool_call_only_reply_is_valid(provider_server: ProviderServer, mode: str) -> None:
    srv = provider_server
    out = ask(_route(srv), mode, Request.of("What is the weather?", tools=TOOLS))
    assert out.text == ""
    heads = [c for c in out.tool_calls if c.get("id")]
    assert [(c["id"], c["function"]["name"]) for c in heads] == [("call_b_01", "lookup")]
    args = "".join(c.get("function", {}).get("arguments", "") for c in out.tool_calls)
    assert args == '{"q": "weather"}'
    d = out.decision
    assert [(a.model, a.reason) for a in d.attempts] == [
        ("m-a", FallbackReason.UNAVAILABLE),
        ("m-b", None),
    ]
    assert d.attempts[1].finish_reason == "tool_calls"
    assert d.responding_model == "m-b"
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-b"), srv.calls("m-c")) == (1, 1, 0)
