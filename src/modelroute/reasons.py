"""The closed set of reasons a model was skipped, retried or fallen back from."""

from __future__ import annotations

from enum import StrEnum


class FallbackReason(StrEnum):
    """Why an attempt did not produce the final answer (or why a model was skipped).

    Invalid output carries the validator's name after a colon, e.g.
    `invalid_output:json_schema`; `FallbackReason.invalid_output("json_schema")` builds it.
    """

    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # 5xx and overloaded
    CONNECTION = "connection"
    AUTH = "auth"
    CONTEXT_WINDOW = "context_window"
    CONTENT_FILTER = "content_filter"
    MODEL_NOT_FOUND = "model_not_found"  # 404/410: retired or renamed model
    ENDPOINT_NOT_FOUND = "endpoint_not_found"  # a bare 404 page: wrong base URL or path
    BAD_REQUEST = "bad_request"  # the caller's own 400: terminal
    INVALID_OUTPUT = "invalid_output"
    CIRCUIT_OPEN = "circuit_open"
    CAPABILITY = "capability"  # model lacks tools/vision/json schema/context window
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    STREAM_STALLED = "stream_stalled"
    STREAM_INTERRUPTED = "stream_interrupted"
    DEADLINE = "deadline"  # the whole-request deadline ran out
    BUDGET_EXCEEDED = "budget_exceeded"  # a USD budget refused the call before it was made
    RATE_LIMIT = "rate_limit"  # our own rate limit (e.g. `rate_limit:rpm`), not the provider's
    CANCELLED = "cancelled"
    VERIFIER_REJECTED = "verifier_rejected"  # the verifier model judged the answer wrong
    UNKNOWN = "unknown"

    @staticmethod
    def invalid_output(validator: str) -> str:
        """`invalid_output:<validator>`, the reason string of a failed validator."""
        return f"{FallbackReason.INVALID_OUTPUT.value}:{validator}"

    @staticmethod
    def class_of(reason: str) -> FallbackReason:
        """The enum member of a reason string (drops a `:<validator>` suffix)."""
        return FallbackReason(reason.split(":", 1)[0])


TERMINAL_REASONS = frozenset({FallbackReason.BAD_REQUEST})
"""Reasons that stop the request at once: another model would fail the same way."""

TRANSIENT_REASONS = frozenset(
    {
        FallbackReason.RATE_LIMITED,
        FallbackReason.TIMEOUT,
        FallbackReason.UNAVAILABLE,
        FallbackReason.CONNECTION,
        FallbackReason.FIRST_TOKEN_TIMEOUT,
        FallbackReason.STREAM_STALLED,
    }
)
"""Reasons where retrying the same model after a backoff may succeed."""

BREAKER_REASONS = frozenset(
    {
        FallbackReason.RATE_LIMITED,
        FallbackReason.TIMEOUT,
        FallbackReason.UNAVAILABLE,
        FallbackReason.CONNECTION,
        FallbackReason.AUTH,
        FallbackReason.MODEL_NOT_FOUND,
        FallbackReason.ENDPOINT_NOT_FOUND,
        FallbackReason.FIRST_TOKEN_TIMEOUT,
        FallbackReason.STREAM_STALLED,
        FallbackReason.STREAM_INTERRUPTED,
    }
)
"""Failures that count against a model's circuit breaker (the model's fault, not the
caller's: a 400, a context-window overflow or a content filter never opens a breaker)."""
