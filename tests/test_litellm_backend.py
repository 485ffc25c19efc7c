"""The LiteLLM backend over real HTTP against the local provider server (no mocks).

Every failing call must reach the server exactly once: retries are off at every layer
(LiteLLM's `num_retries`, the openai client's `max_retries`); modelroute's engine retries.
One test replays a vcrpy cassette recorded from the local server (see
cassettes/litellm_backend/README.md; `MODELROUTE_RECORD=1` re-records it).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelroute.catalog import Catalog, ModelInfo
from modelroute.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamBroken,
)
from modelroute.provider_server import (
    DropConnection,
    Fault,
    Healthy,
    HttpError,
    MalformedChunk,
    ModelScript,
    NoResponse,
    OmitUsage,
    ProviderServer,
    StreamCut,
    StreamStall,
    ToolCall,
    Usage,
    auth_error,
    content_filter,
    context_length_exceeded,
    invalid_param,
    model_deprecated,
    model_not_found,
    rate_limited,
    server_error,
    service_unavailable,
)
from modelroute.reasons import FallbackReason
from modelroute.types import Request, Response, StreamChunk
from modelroute_litellm import (
    LiteLLMBackend,
    litellm_token_counter,
    map_exception,
    parse_retry_after,
    scrub,
)

pytestmark = [
    # noise from LiteLLM's own pydantic models, not from modelroute
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm"),
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
]

KEY = "sk-local-test-9f3b2c"  # a dummy key: the local server accepts any
# A read timeout / server delay far past what a prompt close or timeout takes on a loaded
# machine: tests assert they finished in half of it, so waiting it out still fails them.
READ_S = 60.0
CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "litellm_backend"
REPO = Path(__file__).resolve().parent.parent

SCRIPTED = {
    "m-a": ModelScript(
        answer="Paris is the capital of France.",
        usage=Usage(
            prompt_tokens=400,
            completion_tokens=200,
            prompt_tokens_details={"cached_tokens": 100},
        ),
        reported_model="m-a-2026-01-01",
        chunks=3,
    ),
    "m-t": ModelScript(
        tool_calls=(ToolCall(name="lookup", arguments={"q": "weather"}, id="call_b_01"),),
        reported_model="m-t-v2",
    ),
    "m-slow": ModelScript(answer="one two three four five", chunk_delay=0.05),
}
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    },
)


def info(name: str = "m-a", **fields: Any) -> ModelInfo:
    """A catalog entry for a provider-server model, called as `openai/<name>`."""
    return ModelInfo(
        name=name,
        target=f"openai/{name}",
        provider="local",
        input_cost_per_token=1e-6,
        output_cost_per_token=4e-6,
        cached_input_cost_per_token=0.5e-6,
        **fields,
    )


@pytest.fixture
def backend(provider_server: ProviderServer) -> LiteLLMBackend:
    return LiteLLMBackend(api_base=provider_server.base_url, api_key=KEY)


def only_request(srv: ProviderServer, model: str = "m-a") -> dict[str, Any]:
    """The one request `model` received: retries are off, so a call is one request."""
    srv.wait_idle(5.0)
    records = srv.requests(model)
    assert len(records) == 1, f"expected exactly one request, got {len(records)}"
    return dict(records[0].body)


# -- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
async def test_acall_answer_usage_and_request_shape(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    request = Request.of(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}],
        max_tokens=50,
        temperature=0.2,
        params={"top_p": 0.9, "num_retries": 5, "max_retries": 5},
        user="alice",
        team="geo",
        tags=("t1",),
        metadata={"secret": "never sent"},
    )
    response = await backend.acall(info(), request, timeout_s=5.0)

    assert response.text == "Paris is the capital of France."
    assert response.model == "m-a-2026-01-01"  # what the provider reported
    assert response.finish_reason == "stop"
    assert response.id and response.id.startswith("chatcmpl")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (400, 200)
    assert response.usage.cached_input_tokens == 100
    assert response.usage.estimated is False
    # cost-relevant: 300 uncached + 100 cached input, 200 output
    expected = 300 * 1e-6 + 100 * 0.5e-6 + 200 * 4e-6
    assert info().cost(response.usage) == pytest.approx(expected)

    body = only_request(provider_server)
    assert body["model"] == "m-a"
    assert body["messages"] == [m.to_dict() for m in request.messages]
    assert body["max_tokens"] == 50
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    sent = json.dumps(body)
    for private in ("alice", "geo", "never sent", "num_retries", "max_retries", "retry_policy"):
        assert private not in sent
    headers = provider_server.requests("m-a")[0].headers
    assert not any("auth" in name.lower() for name in headers)


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
def test_sync_call_answer(provider_server: ProviderServer, backend: LiteLLMBackend) -> None:
    response = backend.call(info(), Request.of("Capital?"), timeout_s=5.0)
    assert response.text == "Paris is the capital of France."
    assert response.usage is not None and response.usage.cached_input_tokens == 100
    assert response.model == "m-a-2026-01-01"
    only_request(provider_server)


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
async def test_tool_calls_and_json_schema(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    request = Request.of("weather?", tools=TOOLS, json_schema=schema)
    response = await backend.acall(info("m-t"), request, timeout_s=5.0)

    assert response.finish_reason == "tool_calls"
    assert response.text == ""
    assert response.model == "m-t-v2"
    assert response.tool_calls == (
        {
            "id": "call_b_01",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "weather"}'},
        },
    )
    assert all(type(call) is dict for call in response.tool_calls)
    body = only_request(provider_server, "m-t")
    assert body["tools"] == list(TOOLS)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema, "strict": True},
    }


async def test_usage_is_estimated_when_the_provider_reports_none(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    provider_server.set_faults("m-a", [OmitUsage(), OmitUsage()])
    response = await backend.acall(info(), Request.of("hello there"), timeout_s=5.0)
    assert response.text == "Hello from m-a."
    assert response.usage is not None and response.usage.estimated is True
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0

    chunks = [c async for c in backend.astream(info(), Request.of("hello there"), timeout_s=5.0)]
    last = chunks[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None and last.usage.estimated is True
    assert last.usage.output_tokens == response.usage.output_tokens
    assert provider_server.calls("m-a") == 2


# -- streams --------------------------------------------------------------------------------


def check_stream(chunks: list[StreamChunk]) -> None:
    assert "".join(c.text for c in chunks) == "Paris is the capital of France."
    *body, last = chunks
    assert len(body) == 3  # the script streams its answer in 3 chunks
    assert all(c.text and c.usage is None and c.finish_reason is None for c in body)
    assert last.text == ""
    assert last.finish_reason == "stop"
    assert last.model == "m-a-2026-01-01"
    assert last.usage is not None and last.usage.estimated is False
    assert (last.usage.input_tokens, last.usage.output_tokens) == (400, 200)
    assert last.usage.cached_input_tokens == 100


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
async def test_astream_usage_in_last_chunk(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    chunks = [c async for c in backend.astream(info(), Request.of("Capital?"), timeout_s=5.0)]
    check_stream(chunks)
    body = only_request(provider_server)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
def test_sync_stream_usage_in_last_chunk(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    check_stream(list(backend.stream(info(), Request.of("Capital?"), timeout_s=5.0)))
    only_request(provider_server)


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
async def test_astream_tool_call_deltas(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    request = Request.of("weather?", tools=TOOLS)
    chunks = [c async for c in backend.astream(info("m-t"), request, timeout_s=5.0)]
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas and all(type(d) is dict and d["index"] == 0 for d in deltas)
    assert deltas[0]["id"] == "call_b_01"
    assert deltas[0]["function"]["name"] == "lookup"
    arguments = "".join(d.get("function", {}).get("arguments", "") for d in deltas)
    assert json.loads(arguments) == {"q": "weather"}
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].model == "m-t-v2"
    assert chunks[-1].usage is not None


async def test_stopping_a_stream_early_closes_the_connection(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    provider_server.set_faults("m-a", [StreamStall(after_chunks=1)])  # then silent for good
    stream = backend.astream(info(), Request.of("hi"), timeout_s=READ_S)
    async for chunk in stream:
        assert chunk.text == "Hello "
        break
    started = time.monotonic()
    await stream.aclose()  # type: ignore[attr-defined]
    # wait in a thread: the client's loop must run to finish closing its socket
    assert await asyncio.to_thread(provider_server.wait_idle, READ_S)  # the server saw it go...
    assert time.monotonic() - started < READ_S / 2  # ...at once, not at the read timeout
    (record,) = provider_server.requests("m-a")
    assert record.disconnected


def test_stopping_a_sync_stream_early_closes_the_connection(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    provider_server.set_faults("m-a", [StreamStall(after_chunks=1)])
    stream = backend.stream(info(), Request.of("hi"), timeout_s=READ_S)
    assert next(stream).text == "Hello "
    started = time.monotonic()
    stream.close()  # type: ignore[attr-defined]
    assert provider_server.wait_idle(READ_S)
    assert time.monotonic() - started < READ_S / 2  # at once, not at the read timeout
    assert provider_server.requests("m-a")[0].disconnected


# -- error mapping ----------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, Fault, type[ProviderError], int | None]] = [
    ("429", rate_limited(retry_after=2), RateLimited, 429),
    ("500", server_error(500), ProviderUnavailable, 500),
    ("502", server_error(502), ProviderUnavailable, 502),
    ("503", service_unavailable(), ProviderUnavailable, 503),
    ("504", server_error(504), ProviderTimeout, 504),
    (
        "html_502",
        HttpError(502, body="<html>Bad gateway</html>", content_type="text/html"),
        ProviderUnavailable,
        502,
    ),
    ("404", model_not_found("m-a"), ModelNotFound, 404),
    ("410", model_deprecated("m-a"), ModelNotFound, 410),
    ("400", invalid_param("temperature"), BadRequest, 400),
    ("422", HttpError(422), BadRequest, 422),
    ("context", context_length_exceeded(), ContextWindowExceeded, 400),
    ("content_filter", content_filter(), ContentFiltered, 400),
    ("content_policy", content_filter("content_policy_violation"), ContentFiltered, 400),
    ("401", auth_error(), AuthenticationFailed, 401),
    ("403", HttpError(403), AuthenticationFailed, 403),
    ("402", HttpError(402), ProviderError, 402),
    ("drop", DropConnection(), ProviderConnectionError, None),
    ("reset", DropConnection(reset=True), ProviderConnectionError, None),
]


def check_error(
    error: ProviderError, expected: type[ProviderError], status: int | None, srv: ProviderServer
) -> None:
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    assert error.status_code == status
    assert error.model == "m-a"
    assert error.__cause__ is None and error.__context__ is None
    assert KEY not in str(error)
    only_request(srv)


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
async def test_acall_error_mapping_one_request(
    provider_server: ProviderServer,
    backend: LiteLLMBackend,
    fault: Fault,
    expected: type[ProviderError],
    status: int | None,
) -> None:
    provider_server.set_faults("m-a", [fault])
    with pytest.raises(ProviderError) as caught:
        await backend.acall(info(), Request.of("hi"), timeout_s=5.0)
    check_error(caught.value, expected, status, provider_server)


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_sync_call_error_mapping_one_request(
    provider_server: ProviderServer,
    backend: LiteLLMBackend,
    fault: Fault,
    expected: type[ProviderError],
    status: int | None,
) -> None:
    provider_server.set_faults("m-a", [fault])
    with pytest.raises(ProviderError) as caught:
        backend.call(info(), Request.of("hi"), timeout_s=5.0)
    check_error(caught.value, expected, status, provider_server)


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [case[1:] for case in ERROR_CASES if case[0] in ("429", "503", "404", "400", "401", "drop")],
    ids=["429", "503", "404", "400", "401", "drop"],
)
async def test_astream_error_before_first_chunk(
    provider_server: ProviderServer,
    backend: LiteLLMBackend,
    fault: Fault,
    expected: type[ProviderError],
    status: int | None,
) -> None:
    provider_server.set_faults("m-a", [fault])
    with pytest.raises(ProviderError) as caught:
        async for _ in backend.astream(info(), Request.of("hi"), timeout_s=5.0):
            pass
    check_error(caught.value, expected, status, provider_server)


async def test_rate_limit_retry_after_and_reason(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    provider_server.set_faults(
        "m-a", [rate_limited(retry_after=2), HttpError(429, headers={"retry-after-ms": "1500"})]
    )
    with pytest.raises(RateLimited) as first:
        await backend.acall(info(), Request.of("hi"), timeout_s=5.0)
    assert first.value.retry_after == 2.0
    assert first.value.reason is FallbackReason.RATE_LIMITED
    with pytest.raises(RateLimited) as second:
        backend.call(info(), Request.of("hi"), timeout_s=5.0)
    assert second.value.retry_after == 1.5
    assert provider_server.calls("m-a") == 2


@pytest.mark.parametrize(
    "fault", [Healthy(delay=READ_S), NoResponse()], ids=["delay", "no_response"]
)
async def test_timeout_one_request(
    provider_server: ProviderServer, backend: LiteLLMBackend, fault: Fault
) -> None:
    provider_server.set_faults("m-a", [fault, fault])
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await backend.acall(info(), Request.of("hi"), timeout_s=0.3)
    assert time.monotonic() - started < READ_S / 2  # gave up long before the answer came
    assert caught.value.status_code is None
    with pytest.raises(ProviderTimeout):
        backend.call(info(), Request.of("hi"), timeout_s=0.3)
    assert provider_server.calls("m-a") == 2


async def test_a_global_litellm_num_retries_does_not_turn_retries_on(
    provider_server: ProviderServer, backend: LiteLLMBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm

    provider_server.set_default_fault("m-a", service_unavailable())
    monkeypatch.setattr(litellm, "num_retries", 3)  # LiteLLM resets it after a failure
    with pytest.raises(ProviderUnavailable):
        backend.call(info(), Request.of("hi"), timeout_s=5.0)
    assert provider_server.calls("m-a") == 1
    monkeypatch.setattr(litellm, "num_retries", 3)
    with pytest.raises(ProviderUnavailable):
        await backend.acall(info(), Request.of("hi"), timeout_s=5.0)
    assert provider_server.calls("m-a") == 2


async def test_secrets_never_reach_errors(
    provider_server: ProviderServer, backend: LiteLLMBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = "sk-from-env-7d1e0a55"
    monkeypatch.setenv("MR_TEST_PROVIDER_KEY", env_key)
    provider_server.set_faults("m-a", [auth_error(echo_request_headers=True)] * 2)
    for model in (info(), info(api_key_env="MR_TEST_PROVIDER_KEY")):
        with pytest.raises(AuthenticationFailed) as caught:
            await backend.acall(model, Request.of("hi"), timeout_s=5.0)
        text = f"{caught.value} {caught.value!r} {caught.value.message}"
        assert "Incorrect API key provided" in text
        assert "Request headers" in text  # the server did echo them...
        assert KEY not in text and env_key not in text  # ...but the key is scrubbed
        assert caught.value.__context__ is None
    assert KEY not in repr(backend)
    assert provider_server.calls("m-a") == 2


def test_api_key_from_env_var_else_default(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LiteLLMBackend(api_key="sk-default")
    monkeypatch.setenv("MR_TEST_PROVIDER_KEY", "sk-env")
    assert backend._api_key_for(info(api_key_env="MR_TEST_PROVIDER_KEY")) == "sk-env"
    assert backend._api_key_for(info(api_key_env="MR_TEST_UNSET_VAR")) == "sk-default"
    assert backend._api_key_for(info()) == "sk-default"
    kwargs, secrets = backend._kwargs(
        info(api_base="http://per-model/v1"), Request.of("hi"), 2.0, stream=False
    )
    assert kwargs["api_base"] == "http://per-model/v1"
    assert (kwargs["num_retries"], kwargs["max_retries"], kwargs["timeout"]) == (0, 0, 2.0)
    assert secrets == ("sk-default", "sk-default")


# -- broken streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [StreamCut(after_chunks=2), StreamCut(after_chunks=2, reset=True), MalformedChunk(1)],
    ids=["cut", "cut_reset", "malformed_chunk"],
)
async def test_astream_cut_midway_raises_stream_broken(
    provider_server: ProviderServer, backend: LiteLLMBackend, fault: Fault
) -> None:
    provider_server.set_faults("m-a", [fault])
    received: list[StreamChunk] = []
    with pytest.raises(StreamBroken) as caught:
        async for chunk in backend.astream(info(), Request.of("hi"), timeout_s=5.0):
            received.append(chunk)
    assert caught.value.reason is FallbackReason.STREAM_INTERRUPTED
    assert caught.value.__context__ is None
    assert all(c.finish_reason is None for c in received)
    if isinstance(fault, StreamCut):
        assert "".join(c.text for c in received) == "Hello from "
    only_request(provider_server)


def test_sync_stream_cut_midway_raises_stream_broken(
    provider_server: ProviderServer, backend: LiteLLMBackend
) -> None:
    provider_server.set_faults("m-a", [StreamCut(after_chunks=1)])
    received: list[str] = []
    with pytest.raises(StreamBroken):
        for chunk in backend.stream(info(), Request.of("hi"), timeout_s=5.0):
            received.append(chunk.text)
    assert received == ["Hello "]
    only_request(provider_server)


# -- pure mapping details (exceptions built by hand) ------------------------------------------


def test_mapping_of_exceptions_without_http_answer() -> None:
    import litellm.exceptions as lx

    timeout = lx.Timeout(message="slow", model="m", llm_provider="openai")
    assert type(map_exception(timeout)) is ProviderTimeout
    assert map_exception(timeout).status_code is None
    conn = lx.APIConnectionError(message="refused", llm_provider="openai", model="m")
    assert type(map_exception(conn)) is ProviderConnectionError
    assert type(map_exception(TimeoutError())) is ProviderTimeout
    assert type(map_exception(ValueError("weird"))) is ProviderError
    cw = lx.ContextWindowExceededError(message="too long", model="m", llm_provider="openai")
    assert type(map_exception(cw)) is ContextWindowExceeded
    cp = lx.ContentPolicyViolationError(message="no", model="m", llm_provider="openai")
    assert type(map_exception(cp)) is ContentFiltered
    already = RateLimited("x", model="m")
    assert map_exception(already) is already


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    date = "Mon, 30 Nov 2026 06:00:10 GMT"
    now = 1796018400.0  # 2026-11-30 06:00:00 UTC
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(10.0)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0
    assert parse_retry_after({}) is None


def test_scrub_removes_keys_and_authorization_values() -> None:
    text = 'Authorization: Bearer sk-abc123456 {"api-key": "zzz-secret"} x-api-key=abc sk-proj-XYZ'
    out = scrub(text, ["zzz-secret"])
    for secret in ("sk-abc123456", "zzz-secret", "abc sk", "sk-proj-XYZ"):
        assert secret not in out
    assert "Bearer ***" in out


# -- tokens, import cost, cassette ----------------------------------------------------------


def test_token_counter_offline_and_injectable() -> None:
    request = Request.of(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello " * 50}]
    )
    tokens = litellm_token_counter("openai/m-a", request)
    assert 50 <= tokens <= 80
    assert litellm_token_counter("gpt-4o-mini", request) > 0
    assert os.environ["TIKTOKEN_CACHE_DIR"].endswith(
        os.path.join("litellm_core_utils", "tokenizers")
    )
    catalog = Catalog([info()], token_counter=litellm_token_counter)
    assert catalog.estimate_input_tokens("m-a", request) == tokens


def test_importing_the_adapter_does_not_import_litellm() -> None:
    code = (
        "import sys, modelroute_litellm; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"


@pytest.fixture
def cassette_target(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(record mode, api_base): record against the live local server with
    `MODELROUTE_RECORD=1`, else replay with nothing listening at the address."""
    if os.environ.get("MODELROUTE_RECORD") == "1":
        srv: ProviderServer = request.getfixturevalue("provider_server")
        yield "all", srv.base_url
    else:
        yield "none", "http://127.0.0.1:9/v1"  # discard port: a leak would fail to connect


def test_cassette_replay(cassette_target: tuple[str, str]) -> None:
    import vcr

    record_mode, api_base = cassette_target
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        match_on=["method", "scheme", "host", "path"],
        filter_headers=["authorization", "api-key", "x-api-key"],
        decode_compressed_response=True,
    )
    backend = LiteLLMBackend(api_base=api_base, api_key=KEY)
    with recorder.use_cassette("answer.yaml") as cassette:
        response: Response = backend.call(info(), Request.of("hello there"), timeout_s=5.0)
    assert response.text == "Hello from m-a."
    assert response.finish_reason == "stop"
    assert response.usage is not None and response.usage.input_tokens > 0
    assert cassette.play_count == (0 if record_mode == "all" else 1)
    stored = (CASSETTES / "answer.yaml").read_text(encoding="utf-8")
    assert KEY not in stored and "authorization" not in stored.lower()
