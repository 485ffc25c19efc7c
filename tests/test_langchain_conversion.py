"""Pure conversions of the LangChain adapter: input to request, replies to responses, the
normalized message, the decision's facts, capability detection, error mapping."""

from __future__ import annotations

import pytest
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRefusalError,
    OutputParserException,
)
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate
from langgraph.errors import GraphInterrupt

from modelroute.errors import ProviderTimeout
from modelroute.records import Attempt, AttemptOutcome, Decision, RequestOutcome
from modelroute.types import Usage
from modelroute_langchain import errors as lc_errors
from modelroute_langchain.capabilities import model_info_for
from modelroute_langchain.messages import request_messages, to_chat_messages, to_request
from modelroute_langchain.metadata import route_chunk, summary, with_route_metadata
from modelroute_langchain.replies import normalized, to_response, to_stream_chunk
from modelroute_langchain.testing import ScriptedChatModel


def test_chat_input_becomes_a_request_and_back() -> None:
    prompt = ChatPromptValue(messages=[SystemMessage("Be brief."), HumanMessage("Hi")])
    messages = to_chat_messages(prompt)
    assert messages is not None

    request = to_request(prompt, messages, config={"metadata": {"modelroute_team": "t1"}})

    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
    ]
    assert request.team == "t1"
    assert [type(m) for m in request_messages(request)] == [SystemMessage, HumanMessage]
    assert to_chat_messages("Hi") == [HumanMessage("Hi")]


def test_a_chains_dict_input_is_estimated_from_its_json() -> None:
    assert to_chat_messages({"topic": "owls"}) is None
    request = to_request({"topic": "owls"}, None)
    assert request.messages[0].content == '{"topic": "owls"}'


def test_a_reply_gives_usage_model_finish_reason_logprobs_and_tool_calls() -> None:
    message = AIMessage(
        content="Paris",
        tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "c1"}],
        usage_metadata={
            "input_tokens": 10_000,
            "output_tokens": 1_000,
            "total_tokens": 11_000,
            "input_token_details": {"cache_read": 8_000},
        },
        response_metadata={
            "model_name": "m-a-2026-01-01",
            "finish_reason": "stop",
            "logprobs": {"content": [{"token": "Paris", "logprob": -0.25}]},
        },
    )

    response = to_response(message)

    assert response.usage == Usage(10_000, 1_000, cached_input_tokens=8_000)
    assert (response.model, response.finish_reason) == ("m-a-2026-01-01", "stop")
    assert response.logprobs == (-0.25,)
    assert response.tool_calls == (
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
    )


@pytest.mark.parametrize(
    "message",
    [
        AIMessage(content="", additional_kwargs={"refusal": "I can't help with that."}),
        AIMessage(content=[{"type": "refusal", "refusal": "I can't help with that."}]),
    ],
)
def test_a_refusal_is_read_from_openai_kwargs_or_content_blocks(message: AIMessage) -> None:
    assert to_response(message).refusal == "I can't help with that."


def test_other_answers_become_text() -> None:
    assert to_response("plain").text == "plain"
    assert to_response({"a": 1}).text == '{"a": 1}'
    assert to_response(None).text == ""
    called = AIMessage(content="", tool_calls=[{"name": "City", "args": {"city": "P"}, "id": "1"}])
    structured = to_response({"raw": called, "parsed": None}, structured=True)
    assert (structured.text, structured.tool_calls) == ('{"city": "P"}', ())


def test_stream_chunks_carry_text_tool_call_deltas_and_finish_reason() -> None:
    chunk = AIMessageChunk(
        content="Hi",
        tool_call_chunks=[{"name": "lookup", "args": '{"q"', "id": "c1", "index": 0}],
        response_metadata={"finish_reason": "tool_calls", "model_name": "m-b"},
    )

    out = to_stream_chunk(chunk)

    assert (out.text, out.finish_reason, out.model) == ("Hi", "tool_calls", "m-b")
    assert out.tool_calls[0]["function"] == {"name": "lookup", "arguments": '{"q"'}
    assert to_stream_chunk("plain").text == "plain"


def test_normalized_messages_are_provider_neutral() -> None:
    message = AIMessage(
        content=[{"type": "text", "text": "Sunny."}, {"type": "reasoning", "reasoning": "..."}],
        additional_kwargs={"reasoning_content": "...", "refusal": None, "function_call": {}},
        tool_calls=[{"name": "lookup", "args": {}, "id": "c1"}],
    )

    clean = normalized(message)

    assert clean.content == "Sunny."
    assert clean.additional_kwargs == {}
    assert clean.tool_calls == message.tool_calls


def decision(*attempts: Attempt, outcome: RequestOutcome) -> Decision:
    return Decision(
        request_id="r1",
        route="main",
        strategy="fallback",
        candidates=("m-a", "m-b"),
        attempts=attempts,
        outcome=outcome,
        cost_usd=0.5,
    )


def test_the_decisions_facts_for_metadata() -> None:
    failed = Attempt(0, "m-a", None, AttemptOutcome.ERROR, reason="timeout")
    ok = Attempt(1, "m-b", None, AttemptOutcome.OK, response_model="m-b-2026")
    facts = summary(decision(failed, ok, outcome=RequestOutcome.SUCCESS_AFTER_FALLBACK))

    assert facts == {
        "route": "main",
        "request_id": "r1",
        "outcome": "success_after_fallback",
        "requested_model": "m-b",
        "responding_model": "m-b-2026",
        "fallback_reasons": ["timeout"],
        "attempts": 2,
        "cost_usd": 0.5,
    }
    tagged = with_route_metadata(AIMessage("x"), decision(ok, outcome=RequestOutcome.SUCCESS))
    assert tagged.response_metadata["model_name"] == "m-b-2026"
    last = route_chunk(decision(failed, outcome=RequestOutcome.EXHAUSTED))
    assert last.response_metadata["modelroute"]["responding_model"] is None


def test_capabilities_are_detected_from_the_candidate() -> None:
    scripted = model_info_for("m-a", ScriptedChatModel())
    no_tools = model_info_for("m-x", FakeListChatModel(responses=["x"]))
    chain = model_info_for("c", ChatPromptTemplate.from_template("{x}") | StrOutputParser())

    assert (scripted.supports_tools, scripted.supports_json_schema) == (True, True)
    assert (no_tools.supports_tools, no_tools.supports_json_schema) == (False, False)
    assert (chain.supports_tools, chain.supports_vision) == (False, True)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ModelRateLimitError("slow down"), "rate_limited"),
        (ModelAPIError("boom"), "unavailable"),
        (ModelNotFoundError("gone"), "model_not_found"),
        (ContextOverflowError("too long"), "context_window"),
        (ModelRefusalError("no"), "content_filter"),
        (OutputParserException("bad"), "invalid_output"),
        (TimeoutError("late"), "timeout"),
        (GraphInterrupt(), "bad_request"),
        (RuntimeError("?"), "unknown"),
    ],
)
def test_exceptions_map_to_reasons(raised: Exception, expected: str) -> None:
    assert lc_errors.map_error(raised, model="m-a").reason.value == expected


def test_mapped_messages_drop_the_candidates_secrets() -> None:
    error = lc_errors.map_error(
        ModelAPIError("upstream said key=topsecret-123 was bad"), secrets=("topsecret-123",)
    )
    assert "topsecret" not in error.message
    assert lc_errors.map_error(ProviderTimeout("t")).reason.value == "timeout"
    assert isinstance(lc_errors.map_error(GraphInterrupt()), lc_errors.ControlFlow)
