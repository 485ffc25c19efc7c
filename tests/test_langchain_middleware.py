"""ModelRouteMiddleware in an agent built with `create_agent`, over real HTTP: a fallback on
the first model call, the next turn on the primary with a strictly checked history (BC-17),
and the run tree."""

from __future__ import annotations

import json

import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from modelroute.provider_server import ModelScript, ProviderServer, ToolCall
from modelroute.sinks import MemorySink
from modelroute_langchain import ModelRouteMiddleware
from modelroute_langchain.testing import RunCollector

SCRIPTS = {
    "m-a": ModelScript(
        answer="It is sunny.",
        tool_calls=(ToolCall("lookup", {"q": "weather"}, id="call_a_01"),),
        strict_history=True,
    ),
    "m-b": ModelScript(
        tool_calls=(ToolCall("lookup", {"q": "weather"}, id="call_b_01"),),
        message_extra={"reasoning_content": "thinking...", "annotations": []},
    ),
}


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "sunny"


def chat(srv: ProviderServer, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key="sk-local", max_retries=0)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_the_middleware_falls_back_and_the_next_turn_runs_on_the_primary(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    middleware = ModelRouteMiddleware.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, sinks=[sink]
    )
    agent = create_agent(chat(srv, "m-a"), tools=[lookup], middleware=[middleware])
    srv.set_faults("m-a", [503])
    runs = RunCollector()
    state = {"messages": [("user", "What is the weather?")]}
    config = {"callbacks": [runs]}

    if mode == "invoke":
        out = agent.invoke(state, config)  # type: ignore[arg-type]
    else:
        out = await agent.ainvoke(state, config)  # type: ignore[arg-type]

    call, result, answer = out["messages"][1:]
    assert [(c["name"], c["args"], c["id"]) for c in call.tool_calls] == [
        ("lookup", {"q": "weather"}, "call_b_01")
    ]
    assert call.response_metadata["modelroute"]["requested_model"] == "m-b"
    assert call.response_metadata["modelroute"]["fallback_reasons"] == ["unavailable"]
    assert result.tool_call_id == "call_b_01"
    assert answer.content == "It is sunny."
    assert [d.fallback_reasons for d in sink.decisions] == [("unavailable",), ()]
    assert (srv.calls("m-a"), srv.calls("m-b")) == (2, 1)
    second = srv.requests("m-a")[-1]
    assert second.status == 200  # the strict history check passed
    assert "reasoning_content" not in json.dumps(second.messages)
    assert [t["function"]["name"] for t in srv.requests("m-b")[0].body["tools"]] == ["lookup"]

    first_call, second_call = runs.named("ModelRouteMiddleware")
    attempts = runs.children(first_call)
    assert [(a.name, a.error is not None) for a in attempts] == [("m-a", True), ("m-b", False)]
    assert "modelroute:attempt:1" in attempts[1].tags
    assert [r.name for r in runs.children(attempts[1])] == ["ChatOpenAI"]
    assert second_call.extra["metadata"]["modelroute_requested_model"] == "m-a"
