"""Time as an injected dependency: the real clock, and a fake one for tests.

All times are seconds (floats). `now()` is monotonic time, for deadlines, cooldowns and
latencies; `wall()` is epoch time, for records. Sleeping a negative duration sleeps 0 s.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of time and of sleeping. All values are seconds."""

    def now(self) -> float:
        """Monotonic time in seconds (only differences are meaningful)."""
        ...

    def wall(self) -> float:
        """Wall-clock time in seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds` seconds."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for `seconds` seconds."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `time.sleep` and `asyncio.sleep`."""

    # The C functions themselves rather than methods wrapping them: a request reads the
    # clock about seven times. `now()`: monotonic seconds; `wall()`: seconds since the epoch.
    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` seconds (negative counts as 0)."""
        time.sleep(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Suspend the task for `seconds` seconds (negative counts as 0)."""
        import asyncio  # lazily: `import modelroute` must not pay for asyncio

        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to. Thread-safe.

    `now()` starts at `start` and `wall()` at `wall_start` (seconds); both move together.
    `sleep` and `asleep` advance time at once and append the requested duration
    (seconds, negative counted as 0) to `sleeps`.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self._wall = wall_start
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Current fake monotonic time in seconds."""
        with self._lock:
            return self._now

    def wall(self) -> float:
        """Current fake epoch time in seconds."""
        with self._lock:
            return self._wall

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` seconds; time never goes backwards."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        with self._lock:
            self._now += seconds
            self._wall += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance time by it, without blocking."""
        seconds = max(0.0, seconds)
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds
            self._wall += seconds

    async def asleep(self, seconds: float) -> None:
        """Record the sleep and advance time by it; yields to the event loop once."""
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)
