"""Map LiteLLM and openai exceptions into modelroute's `ProviderError` tree.

`map_exception(exc, model=...)` returns (never raises) the `ProviderError` subclass for an
exception raised by `litellm.completion` / `litellm.acompletion` or while iterating their
streams. Classes are checked most specific first (in LiteLLM, `ContextWindowExceededError`
and `ContentPolicyViolationError` subclass `BadRequestError`; `openai.APITimeoutError`
subclasses `openai.APIConnectionError`), then the HTTP status, then the error body's code:

| LiteLLM / openai exception (or status, body code)                  | modelroute error        |
|--------------------------------------------------------------------|-------------------------|
| `MidStreamFallbackError` (stream cut, no finish_reason)            | StreamBroken (*)        |
| `Timeout` / `APITimeoutError`, `TimeoutError`                      | ProviderTimeout         |
| `APIConnectionError`; a "Connection error." 500 with no response   | ProviderConnectionError |
| `RateLimitError`, 429                                              | RateLimited             |
| `ContextWindowExceededError`, code `context_length_exceeded`       | ContextWindowExceeded   |
| `ContentPolicyViolationError`, code `content_filter` /             | ContentFiltered         |
| `content_policy_violation`                                         |                         |
| `AuthenticationError`, `PermissionDeniedError`, 401, 403           | AuthenticationFailed    |
| `NotFoundError`, 404, 410                                          | ModelNotFound           |
| a 404 with no provider error body (an HTML or bare "Not Found")    | ProviderError, reason   |
|                                                                    | `endpoint_not_found`    |
| `BadRequestError` / `UnprocessableEntityError` with 400 or 422     | BadRequest              |
| a request the client cannot encode (`UnicodeEncodeError` under it, | BadRequest              |
| e.g. a lone surrogate), with no HTTP answer                        |                         |
| `ServiceUnavailableError`, `InternalServerError`,                  | ProviderUnavailable     |
| `BadGatewayError`, any 5xx                                         |                         |
| anything else (e.g. 402, 409, malformed answers)                   | ProviderError           |

(*) unless the stream's underlying error maps to a more specific class (rate limit, auth...).
`RateLimited.retry_after` is read from the response's `retry-after-ms` (milliseconds) or
`Retry-After` (seconds or an HTTP date) header, in seconds. Messages are scrubbed of API keys
and authorization headers (a provider may echo them) and cut to 500 characters.
"""

from __future__ import annotations

import email.utils
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
from modelroute.reasons import FallbackReason

MAX_MESSAGE_CHARS = 500
"""Longest error message kept (characters)."""

CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
"""Error-body codes that mean the provider's content policy refused the request."""

CONTEXT_WINDOW_CODES = frozenset({"context_length_exceeded"})
"""Error-body codes that mean the input does not fit the context window."""

