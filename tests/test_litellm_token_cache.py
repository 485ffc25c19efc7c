"""`litellm_token_counter` counts one (model, messages) once: a routed request is counted by the
route's and the model's context checks (and again for a usage estimate), each count ~50 us of
LiteLLM model lookups. The counts must stay exactly LiteLLM's."""

from __future__ import annotations

import uuid
from typing import Any

from modelroute.catalog import Catalog, ModelInfo
from modelroute.provider_server import ProviderServer
from modelroute.route import Route
from modelroute.router import Router
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend, litellm_token_counter
from modelroute_litellm.tokens import load_litellm

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}


def fresh_text() -> str:
    """A prompt no other test counted (the cache lives as long as the process)."""
    return f"Tell me about {uuid.uuid4().hex} in one line. " * 3


def litellm_count(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> int:
    return int(
        load_litellm().token_counter(
            model=model, messages=messages, use_default_image_token_count=True, **kwargs
        )
    )


def test_same_model_and_messages_are_counted_once(litellm_calls: list[str]) -> None:
    request = Request.of(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": fresh_text()}]
    )
    first = litellm_token_counter("openai/m-a", request)
    again = litellm_token_counter("openai/m-a", Request.of(list(request.messages)))
    other = litellm_token_counter("gpt-4o-mini", request)
    assert litellm_calls == ["openai/m-a", "gpt-4o-mini"]
    messages = [m.to_dict() for m in request.messages]
    assert first == again == litellm_count("openai/m-a", messages)
    assert other == litellm_count("gpt-4o-mini", messages)


def test_changed_messages_are_counted_again(litellm_calls: list[str]) -> None:
    text = fresh_text()
    short = litellm_token_counter("openai/m-a", Request.of(text))
    longer = litellm_token_counter("openai/m-a", Request.of(text + " And more words."))
    assert len(litellm_calls) == 2
    assert longer > short


def test_content_parts_and_tools_are_counted_each_time(litellm_calls: list[str]) -> None:
    parts = [
        {"type": "text", "text": fresh_text()},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
    ]
    with_image = Request.of([{"role": "user", "content": parts}])
    counts = [litellm_token_counter("openai/m-a", with_image) for _ in range(2)]
    assert counts[0] == counts[1] == litellm_count("openai/m-a", [with_image.messages[0].to_dict()])
    text = fresh_text()
    with_tools = Request.of(text, tools=[TOOL])
    tool_counts = [litellm_token_counter("openai/m-a", with_tools) for _ in range(2)]
    assert tool_counts[0] == tool_counts[1] > litellm_token_counter("openai/m-a", Request.of(text))
    assert len(litellm_calls) == 6  # 2 with parts (+1 reference count), 2 with tools, 1 plain


def test_routed_request_with_context_limits_counts_once_over_http(
    provider_server: ProviderServer, litellm_calls: list[str]
) -> None:
    catalog = Catalog(
        [
            ModelInfo(
                "m-a",
                provider="local",
                target="openai/m-a",
                api_base=provider_server.base_url,
                max_input_tokens=150,  # above the count (~80), below the bound (~200)
            )
        ],
        token_counter=litellm_token_counter,
    )
    router = Router(
        [Route("chain", ("m-a",), max_input_tokens=150)],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=catalog,
    )
    out = router.complete(Request.of(fresh_text(), max_tokens=16))
    assert out.text
    assert [a.model for a in out.decision.attempts] == ["m-a"]
    assert litellm_calls == ["openai/m-a"]  # the route's and the model's check share it


def test_long_conversations_are_not_kept_alive_by_the_cache() -> None:
    from modelroute_litellm.tokens import COUNT_CACHE_MAX_CHARS, _cached_count

    _cached_count.cache_clear()
    long = Request.of("x " * COUNT_CACHE_MAX_CHARS)
    first = litellm_token_counter("gpt-4o", long)
    assert first == litellm_token_counter("gpt-4o", long) > COUNT_CACHE_MAX_CHARS // 4
    assert _cached_count.cache_info().currsize == 0
