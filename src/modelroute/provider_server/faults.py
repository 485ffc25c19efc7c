"""Faults the provider server can inject into one chat-completion request.

Every fault is a frozen dataclass deriving from `Fault`. Each carries `delay`: seconds the server
waits after receiving the request and before sending anything (headers included). A fault applies to
exactly one request when it comes from a model's queue or an `X-Fault` header, and to every request
while it is a model's sticky default.

For a non-streaming request the JSON body is the one and only chunk: `SlowFirstToken` waits before
the headers, `StreamStall` stalls between the headers and the body, `StreamCut` sends the headers
and half the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Base of every fault.

    delay: seconds to wait before sending anything (headers included); 0 sends at once.
    """

    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {self.delay}")


@dataclass(frozen=True)
class Healthy(Fault):
    """No fault: the model's normal answer (after `delay` seconds, if set).

    Useful inside a fault queue, e.g. `[rate_limited(), Healthy(), rate_limited()]`.
    """


@dataclass(frozen=True)
class HttpError(Fault):
    """An HTTP error response.

    status: the HTTP status code (400-599 in practice).
    body: a JSON object (sent as JSON), a string (sent as-is) or None (OpenAI-style generic body).
    headers: extra response headers, e.g. `{"Retry-After": "2"}`.
    content_type: overrides the body's content type (e.g. "text/html" for a proxy's error page).
    echo_request_headers: add the request's headers (credentials included) to the error message, to
        test that a client scrubs what a provider echoes back. The request log never stores them.
    """

    status: int
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    echo_request_headers: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")


@dataclass(frozen=True)
class DropConnection(Fault):
    """Close the connection without sending any response.

    reset: send a TCP RST (abortive close) instead of a FIN.
    """

    reset: bool = False


@dataclass(frozen=True)
class NoResponse(Fault):
    """Hold the request open and send nothing until the client disconnects or the server stops.

    The request log records the client's disconnect.
    """


@dataclass(frozen=True)
class SlowFirstToken(Fault):
    """Send the headers at once, then wait `seconds` before the first chunk (time to first token).

    A non-streaming request waits `seconds` before its headers (on top of `delay`).
    """

    seconds: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {self.seconds}")


@dataclass(frozen=True)
class StreamCut(Fault):
    """Send `after_chunks` SSE events, then close the connection mid-body.

    Events are counted as sent: content chunks, the finish chunk, the usage chunk, `[DONE]`; a count
    past the end cuts just before the body's end. reset: abort with a TCP RST instead of a FIN.
    A non-streaming request gets its headers and the first half of its body before the cut.
    """

    after_chunks: int
    reset: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")


@dataclass(frozen=True)
class StreamStall(Fault):
    """Send `after_chunks` chunks, then keep the socket open and send nothing.

    seconds: how long the stall lasts before the stream resumes normally; None stalls until the
    client disconnects (recorded in the request log) or the server stops.
    """

    after_chunks: int
    seconds: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"seconds must be >= 0 or None, got {self.seconds}")


@dataclass(frozen=True)
class MalformedChunk(Fault):
    """Insert one SSE event whose data is not valid JSON after `after_chunks` chunks.

    The stream then goes on normally. A non-streaming request gets a malformed JSON body.
    """

    after_chunks: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")


@dataclass(frozen=True)
class NoDoneSentinel(Fault):
    """End a stream cleanly but without the final `data: [DONE]` event (non-streams: no effect)."""


@dataclass(frozen=True)
class MalformedJson(Fault):
    """Answer 200 with a body that is not valid JSON (a stream gets a malformed first chunk)."""


@dataclass(frozen=True)
class ContentOverride(Fault):
    """Answer 200 with this content instead of the scripted answer (tool calls are dropped).

    content: the text to send; "" for an empty answer, None for `"content": null`.
    finish_reason: overrides "stop" (e.g. "length", "content_filter"); None keeps "stop".
    """

    content: str | None
    finish_reason: str | None = None


@dataclass(frozen=True)
class OmitUsage(Fault):
    """Answer normally but without any `usage` block (also none in a stream with include_usage)."""


@dataclass(frozen=True)
class RejectPrefill(Fault):
    """Answer 400 when the last message has role "assistant" (a prefill); otherwise answer normally.

    The error body is `prefill_rejected_body()`'s OpenAI-style invalid_request_error.
    """
