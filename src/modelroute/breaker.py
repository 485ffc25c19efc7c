"""Circuit breakers: a pure state machine per model, asked before a call and told after.

The breaker never wraps the call: a caller asks `try_acquire(now)`, makes the call itself,
then reports `on_success`/`on_failure`/`release` with its `Admission`. The lock is held only
inside these methods. Times are seconds on the caller's monotonic clock.

Late reports: a normal call's report counts only while the breaker is still in the closed
period that admitted it; a probe's only while that probe is in flight in the current
half-open period. Others are ignored: a success while open does not close the breaker, a
failure while open or half-open neither extends nor re-opens it, a repeated report is a no-op.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from modelroute.records import BreakerTransition

TransitionHook = Callable[[BreakerTransition], None]
"""Receives every breaker transition; its exceptions are logged, never raised."""

_KEEP_TRANSITIONS = 100


class BreakerState(StrEnum):
    """A breaker's state: closed admits all, open none, half_open a bounded few probes."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker opens and how it recovers. Durations are seconds.

    It opens after `failure_threshold` consecutive failures, or (when `failure_rate` is set)
    when at least `min_calls` calls in the last `window_s` seconds failed at that rate or more.
    It stays open `cooldown_s`, or as long as a failure's Retry-After when that is longer and
    `honour_retry_after` is set, capped at `max_cooldown_s`. Then it half-opens: at most
    `half_open_max_probes` probes in flight; `success_threshold` probe successes close it, one
    probe failure re-opens it with a fresh cooldown. A probe neither reported nor released
    within `probe_lease_s` seconds frees its slot (None: never), so a lost report cannot keep
    the model shut out forever.
    """

    failure_threshold: int = 5
    failure_rate: float | None = None
    window_s: float = 60.0
    min_calls: int = 10
    cooldown_s: float = 30.0
    max_cooldown_s: float = 600.0
    honour_retry_after: bool = True
    half_open_max_probes: int = 1
    success_threshold: int = 1
    probe_lease_s: float | None = 600.0

    def __post_init__(self) -> None:
        rate, lease = self.failure_rate, self.probe_lease_s
        checks = (
            ("failure_threshold", self.failure_threshold >= 1, ">= 1"),
            ("failure_rate", rate is None or 0.0 < rate <= 1.0, "in (0, 1] or None"),
            ("window_s", self.window_s > 0, "> 0"),
            ("min_calls", self.min_calls >= 1, ">= 1"),
            ("cooldown_s", self.cooldown_s >= 0, ">= 0"),
            (
                "max_cooldown_s",
                self.max_cooldown_s >= self.cooldown_s,
                f">= cooldown_s ({self.cooldown_s})",
            ),
            ("half_open_max_probes", self.half_open_max_probes >= 1, ">= 1"),
            ("success_threshold", self.success_threshold >= 1, ">= 1"),
            ("probe_lease_s", lease is None or lease > 0, "> 0 or None"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"BreakerConfig.{name} must be {rule}, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to `try_acquire`; hand it back to `on_success`/`on_failure`/`release`.

    `probe` marks a half-open probe. `retry_at` (clock seconds) is when an open breaker will
    admit a probe (None otherwise). `ticket` ties the report to this admission (0 if refused).
    """

    allowed: bool
    probe: bool
    state: BreakerState
    retry_at: float | None = None
    ticket: int = 0


_new = object.__new__
_set = object.__setattr__


def _admitted(ticket: int) -> Admission:
    """`Admission(True, False, BreakerState.CLOSED, None, ticket)`, built field by field: the
    admission of every call to a closed breaker, so once or more per request."""
    admission: Admission = _new(Admission)
    _set(admission, "allowed", True)
    _set(admission, "probe", False)
    _set(admission, "state", BreakerState.CLOSED)
    _set(admission, "retry_at", None)
    _set(admission, "ticket", ticket)
    return admission


