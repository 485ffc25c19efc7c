"""The adapter offline, with the scripted chat model: the plain Backend interface, chains that
stream strings, LangGraph control flow, and the package surface."""

from __future__ import annotations

import asyncio
import logging

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from langgraph.errors import GraphInterrupt

from modelroute.backend import FakeBackend
from modelroute.catalog import Catalog, ModelInfo
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute.types import Request
from modelroute_langchain import LangChainBackend, RoutedChatModel, RouterRunnable
from modelroute_langchain.backend import warn_on_own_retries
from modelroute_langchain.testing import RunCollector, ScriptedChatModel


def two_models(first: object) -> dict[str, ScriptedChatModel]:
    return {
        "m-a": ScriptedChatModel(model="m-a", replies=[first]),
        "m-b": ScriptedChatModel(model="m-b", replies=["Hello from m-b."]),
    }


@pytest.mark.parametrize("mode", ["complete", "stream", "acomplete", "astream"])
def test_the_backend_serves_a_plain_modelroute_router(mode: str) -> None:
    models = two_models(TimeoutError("slow"))
    backend = LangChainBackend(models)
    sink = MemorySink()
    router = Router(
        [Route("r", ("m-a", "m-b"))], backend=backend, catalog=backend.catalog(), sinks=[sink]
    )
    request = Request.of("hi", max_tokens=50)

    async def run_async() -> str:
        if mode == "acomplete":
            return (await router.acomplete(request)).text
        return "".join([c.text async for c in router.astream(request)])

    if mode == "complete":
        text = router.complete(request).text
    elif mode == "stream":
        text = "".join(c.text for c in router.stream(request))
    else:
        text = asyncio.run(run_async())

    assert text == "Hello from m-b."
    (decision,) = sink.decisions
    assert decision.fallback_reasons == ("timeout",)
    usage = decision.attempts[-1].usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (10, 3)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_chain_candidates_stream_their_own_chunks(mode: str) -> None:
    prompt = ChatPromptTemplate.from_template("Tell me about {topic}")
    chains = {
        name: prompt | model | StrOutputParser()
        for name, model in two_models(ConnectionError("refused")).items()
    }
    sink = MemorySink()
    router = RouterRunnable.from_models(chains, sinks=[sink])

    async def astream() -> list[str]:
        return [c async for c in router.astream({"topic": "owls"})]

    stream = router.stream if mode == "stream" else None
    chunks = list(stream({"topic": "owls"})) if stream else asyncio.run(astream())

    assert chunks == ["Hello ", "from ", "m-b."]  # no closing metadata chunk for strings
    ok = sink.decisions[0].attempts[-1]
    assert ok.usage is not None and not ok.usage.estimated  # from the chain's LLM run
    assert sink.decisions[0].fallback_reasons == ("connection",)


def test_a_langgraph_interrupt_passes_through_without_fallback() -> None:
    interrupt = GraphInterrupt()
    models = two_models(interrupt)
    sink = MemorySink()
    router = RouterRunnable.from_models(models, sinks=[sink])
    runs = RunCollector()

    with pytest.raises(GraphInterrupt) as raised:
        router.invoke("hi", {"callbacks": [runs]})

    assert raised.value is interrupt
    assert models["m-b"].calls == 0
    assert sink.decisions[0].attempts[0].error_type == "ControlFlow"
    (router_run,) = runs.named("RouterRunnable")
    assert router_run.extra["metadata"]["modelroute_outcome"] == "terminal_error"


def test_facade_kwargs_and_bound_tools_reach_every_candidate() -> None:
    models = two_models(ValueError("no"))
    model = RoutedChatModel.from_models(models)

    def lookup(q: str) -> str:
        """Look something up."""
        return q

    answer = model.bind_tools([lookup]).invoke("hi")

    assert answer.content == "Hello from m-b."
    assert (models["m-a"].calls, models["m-b"].calls) == (1, 1)


def test_models_that_retry_by_themselves_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    retrying = ChatOpenAI(model="m-a", base_url="http://127.0.0.1:9/v1", api_key="sk-x")
    quiet = ChatOpenAI(model="m-b", base_url="http://127.0.0.1:9/v1", api_key="sk-x", max_retries=0)

    with caplog.at_level(logging.WARNING, logger="modelroute"):
        warned = warn_on_own_retries({"m-a": retrying, "m-b": quiet})

    assert warned == ["m-a"]
    assert "max_retries=0" in caplog.text


def test_a_router_needs_a_langchain_backend() -> None:
    router = Router(
        [Route("r", ("m-a",))],
        backend=FakeBackend(lambda m, r: "x"),
        catalog=Catalog([ModelInfo("m-a")]),
    )
    with pytest.raises(ValueError, match="LangChainBackend"):
        RouterRunnable(router=router)


def test_the_package_exports_what_it_documents() -> None:
    import modelroute_langchain

    assert all(getattr(modelroute_langchain, name) for name in modelroute_langchain.__all__)
    assert set(modelroute_langchain.__all__) <= set(dir(modelroute_langchain))
    assert {"RouterRunnable", "RoutedChatModel", "ModelRouteMiddleware"} <= set(
        modelroute_langchain.__all__
    )


def test_importing_the_adapter_loads_no_provider_sdk_or_agent_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, modelroute_langchain; print(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('litellm', 'openai', 'langchain', 'langgraph')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
