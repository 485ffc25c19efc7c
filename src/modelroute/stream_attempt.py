"""Sans-IO bookkeeping of one streamed attempt, shared by the sync and async stream drivers.

Chunks are held back until the first one with visible content (non-whitespace text or a
tool call): until then the stream can still fall back without the caller seeing
anything, so an empty or whitespace-only stream is rejected whole. After that the stream
is *committed*: a later failure raises `StreamInterrupted` instead of falling back, or,
when the route resumes streams, continues on the next model: that attempt's chunks first
pass an `OverlapTrim`, which drops a repeat of the text the caller already has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelroute.errors import FirstTokenTimeout, ProviderError, ProviderTimeout, StreamStalled
from modelroute.stream_resume import OverlapTrim
from modelroute.types import Response, StreamChunk, Usage

if TYPE_CHECKING:
    from modelroute.plan import Action, Call, Plan


class StreamAttempt:
    """Collects one attempt's chunks and reports the outcome to the plan."""

    def __init__(self, plan: Plan, call: Call) -> None:
        self.plan = plan
        self.call = call
        self.committed = False
        self._held: list[StreamChunk] = []
        self._text: list[str] = []
        self._released: list[str] = []
        self._tool_calls: list[dict[str, object]] = []
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._model: str | None = None
        self._first_at: float | None = None
        resumed = plan.resumed_text
        self._trim = OverlapTrim(resumed) if resumed else None

    @property
    def wait_limit_s(self) -> float | None:
        """How long the driver may wait for the next chunk (seconds, None = no limit).

        Never past the request's deadline: chunks that each arrive within the stall limit
        must not stretch the stream beyond it."""
        timeouts = self.plan.route.timeouts
        limit = timeouts.first_token_s if self._first_at is None else timeouts.stall_s
        if limit is None:
            limit = self.call.timeout_s
        elif self.call.timeout_s is not None:
            limit = min(limit, self.call.timeout_s)
        left = self._deadline_left()
        return left if limit is None or (left is not None and left < limit) else limit

    def _deadline_left(self) -> float | None:
        deadline = self.plan.route.timeouts.deadline_s
        if deadline is None:
            return None
        return max(0.0, self.plan.started_at + deadline - self.plan.clock.now())

    def timed_out(self) -> ProviderError:
        """The error for a wait that exceeded `wait_limit_s`."""
        name = self.call.model.name
        if self._deadline_left() == 0.0:
            return ProviderTimeout("request deadline passed during the stream", model=name)
        if self._first_at is None:
            return FirstTokenTimeout("no first token in time", model=name)
        return StreamStalled("stream stalled between chunks", model=name)

    def feed(self, chunk: StreamChunk) -> list[StreamChunk]:
        """Take one chunk; return the chunks the caller may see now (possibly none)."""
        if self._trim is None:
            return self._take(chunk)
        return [out for trimmed in self._trim.feed(chunk) for out in self._take(trimmed)]

    def _take(self, chunk: StreamChunk) -> list[StreamChunk]:
        if (chunk.text or chunk.tool_calls) and self._first_at is None:
            self._first_at = self.plan.clock.now()
        self._text.append(chunk.text)
        self._tool_calls.extend(chunk.tool_calls)
        self._finish_reason = chunk.finish_reason or self._finish_reason
        self._usage = chunk.usage or self._usage
        self._model = chunk.model or self._model
        self._held.append(chunk)
        if not self.committed and (chunk.text.strip() or chunk.tool_calls):
            self.committed = True
        return self._release() if self.committed else []

    def _release(self) -> list[StreamChunk]:
        out, self._held = self._held, []
        self._released.extend(c.text for c in out)
        return [c for c in out if c.text or c.tool_calls or c.usage or c.finish_reason]

    @property
    def ttft_s(self) -> float | None:
        """Time to first token of this attempt, seconds."""
        return None if self._first_at is None else self._first_at - self.call.started_at

    def partial(self) -> Response | None:
        """What arrived so far, for a stream the caller stopped (None before any chunk)."""
        if not self._text:  # one entry per chunk fed
            return None
        return Response(
            text="".join(self._text),
            model=self._model,
            usage=self._usage,
            tool_calls=tuple(self._tool_calls),
        )

    def finish(self) -> tuple[Action, list[StreamChunk]]:
        """The stream ended normally: validate, and return the next action plus the chunks
        still held back (released only when the plan accepts the answer)."""
        early = [] if self._trim is None else [c for t in self._trim.flush() for c in self._take(t)]
        response = Response(
            text="".join(self._text),
            model=self._model,
            finish_reason=self._finish_reason,
            usage=self._usage,
            tool_calls=tuple(self._tool_calls),
        )
        action = self.plan.on_response(
            self.call, response, ttft_s=self.ttft_s, committed=self.committed
        )
        from modelroute.plan import Done

        return action, early + (self._release() if isinstance(action, Done) else [])

    def fail(self, error: ProviderError) -> Action:
        """The stream failed: report it, with the released text when committed (a stream
        that released a tool call cannot be resumed)."""
        partial = "".join(self._released) if self.committed else None
        return self.plan.on_error(
            self.call,
            error,
            ttft_s=self.ttft_s,
            partial_text=partial,
            resumable=not self._tool_calls,
        )
