"""The daemon threads that run a router's sync shadow copies (see `modelroute.shadow`).

A `concurrent.futures.ThreadPoolExecutor` would do, but its threads are joined when the
interpreter exits, so a copy stuck on a slow provider would hold the caller's process
open. These threads are daemons: exit does not wait for them (`ShadowRunner` bounds the
wait with its own `atexit` hook).
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from collections.abc import Callable

Job = tuple[concurrent.futures.Future[None], Callable[[], None]]


class DaemonPool:
    """Runs submitted jobs on up to `max_workers` daemon threads named `name`.

    Threads start on demand; one idle for `idle_s` seconds exits (a new job starts it
    again), so a router dropped by its owner leaves no thread behind for long.
    Raises ValueError for `max_workers` < 1 or `idle_s` <= 0.
    """

    def __init__(self, max_workers: int, name: str, *, idle_s: float = 5.0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if idle_s <= 0:
            raise ValueError(f"idle_s must be > 0 seconds, got {idle_s}")
        self.max_workers = max_workers
        self.name = name
        self.idle_s = idle_s
        self._jobs: collections.deque[Job] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._threads = 0
        self._idle = 0  # threads waiting for a job

    @property
    def threads(self) -> int:
        """Worker threads alive now."""
        with self._ready:
            return self._threads

    def submit(self, fn: Callable[[], None]) -> concurrent.futures.Future[None]:
        """Queue `fn`; its future ends with its result or exception, or is cancelled."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._ready:
            self._jobs.append((future, fn))
            if len(self._jobs) > self._idle and self._threads < self.max_workers:
                self._threads += 1
                name = f"{self.name}-{self._threads}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
            self._ready.notify()
        return future

    def _next(self) -> Job | None:
        """The next job, or None when none came for `idle_s` (the thread then ends)."""
        with self._ready:
            while not self._jobs:
                self._idle += 1
                woken = self._ready.wait(self.idle_s)
                self._idle -= 1
                if not woken and not self._jobs:
                    self._threads -= 1
                    return None
            return self._jobs.popleft()

    def _work(self) -> None:
        while (job := self._next()) is not None:
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued (e.g. dropped at exit)
            try:
                fn()
            except BaseException as exc:  # handed to the future, as the executor does
                future.set_exception(exc)
            else:
                future.set_result(None)
