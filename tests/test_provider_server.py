"""The local provider server, over real HTTP: answers, streams, faults and the request log."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

import modelroute.provider_server as ps
from modelroute.provider_server import (
    AnswerRule,
    ContentOverride,
    DropConnection,
    Healthy,
    HttpError,
    MalformedChunk,
    MalformedJson,
    ModelScript,
    NoDoneSentinel,
    NoResponse,
    OmitUsage,
    ProviderServer,
    RejectPrefill,
    SlowFirstToken,
    StreamCut,
    StreamStall,
    ToolCall,
    Usage,
)

# 11 characters: 3 estimated tokens
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


def chat(
    srv: ProviderServer, model: str = "m-a", timeout: float = 5.0, **body: Any
) -> httpx.Response:
    """POST a chat completion with httpx (sync)."""
    payload = {"model": model, "messages": HELLO, **body}
    return httpx.post(f"{srv.base_url}/chat/completions", json=payload, timeout=timeout)


def stream_data(
    srv: ProviderServer, model: str = "m-a", timeout: float = 5.0, **body: Any
) -> list[str]:
    """POST a streaming chat completion; the `data:` payloads received, in order."""
    payload = {"model": model, "messages": HELLO, "stream": True, **body}
    url = f"{srv.base_url}/chat/completions"
    with httpx.stream("POST", url, json=payload, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def oa_client(srv: ProviderServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test-secret", max_retries=0)


# Normal answers -------------------------------------------------------------------------------


def test_normal_answer_has_openai_shape_and_estimated_usage(
    provider_server: ProviderServer,
) -> None:
    response = chat(provider_server)
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "m-a"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello from m-a."}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_openai_client_gets_answer_and_credentials_stay_out_of_the_log(
    provider_server: ProviderServer,
) -> None:
    completion = oa_client(provider_server).chat.completions.create(model="m-b", messages=HELLO)
    assert completion.choices[0].message.content == "Hello from m-b."
    assert completion.usage is not None and completion.usage.total_tokens == 7
    (record,) = provider_server.requests("m-b")
    assert "sk-test-secret" not in repr(record)
    assert not any(name.lower() == "authorization" for name in record.headers)


SCRIPTED = {
    "m-a": ModelScript(
        answer="Paris.",
        rules=(AnswerRule(when="Italy", answer="Rome."),),
        usage=Usage(
            prompt_tokens=400, completion_tokens=200, prompt_tokens_details={"cached_tokens": 100}
        ),
        reported_model="m-a-2026-01-01",
        tool_calls=(ToolCall(name="lookup", arguments={"q": "weather"}, id="call_b_01"),),
        message_extra={"reasoning_content": "thought"},
    )
}


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
def test_script_rules_usage_reported_model_and_extra_fields(
    provider_server: ProviderServer,
) -> None:
    body = chat(provider_server, messages=[{"role": "user", "content": "Capital of Italy?"}]).json()
    assert body["model"] == "m-a-2026-01-01"
    assert body["choices"][0]["message"]["content"] == "Rome."
    assert body["choices"][0]["message"]["reasoning_content"] == "thought"
    assert body["usage"] == {
        "prompt_tokens": 400,
        "completion_tokens": 200,
        "total_tokens": 600,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    assert chat(provider_server).json()["choices"][0]["message"]["content"] == "Paris."


@pytest.mark.parametrize("provider_server", [SCRIPTED], indirect=True)
def test_tool_calls_answer_when_tools_are_offered(provider_server: ProviderServer) -> None:
    tools: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    ]
    completion = oa_client(provider_server).chat.completions.create(
        model="m-a", messages=HELLO, tools=tools
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_b_01",
        "lookup",
        {"q": "weather"},
    )
    # After the tool's result the model answers in text.
    history = [*HELLO, {"role": "tool", "tool_call_id": "call_b_01", "content": "sunny"}]
    assert (
        chat(provider_server, messages=history, tools=tools).json()["choices"][0]["message"][
            "content"
        ]
        == "Paris."
    )


def test_models_endpoint_lists_scripted_models(provider_server: ProviderServer) -> None:
    data = httpx.get(f"{provider_server.base_url}/models").json()["data"]
    assert [m["id"] for m in data] == ["m-a", "m-b", "m-c"]


# Streaming ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider_server",
    [{"m-a": ModelScript(answer="one two three four five six", chunks=3)}],
    indirect=True,
)
def test_stream_chunks_then_usage_chunk_then_done(provider_server: ProviderServer) -> None:
    data = stream_data(provider_server, stream_options={"include_usage": True})
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m-a" for c in chunks)
    content = [c["choices"][0]["delta"].get("content") for c in chunks[:3]]
    assert "".join(content) == "one two three four five six"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[3]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[4]["choices"] == []
    assert chunks[4]["usage"] == {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10}
    assert len(chunks) == 5


def test_stream_without_include_usage_has_no_usage_chunk(provider_server: ProviderServer) -> None:
    data = stream_data(provider_server)
    chunks = [json.loads(d) for d in data[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == [
        "Hello ",
        "from ",
        "m-a.",
    ]
    assert all("usage" not in c for c in chunks)


async def test_async_openai_stream_with_usage(provider_server: ProviderServer) -> None:
    client = openai.AsyncOpenAI(base_url=provider_server.base_url, api_key="k", max_retries=0)
    stream = await client.chat.completions.create(
        model="m-c", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "Hello from m-c."
    assert usage is not None and usage.completion_tokens == 4
    await client.close()


@pytest.mark.parametrize(
    "provider_server",
    [{"m-a": ModelScript(answer="abcdef", chunks=6, chunk_delay=0.03)}],
    indirect=True,
)
def test_chunk_delay_spaces_the_chunks(provider_server: ProviderServer) -> None:
    started = time.monotonic()
    data = stream_data(provider_server)
    assert len(data) == 6 + 2  # content chunks, finish chunk, [DONE]
    assert time.monotonic() - started >= 7 * 0.03


# HTTP errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "type_", "code", "param"),
    [
        (ps.rate_limited(retry_after=2), 429, "requests", "rate_limit_exceeded", None),
        (ps.server_error(), 500, "server_error", None, None),
        (ps.service_unavailable(), 503, "server_error", None, None),
        (ps.model_not_found("m-a"), 404, "invalid_request_error", "model_not_found", None),
        (ps.model_deprecated(), 410, "invalid_request_error", "model_deprecated", None),
        (ps.invalid_param("temperature"), 400, "invalid_request_error", None, "temperature"),
        (
            ps.context_length_exceeded(),
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        (ps.content_filter(), 400, "invalid_request_error", "content_filter", "prompt"),
        (ps.auth_error(), 401, "invalid_request_error", "invalid_api_key", None),
        (HttpError(502), 502, "server_error", None, None),
    ],
)
def test_http_error_faults_send_openai_error_bodies(
    provider_server: ProviderServer,
    fault: HttpError,
    status: int,
    type_: str,
    code: str | None,
    param: str | None,
) -> None:
    provider_server.set_faults("m-a", [fault])
    response = chat(provider_server)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == (type_, code, param)
    assert error["message"]
    if status == 429:
        assert response.headers["Retry-After"] == "2"
    assert provider_server.requests("m-a")[0].status == status


def test_status_spec_with_headers_and_custom_body(provider_server: ProviderServer) -> None:
    provider_server.set_faults(
        "m-a",
        [
            "429 {Retry-After: 45}",
            HttpError(404, body="<h1>Not Found</h1>", content_type="text/html"),
        ],
    )
    first = chat(provider_server)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "45")
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    second = chat(provider_server)
    assert second.status_code == 404
    assert second.headers["content-type"].startswith("text/html")
    assert second.text == "<h1>Not Found</h1>"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (ps.rate_limited(), openai.RateLimitError),
        (ps.context_length_exceeded(), openai.BadRequestError),
        (ps.auth_error(), openai.AuthenticationError),
        (ps.model_not_found(), openai.NotFoundError),
        (ps.server_error(), openai.InternalServerError),
    ],
)
def test_openai_client_maps_error_faults(
    provider_server: ProviderServer, fault: HttpError, error: type[openai.APIStatusError]
) -> None:
    provider_server.set_default_fault("m-a", fault)
    with pytest.raises(error) as raised:
        oa_client(provider_server).chat.completions.create(model="m-a", messages=HELLO)
    assert raised.value.status_code == fault.status


def test_unknown_model_is_404_model_not_found(provider_server: ProviderServer) -> None:
    response = chat(provider_server, model="m-nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert provider_server.calls("m-nope") == 1


def test_echoed_headers_reach_the_body_but_not_the_log(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [ps.auth_error(echo_request_headers=True)])
    response = httpx.post(
        f"{provider_server.base_url}/chat/completions",
        json={"model": "m-a", "messages": HELLO},
        headers={"Authorization": "Bearer sk-CANARY", "x-api-key": "hdr-CANARY"},
    )
    assert response.status_code == 401
    assert "sk-CANARY" in response.json()["error"]["message"]
    assert "CANARY" not in repr(provider_server.requests())


# Connection faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True])
def test_drop_connection_is_a_transport_error(provider_server: ProviderServer, reset: bool) -> None:
    provider_server.set_faults("m-a", [DropConnection(reset=reset)])
    with pytest.raises(httpx.TransportError):
        chat(provider_server)
    assert provider_server.wait_idle(30)
    (record,) = provider_server.requests("m-a")
    assert (record.status, record.disconnected) == (None, False)


def test_dropped_connection_through_openai_client(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [DropConnection()])
    with pytest.raises(openai.APIConnectionError):
        oa_client(provider_server).chat.completions.create(model="m-a", messages=HELLO)


def test_no_response_until_client_gives_up_records_disconnect(
    provider_server: ProviderServer,
) -> None:
    provider_server.set_faults("m-a", [NoResponse()])
    with pytest.raises(httpx.ReadTimeout):
        chat(provider_server, timeout=0.2)
    assert provider_server.wait_idle(30)
    (record,) = provider_server.requests("m-a")
    assert (record.status, record.disconnected) == (None, True)


def test_delay_before_headers(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [Healthy(delay=0.2), ps.rate_limited(delay=0.2)])
    with pytest.raises(httpx.ReadTimeout):
        chat(provider_server, timeout=0.05)
    started = time.monotonic()
    assert chat(provider_server).status_code == 429
    assert time.monotonic() - started >= 0.2


def test_slow_first_token_sends_headers_first(provider_server: ProviderServer) -> None:
    # the margin (1 s delay, >= 0.5 s seen) absorbs a loaded machine noting the headers late
    provider_server.set_faults("m-a", [SlowFirstToken(1.0)])
    payload = {"model": "m-a", "messages": HELLO, "stream": True}
    client = httpx.Client(base_url=provider_server.base_url)  # made first: its set-up is slow
    with client, client.stream("POST", "/chat/completions", json=payload) as r:
        headers_at = time.monotonic()
        first = next(r.iter_lines())
        assert time.monotonic() - headers_at >= 0.5
        assert first.startswith("data: {")


@pytest.mark.parametrize("reset", [False, True])
def test_stream_cut_yields_some_chunks_then_an_error(
    provider_server: ProviderServer, reset: bool
) -> None:
    provider_server.set_faults("m-a", [StreamCut(after_chunks=2, reset=reset)])
    received: list[str] = []
    payload = {"model": "m-a", "messages": HELLO, "stream": True}
    with pytest.raises(httpx.TransportError):  # noqa: SIM117
        with httpx.stream(
            "POST", f"{provider_server.base_url}/chat/completions", json=payload
        ) as r:
            received.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert [json.loads(d[6:])["choices"][0]["delta"]["content"] for d in received] == [
        "Hello ",
        "from ",
    ]
    assert provider_server.wait_idle(30)
    assert provider_server.requests("m-a")[0].status == 200


def test_non_stream_cut_sends_half_a_body(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [StreamCut(after_chunks=0)])
    with pytest.raises(httpx.TransportError):
        chat(provider_server)


def test_stall_until_client_timeout_records_disconnect(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [StreamStall(after_chunks=1)])
    received: list[str] = []
    payload = {"model": "m-a", "messages": HELLO, "stream": True}
    url = f"{provider_server.base_url}/chat/completions"
    with pytest.raises(httpx.ReadTimeout):  # noqa: SIM117
        with httpx.stream("POST", url, json=payload, timeout=0.2) as r:
            received.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert len(received) == 1
    assert provider_server.wait_idle(30)
    (record,) = provider_server.requests("m-a")
    assert (record.status, record.disconnected) == (200, True)


@pytest.mark.parametrize(
    "provider_server", [{"m-a": ModelScript(answer="a b c d e", chunk_delay=0.05)}], indirect=True
)
async def test_client_closing_a_stream_early_is_a_disconnect(
    provider_server: ProviderServer,
) -> None:
    payload = {"model": "m-a", "messages": HELLO, "stream": True}
    async with aiohttp.ClientSession() as session:
        response = await session.post(f"{provider_server.base_url}/chat/completions", json=payload)
        assert (await response.content.readline()).startswith(b"data: {")
        response.close()
        # Waiting must not block this loop: aiohttp closes the socket on its next iteration.
        assert await provider_server.wait_idle_async(30)
    (record,) = provider_server.requests("m-a")
    assert (record.status, record.disconnected) == (200, True)


def test_timed_stall_resumes_the_stream(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [StreamStall(after_chunks=1, seconds=0.1)])
    started = time.monotonic()
    data = stream_data(provider_server)
    assert time.monotonic() - started >= 0.1
    assert data[-1] == "[DONE]" and len(data) == 5


# Malformed output -----------------------------------------------------------------------------


def test_malformed_chunk_inside_a_stream(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [MalformedChunk(after_chunks=1)])
    data = stream_data(provider_server)
    assert data[-1] == "[DONE]"
    bad = [i for i, d in enumerate(data[:-1]) if not _is_json(d)]
    assert bad == [1]
    provider_server.set_faults("m-a", [MalformedChunk(after_chunks=1)])
    stream = oa_client(provider_server).chat.completions.create(
        model="m-a", messages=HELLO, stream=True
    )
    with pytest.raises(json.JSONDecodeError):  # the SDK lets the JSON error through
        list(stream)


def test_stream_without_done_sentinel(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [NoDoneSentinel()])
    data = stream_data(provider_server)
    assert "[DONE]" not in data
    assert json.loads(data[-1])["choices"][0]["finish_reason"] == "stop"


def test_malformed_json_body(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [MalformedJson()])
    response = chat(provider_server)
    assert response.status_code == 200
    assert not _is_json(response.text)


@pytest.mark.parametrize(
    ("fault", "content"),
    [
        (ps.empty_content(), ""),
        (ps.whitespace_content(), " \n\t "),
        (ps.null_content(), None),
        (ps.refusal(), "I'm sorry, but I can't help with that."),
        (ContentOverride('{"wrong": true}'), '{"wrong": true}'),
    ],
)
def test_content_overrides(
    provider_server: ProviderServer, fault: ContentOverride, content: str | None
) -> None:
    provider_server.set_faults("m-a", [fault, fault])
    message = chat(provider_server).json()["choices"][0]["message"]
    assert message["content"] == content and "tool_calls" not in message
    chunks = [json.loads(d) for d in stream_data(provider_server)[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == (content or "")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


def test_empty_stream_is_role_delta_then_finish(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [ps.null_content()])
    chunks = [json.loads(d) for d in stream_data(provider_server)[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_finish_reason_override(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [ContentOverride("cut sh", finish_reason="length")])
    assert chat(provider_server).json()["choices"][0]["finish_reason"] == "length"


def test_usage_omitted(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [OmitUsage(), OmitUsage()])
    assert "usage" not in chat(provider_server).json()
    data = stream_data(provider_server, stream_options={"include_usage": True})
    assert all(json.loads(d).get("usage") is None for d in data[:-1])


def test_prefill_rejected_only_when_last_message_is_assistant(
    provider_server: ProviderServer,
) -> None:
    provider_server.set_default_fault("m-a", RejectPrefill())
    prefill = [*HELLO, {"role": "assistant", "content": "Sure,"}]
    rejected = chat(provider_server, messages=prefill)
    assert rejected.status_code == 400
    assert rejected.json()["error"]["type"] == "invalid_request_error"
    assert chat(provider_server).status_code == 200


@pytest.mark.parametrize(
    "provider_server", [{"m-a": ModelScript(strict_history=True)}], indirect=True
)
def test_strict_history_rejects_non_standard_tool_calls(provider_server: ProviderServer) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    good = [
        *HELLO,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    assert chat(provider_server, messages=good).status_code == 200
    extra = [*HELLO, {"role": "assistant", "content": "x", "reasoning": "private"}]
    assert chat(provider_server, messages=extra).status_code == 400
    orphan = [*HELLO, {"role": "tool", "tool_call_id": "c9", "content": "ok"}]
    assert "c9" in chat(provider_server, messages=orphan).json()["error"]["message"]


# Fault queue, sticky fault, header, reset -------------------------------------------------------


def test_fault_queue_is_consumed_in_order_then_normal_answers_resume(
    provider_server: ProviderServer,
) -> None:
    provider_server.set_faults("m-a", [429, 429, "503"])
    statuses = [chat(provider_server).status_code for _ in range(5)]
    assert statuses == [429, 429, 503, 200, 200]
    assert chat(provider_server, model="m-b").status_code == 200  # other models unaffected
    assert [r.status for r in provider_server.requests("m-a")] == statuses
    assert provider_server.pending_faults("m-a") == ()


def test_queue_runs_before_the_sticky_fault_and_reset_restores(
    provider_server: ProviderServer,
) -> None:
    provider_server.set_default_fault("m-a", 500)
    provider_server.set_faults("m-a", [Healthy()])
    assert [chat(provider_server).status_code for _ in range(3)] == [200, 500, 500]
    provider_server.reset()
    assert provider_server.calls("m-a") == 0
    assert chat(provider_server).status_code == 200


def test_unknown_model_cannot_get_faults(provider_server: ProviderServer) -> None:
    with pytest.raises(KeyError):
        provider_server.set_faults("m-typo", [429])


def test_fault_header_applies_to_one_request(provider_server: ProviderServer) -> None:
    provider_server.set_faults("m-a", [503])
    url = f"{provider_server.base_url}/chat/completions"
    payload = {"model": "m-a", "messages": HELLO}
    response = httpx.post(url, json=payload, headers={"X-Fault": "429 {Retry-After: 7}"})
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert provider_server.pending_faults("m-a") == (ps.service_unavailable(),)
    bad = httpx.post(url, json=payload, headers={"X-Fault": "no_such_fault"})
    assert bad.status_code == 400


# Request log ----------------------------------------------------------------------------------


async def test_request_log_counts_concurrent_requests_exactly(
    provider_server: ProviderServer,
) -> None:
    provider_server.set_faults("m-b", [429] * 5)
    async with httpx.AsyncClient(base_url=provider_server.base_url) as client:
        requests = [
            client.post(
                "/chat/completions",
                json={"model": m, "messages": [{"role": "user", "content": str(i)}]},
            )
            for i in range(10)
            for m in ("m-a", "m-b")
        ]
        responses = await asyncio.gather(*requests)
    assert sorted(r.status_code for r in responses) == [200] * 15 + [429] * 5
    assert (provider_server.calls("m-a"), provider_server.calls("m-b")) == (10, 10)
    assert provider_server.calls("m-c") == 0
    records = provider_server.requests()
    assert [r.index for r in records] == sorted(r.index for r in records)
    assert [r.received_at for r in records] == sorted(r.received_at for r in records)
    assert sum(isinstance(r.fault, HttpError) for r in records) == 5


def test_record_fields(provider_server: ProviderServer) -> None:
    messages = [{"role": "system", "content": "be brief"}, *HELLO]
    stream_data(provider_server, messages=messages)
    (record,) = provider_server.requests()
    assert (record.model, record.stream, record.fault, record.status) == ("m-a", True, None, 200)
    assert list(record.messages) == messages
    assert record.finished_at is not None and record.finished_at >= record.received_at
    assert not record.disconnected


def test_calls_in_flight_are_counted(provider_server: ProviderServer) -> None:
    # in flight for 2 s: the check below must see it before it ends, even on a loaded machine
    provider_server.set_faults("m-a", [Healthy(delay=2.0)])
    thread = threading.Thread(target=chat, args=(provider_server,))
    thread.start()
    assert provider_server.wait_for(lambda records: len(records) == 1, timeout=30)
    assert provider_server.calls("m-a") == 1 and provider_server.requests()[0].in_flight
    thread.join()
    assert provider_server.wait_idle(30)


def test_invalid_json_request_is_400_and_logged(provider_server: ProviderServer) -> None:
    response = httpx.post(f"{provider_server.base_url}/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert [(r.model, r.status) for r in provider_server.requests()] == [("", 400)]


# Lifecycle ------------------------------------------------------------------------------------


HANG_S = 60.0  # the clients' timeout: far past how long a prompt stop takes on a loaded machine


def test_stop_is_prompt_with_hanging_requests() -> None:
    server = ProviderServer({"m-a": ModelScript(fault=NoResponse())})
    errors: list[Exception] = []

    def hang() -> None:
        try:
            chat(server, timeout=HANG_S)
        except httpx.TransportError as exc:
            errors.append(exc)

    with server.running():
        threads = [threading.Thread(target=hang) for _ in range(3)]
        for thread in threads:
            thread.start()
        assert server.wait_for(lambda records: len(records) == 3, timeout=30)
        started = time.monotonic()
    assert time.monotonic() - started < HANG_S / 2  # did not wait for the clients to give up
    for thread in threads:
        thread.join(HANG_S)
    assert len(errors) == 3
    assert not any(r.disconnected for r in server.requests())


async def test_async_start_and_stop_on_the_callers_loop() -> None:
    async with ProviderServer({"m-x": ModelScript(answer="x")}) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.base_url}/chat/completions", json={"model": "m-x", "messages": HELLO}
            )
        assert response.json()["choices"][0]["message"]["content"] == "x"
    with pytest.raises(RuntimeError):
        _ = server.port


# Scripts and fault specs ----------------------------------------------------------------------

SCRIPT_YAML = """
models:
  m-a:
    answer: "Paris."
    rules: [{when: Italy, answer: Rome.}]
    usage: {prompt_tokens: 10, completion_tokens: 2}
    reported_model: m-a-2026-01-01
    fault: "429 {Retry-After: 45}"
    faults: [503, {kind: stream_cut, after_chunks: 2}, "slow_first_token {seconds: 0.5}"]
  m-b: {}