_REDACTED = "***"
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;}\]]+"), f"Bearer {_REDACTED}"),
    (
        re.compile(
            r"(?i)((?:authorization|proxy-authorization|x-api-key|api[-_]?key)"
            r"[\"']?\s*[:=]\s*[\"']?)(?!Bearer\b)(?:Basic\s+)?[^\s\"',;}\]]+"
        ),
        rf"\g<1>{_REDACTED}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{3,}"), f"sk-{_REDACTED}"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret, bearer token, `sk-...` key and `Authorization`/`api-key`
    value (a Basic credential included) replaced by `***`. Secrets shorter than 4 characters
    are ignored."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from `retry-after-ms` (milliseconds) or `Retry-After` (seconds, or an
    HTTP date relative to `now`, epoch seconds). None when absent or unreadable; never < 0."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def map_exception(
    exc: BaseException, *, model: str | None = None, secrets: Iterable[str] = ()
) -> ProviderError:
    """The `ProviderError` for `exc` (see the module table). A `ProviderError` is returned as is.

    `model` is the modelroute model name put on the error; `secrets` are strings (API keys)
    removed from the message. The result keeps `status_code` when there was an HTTP answer.
    """
    if isinstance(exc, ProviderError):
        return exc
    secrets = tuple(secrets)
    status = _status_of(exc)

    def build(
        cls: type[ProviderError],
        status_code: int | None = status,
        cause: BaseException | None = None,
    ) -> ProviderError:
        message = _message(exc, status_code, secrets, cause)
        return cls(message, model=model, status_code=status_code)

    if _is_named(exc, "MidStreamFallbackError"):
        return _map_mid_stream(exc, model=model, secrets=secrets)
    unencodable = next((e for e in _chain(exc) if isinstance(e, UnicodeEncodeError)), None)
    if unencodable is not None and not _has_http_answer(exc):
        # the client could not encode the request (a lone surrogate): nothing was sent, and
        # every model would fail alike, so it is the caller's bad request, not an outage
        text = scrub(f"request not sent, it cannot be encoded: {unencodable}", secrets)
        return BadRequest(text[:MAX_MESSAGE_CHARS], model=model)
    if _is_timeout(exc):
        return build(ProviderTimeout, status if _has_http_answer(exc) else None)
    if _is_connection_error(exc):
        return build(ProviderConnectionError, None)
    if not _has_http_answer(exc) and _is_server_error_class(exc):
        # LiteLLM reports a dropped connection, or an answer it could not parse, as a
        # synthesized 500 with no HTTP answer behind it: look at what lies underneath.
        kind, cause = _transport_cause(exc)
        if kind == "timeout":
            return build(ProviderTimeout, None, cause)
        if kind == "connection":
            return build(ProviderConnectionError, None, cause)
        return build(ProviderUnavailable, None)

    code = _error_code(exc)
    if _is_named(exc, "RateLimitError") or status == 429:
        error = build(RateLimited)
        error.retry_after = parse_retry_after(_headers_of(exc))
        return error
    if _is_named(exc, "ContextWindowExceededError") or code in CONTEXT_WINDOW_CODES:
        return build(ContextWindowExceeded)
    if _is_named(exc, "ContentPolicyViolationError") or code in CONTENT_FILTER_CODES:
        return build(ContentFiltered)
    if (
        _is_named(exc, "AuthenticationError", "PermissionDeniedError")
        and status in (None, 401, 403)
    ) or status in (401, 403):
        return build(AuthenticationFailed)
    if (_is_named(exc, "NotFoundError") and status in (None, 404)) or status in (404, 410):
        if status == 404 and _is_bare_not_found(exc):
            # a web server's own 404 page, not a provider's answer: wrong base URL or path
            error = build(ProviderError)
            error.reason = FallbackReason.ENDPOINT_NOT_FOUND
            return error
        return build(ModelNotFound)
    if status in (400, 422) or (
        status is None and _is_named(exc, "BadRequestError", "UnprocessableEntityError")
    ):
        return build(BadRequest)
    if (status is not None and status >= 500) or _is_server_error_class(exc):
        return build(ProviderUnavailable)
    return build(ProviderError)


def _map_mid_stream(
    exc: BaseException, *, model: str | None, secrets: tuple[str, ...]
) -> ProviderError:
    """LiteLLM's `MidStreamFallbackError`: the stream broke (cut, malformed chunk, no
    finish_reason). StreamBroken, unless the underlying error is more specific."""
    original = getattr(exc, "original_exception", None)
    if isinstance(original, BaseException) and original is not exc:
        inner = map_exception(original, model=model, secrets=secrets)
        if not isinstance(inner, (ProviderConnectionError, ProviderUnavailable)) and (
            type(inner) is not ProviderError
        ):
            return inner
    message = _message(exc, None, secrets, None)
    return StreamBroken(message, model=model, status_code=None)


def _mro_names(exc: BaseException) -> Iterator[str]:
    for cls in type(exc).__mro__:
        module = cls.__module__.split(".")[0]
        if module in ("litellm", "openai"):
            yield cls.__name__


def _is_named(exc: BaseException, *names: str) -> bool:
    """`exc` is an instance of a LiteLLM or openai exception class with one of `names`.

    Matching names along the MRO avoids importing LiteLLM here and covers both libraries'
    classes (LiteLLM's subclass openai's)."""
    wanted = set(names)
    return any(name in wanted for name in _mro_names(exc))


def _is_timeout(exc: BaseException) -> bool:
    if _is_named(exc, "APITimeoutError", "Timeout"):
        return True
    if isinstance(exc, TimeoutError):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TimeoutException)


