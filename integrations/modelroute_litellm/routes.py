"""modelroute routes behind LiteLLM's call signature: switch `litellm.acompletion` with one line.

    from modelroute import Router
    from modelroute_litellm.routes import RoutedLiteLLM

    llm = RoutedLiteLLM(Router.from_config("modelroute.yaml"))   # a Router on LiteLLMBackend
    response = await llm.acompletion(model="extract", messages=[...])   # was litellm.acompletion
    response._hidden_params["modelroute"]   # the Decision, as a dict

`model` names a modelroute route (a cascade, a fallback chain with validators, a classifier
route...). The route runs with modelroute's engine on the router's backend (normally
`LiteLLMBackend`), and the answer comes back as LiteLLM's `ModelResponse` (or, with
`stream=True`, an iterator of `ModelResponseStream` chunks), so code reading `choices`,
`usage` and `_hidden_params` keeps working. Routing facts travel in `_hidden_params`:
`modelroute` (`Decision.to_dict()`), `response_cost` (USD, every attempt the route paid for,
a cascade's cheaper tiers included) and `additional_headers` (`x-modelroute-*`, which the
LiteLLM proxy turns into response headers). `usage` is the answering model's.

Errors are modelroute's: `AllAttemptsFailed` (every attempt inside), `UnknownRouteError`,
`LimitExceeded`. Importing this module does not import LiteLLM; the first call does.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from modelroute.records import Decision
from modelroute.router import Router
from modelroute.types import Request, Response, StreamChunk
from modelroute_litellm.deployments import request_from_kwargs
from modelroute_litellm.tokens import load_litellm

HEADER_PREFIX = "x-modelroute-"


class RoutedLiteLLM:
    """`acompletion` / `completion` with LiteLLM's signature, answered by `router`'s routes.

    Keep one per process (it holds the router, with its breakers and latency estimates).
    """

    def __init__(self, router: Router) -> None:
        self.router = router

    @classmethod
    def from_config(cls, config: str | os.PathLike[str] | Mapping[str, Any]) -> RoutedLiteLLM:
        """From a modelroute YAML file or dict (the backend defaults to `LiteLLMBackend`)."""
        return cls(Router.from_config(config))

    async def acompletion(
        self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> Any:
        """Run route `model` on `messages`; returns a `litellm.ModelResponse`, or with
        `stream=True` an async iterator of `litellm.ModelResponseStream` chunks.

        kwargs as for `litellm.acompletion`: `max_tokens`, `temperature`, `tools`,
        `response_format` (a `json_schema` one is validated), `user`, `metadata` (`team`,
        `task`, `tags`, `prompt_version` are routing metadata), other provider kwargs.
        """
        request = _request(messages, kwargs)
        if kwargs.get("stream"):
            stream = self.router.astream(request, route=model)
            return _astream_chunks(stream, model)
        routed = await self.router.acomplete(request, route=model)
        return model_response(routed.response, routed.decision)

    def completion(self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> Any:
        """Sync twin of `acompletion`."""
        request = _request(messages, kwargs)
        if kwargs.get("stream"):
            stream = self.router.stream(request, route=model)
            return _stream_chunks(stream, model)
        routed = self.router.complete(request, route=model)
        return model_response(routed.response, routed.decision)


IGNORED_KWARGS = frozenset({"api_key", "api_base", "base_url", "custom_llm_provider"})
"""Call kwargs a route ignores: its models say where to call and with which key."""


def _request(messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> Request:
    fields = {k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS}
    request = request_from_kwargs({**fields, "messages": list(messages)})
    if request is None:
        raise ValueError("acompletion needs at least one message with a 'role'")
    return request


def routing_headers(decision: Decision) -> dict[str, str]:
    """The `x-modelroute-*` headers of a decision: request id, route, responding model,
    outcome, fallback reasons (comma-separated) and cost (USD)."""
    headers = {
        "request-id": decision.request_id,
        "route": decision.route,
        "model": decision.responding_model or "",
        "outcome": decision.outcome.value,
        "fallback-reasons": ",".join(decision.fallback_reasons),
        "cost-usd": f"{decision.cost_usd:.10f}",
    }
    return {HEADER_PREFIX + k: v for k, v in headers.items()}


def _attach(target: Any, decision: Decision) -> None:
    hidden = getattr(target, "_hidden_params", None)
    if not isinstance(hidden, dict):
        hidden = {}
        target._hidden_params = hidden
    hidden["modelroute"] = decision.to_dict()
    hidden["response_cost"] = decision.cost_usd
    hidden["model_id"] = decision.responding_model
    headers = dict(hidden.get("additional_headers") or {})
    headers.update(routing_headers(decision))
    hidden["additional_headers"] = headers


def model_response(response: Response, decision: Decision) -> Any:
    """A `litellm.ModelResponse` of a modelroute answer, with the decision attached."""
    litellm = load_litellm()
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
    if response.tool_calls:
        message["tool_calls"] = [dict(c) for c in response.tool_calls]
    usage = response.usage
    out = litellm.ModelResponse(
        id=response.id or f"chatcmpl-modelroute-{decision.request_id}",
        model=response.model or decision.responding_model,
        choices=[
            {"index": 0, "finish_reason": response.finish_reason or "stop", "message": message}
        ],
        usage=litellm.Usage(
            prompt_tokens=usage.input_tokens if usage else 0,
            completion_tokens=usage.output_tokens if usage else 0,
            total_tokens=usage.total_tokens if usage else 0,
        ),
    )
    _attach(out, decision)
    return out


def _chunk(piece: StreamChunk, chunk_id: str, model: str) -> Any:
    litellm = load_litellm()
    delta: dict[str, Any] = {"role": "assistant", "content": piece.text or None}
    if piece.tool_calls:
        delta["tool_calls"] = [dict(c) for c in piece.tool_calls]
    chunk = litellm.ModelResponseStream(
        id=chunk_id,
        model=piece.model or model,
        choices=[{"index": 0, "delta": delta, "finish_reason": piece.finish_reason}],
    )
    if piece.usage is not None:
        chunk.usage = litellm.Usage(
            prompt_tokens=piece.usage.input_tokens,
            completion_tokens=piece.usage.output_tokens,
            total_tokens=piece.usage.total_tokens,
        )
    return chunk


async def _astream_chunks(stream: Any, route: str) -> AsyncIterator[Any]:
    """LiteLLM stream chunks of a routed stream; the last one carries the decision."""
    chunk_id = f"chatcmpl-modelroute-{os.urandom(6).hex()}"
    last: Any = None
    async for piece in stream:
        if last is not None:
            yield last
        last = _chunk(piece, chunk_id, route)
    if last is not None:
        if stream.decision is not None:
            _attach(last, stream.decision)
        yield last


def _stream_chunks(stream: Any, route: str) -> Iterator[Any]:
    """Sync twin of `_astream_chunks`."""
    chunk_id = f"chatcmpl-modelroute-{os.urandom(6).hex()}"
    last: Any = None
    for piece in stream:
        if last is not None:
            yield last
        last = _chunk(piece, chunk_id, route)
    if last is not None:
        if stream.decision is not None:
            _attach(last, stream.decision)
        yield last