"""


def test_load_scripts_from_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "script.yaml"
    yaml_file.write_text(SCRIPT_YAML)
    scripts = ps.load_scripts(yaml_file)
    assert scripts["m-b"] == ModelScript()
    m_a = scripts["m-a"]
    assert m_a.rules == (AnswerRule(when="Italy", answer="Rome."),)
    assert m_a.usage == Usage(prompt_tokens=10, completion_tokens=2)
    assert m_a.fault == HttpError(429, body=ps.rate_limited().body, headers={"Retry-After": "45"})
    assert m_a.faults == (ps.service_unavailable(), StreamCut(2), SlowFirstToken(0.5))
    json_file = tmp_path / "script.json"
    json_file.write_text(json.dumps({"models": {"m-b": {"answer": "B"}}}))
    assert ps.load_scripts(json_file) == {"m-b": ModelScript(answer="B")}


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"models": {"m-a": {"answr": "x"}}}, "models.m-a"),
        ({"models": {"m-a": {"faults": ["bogus"]}}}, "models.m-a.faults[0]"),
        ({"models": {"m-a": {"rules": [{"when": "x", "reply": "y"}]}}}, "models.m-a.rules[0]"),
        ({"modelz": {}}, "models"),
    ],
)
def test_script_errors_name_the_path(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ps.ScriptError, match=where.replace("[", r"\[")):
        ps.scripts_from_dict(data)


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        (503, ps.service_unavailable()),
        ("410", ps.model_deprecated()),
        ("drop_connection {reset: true}", DropConnection(reset=True)),
        ('{"kind": "stream_stall", "after_chunks": 1, "seconds": 0.1}', StreamStall(1, 0.1)),
        ({"status": 418}, HttpError(418)),
        ({"kind": "rate_limited", "retry_after": 3, "delay": 0.1}, ps.rate_limited(3, delay=0.1)),
        (NoResponse(), NoResponse()),
    ],
)
def test_parse_fault_forms(spec: Any, fault: ps.Fault) -> None:
    if isinstance(spec, str) and spec.startswith("{"):
        spec = json.loads(spec)
    assert ps.parse_fault(spec) == fault


@pytest.mark.parametrize(
    "spec", ["nope", "stream_cut {after: 1}", "stream_cut {after_chunks: -1}", True]
)
def test_parse_fault_rejects_bad_specs(spec: Any) -> None:
    with pytest.raises(ps.FaultSpecError):
        ps.parse_fault(spec)


def test_every_fault_name_parses() -> None:
    needs: dict[str, dict[str, Any]] = {
        "http_error": {"status": 500},
        "slow_first_token": {"seconds": 0},
        "stream_cut": {"after_chunks": 0},
        "stream_stall": {"after_chunks": 0},
        "content_override": {"content": ""},
    }
    for name in ps.FAULT_NAMES:
        assert isinstance(ps.parse_fault({"kind": name, **needs.get(name, {})}), ps.Fault)


def test_all_lists_the_public_names() -> None:
    public = {n for n in vars(ps) if not n.startswith("_")} - {
        "app",
        "fault_board",
        "fault_helpers",
        "fault_specs",
        "faults",
        "request_log",
        "responses",
        "runner",
        "scripts",
        "completions",
        "validation",
    }
    assert set(ps.__all__) == public


def test_cli_prints_base_url_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT_YAML)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelroute.provider_server",
            "--script",
            str(script),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        payload = {"model": "m-b", "messages": HELLO}
        response = httpx.post(f"{base_url}/chat/completions", json=payload)
        assert response.json()["choices"][0]["message"]["content"] == "Hello from m-b."
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0
    assert "model=m-b" in stderr


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
