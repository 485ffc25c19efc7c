"""BC-17: a reply served by the fallback does not break the next turn on the primary.

LangChain's own `ChatOpenAI` per model, pointed at the local provider server, behind
modelroute's chat-model facade (`RoutedChatModel`) over route [m-a, m-b], with the tool
`lookup(q)` bound; then the same through the agent middleware (`ModelRouteMiddleware` in a
`create_agent` agent). m-a checks its inbound history strictly (standard `tool_calls`, text
or null content, tool messages answering an earlier call id, no unknown keys; else 400).
Turn 1: m-a 503, m-b answers one tool call `call_b_01` with extra provider fields on its
message (`reasoning_content`, `annotations`). Turn 2: [user, turn-1 AIMessage,
ToolMessage("sunny")], m-a healthy. Case labels -> modelroute: `server_error` ->
`unavailable`. The provider server's log counts the calls and keeps what m-a received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from field_routing import FILTERS, KEY
from modelroute.provider_server import ModelScript, ProviderServer, ToolCall
from modelroute.provider_server.validation import history_problem
from modelroute.sinks import MemorySink
from modelroute_langchain import ModelRouteMiddleware, RoutedChatModel

pytestmark = [pytest.mark.filterwarnings(f) for f in FILTERS]

EXTRA = {"reasoning_content": "the user wants the weather", "annotations": []}
SCRIPTS = {
    "m-a": ModelScript(
        answer="It is sunny today.",
        tool_calls=(ToolCall("lookup", {"q": "weather"}, id="call_a_01"),),
        strict_history=True,
    ),
    "m-b": ModelScript(
        tool_calls=(ToolCall("lookup", {"q": "weather"}, id="call_b_01"),), message_extra=EXTRA
    ),
}
TURN1_CALLS = [{"name": "lookup", "args": {"q": "weather"}, "id": "call_b_01"}]


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "sunny"


def chat(srv: ProviderServer, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key=KEY, max_retries=0)


def check_turn1(message: AIMessage) -> None:
    assert [{k: c[k] for k in ("name", "args", "id")} for c in message.tool_calls] == TURN1_CALLS
    facts = message.response_metadata["modelroute"]
    assert (facts["requested_model"], facts["responding_model"]) == ("m-b", "m-b")
    assert facts["fallback_reasons"] == ["unavailable"]
    assert message.response_metadata["model_name"] == "m-b"
    assert not message.additional_kwargs  # m-b's provider fields stay behind


def check_turn2_request(srv: ProviderServer) -> None:
    """Turn 2 reached m-a once, first attempt, and its history passed the strict check."""
    srv.wait_idle(5.0)
    assert (srv.calls("m-a"), srv.calls("m-b")) == (2, 1)  # turn 1's 503, then turn 2
    sent = srv.requests("m-a")[-1]
    assert sent.status == 200 and history_problem(list(sent.messages)) is None
    assistant = next(m for m in sent.messages if m["role"] == "assistant")
    assert assistant["tool_calls"] == [
        {
            "id": "call_b_01",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "weather"}'},
        }
    ]
    wire = json.dumps(sent.messages)
    assert all(field not in wire for field in EXTRA)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
async def test_the_facade_hands_the_primary_a_standard_history(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    model = RoutedChatModel.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, sinks=[sink]
    ).bind_tools([lookup])
    srv.set_faults("m-a", [503])
    question = HumanMessage("What is the weather?")

    turn1: Any
    if mode == "invoke":
        turn1 = model.invoke([question])
    elif mode == "ainvoke":
        turn1 = await model.ainvoke([question])
    else:
        chunks = (
            list(model.stream([question]))
            if mode == "stream"
            else [c async for c in model.astream([question])]
        )
        assert all(isinstance(c, AIMessageChunk) for c in chunks)
        heads = [p for c in chunks for p in c.tool_call_chunks if p.get("id")]
        assert [p["id"] for p in heads] == ["call_b_01"]  # one call, one id
        turn1 = chunks[0]
        for chunk in chunks[1:]:
            turn1 = turn1 + chunk
    check_turn1(turn1)
    assert srv.calls("m-b") == 1

    history = [question, turn1, ToolMessage("sunny", tool_call_id="call_b_01")]
    turn2 = await model.ainvoke(history)

    assert turn2.content == "It is sunny today."
    assert turn2.response_metadata["modelroute"]["requested_model"] == "m-a"
    assert turn2.response_metadata["modelroute"]["fallback_reasons"] == []
    check_turn2_request(srv)
    assert [[(a.model, a.reason) for a in d.attempts] for d in sink.decisions] == [
        [("m-a", "unavailable"), ("m-b", None)],
        [("m-a", None)],
    ]


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_the_agent_middleware_hands_the_primary_a_standard_history(
    provider_server: ProviderServer, mode: str
) -> None:
    """The agent loop itself builds turn 2: tool call, tool result, then m-a again."""
    srv = provider_server
    sink = MemorySink()
    middleware = ModelRouteMiddleware.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, sinks=[sink]
    )
    agent = create_agent(chat(srv, "m-a"), tools=[lookup], middleware=[middleware])
    srv.set_faults("m-a", [503])
    state = {"messages": [("user", "What is the weather?")]}

    if mode == "invoke":
        out = agent.invoke(state)  # type: ignore[arg-type]
    else:
        out = await agent.ainvoke(state)  # type: ignore[arg-type]

    turn1, result, answer = out["messages"][1:]
    check_turn1(turn1)
    assert isinstance(result, ToolMessage) and result.tool_call_id == "call_b_01"
    assert answer.content == "It is sunny today."
    assert answer.response_metadata["modelroute"]["fallback_reasons"] == []
    check_turn2_request(srv)
    assert [d.fallback_reasons for d in sink.decisions] == [("unavailable",), ()]
