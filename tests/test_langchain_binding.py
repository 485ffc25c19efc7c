"""Tools and structured output bound to every candidate: invalid structured output falls back
(`invalid_output:json_schema`), candidates that cannot bind are skipped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from modelroute.catalog import Catalog, ModelInfo
from modelroute.provider_server import ContentOverride, ModelScript, ProviderServer, ToolCall
from modelroute.records import AttemptOutcome
from modelroute.sinks import MemorySink
from modelroute_langchain import RouterRunnable


class City(BaseModel):
    """Where something is."""

    city: str
    country: str


ANSWER = '{"city": "Paris", "country": "France"}'
JSON_SCRIPTS = {name: ModelScript(answer=ANSWER) for name in ("m-a", "m-b")}
TOOL = ToolCall("lookup", {"q": "weather"}, id="call_1")
TOOL_SCRIPTS = {name: ModelScript(tool_calls=(TOOL,)) for name in ("m-a", "m-b")}


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "sunny"


def chat(srv: ProviderServer, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key="sk-local", max_retries=0)


def call(runnable: Runnable[Any, Any], mode: str, value: Any) -> Any:
    if mode == "invoke":
        return runnable.invoke(value)
    if mode == "stream":
        (only,) = list(runnable.stream(value))
        return only
    return asyncio.run(runnable.ainvoke(value))


@pytest.mark.parametrize("provider_server", [JSON_SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream"])
@pytest.mark.parametrize("bad", ["not json", '{"city": 3}', '{"city": "Paris"}'])
def test_invalid_structured_output_falls_back_to_a_validated_object(
    provider_server: ProviderServer, mode: str, bad: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    router = RouterRunnable.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, sinks=[sink]
    )
    srv.set_faults("m-a", [ContentOverride(content=bad)])

    out = call(router.with_structured_output(City), mode, "Where is the Eiffel tower?")

    assert out == City(city="Paris", country="France")
    (decision,) = sink.decisions
    assert decision.fallback_reasons == ("invalid_output:json_schema",)
    assert decision.attempts[0].outcome == AttemptOutcome.INVALID
    assert decision.responding_model == "m-b"
    sent = srv.requests("m-b")[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "City"


@pytest.mark.parametrize("provider_server", [JSON_SCRIPTS], indirect=True)
def test_include_raw_gives_the_raw_message_with_the_decision(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    router = RouterRunnable.from_models({"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")})
    srv.set_faults("m-a", [ContentOverride(content="nope")])

    out = router.with_structured_output(City, include_raw=True).invoke("Where?")

    assert out["parsed"] == City(city="Paris", country="France")
    assert out["parsing_error"] is None
    facts = out["raw"].response_metadata["modelroute"]
    assert facts["fallback_reasons"] == ["invalid_output:json_schema"]


@pytest.mark.parametrize("provider_server", [TOOL_SCRIPTS], indirect=True)
def test_bind_tools_binds_every_candidate(provider_server: ProviderServer) -> None:
    srv = provider_server
    router = RouterRunnable.from_models({"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")})
    srv.set_faults("m-a", [503])

    message = router.bind_tools([lookup]).invoke("weather?")

    assert message.tool_calls == [
        {"name": "lookup", "args": {"q": "weather"}, "id": "call_1", "type": "tool_call"}
    ]
    for name in ("m-a", "m-b"):
        (sent,) = srv.requests(name)
        assert [t["function"]["name"] for t in sent.body["tools"]] == ["lookup"]


@pytest.mark.parametrize("provider_server", [TOOL_SCRIPTS], indirect=True)
def test_a_candidate_that_cannot_bind_tools_is_skipped(provider_server: ProviderServer) -> None:
    srv = provider_server
    sink = MemorySink()
    no_tools = FakeListChatModel(responses=["I cannot call tools."])
    router = RouterRunnable.from_models({"m-x": no_tools, "m-b": chat(srv, "m-b")}, sinks=[sink])

    message = router.bind_tools([lookup]).invoke("weather?")
    plain = router.invoke("hello")

    assert message.tool_calls[0]["name"] == "lookup"
    skipped = sink.decisions[0].attempts[0]
    assert (skipped.model, skipped.outcome, skipped.reason) == (
        "m-x",
        AttemptOutcome.SKIPPED,
        "capability",
    )
    assert plain.content == "I cannot call tools."  # without tools it is a candidate again


@pytest.mark.parametrize("provider_server", [TOOL_SCRIPTS], indirect=True)
def test_a_catalog_claiming_tools_for_a_model_that_cannot_bind_falls_back(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    sink = MemorySink()
    catalog = Catalog([ModelInfo("m-x", supports_tools=True)])
    models = {"m-x": FakeListChatModel(responses=["no"]), "m-b": chat(srv, "m-b")}
    router = RouterRunnable.from_models(models, catalog=catalog, sinks=[sink])

    message = router.bind_tools([lookup]).invoke("weather?")

    assert message.tool_calls[0]["name"] == "lookup"
    first = sink.decisions[0].attempts[0]
    assert (first.outcome, first.reason, first.error_type) == (
        AttemptOutcome.ERROR,
        "capability",
        "CapabilityMissing",
    )