def _is_connection_error(exc: BaseException) -> bool:
    if _is_named(exc, "APIConnectionError"):
        return True
    if isinstance(exc, ConnectionError):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


def _is_server_error_class(exc: BaseException) -> bool:
    return _is_named(exc, "ServiceUnavailableError", "InternalServerError", "BadGatewayError")


def _chain(exc: BaseException, limit: int = 10) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < limit:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_cause(exc: BaseException) -> tuple[str | None, BaseException | None]:
    """The kind ("timeout" or "connection") and the deepest transport exception under `exc`
    (LiteLLM wraps a dropped connection in a synthesized 500 `InternalServerError`), or
    (None, None) when there is none."""
    kind: str | None = None
    cause: BaseException | None = None
    for inner in list(_chain(exc))[1:]:
        if _is_timeout(inner):
            kind, cause = kind or "timeout", inner
        elif _is_connection_error(inner):
            kind, cause = kind or "connection", inner
    return kind, cause


def _response_of(exc: BaseException) -> Any:
    try:
        return getattr(exc, "response", None)
    except Exception:
        return None


def _has_http_answer(exc: BaseException) -> bool:
    """The provider answered with an HTTP error (a response with headers or a body)."""
    response = _response_of(exc)
    if response is None:
        return False
    try:
        return bool(response.headers) or bool(response.content)
    except Exception:
        return False


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    response = _response_of(exc)
    if response is not None and _has_http_answer(exc):
        real = getattr(response, "status_code", None)
        if isinstance(real, int) and real >= 400:
            return real
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return None


def _headers_of(exc: BaseException) -> dict[str, str]:
    headers: dict[str, str] = {}
    for source in (
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
        getattr(_response_of(exc), "headers", None),
    ):
        if source is None:
            continue
        try:
            for key, value in source.items():
                headers[str(key).lower()] = str(value)
        except Exception:
            continue
    return headers


def _body_of(exc: BaseException) -> Mapping[str, Any] | None:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        return body
    response = _response_of(exc)
    if response is None:
        return None
    try:
        data = json.loads(response.content or b"null")
    except Exception:
        return None
    return data if isinstance(data, Mapping) else None


def _error_fields(exc: BaseException) -> Mapping[str, Any]:
    body = _body_of(exc)
    if body is None:
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else body


_BARE_NOT_FOUND = frozenset({"not found", "404 not found", "404 page not found", "404"})


def _is_bare_not_found(exc: BaseException) -> bool:
    """A 404 without a provider's error body: not JSON (an HTML page, plain text, nothing),
    or JSON saying only "Not Found" (`{"detail": "Not Found"}`), so no model was judged."""
    if not _has_http_answer(exc):
        return False
    body = _body_of(exc)
    if body is None:
        return True
    fields = _error_fields(exc)
    if fields.get("code") or fields.get("type"):
        return False
    text = fields.get("message", fields.get("detail", body.get("detail")))
    return isinstance(text, str) and text.strip().lower() in _BARE_NOT_FOUND


def _error_code(exc: BaseException) -> str | None:
    code = _error_fields(exc).get("code")
    return str(code) if code is not None else None


_WRAPPER_PREFIX = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]+(?:Error|Exception|Timeout): |\w+ - )+")


def _bare(exc: BaseException) -> str:
    """str(exc) without LiteLLM's stacked class-name prefixes."""
    return _WRAPPER_PREFIX.sub("", str(exc)).strip() or type(exc).__name__


def _message(
    exc: BaseException, status: int | None, secrets: tuple[str, ...], cause: BaseException | None
) -> str:
    fields = _error_fields(exc)
    provider_message = fields.get("message")
    if isinstance(provider_message, str) and provider_message:
        text = provider_message
        code = fields.get("code") or fields.get("type")
        if code:
            text = f"{text} (code: {code})"
    else:
        text = _bare(exc)
    if cause is not None:
        text = f"{text} ({type(cause).__name__}: {_bare(cause)})"
    prefix = type(exc).__name__
    if status is not None:
        prefix = f"{prefix} {status}"
    text = scrub(f"{prefix}: {text}", secrets)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text
