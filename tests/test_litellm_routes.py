"""`RoutedLiteLLM`: modelroute routes behind LiteLLM's `acompletion` signature, over real HTTP
(LiteLLMBackend -> the local provider server, whose log counts the calls)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from litellm_helpers import KEY, LITELLM_NOISE
from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import UnknownRouteError
from modelroute.provider_server import ModelScript, ProviderServer, Usage
from modelroute.route import Route
from modelroute.router import Router
from modelroute.sinks import MemorySink
from modelroute_litellm import LiteLLMBackend
from modelroute_litellm.routes import RoutedLiteLLM

pytestmark = LITELLM_NOISE

GOOD_JSON = '{"name": "Ada Lovelace", "born": 1815}'
SCRIPTS = {
    "m-cheap": ModelScript(
        answer="Sure! name: Ada Lovelace, born 1815",
        usage=Usage(prompt_tokens=100, completion_tokens=20),
    ),
    "m-strong": ModelScript(answer=GOOD_JSON, usage=Usage(prompt_tokens=100, completion_tokens=20)),
}
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "born": {"type": "integer"}},
    "required": ["name", "born"],
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
CHEAP_COST = 100 * 0.5e-6 + 20 * 1.5e-6
STRONG_COST = 100 * 5e-6 + 20 * 20e-6


def llm(srv: ProviderServer, sink: MemorySink | None = None) -> RoutedLiteLLM:
    catalog = Catalog(
        [
            ModelInfo("m-cheap", "local", "openai/m-cheap", 0.5e-6, 1.5e-6),
            ModelInfo("m-strong", "local", "openai/m-strong", 5e-6, 20e-6),
        ]
    )
    router = Router(
        [Route("extract", ("m-cheap", "m-strong")), Route("chat", ("m-strong",))],
        backend=LiteLLMBackend(api_base=srv.base_url, api_key=KEY),
        catalog=catalog,
        sinks=[sink] if sink is not None else [],
    )
    return RoutedLiteLLM(router)


async def call(target: RoutedLiteLLM, mode: str, **kwargs: Any) -> Any:
    if mode == "async":
        return await target.acompletion(**kwargs)
    return await asyncio.to_thread(target.completion, **kwargs)


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_a_cascade_escalates_on_invalid_json_and_returns_a_litellm_response(
    provider_server: ProviderServer, mode: str
) -> None:
    import litellm

    sink = MemorySink()
    messages = [{"role": "user", "content": "Extract the person: Ada Lovelace, born 1815."}]
    response = await call(
        llm(provider_server, sink),
        mode,
        model="extract",
        messages=messages,
        response_format=RESPONSE_FORMAT,
        user="u-1",
        metadata={"team": "t-1", "tags": ["extraction"]},
    )

    assert isinstance(response, litellm.ModelResponse)
    assert json.loads(response.choices[0].message.content) == {"name": "Ada Lovelace", "born": 1815}
    assert response.model == "m-strong"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (100, 20)
    facts = response._hidden_params["modelroute"]
    assert [(a["model"], a["outcome"], a["reason"]) for a in facts["attempts"]] == [
        ("m-cheap", "invalid", "invalid_output:json_schema"),
        ("m-strong", "ok", None),
    ]
    assert facts["route"] == "extract" and facts["responding_model"] == "m-strong"
    assert (facts["user"], facts["team"], facts["tags"]) == ("u-1", "t-1", ("extraction",))
    total = CHEAP_COST + STRONG_COST  # a cascade pays for every model it asked
    assert response._hidden_params["response_cost"] == pytest.approx(total, abs=1e-12)
    headers = response._hidden_params["additional_headers"]
    assert headers["x-modelroute-route"] == "extract"
    assert headers["x-modelroute-model"] == "m-strong"
    assert headers["x-modelroute-fallback-reasons"] == "invalid_output:json_schema"
    assert sink.decisions[0].to_dict() == facts
    # both tiers were really called, each once, with the schema as response_format
    assert (provider_server.calls("m-cheap"), provider_server.calls("m-strong")) == (1, 1)
    sent = provider_server.requests("m-cheap")[0].body
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "t-1" not in json.dumps(sent)  # routing metadata is never sent


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
async def test_streaming_yields_litellm_chunks_and_the_last_carries_the_decision(
    provider_server: ProviderServer,
) -> None:
    stream = await llm(provider_server).acompletion(
        model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == GOOD_JSON
    assert chunks[-1].choices[0].finish_reason == "stop"
    facts = chunks[-1]._hidden_params["modelroute"]
    assert facts["route"] == "chat" and facts["stream"] is True
    assert chunks[-1].usage.completion_tokens == 20
    sync_chunks = list(
        llm(provider_server).completion(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in sync_chunks) == GOOD_JSON


@pytest.mark.parametrize("provider_server", [SCRIPTS], indirect=True)
def test_from_config_and_unknown_routes(
    provider_server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MR_LOCAL_KEY", KEY)
    model = {"api_base": provider_server.base_url, "api_key_env": "MR_LOCAL_KEY"}
    config = {
        "models": {
            "m-strong": {"target": "openai/m-strong", **model},
        },
        "routes": {"chat": {"models": ["m-strong"]}},
    }
    routed = RoutedLiteLLM.from_config(config)
    response = routed.completion(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == GOOD_JSON
    with pytest.raises(UnknownRouteError, match="unknown route 'nope'"):
        routed.completion(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError, match="at least one message"):
        routed.completion(model="chat", messages=[])