class CircuitBreaker:
    """The breaker of one model. Thread-safe; every method takes `now` in clock seconds."""

    def __init__(
        self, model: str, config: BreakerConfig, on_transition: TransitionHook | None = None
    ) -> None:
        self.model = model
        self.config = config
        self._hook = on_transition
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._next_ticket = 1
        self._period_start = 1  # first ticket issued in the current state
        self._failures = 0  # consecutive failures while closed
        self._window: deque[tuple[float, bool]] = deque()  # (at, failed), rate mode only
        self._window_failures = 0
        self._open_until: float | None = None
        self._probes: dict[int, float] = {}  # ticket -> admitted at, probes in flight
        self._probe_successes = 0
        self._transitions: deque[BreakerTransition] = deque(maxlen=_KEEP_TRANSITIONS)
        self._pending: list[BreakerTransition] = []  # made under the lock, emitted after

    @property
    def transitions(self) -> list[BreakerTransition]:
        """The last 100 transitions, oldest first."""
        with self._lock:
            return list(self._transitions)

    def try_acquire(self, now: float) -> Admission:
        """Ask to call the model now; half-opens an open breaker whose cooldown is over."""
        with self._lock:
            if self._state is BreakerState.CLOSED:  # the common case: no transition to emit
                ticket = self._next_ticket
                self._next_ticket = ticket + 1
                return _admitted(ticket)
            admission = self._acquire(now)
            emitted = self._take_pending()
        if emitted:
            self._emit(emitted)
        return admission

    def on_success(self, now: float, admission: Admission) -> None:
        """Report that the admitted call succeeded."""
        with self._lock:
            if admission.probe:
                if self._probes.pop(admission.ticket, None) is not None:
                    self._probe_successes += 1
                    if self._probe_successes >= self.config.success_threshold:
                        self._move(BreakerState.CLOSED, now, "probe_succeeded")
            elif self._counts(admission):
                self._failures = 0
                if self.config.failure_rate is not None:
                    self._record(now, failed=False)
                return  # a counted success in the closed state makes no transition
            emitted = self._take_pending()
        if emitted:
            self._emit(emitted)

    def on_failure(
        self, now: float, admission: Admission, retry_after_s: float | None = None
    ) -> None:
        """Report a failure by the model's fault; `retry_after_s`: its Retry-After (seconds)."""
        with self._lock:
            if admission.probe:
                if self._probes.pop(admission.ticket, None) is not None:
                    self._open(now, "probe_failed", retry_after_s)
            elif self._counts(admission):
                self._failures += 1
                self._record(now, failed=True)
                reason = self._trip_reason()
                if reason is not None:
                    self._open(now, reason, retry_after_s)
            emitted = self._take_pending()
        if emitted:
            self._emit(emitted)

    def release(self, admission: Admission) -> None:
        """End a call with no verdict on the model (cancelled, caller's 400): frees a probe."""
        with self._lock:
            if admission.probe:
                self._probes.pop(admission.ticket, None)

    def state_at(self, now: float) -> BreakerState:
        """The state a call at `now` would find (read-only: an expired open reads half_open)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooldown_over(now):
                return BreakerState.HALF_OPEN
            return self._state

    def snapshot(self) -> dict[str, Any]:
        """The stored state for records and telemetry (`open_until` in clock seconds)."""
        with self._lock:
            return {
                "model": self.model,
                "state": self._state.value,
                "consecutive_failures": self._failures,
                "open_until": self._open_until,
                "probes_in_flight": len(self._probes),
            }

    # Transitions are made under the lock and emitted after it is released: each public
    # method takes them with `_take_pending` inside its `with self._lock:` block, then calls
    # `_emit` (no contextmanager: this runs on every call, twice per request).
    def _take_pending(self) -> list[BreakerTransition]:
        """The transitions made so far (call with the lock held)."""
        emitted = self._pending
        if emitted:
            self._pending = []
        return emitted

    def _emit(self, emitted: list[BreakerTransition]) -> None:
        """Hand transitions to the hook, with the lock released."""
        for transition in emitted:
            if self._hook is not None:
                try:
                    self._hook(transition)
                except Exception:  # telemetry must never break the caller's request
                    import logging  # lazily: only a failing hook pays for it

                    logging.getLogger(__name__).exception("breaker hook failed: %s", self.model)

    def _acquire(self, now: float) -> Admission:
        if self._state is BreakerState.OPEN:
            if not self._cooldown_over(now):
                return Admission(False, False, BreakerState.OPEN, self._open_until)
            self._move(BreakerState.HALF_OPEN, now, "cooldown_elapsed")
        if self._state is BreakerState.CLOSED:
            return _admitted(self._issue())
        lease = self.config.probe_lease_s
        if lease is not None:
            for ticket, at in list(self._probes.items()):
                if now - at >= lease:
                    del self._probes[ticket]
        if len(self._probes) >= self.config.half_open_max_probes:
            return Admission(False, False, BreakerState.HALF_OPEN)
        ticket = self._issue()
        self._probes[ticket] = now
        return Admission(True, True, BreakerState.HALF_OPEN, None, ticket)

    def _issue(self) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    def _cooldown_over(self, now: float) -> bool:
        return self._open_until is None or now >= self._open_until

    def _counts(self, admission: Admission) -> bool:
        """Whether a non-probe report belongs to the current closed period."""
        return (
            admission.allowed
            and self._state is BreakerState.CLOSED
            and admission.ticket >= self._period_start
        )

    def _record(self, now: float, *, failed: bool) -> None:
        if self.config.failure_rate is None:
            return
        self._window.append((now, failed))
        self._window_failures += failed
        horizon = now - self.config.window_s
        while self._window and self._window[0][0] <= horizon:
            self._window_failures -= self._window.popleft()[1]

    def _trip_reason(self) -> str | None:
        cfg = self.config
        if self._failures >= cfg.failure_threshold:
            return "consecutive_failures"
        calls = len(self._window)
        rate = cfg.failure_rate
        if rate is not None and calls >= cfg.min_calls and self._window_failures / calls >= rate:
            return "failure_rate"
        return None

    def _open(self, now: float, reason: str, retry_after_s: float | None) -> None:
        cfg = self.config
        period = cfg.cooldown_s
        if cfg.honour_retry_after and retry_after_s is not None and retry_after_s > period:
            period = min(retry_after_s, cfg.max_cooldown_s)
        self._move(BreakerState.OPEN, now, reason)
        self._open_until = now + period

    def _move(self, to: BreakerState, now: float, reason: str) -> None:
        transition = BreakerTransition(self.model, self._state.value, to.value, now, reason)
        self._transitions.append(transition)
        self._pending.append(transition)
        self._state = to
        self._period_start = self._next_ticket
        self._probes.clear()
        self._probe_successes = 0
        self._open_until = None
        if to is BreakerState.CLOSED:
            self._failures = 0
            self._window.clear()
            self._window_failures = 0


class BreakerRegistry:
    """One breaker per model, created on first use; `overrides` maps models to configs."""

    def __init__(
        self,
        config: BreakerConfig,
        on_transition: TransitionHook | None = None,
        overrides: Mapping[str, BreakerConfig] | None = None,
    ) -> None:
        self.config = config
        self._hook = on_transition
        self._overrides = dict(overrides or {})
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, model: str) -> CircuitBreaker:
        """The breaker of `model` (created with its override or the default config)."""
        breaker = self._breakers.get(model)  # lock-free read: breakers are never removed
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(model)
            if breaker is None:
                config = self._overrides.get(model, self.config)
                breaker = self._breakers[model] = CircuitBreaker(model, config, self._hook)
            return breaker

    def states(self, now: float) -> dict[str, str]:
        """Each known model's state at `now` (clock seconds), read-only."""
        with self._lock:
            breakers = list(self._breakers.items())
        return {model: breaker.state_at(now).value for model, breaker in breakers}
