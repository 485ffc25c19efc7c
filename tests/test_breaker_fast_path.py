"""The breaker's closed-state fast paths (`try_acquire` and `on_success` of a closed
breaker) keep the slow paths' answers: the same admissions, and successes that still reset
the consecutive count and still count in the failure-rate window."""

from __future__ import annotations

import pickle
from typing import Any

from modelroute.breaker import Admission, BreakerConfig, BreakerState, CircuitBreaker
from modelroute.records import BreakerTransition


def _breaker(**config: Any) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    seen: list[BreakerTransition] = []
    return CircuitBreaker("m", BreakerConfig(**config), seen.append), seen


def test_a_closed_breaker_admits_with_the_same_records_as_the_constructor() -> None:
    breaker, _ = _breaker()
    admissions = [breaker.try_acquire(float(t)) for t in range(3)]
    expected = [Admission(True, False, BreakerState.CLOSED, None, t) for t in (1, 2, 3)]
    assert admissions == expected
    assert [hash(a) for a in admissions] == [hash(a) for a in expected]
    assert [repr(a) for a in admissions] == [repr(a) for a in expected]
    assert pickle.loads(pickle.dumps(admissions)) == expected


def test_a_success_resets_the_consecutive_failures() -> None:
    breaker, seen = _breaker(failure_threshold=2)
    for t, ok in enumerate([False, True, False]):
        admission = breaker.try_acquire(float(t))
        if ok:
            breaker.on_success(float(t), admission)
        else:
            breaker.on_failure(float(t), admission)
    assert breaker.state_at(3.0) is BreakerState.CLOSED and seen == []
    breaker.on_failure(3.0, breaker.try_acquire(3.0))
    assert [(s.to_state, s.reason) for s in seen] == [("open", "consecutive_failures")]


def test_successes_count_in_the_failure_rate_window() -> None:
    """1 success + 3 failures = 4 calls at a 75% failure rate: open. Were the success not
    counted, 3 calls would be under `min_calls` and the breaker would stay closed."""
    breaker, seen = _breaker(failure_threshold=100, failure_rate=0.6, min_calls=4)
    breaker.on_success(0.0, breaker.try_acquire(0.0))
    for t in (1.0, 2.0, 3.0):
        breaker.on_failure(t, breaker.try_acquire(t))
    assert [(s.to_state, s.reason) for s in seen] == [("open", "failure_rate")]


def test_a_late_success_from_an_earlier_closed_period_is_ignored() -> None:
    """A success admitted before the breaker opened does not reset the count of the closed
    period after it: one failure, the stale success, a second failure: open again."""
    breaker, seen = _breaker(failure_threshold=2, cooldown_s=0.0)
    stale = breaker.try_acquire(0.0)
    for _ in range(2):
        breaker.on_failure(0.0, breaker.try_acquire(0.0))  # opens
    breaker.on_success(1.0, breaker.try_acquire(1.0))  # a probe: half-opens, then closes
    breaker.on_failure(2.0, breaker.try_acquire(2.0))
    breaker.on_success(2.0, stale)
    breaker.on_failure(2.0, breaker.try_acquire(2.0))
    assert [s.to_state for s in seen] == ["open", "half_open", "closed", "open"]
