"""Mid-stream recovery: finish a broken stream's answer on the next model (sans-IO).

When a route has `resume_streams` on and a stream breaks after text reached the caller,
the plan asks the next model to continue from that text: with the partial text as an
assistant prefill when the catalog says the model accepts one
(`ModelInfo.supports_assistant_prefill`), else with the partial text as an assistant turn
followed by a user message asking to continue exactly where it stopped. The caller's
stream goes on with the new model's chunks; a continuation that starts by repeating the
tail of the text already sent has that repeated head dropped (`repeated_prefix`). A model
that answers its prefilled continuation with a 400 is asked once more with the instruction
(`Resumption.refused_prefill`); the plan moves any other failed continuation to the next model.

Shared by the sync and async stream drivers through the plan and `StreamAttempt`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from modelroute.records import Segment
from modelroute.types import Message, Request, Response, StreamChunk

if TYPE_CHECKING:
    from modelroute.catalog import ModelInfo

CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped: do not repeat "
    "any of it, do not start over, add no preamble."
)
"""The user message sent after the partial answer to a model that takes no prefill."""

MIN_OVERLAP = 8
"""Shortest repeated head (characters) dropped at a join, unless it repeats the whole
partial text: shorter coincidences (a repeated word) are left alone."""


def continuation_request(request: Request, partial: str, *, prefill: bool) -> Request:
    """`request` extended to continue `partial` (the text the caller already received).

    `prefill`: end with an assistant message holding `partial`; else add that assistant
    message and a user message with `CONTINUE_INSTRUCTION`. The caller's request is not
    changed (a new `Request` is returned).
    """
    said = Message("assistant", partial)
    extra = (said,) if prefill else (said, Message("user", CONTINUE_INSTRUCTION))
    return replace(request, messages=(*request.messages, *extra))


def repeated_prefix(partial: str, continuation: str, min_overlap: int = MIN_OVERLAP) -> int:
    """How many leading characters of `continuation` repeat the end of `partial` (0..).

    The longest `k` such that `partial` ends with `continuation[:k]`, counted only when
    `k >= min_overlap` or `k == len(partial)` (the model started over); else 0.

    >>> repeated_prefix("The sky is blue and the ", "blue and the sea is green")
    13
    >>> repeated_prefix("The sky is blue ", "and the sea")
    0
    """
    for k in range(min(len(partial), len(continuation)), 0, -1):
        if (k >= min_overlap or k == len(partial)) and partial.endswith(continuation[:k]):
            return k
    return 0


def _could_grow(partial: str, head: str) -> bool:
    """More text may still turn `head` into a longer repeat of `partial`'s end: `head`
    occurs in `partial` ending before its last character."""
    return partial.find(head, 0, len(partial) - 1) != -1


class OverlapTrim:
    """Drops the repeated head of one continuation stream, chunk by chunk.

    Chunks are held back only while the text so far could still be a repeat of the end of
    `partial`; then the longest repeat (`repeated_prefix`) is cut from the held chunks and
    everything after passes through unchanged.
    """

    def __init__(self, partial: str) -> None:
        self.partial = partial
        self.dropped = 0  # characters cut, once decided
        self._held: list[StreamChunk] = []
        self._head = ""  # the held chunks' text
        self._decided = not partial

    def feed(self, chunk: StreamChunk) -> list[StreamChunk]:
        """Take one chunk; return the chunks that may go on now (possibly none)."""
        if self._decided:
            return [chunk]
        self._held.append(chunk)
        self._head += chunk.text
        if chunk.tool_calls or not _could_grow(self.partial, self._head):
            return self.flush()
        return []

    def flush(self) -> list[StreamChunk]:
        """Decide now (the stream ended): the held chunks without the repeated head."""
        if self._decided:
            return []
        self._decided = True
        held, self._held = self._held, []
        drop = self.dropped = repeated_prefix(self.partial, self._head)
        out = []
        for chunk in held:
            cut = min(drop, len(chunk.text))
            drop -= cut
            out.append(replace(chunk, text=chunk.text[cut:]) if cut else chunk)
        return out


class Resumption:
    """One request's resumed stream: the text the caller received so far, and who wrote it.

    Owned by the `Plan`; `request` is the caller's original request.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        self.text = ""
        self.segments: list[Segment] = []
        self._no_prefill: set[str] = set()  # models that refused a prefilled continuation

    def add(self, model: str, attempt: int, text: str) -> None:
        """Attempt `attempt` of `model` delivered `text` (after the text so far)."""
        start = len(self.text)
        self.text += text
        self.segments.append(Segment(model, attempt, start, len(self.text)))

    def stopped(self, model: str, attempt: int, text: str) -> None:
        """The caller stopped the stream (cancelled, closed) while attempt `attempt` of
        `model` was continuing it, after receiving `text` from it ("" adds no segment)."""
        if text:
            self.add(model, attempt, text)

    @property
    def by_several_models(self) -> bool:
        """More than one model wrote the text the caller received: the answer was resumed,
        whether it then ended answered, interrupted or cancelled."""
        return len({s.model for s in self.segments if s.end > s.start}) > 1

    def request_for(self, model: ModelInfo) -> Request:
        """The continuation request for `model`: a prefill when the catalog says it accepts
        one and it has not refused one in this request, else the continue instruction."""
        prefill = model.supports_assistant_prefill and model.name not in self._no_prefill
        return continuation_request(self.request, self.text, prefill=prefill)

    def refused_prefill(self, model: ModelInfo) -> bool:
        """`model` answered its continuation with a 400 (`bad_request`): True when that
        continuation was a prefill, which is then taken as the cause, so `request_for` asks
        `model` with the continue instruction from now on; False when it had already been
        asked without a prefill (the 400 has another cause)."""
        if not model.supports_assistant_prefill or model.name in self._no_prefill:
            return False
        self._no_prefill.add(model.name)
        return True

    def joined(self, response: Response) -> Response:
        """`response` (one continuation's own answer) with the text so far in front."""
        return replace(response, text=self.text + response.text)
