"""The context-window and `max_input_tokens` checks count a request only when the cheap upper
bound (`modelroute.token_bound`) does not fit; a request over the limit is skipped or refused
with the same reason and detail as when every request was counted. Requests go over real HTTP
to the local provider server through the LiteLLM backend; `litellm.token_counter` is wrapped
to record which models it counted for."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from modelroute.catalog import Catalog, ModelInfo, estimate_tokens
from modelroute.errors import InputTooLong
from modelroute.provider_server import ProviderServer
from modelroute.route import Route
from modelroute.router import Router
from modelroute.token_bound import text_token_bound
from modelroute.types import Request
from modelroute_litellm import LiteLLMBackend, litellm_token_counter
from modelroute_litellm.tokens import clear_token_count_cache, load_litellm


def fresh(words: int) -> str:
    """`words` short words no other test counted (the count cache lives with the process)."""
    return f"{uuid.uuid4().hex} " + "cat " * words


def exact(model: str, request: Request) -> int:
    return int(
        load_litellm().token_counter(
            model=model,
            messages=[m.to_dict() for m in request.messages],
            use_default_image_token_count=True,
        )
    )


def router_for(
    server: ProviderServer,
    window: int | None,
    *,
    route_limit: int | None = None,
    counter: Any = litellm_token_counter,
) -> Router:
    """Route m-a then m-b (m-a has context window `window`, m-b none) over HTTP."""
    models = [
        ModelInfo(name, provider="local", target=f"openai/{name}", api_base=server.base_url)
        for name in ("m-a", "m-b")
    ]
    models[0] = replace(models[0], max_input_tokens=window)
    return Router(
        [Route("chain", ("m-a", "m-b"), max_input_tokens=route_limit)],
        backend=LiteLLMBackend(api_key="sk-local"),
        catalog=Catalog(models, token_counter=counter),
    )


def test_small_request_is_not_counted(
    provider_server: ProviderServer, litellm_calls: list[str]
) -> None:
    router = router_for(provider_server, window=1_000, route_limit=1_000)
    out = router.complete(Request.of(fresh(20), max_tokens=16))
    assert [(a.model, a.outcome.value) for a in out.decision.attempts] == [("m-a", "ok")]
    assert litellm_calls == []  # the bound fits both limits: no exact count


def test_request_near_the_window_is_counted_exactly_once(
    provider_server: ProviderServer, litellm_calls: list[str]
) -> None:
    request = Request.of(fresh(150), max_tokens=16)
    tokens = exact("openai/m-a", request)
    litellm_calls.clear()
    bound = text_token_bound("openai/m-a", request)
    assert bound is not None and tokens < 400 < bound  # the bound is over, the count is not
    out = router_for(provider_server, window=400, route_limit=400).complete(request)
    assert [a.model for a in out.decision.attempts] == ["m-a"]
    assert litellm_calls == ["openai/m-a"]  # counted: the route's and the model's check share it


def test_request_over_the_window_is_skipped_with_the_exact_count(
    provider_server: ProviderServer, litellm_calls: list[str]
) -> None:
    request = Request.of(fresh(150), max_tokens=16)
    tokens = exact("openai/m-a", request)
    out = router_for(provider_server, window=100).complete(request)
    skipped, answered = out.decision.attempts
    assert (skipped.model, skipped.outcome.value, skipped.reason) == (
        "m-a",
        "skipped",
        "context_window",
    )
    assert skipped.error_message == f"~{tokens} input tokens > context window 100"
    assert (answered.model, answered.outcome.value) == ("m-b", "ok")
    assert provider_server.calls("m-a") == 0


def test_request_over_the_route_limit_is_refused_with_the_exact_count(
    provider_server: ProviderServer,
) -> None:
    request = Request.of(fresh(150), max_tokens=16)
    tokens = exact("openai/m-a", request)
    with pytest.raises(InputTooLong) as info:
        router_for(provider_server, window=None, route_limit=100).complete(request)
    assert (info.value.route, info.value.input_tokens, info.value.limit) == ("chain", tokens, 100)
    assert str(info.value) == f"route 'chain': ~{tokens} input tokens exceed max_input_tokens 100"
    assert provider_server.calls("m-a") == provider_server.calls("m-b") == 0


def test_a_users_counter_is_always_called(provider_server: ProviderServer) -> None:
    counted: list[str] = []

    def counter(model: str, request: Request) -> int:
        counted.append(model)
        return estimate_tokens(model, request)

    router = router_for(provider_server, window=1_000, route_limit=1_000, counter=counter)
    out = router.complete(Request.of("hi", max_tokens=16))
    assert [a.model for a in out.decision.attempts] == ["m-a"]
    assert counted == ["openai/m-a", "openai/m-a"]  # the route's check, then the model's


def test_a_counter_declaring_a_bound_is_called_only_when_it_does_not_fit(
    provider_server: ProviderServer,
) -> None:
    class Declared:
        def __init__(self) -> None:
            self.counted = 0

        def __call__(self, model: str, request: Request) -> int:
            self.counted += 1
            return estimate_tokens(model, request)

        def upper_bound(self, model: str, request: Request) -> int | None:
            return 10 if request.messages[0].text == "hi" else None

    counter = Declared()
    router = router_for(provider_server, window=1_000, counter=counter)
    router.complete(Request.of("hi", max_tokens=16))
    assert counter.counted == 0
    router.complete(Request.of("hello", max_tokens=16))
    assert counter.counted == 1


def test_the_core_estimate_gives_the_same_skip_detail(provider_server: ProviderServer) -> None:
    request = Request.of(fresh(150), max_tokens=16)
    out = router_for(provider_server, window=100, counter=None).complete(request)
    skipped = out.decision.attempts[0]
    assert skipped.reason == "context_window"
    tokens = estimate_tokens("openai/m-a", request)
    assert skipped.error_message == f"~{tokens} input tokens > context window 100"


def test_count_cache_follows_litellm_settings_and_can_be_cleared(
    litellm_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    litellm = load_litellm()
    request = Request.of(fresh(30))
    first = litellm_token_counter("gpt-4o", request)
    assert litellm_token_counter("gpt-4o", request) == first
    assert len(litellm_calls) == 1  # remembered
    monkeypatch.setattr(litellm, "disable_token_counter", True)
    assert litellm_token_counter("gpt-4o", request) == 0  # not the remembered count
    monkeypatch.setattr(litellm, "disable_token_counter", False)
    assert litellm_token_counter("gpt-4o", request) == first
    assert len(litellm_calls) == 2  # the count made before the change is still good
    clear_token_count_cache()
    assert litellm_token_counter("gpt-4o", request) == first
    litellm_token_counter.clear_cache()
    assert litellm_token_counter("gpt-4o", request) == first
    assert len(litellm_calls) == 4
