"""The provider server's log of every chat-completion request it received (thread-safe).

This log, not a client's own bookkeeping, is the source of truth for "calls that reached model X".
A record is added as soon as the request's body has been read (before any fault delay), so calls
still in flight are counted.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelroute.provider_server.faults import Fault

_SECRET_MARKERS = ("auth", "key", "token", "secret", "cookie", "password")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    index: arrival order across all models (0, 1, 2, ...; not reset by `clear`).
    model: the body's `model` ("" when the body had none or was not JSON).
    stream: whether the body asked for `"stream": true`.
    messages: the body's `messages`, as received.
    body: the whole JSON body as received ({} when it was not a JSON object).
    headers: the request headers without credentials (no Authorization, API keys, tokens, cookies).
    fault: the fault applied, or None for a normal answer.
    status: the HTTP status sent, or None when no response started (dropped, held, in flight).
    received_at: time.monotonic() when the request was read, in seconds.
    finished_at: time.monotonic() when the server was done with it; None while in flight.
    disconnected: the client went away before the response was complete.
    """

    index: int
    model: str
    stream: bool
    messages: tuple[Any, ...]
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    fault: Fault | None
    status: int | None
    received_at: float
    finished_at: float | None
    disconnected: bool

    @property
    def in_flight(self) -> bool:
        """True while the server is still handling the request."""
        return self.finished_at is None


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` without any that may carry a credential (judged by name)."""
    return {
        name: value
        for name, value in headers.items()
        if not any(marker in name.lower() for marker in _SECRET_MARKERS)
    }


class RequestLog:
    """Records of every request, in arrival order; safe to read from any thread."""

    def __init__(self) -> None:
        self._records: dict[int, RequestRecord] = {}
        self._ids = itertools.count()
        self._changed = threading.Condition()

    def begin(
        self,
        *,
        model: str,
        stream: bool,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        fault: Fault | None,
    ) -> int:
        """Add the record of a request just received; returns its index."""
        messages = body.get("messages")
        with self._changed:
            index = next(self._ids)
            self._records[index] = RequestRecord(
                index=index,
                model=model,
                stream=stream,
                messages=tuple(messages) if isinstance(messages, list) else (),
                body=body,
                headers=public_headers(headers),
                fault=fault,
                status=None,
                received_at=time.monotonic(),
                finished_at=None,
                disconnected=False,
            )
            self._changed.notify_all()
        return index

    def set_status(self, index: int, status: int) -> None:
        """Note the status of the response the server started sending."""
        self._update(index, status=status)

    def finish(self, index: int, *, disconnected: bool) -> None:
        """Mark a request done; `disconnected` if the client left before the response ended."""
        self._update(index, finished_at=time.monotonic(), disconnected=disconnected)

    def records(self, model: str | None = None) -> list[RequestRecord]:
        """The records, oldest first; only `model`'s when given."""
        with self._changed:
            return [r for r in self._records.values() if model is None or r.model == model]

    def count(self, model: str) -> int:
        """How many requests for `model` were received."""
        return len(self.records(model))

    def clear(self) -> None:
        """Forget every record (requests in flight are no longer tracked)."""
        with self._changed:
            self._records.clear()
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[list[RequestRecord]], bool], timeout: float) -> bool:
        """Block until `predicate(all records)` is true or `timeout` seconds pass; returns it."""
        with self._changed:
            return self._changed.wait_for(
                lambda: predicate(list(self._records.values())), timeout=timeout
            )

    def _update(self, index: int, **changes: Any) -> None:
        with self._changed:
            record = self._records.get(index)
            if record is not None:
                self._records[index] = dataclasses.replace(record, **changes)
                self._changed.notify_all()
