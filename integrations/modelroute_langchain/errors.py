"""Map what a LangChain chat model or chain raises into modelroute's `ProviderError` tree.

`map_error(exc, model=..., secrets=...)` returns (never raises) the error the engine
records, checked in this order:

| raised                                                   | modelroute error        |
|----------------------------------------------------------|-------------------------|
| a `ProviderError` (e.g. from a nested modelroute call)    | itself                  |
| a LangGraph control-flow signal (`GraphBubbleUp`)        | `ControlFlow` (terminal)|
| `ContextOverflowError`                                   | ContextWindowExceeded   |
| `ModelRefusalError` (e.g. `OpenAIRefusalError`)          | ContentFiltered         |
| an `openai` exception (what langchain-openai raises)     | LiteLLM adapter's table |
| other `langchain_core.exceptions.ModelError` subclasses  | by class (below)        |
| `OutputParserException` (a chain's parser failed)        | InvalidChainOutput      |
| anything else                                            | LiteLLM adapter's table |

openai exceptions go through `modelroute_litellm.errors.map_exception` (it reads the HTTP
status, the error body's code and `Retry-After`, and never imports LiteLLM). Messages are
scrubbed of the candidate's own secrets, bearer tokens and `sk-...` keys, and cut short.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelRefusalError,
    ModelTimeoutError,
    OutputParserException,
)

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
)
from modelroute.reasons import FallbackReason
from modelroute_litellm.errors import MAX_MESSAGE_CHARS, map_exception, parse_retry_after, scrub

__all__ = ["CapabilityMissing", "ControlFlow", "InvalidChainOutput", "map_error"]


class CapabilityMissing(ProviderError):
    """The candidate cannot do what the request needs (e.g. it has no `bind_tools`), although
    the catalog said it could. Recorded with reason `capability`; the engine falls back."""

    reason = FallbackReason.CAPABILITY


class InvalidChainOutput(ProviderError):
    """A chain's own output parser rejected the model's answer (`OutputParserException`).
    Recorded with reason `invalid_output`; the engine falls back."""

    reason = FallbackReason.INVALID_OUTPUT


class ControlFlow(BadRequest):
    """A LangGraph control-flow signal (an interrupt, a `Command` to a parent graph) raised
    inside a candidate. Terminal: the engine stops, and the adapter re-raises the signal
    itself so the graph sees it unchanged."""


_BY_CLASS: tuple[tuple[type[ModelError], type[ProviderError]], ...] = (
    (ModelRateLimitError, RateLimited),
    (ModelTimeoutError, ProviderTimeout),
    (ModelConnectionError, ProviderConnectionError),
    (ModelAPIError, ProviderUnavailable),
    (ModelAuthenticationError, AuthenticationFailed),
    (ModelPermissionDeniedError, AuthenticationFailed),
    (ModelNotFoundError, ModelNotFound),
    (ModelInvalidRequestError, BadRequest),
)


def is_control_flow(exc: BaseException) -> bool:
    """`exc` is LangGraph's `GraphBubbleUp` (interrupts and parent commands subclass it)."""
    return any(
        cls.__name__ == "GraphBubbleUp" and cls.__module__.startswith("langgraph")
        for cls in type(exc).__mro__
    )


def _from_openai(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] == "openai" for cls in type(exc).__mro__)


def _message(exc: BaseException, secrets: Iterable[str]) -> str:
    text = scrub(f"{type(exc).__name__}: {exc}", secrets)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    response: Any = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def map_error(
    exc: BaseException, *, model: str | None = None, secrets: Iterable[str] = ()
) -> ProviderError:
    """The `ProviderError` the engine records for `exc` (see the module table)."""
    if isinstance(exc, ProviderError):
        return exc
    secrets = tuple(secrets)
    if is_control_flow(exc):
        return ControlFlow(_message(exc, secrets), model=model)
    if isinstance(exc, ContextOverflowError):
        return ContextWindowExceeded(_message(exc, secrets), model=model, status_code=_status(exc))
    if isinstance(exc, ModelRefusalError):
        return ContentFiltered(_message(exc, secrets), model=model)
    if _from_openai(exc):
        return map_exception(exc, model=model, secrets=secrets)
    for lc_class, error_class in _BY_CLASS:
        if isinstance(exc, lc_class):
            error = error_class(_message(exc, secrets), model=model, status_code=_status(exc))
            if isinstance(error, RateLimited):
                response: Any = getattr(exc, "response", None)
                error.retry_after = parse_retry_after(getattr(response, "headers", None))
            return error
    if isinstance(exc, OutputParserException):
        return InvalidChainOutput(_message(exc, secrets), model=model)
    return map_exception(exc, model=model, secrets=secrets)
