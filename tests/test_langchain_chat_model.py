"""RoutedChatModel over real HTTP: an agent built with `create_agent` on the facade, the next
turn after a fallback (BC-17), the reported model (BC-10), usage counted once, and no
credentials in what the facade produces (BC-14)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from modelroute.errors import AllAttemptsFailed
from modelroute.provider_server import (
    ContentOverride,
    Healthy,
    HttpError,
    ModelScript,
    ProviderServer,
    ToolCall,
    Usage,
)
from modelroute.sinks import MemorySink
from modelroute_langchain import RoutedChatModel
from modelroute_langchain.testing import RunCollector

USAGE = Usage(prompt_tokens=100, completion_tokens=20)


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "sunny"


def chat(srv: ProviderServer, name: str, key: str = "sk-local") -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key=key, max_retries=0)


def facade(srv: ProviderServer, *names: str, **options: Any) -> RoutedChatModel:
    return RoutedChatModel.from_models({n: chat(srv, n) for n in names}, **options)


AGENT_SCRIPTS = {
    name: ModelScript(
        answer="It is sunny.", tool_calls=(ToolCall("lookup", {"q": "weather"}, id=f"call_{name}"),)
    )
    for name in ("m-a", "m-b")
}


@pytest.mark.parametrize("provider_server", [AGENT_SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_an_agent_runs_on_the_facade_with_a_fallback(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    agent = create_agent(facade(srv, "m-a", "m-b", sinks=[sink]), tools=[lookup])
    srv.set_faults("m-a", [503])
    runs = RunCollector()
    state = {"messages": [("user", "What is the weather?")]}
    config = {"callbacks": [runs]}

    if mode == "invoke":
        out = agent.invoke(state, config)  # type: ignore[arg-type]
    else:
        out = await agent.ainvoke(state, config)  # type: ignore[arg-type]

    ai_call, tool_result, answer = out["messages"][1:]
    assert ai_call.tool_calls[0]["id"] == "call_m-b"
    assert ai_call.response_metadata["modelroute"]["fallback_reasons"] == ["unavailable"]
    assert isinstance(tool_result, ToolMessage) and tool_result.content == "sunny"
    assert answer.content == "It is sunny."
    assert (srv.calls("m-a"), srv.calls("m-b")) == (2, 1)
    assert [d.fallback_reasons for d in sink.decisions] == [("unavailable",), ()]
    first, second = runs.named("RoutedChatModel")
    assert [k.extra["metadata"]["modelroute_model"] for k in runs.children(first)] == [
        "m-a",
        "m-b",
    ]
    assert len(runs.children(second)) == 1


BC17 = {
    "m-a": ModelScript(answer="It is sunny today.", strict_history=True),
    "m-b": ModelScript(
        tool_calls=(ToolCall("lookup", {"q": "weather"}, id="call_b_01"),),
        message_extra={"reasoning_content": "thinking...", "annotations": []},
    ),
}


@pytest.mark.parametrize("provider_server", [BC17], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "astream"])
async def test_a_fallback_reply_does_not_break_the_next_turn_on_the_primary(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    model = facade(srv, "m-a", "m-b").bind_tools([lookup])
    srv.set_faults("m-a", [503])
    question = HumanMessage("What is the weather?")

    if mode == "invoke":
        turn1 = model.invoke([question])
    else:
        merged: Any = None
        async for chunk in model.astream([question]):
            merged = chunk if merged is None else merged + chunk
        assert isinstance(merged, AIMessageChunk)
        turn1 = merged

    assert [(c["name"], c["args"], c["id"]) for c in turn1.tool_calls] == [
        ("lookup", {"q": "weather"}, "call_b_01")
    ]
    assert turn1.response_metadata["modelroute"]["requested_model"] == "m-b"
    assert turn1.response_metadata["modelroute"]["fallback_reasons"] == ["unavailable"]
    assert not turn1.additional_kwargs

    history = [question, turn1, ToolMessage("sunny", tool_call_id="call_b_01")]
    turn2 = await model.ainvoke(history)

    assert turn2.content == "It is sunny today."
    assert turn2.response_metadata["modelroute"]["fallback_reasons"] == []
    assert srv.calls("m-a") == 2  # the 503, then turn 2 on the first attempt
    sent = srv.requests("m-a")[-1]
    assert sent.status == 200
    assert "reasoning_content" not in json.dumps(sent.messages)


BC10 = {
    "m-small": ModelScript(
        reported_model="m-large-2026-01-15",
        usage=Usage(prompt_tokens=400, completion_tokens=200),
    )
}


@pytest.mark.parametrize("provider_server", [BC10], indirect=True)
def test_response_metadata_reports_the_model_the_provider_served(
    provider_server: ProviderServer,
) -> None:
    model = facade(provider_server, "m-small")

    message = model.invoke("hi")
    chunks = list(model.stream("hi"))

    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    for answer in (message, merged):
        assert answer.response_metadata["model_name"] == "m-large-2026-01-15"
        facts = answer.response_metadata["modelroute"]
        assert facts["requested_model"] == "m-small"
        assert facts["responding_model"] == "m-large-2026-01-15"


@pytest.mark.parametrize(
    "provider_server", [{n: ModelScript(usage=USAGE) for n in ("m-a", "m-b")}], indirect=True
)
def test_usage_is_reported_once_per_provider_call(provider_server: ProviderServer) -> None:
    srv = provider_server
    model = facade(srv, "m-a", "m-b")
    srv.set_faults("m-a", [ContentOverride(content="")])  # billed, then rejected as empty

    with get_usage_metadata_callback() as usage:
        message = model.invoke("hi")

    assert message.content == "Hello from m-b."
    assert message.usage_metadata is not None
    assert (message.usage_metadata["input_tokens"], message.usage_metadata["output_tokens"]) == (
        100,
        20,
    )
    counted = {
        name: (u["input_tokens"], u["output_tokens"]) for name, u in usage.usage_metadata.items()
    }
    assert counted == {"m-a": (100, 20), "m-b": (100, 20)}


@pytest.mark.parametrize("provider_server", [{"m-a": ModelScript()}], indirect=True)
def test_generate_goes_through_the_same_engine(provider_server: ProviderServer) -> None:
    model = facade(provider_server, "m-a")

    result = model.generate([[HumanMessage("hi")]])

    message = result.generations[0][0].message
    assert isinstance(message, AIMessage)
    assert message.content == "Hello from m-a."
    assert message.response_metadata["modelroute"]["requested_model"] == "m-a"


@pytest.mark.parametrize(
    "provider_server", [{n: ModelScript() for n in ("m-a", "m-b", "m-c")}], indirect=True
)
def test_credentials_reach_no_record_error_or_run_metadata(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    sink = MemorySink()
    models = {
        "m-a": chat(srv, "m-a", key="sk-mr-CANARY-1111"),
        "m-b": chat(srv, "m-b", key="sk-mr-CANARY-5555"),
        "m-c": chat(srv, "m-c", key="sk-mr-CANARY-6666"),
    }
    model = RoutedChatModel.from_models(models, sinks=[sink])
    echo_401 = HttpError(status=401, echo_request_headers=True)
    echo_500 = HttpError(status=500, echo_request_headers=True)
    srv.set_faults("m-a", [echo_401, echo_401])
    srv.set_faults("m-b", [echo_500, echo_500])
    srv.set_faults("m-c", [Healthy(), echo_500])
    runs = RunCollector()

    assert model.invoke("hi", {"callbacks": [runs]}).content == "Hello from m-c."
    with pytest.raises(AllAttemptsFailed) as failed:
        model.invoke("hi", {"callbacks": [runs]})

    records = json.dumps([d.to_dict() for d in sink.decisions], default=str)
    assert "Bearer ***" in records  # the echoed key was there, and scrubbed
    seen = [
        records,
        str(failed.value),
        repr(failed.value),
        repr(model),
        json.dumps([r.extra.get("metadata", {}) for r in runs.named("RoutedChatModel")]),
    ]
    assert not [text for text in seen if "CANARY" in text]
