"""Ready-made faults: provider errors with OpenAI's error body shape, and odd answers.

Error bodies have OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from typing import Any

from modelroute.provider_server.faults import ContentOverride, HttpError

REFUSAL_TEXT = "I'm sorry, but I can't help with that."
"""The refusal text `refusal()` answers with."""


def openai_error_body(
    message: str,
    type_: str | None,
    *,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An error body in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def rate_limited(retry_after: float | None = 1, *, delay: float = 0.0) -> HttpError:
    """429 `rate_limit_exceeded`; `Retry-After` header in seconds (omitted when None)."""
    headers = {} if retry_after is None else {"Retry-After": _seconds_text(retry_after)}
    body = openai_error_body(
        "Rate limit reached for requests. Please try again later.",
        "requests",
        code="rate_limit_exceeded",
    )
    return HttpError(429, body=body, headers=headers, delay=delay)


def server_error(status: int = 500, *, delay: float = 0.0) -> HttpError:
    """5xx `server_error` (500 by default) with OpenAI's generic message."""
    body = openai_error_body(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    )
    return HttpError(status, body=body, delay=delay)


def service_unavailable(*, delay: float = 0.0) -> HttpError:
    """503 `server_error`: the engine is overloaded."""
    body = openai_error_body(
        "The engine is currently overloaded, please try again later.", "server_error"
    )
    return HttpError(503, body=body, delay=delay)


def model_not_found(model: str | None = None, *, delay: float = 0.0) -> HttpError:
    """404 `invalid_request_error` with code `model_not_found`."""
    name = f"`{model}`" if model else "you requested"
    body = openai_error_body(
        f"The model {name} does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )
    return HttpError(404, body=body, delay=delay)


def model_deprecated(model: str | None = None, *, delay: float = 0.0) -> HttpError:
    """410 `invalid_request_error` with code `model_deprecated`."""
    name = f"`{model}`" if model else "you requested"
    body = openai_error_body(
        f"The model {name} has been deprecated and is no longer available.",
        "invalid_request_error",
        code="model_deprecated",
    )
    return HttpError(410, body=body, delay=delay)


def invalid_param(param: str = "temperature", *, delay: float = 0.0) -> HttpError:
    """400 `invalid_request_error` naming `param` (the caller's own error, code null)."""
    body = openai_error_body(f"Invalid value for '{param}'.", "invalid_request_error", param=param)
    return HttpError(400, body=body, delay=delay)


def context_length_exceeded(
    max_tokens: int = 4096, requested: int = 6000, *, delay: float = 0.0
) -> HttpError:
    """400 `invalid_request_error` with code `context_length_exceeded` (OpenAI's message)."""
    body = openai_error_body(
        f"This model's maximum context length is {max_tokens} tokens. However, your messages "
        f"resulted in {requested} tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        code="context_length_exceeded",
        param="messages",
    )
    return HttpError(400, body=body, delay=delay)


def content_filter(code: str = "content_filter", *, delay: float = 0.0) -> HttpError:
    """400 content-policy refusal of the prompt: `invalid_request_error`, code `content_filter`.

    Pass `code="content_policy_violation"` for the code OpenAI's own API uses.
    """
    body = openai_error_body(
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        "invalid_request_error",
        code=code,
        param="prompt",
    )
    return HttpError(400, body=body, delay=delay)


def auth_error(*, echo_request_headers: bool = False, delay: float = 0.0) -> HttpError:
    """401 `invalid_request_error` with code `invalid_api_key`."""
    body = openai_error_body(
        "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"
    )
    return HttpError(401, body=body, echo_request_headers=echo_request_headers, delay=delay)


def prefill_rejected_body() -> dict[str, Any]:
    """The 400 body `RejectPrefill` sends when the last message is from the assistant."""
    return openai_error_body(
        "This model does not support assistant message prefill. "
        "The conversation must end with a user message.",
        "invalid_request_error",
        param="messages",
    )


def empty_content(*, delay: float = 0.0) -> ContentOverride:
    """200 with `content: ""` and finish_reason "stop"."""
    return ContentOverride("", delay=delay)


def whitespace_content(*, delay: float = 0.0) -> ContentOverride:
    """200 whose content is whitespace only."""
    return ContentOverride(" \n\t ", delay=delay)


def null_content(*, delay: float = 0.0) -> ContentOverride:
    """200 with `content: null` and no tool calls."""
    return ContentOverride(None, delay=delay)


def refusal(*, delay: float = 0.0) -> ContentOverride:
    """200 whose content is the refusal text `REFUSAL_TEXT`."""
    return ContentOverride(REFUSAL_TEXT, delay=delay)


def status_fault(status: int, *, delay: float = 0.0) -> HttpError:
    """The usual error for an HTTP status: 400, 401, 404, 410, 429, 500 and 503 come from their
    helper above (429 with `Retry-After: 1`), other 5xx a `server_error`, anything else a generic
    `invalid_request_error`."""
    match status:
        case 400:
            return invalid_param(delay=delay)
        case 401:
            return auth_error(delay=delay)
        case 404:
            return model_not_found(delay=delay)
        case 410:
            return model_deprecated(delay=delay)
        case 429:
            return rate_limited(delay=delay)
        case 503:
            return service_unavailable(delay=delay)
    if status >= 500:
        return server_error(status, delay=delay)
    body = openai_error_body(f"Request failed with status {status}.", "invalid_request_error")
    return HttpError(status, body=body, delay=delay)


def default_error_body(status: int) -> dict[str, Any]:
    """The body an `HttpError` without a body sends: `status_fault(status)`'s body."""
    body = status_fault(status).body
    assert isinstance(body, dict)
    return body


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
