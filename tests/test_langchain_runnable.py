"""RouterRunnable over real HTTP: langchain-openai's ChatOpenAI pointed at the local provider
server, in every call mode, with the run tree collected and checked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_openai import ChatOpenAI

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import AllAttemptsFailed, ConfigError
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.records import AttemptOutcome
from modelroute.sinks import MemorySink
from modelroute_langchain import RouterRunnable
from modelroute_langchain.testing import RunCollector

PER_M = 1e-6
USAGE = Usage(prompt_tokens=100, completion_tokens=20)
M_B_COST = 100 * 2.00 * PER_M + 20 * 8.00 * PER_M  # field-case prices: m-b $2/M in, $8/M out
SCRIPTS = {name: ModelScript(usage=USAGE) for name in ("m-a", "m-b", "m-c")}
MODES = ["invoke", "ainvoke", "batch", "abatch", "stream", "astream"]


def chat(srv: ProviderServer, name: str) -> ChatOpenAI:
    """ChatOpenAI for `name` on the local server, without retries of its own."""
    return ChatOpenAI(model=name, base_url=srv.base_url, api_key="sk-local", max_retries=0)


def priced() -> Catalog:
    """m-a, m-b and m-c at the field-case prices (USD per token)."""
    return Catalog(
        [
            ModelInfo("m-a", input_cost_per_token=1.0 * PER_M, output_cost_per_token=4.0 * PER_M),
            ModelInfo("m-b", input_cost_per_token=2.0 * PER_M, output_cost_per_token=8.0 * PER_M),
            ModelInfo("m-c", input_cost_per_token=0.5 * PER_M, output_cost_per_token=1.5 * PER_M),
        ]
    )


def run_mode(
    runnable: Runnable[Any, Any], mode: str, inputs: Sequence[Any], config: RunnableConfig
) -> list[Any]:
    """One output per input, through `mode` (streams joined with `+`)."""

    def joined(chunks: list[Any]) -> Any:
        out = chunks[0]
        for chunk in chunks[1:]:
            out = out + chunk
        return out

    async def many_async() -> list[Any]:
        if mode == "ainvoke":
            return [await runnable.ainvoke(x, config) for x in inputs]
        if mode == "abatch":
            return await runnable.abatch(list(inputs), config)
        return [joined([c async for c in runnable.astream(x, config)]) for x in inputs]

    if mode == "invoke":
        return [runnable.invoke(x, config) for x in inputs]
    if mode == "batch":
        return runnable.batch(list(inputs), config)
    if mode == "stream":
        return [joined(list(runnable.stream(x, config))) for x in inputs]
    return asyncio.run(many_async())


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_prompt_router_parser_falls_back_in_every_mode(
    provider_server: ProviderServer, mode: str
) -> None:
    srv = provider_server
    sink = MemorySink()
    router = RouterRunnable.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, catalog=priced(), sinks=[sink]
    )
    prompt = ChatPromptTemplate.from_messages([("user", "Say hello to {name}")])
    chain = prompt | router | StrOutputParser()
    srv.set_faults("m-a", [503, 503])
    runs = RunCollector()
    config = RunnableConfig(callbacks=[runs], tags=["app"], metadata={"app_user": "u1"})

    outputs = run_mode(chain, mode, [{"name": "Ann"}, {"name": "Bob"}], config)

    assert outputs == ["Hello from m-b.", "Hello from m-b."]
    assert (srv.calls("m-a"), srv.calls("m-b")) == (2, 2)
    assert [d.fallback_reasons for d in sink.decisions] == [("unavailable",)] * 2
    router_runs = runs.named("RouterRunnable")
    assert len(router_runs) == 2
    sequences = {run.id for run in runs.named("RunnableSequence")}
    for router_run in router_runs:
        assert router_run.parent_run_id in sequences  # the parent config was passed down
        attempts = runs.children(router_run)
        assert [a.name for a in attempts] == ["ChatOpenAI", "ChatOpenAI"]
        assert {"modelroute:attempt:0", "modelroute:model:m-a", "app"} <= set(attempts[0].tags)
        assert {"modelroute:attempt:1", "modelroute:model:m-b", "app"} <= set(attempts[1].tags)
        assert attempts[0].error is not None and attempts[1].error is None
        child_meta = attempts[1].extra["metadata"]
        assert child_meta["modelroute_attempt"] == 1
        assert child_meta["modelroute_model"] == "m-b"
        assert child_meta["app_user"] == "u1"
        meta = router_run.extra["metadata"]
        assert meta["modelroute_responding_model"] == "m-b"
        assert meta["modelroute_requested_model"] == "m-b"
        assert meta["modelroute_fallback_reasons"] == ["unavailable"]
        assert meta["modelroute_attempts"] == 2
        assert meta["modelroute_cost_usd"] == pytest.approx(M_B_COST, abs=1e-12)


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_astream_events_show_each_attempt_under_the_router(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    router = RouterRunnable.from_models({"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")})
    srv.set_faults("m-a", [503])

    events = [e async for e in router.astream_events("hi", version="v2")]

    start = next(e for e in events if e["event"] == "on_chain_start")
    model_starts = [e for e in events if e["event"] == "on_chat_model_start"]
    assert [e["metadata"]["modelroute_model"] for e in model_starts] == ["m-a", "m-b"]
    assert all(start["run_id"] in e["parent_ids"] for e in model_starts)
    streamed = "".join(e["data"]["chunk"].text for e in events if e["event"] == "on_chain_stream")
    assert streamed == "Hello from m-b."
    end = next(e for e in events if e["event"] == "on_chain_end")
    assert end["data"]["output"].response_metadata["modelroute"]["requested_model"] == "m-b"


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_every_model_failing_raises_all_attempts_failed_with_the_record(
    provider_server: ProviderServer,
) -> None:
    srv = provider_server
    router = RouterRunnable.from_models({"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")})
    srv.set_faults("m-a", [503])
    srv.set_faults("m-b", [429])
    runs = RunCollector()

    with pytest.raises(AllAttemptsFailed) as failed:
        router.invoke("hi", {"callbacks": [runs]})

    assert [a.reason for a in failed.value.attempts] == ["unavailable", "rate_limited"]
    (router_run,) = runs.named("RouterRunnable")
    assert router_run.error is not None
    assert router_run.extra["metadata"]["modelroute_fallback_reasons"] == [
        "unavailable",
        "rate_limited",
    ]
    assert "modelroute_responding_model" not in router_run.extra["metadata"]


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_chains_as_candidates_get_the_input_as_is(provider_server: ProviderServer) -> None:
    srv = provider_server
    sink = MemorySink()
    prompt = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")])
    chains = {name: prompt | chat(srv, name) | StrOutputParser() for name in ("m-a", "m-b")}
    router = RouterRunnable.from_models(chains, catalog=priced(), sinks=[sink])
    srv.set_faults("m-a", [503])
    runs = RunCollector()

    out = router.invoke({"topic": "owls"}, {"callbacks": [runs]})

    assert out == "Hello from m-b."
    assert srv.requests("m-b")[0].messages[-1]["content"] == "Tell me about owls"
    (decision,) = sink.decisions
    ok = decision.attempts[-1]
    assert ok.usage is not None and (ok.usage.input_tokens, ok.usage.output_tokens) == (100, 20)
    assert not ok.usage.estimated  # read from the chain's LLM run, not estimated
    assert decision.cost_usd == pytest.approx(M_B_COST, abs=1e-12)
    (llm_run,) = [r for r in runs.named("ChatOpenAI") if r.error is None]
    assert llm_run.extra["metadata"]["modelroute_model"] == "m-b"  # inherited by nested runs


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_route_from_yaml_config_and_per_call_route(
    provider_server: ProviderServer, tmp_path: Path
) -> None:
    srv = provider_server
    config = tmp_path / "modelroute.yaml"
    config.write_text(
        "models:\n"
        "  m-a: {input_cost_per_mtok: 1.0, output_cost_per_mtok: 4.0}\n"
        "  m-b: {input_cost_per_mtok: 2.0, output_cost_per_mtok: 8.0}\n"
        "routes:\n"
        "  main: {primary: m-a, fallbacks: [m-b]}\n"
        "  cheap: {models: [m-c]}\n"
        "default_route: main\n",
        encoding="utf-8",
    )
    models = {name: chat(srv, name) for name in ("m-a", "m-b", "m-c")}
    router = RouterRunnable.from_config(config, models)
    srv.set_faults("m-a", [503])

    answer = router.invoke("hi")
    cheap = router.invoke("hi", {"metadata": {"modelroute_route": "cheap"}})

    assert answer.response_metadata["modelroute"]["cost_usd"] == pytest.approx(M_B_COST)
    assert answer.response_metadata["modelroute"]["fallback_reasons"] == ["unavailable"]
    assert cheap.response_metadata["modelroute"]["route"] == "cheap"
    assert router.with_route("cheap").invoke("hi").content == "Hello from m-c."
    assert srv.calls("m-c") == 2


def test_a_route_model_without_a_langchain_model_is_a_config_error() -> None:
    from modelroute_langchain.testing import ScriptedChatModel

    config = {"routes": {"main": {"models": ["m-a", "m-x"]}}}
    with pytest.raises(ConfigError, match=r"routes\.main\.models\[1\]"):
        RouterRunnable.from_config(config, {"m-a": ScriptedChatModel(model="m-a")})


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
@pytest.mark.parametrize(
    ("fault", "reason", "falls_back"),
    [
        ("429 {Retry-After: 1}", "rate_limited", True),
        (503, "unavailable", True),
        ("model_not_found", "model_not_found", True),
        ("model_deprecated", "model_not_found", True),
        ("context_length_exceeded", "context_window", True),
        ("auth_error", "auth", True),
        ("drop_connection", "connection", True),
        ("invalid_param", "bad_request", False),
    ],
)
def test_provider_errors_map_to_reasons(
    provider_server: ProviderServer, fault: Any, reason: str, falls_back: bool
) -> None:
    srv = provider_server
    sink = MemorySink()
    router = RouterRunnable.from_models(
        {"m-a": chat(srv, "m-a"), "m-b": chat(srv, "m-b")}, sinks=[sink]
    )
    srv.set_faults("m-a", [fault])

    if falls_back:
        assert router.invoke("hi").content == "Hello from m-b."
    else:
        with pytest.raises(AllAttemptsFailed):
            router.invoke("hi")

    first = sink.decisions[0].attempts[0]
    assert (first.outcome, first.reason) == (AttemptOutcome.ERROR, reason)
    assert srv.calls("m-a") == 1  # no retries inside the SDK
    assert srv.calls("m-b") == (1 if falls_back else 0)
    if reason == "rate_limited":
        assert first.retry_after_s == 1.0
