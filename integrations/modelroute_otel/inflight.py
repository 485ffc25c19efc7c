"""A bounded, thread-safe map of the requests a tracer is following, keyed by request id.

A request normally leaves the map when it finishes (cancelled ones included: the engine
reports them). If one never reports its end (a stream nobody closes or collects), the
map still cannot grow without bound: past `limit` entries the oldest is evicted and
handed to `on_evict`, which ends its spans.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    """Request id -> per-request state, at most `limit` entries (oldest evicted first)."""

    def __init__(self, limit: int, on_evict: Callable[[T], None]) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self._on_evict = on_evict
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, value: T) -> None:
        """Add `value`; evicts (and reports) the oldest entries past the limit."""
        evicted: list[T] = []
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.limit:
                evicted.append(self._items.pop(next(iter(self._items))))
        for old in evicted:  # outside the lock: ending spans may call exporters
            self._on_evict(old)

    def get(self, key: str) -> T | None:
        """The state of `key`, or None."""
        return self._items.get(key)

    def pop(self, key: str) -> T | None:
        """Remove and return the state of `key`, or None."""
        with self._lock:
            return self._items.pop(key, None)
