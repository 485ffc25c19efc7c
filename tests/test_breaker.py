"""The circuit breaker as a spec: feed it calls at explicit times, read its transitions."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelroute.breaker import (
    Admission,
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
)
from modelroute.clock import FakeClock
from modelroute.records import BreakerTransition

MODEL = "gpt-test"
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def make(**config: Any) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    """A breaker for MODEL and the list its hook appends transitions to."""
    seen: list[BreakerTransition] = []
    return CircuitBreaker(MODEL, BreakerConfig(**config), seen.append), seen


def move(from_state: str, to_state: str, at: float, reason: str) -> BreakerTransition:
    return BreakerTransition(MODEL, from_state, to_state, at, reason)


def fail(
    breaker: CircuitBreaker, now: float, times: int = 1, retry_after: float | None = None
) -> None:
    for _ in range(times):
        breaker.on_failure(now, breaker.try_acquire(now), retry_after)


def succeed(breaker: CircuitBreaker, now: float) -> None:
    breaker.on_success(now, breaker.try_acquire(now))


def opened_at_100(**config: Any) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    """A breaker (threshold 3, cooldown 30 s unless overridden) opened at t=100."""
    breaker, seen = make(**{"failure_threshold": 3, "cooldown_s": 30.0, **config})
    fail(breaker, 100.0, times=3)
    assert breaker.state_at(100.0) is OPEN
    return breaker, seen


# -- closed -> open --------------------------------------------------------------------------


def test_opens_after_n_consecutive_failures() -> None:
    breaker, seen = make(failure_threshold=3)
    fail(breaker, 1.0)
    fail(breaker, 2.0)
    assert breaker.state_at(2.0) is CLOSED
    fail(breaker, 3.0)
    assert seen == [move("closed", "open", 3.0, "consecutive_failures")]
    assert breaker.transitions == seen
    assert breaker.snapshot() == {
        "model": MODEL,
        "state": "open",
        "consecutive_failures": 3,
        "open_until": 33.0,
        "probes_in_flight": 0,
    }


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker, seen = make(failure_threshold=3)
    fail(breaker, 1.0, times=2)
    succeed(breaker, 2.0)
    fail(breaker, 3.0, times=2)
    assert seen == []
    assert breaker.snapshot()["consecutive_failures"] == 2


def test_rate_mode_opens_at_the_rate_once_min_calls_are_in_the_window() -> None:
    breaker, seen = make(failure_threshold=100, failure_rate=0.5, window_s=10.0, min_calls=4)
    succeed(breaker, 0.0)
    fail(breaker, 1.0)
    succeed(breaker, 2.0)  # 1 of 3 failed, under min_calls anyway
    assert seen == []
    fail(breaker, 3.0)  # 2 of 4 failed: 50 %
    assert seen == [move("closed", "open", 3.0, "failure_rate")]


def test_rate_mode_needs_min_calls() -> None:
    breaker, seen = make(failure_threshold=100, failure_rate=0.5, min_calls=4)
    fail(breaker, 1.0, times=3)  # 100 % but only 3 calls
    assert seen == []
    fail(breaker, 2.0)
    assert seen == [move("closed", "open", 2.0, "failure_rate")]


def test_rate_mode_forgets_calls_older_than_the_window() -> None:
    breaker, seen = make(failure_threshold=100, failure_rate=0.75, window_s=10.0, min_calls=4)
    fail(breaker, 0.0, times=3)
    succeed(breaker, 20.0)  # the three failures at t=0 have left the window
    fail(breaker, 21.0)
    fail(breaker, 22.0)
    assert seen == []  # 2 of 3 calls in the window
    fail(breaker, 23.0)  # 3 of 4
    assert seen == [move("closed", "open", 23.0, "failure_rate")]


def test_consecutive_threshold_still_applies_in_rate_mode() -> None:
    breaker, seen = make(failure_threshold=2, failure_rate=0.9, min_calls=50)
    fail(breaker, 1.0, times=2)
    assert seen == [move("closed", "open", 1.0, "consecutive_failures")]


# -- open ------------------------------------------------------------------------------------


def test_open_rejects_with_the_time_it_will_admit_a_probe() -> None:
    breaker, seen = opened_at_100()
    assert breaker.try_acquire(110.0) == Admission(False, False, OPEN, retry_at=130.0)
    assert breaker.try_acquire(129.9).retry_at == 130.0
    assert breaker.state_at(129.9) is OPEN
    assert breaker.state_at(130.0) is HALF_OPEN  # read-only: no transition
    assert seen == [move("closed", "open", 100.0, "consecutive_failures")]


@pytest.mark.parametrize(
    ("retry_after", "honour", "open_until"),
    [
        (90.0, True, 190.0),  # longer than the cooldown: honoured
        (1000.0, True, 220.0),  # capped at max_cooldown_s
        (10.0, True, 130.0),  # shorter than the cooldown: the cooldown wins
        (None, True, 130.0),
        (90.0, False, 130.0),  # not honoured
    ],
)
def test_retry_after_extends_the_open_period_up_to_the_cap(
    retry_after: float | None, honour: bool, open_until: float
) -> None:
    breaker, _ = make(
        failure_threshold=1, cooldown_s=30.0, max_cooldown_s=120.0, honour_retry_after=honour
    )
    fail(breaker, 100.0, retry_after=retry_after)
    assert breaker.snapshot()["open_until"] == open_until
    assert breaker.try_acquire(open_until - 0.001).allowed is False
    assert breaker.try_acquire(open_until).probe is True


# -- half-open -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_probes", [1, 2, 5])
def test_after_the_cooldown_exactly_max_probes_are_admitted(max_probes: int) -> None:
    breaker, seen = opened_at_100(half_open_max_probes=max_probes)
    admissions = [breaker.try_acquire(130.0) for _ in range(20)]
    probes = [a for a in admissions if a.allowed]
    assert len(probes) == max_probes
    assert all(a.probe and a.state is HALF_OPEN for a in probes)
    assert admissions[max_probes:] == [Admission(False, False, HALF_OPEN)] * (20 - max_probes)
    assert seen == [
        move("closed", "open", 100.0, "consecutive_failures"),
        move("open", "half_open", 130.0, "cooldown_elapsed"),
    ]


@pytest.mark.parametrize("max_probes", [1, 3])
def test_twenty_concurrent_acquires_admit_exactly_max_probes(max_probes: int) -> None:
    breaker, seen = opened_at_100(half_open_max_probes=max_probes)
    barrier = threading.Barrier(20)

    def acquire() -> Admission:
        barrier.wait()
        return breaker.try_acquire(130.0)

    with ThreadPoolExecutor(max_workers=20) as pool:
        admissions = list(pool.map(lambda _: acquire(), range(20)))
    assert sum(a.allowed for a in admissions) == max_probes
    assert [t.to_state for t in seen] == ["open", "half_open"]


def test_a_failed_probe_reopens_with_a_fresh_cooldown() -> None:
    breaker, seen = opened_at_100()
    probe = breaker.try_acquire(130.0)
    breaker.on_failure(135.0, probe)
    assert breaker.try_acquire(164.9) == Admission(False, False, OPEN, retry_at=165.0)
    assert breaker.try_acquire(165.0).probe is True
    assert seen == [
        move("closed", "open", 100.0, "consecutive_failures"),
        move("open", "half_open", 130.0, "cooldown_elapsed"),
        move("half_open", "open", 135.0, "probe_failed"),
        move("open", "half_open", 165.0, "cooldown_elapsed"),
    ]


def test_a_failed_probe_honours_retry_after() -> None:
    breaker, _ = opened_at_100(max_cooldown_s=300.0)
    breaker.on_failure(135.0, breaker.try_acquire(130.0), retry_after_s=200.0)
    assert breaker.snapshot()["open_until"] == 335.0


def test_a_successful_probe_closes_and_the_count_starts_over() -> None:
    breaker, seen = opened_at_100()
    breaker.on_success(131.0, breaker.try_acquire(130.0))
    assert breaker.snapshot()["consecutive_failures"] == 0
    fail(breaker, 140.0, times=2)
    assert seen == [
        move("closed", "open", 100.0, "consecutive_failures"),
        move("open", "half_open", 130.0, "cooldown_elapsed"),
        move("half_open", "closed", 131.0, "probe_succeeded"),
    ]


def test_success_threshold_needs_that_many_probe_successes() -> None:
    breaker, seen = opened_at_100(success_threshold=2)
    breaker.on_success(131.0, breaker.try_acquire(130.0))
    assert breaker.state_at(131.0) is HALF_OPEN
    breaker.on_success(133.0, breaker.try_acquire(132.0))
    assert seen[-1] == move("half_open", "closed", 133.0, "probe_succeeded")


def test_release_frees_a_probe_slot_and_counts_nothing() -> None:
    breaker, seen = opened_at_100(success_threshold=2)
    probe = breaker.try_acquire(130.0)
    assert breaker.try_acquire(130.0).allowed is False
    breaker.release(probe)
    assert breaker.try_acquire(131.0).probe is True
    assert breaker.state_at(131.0) is HALF_OPEN
    assert [t.to_state for t in seen] == ["open", "half_open"]


def test_release_of_a_closed_call_counts_nothing() -> None:
    breaker, _ = make(failure_threshold=3)
    fail(breaker, 1.0, times=2)
    breaker.release(breaker.try_acquire(2.0))
    assert breaker.snapshot()["consecutive_failures"] == 2


def test_a_probe_never_reported_frees_its_slot_after_the_lease() -> None:
    breaker, seen = opened_at_100(probe_lease_s=60.0)
    lost = breaker.try_acquire(130.0)
    assert breaker.try_acquire(189.9).allowed is False
    assert breaker.try_acquire(190.0).probe is True
    breaker.on_failure(191.0, lost)  # the lost probe's late report is ignored
    assert breaker.state_at(191.0) is HALF_OPEN
    assert len(seen) == 2


# -- late and repeated reports ---------------------------------------------------------------


def test_late_reports_while_open_are_ignored() -> None:
    breaker, seen = make(failure_threshold=2, cooldown_s=30.0)
    calls = [breaker.try_acquire(100.0) for _ in range(4)]
    breaker.on_failure(101.0, calls[0])
    breaker.on_failure(102.0, calls[1])  # opens until 132
    breaker.on_success(103.0, calls[2])  # does not close it
    breaker.on_failure(104.0, calls[3], retry_after_s=500.0)  # does not extend it
    assert breaker.snapshot()["open_until"] == 132.0
    assert seen == [move("closed", "open", 102.0, "consecutive_failures")]


def test_late_reports_from_before_the_breaker_opened_do_not_count_in_half_open() -> None:
    breaker, seen = make(failure_threshold=1, cooldown_s=30.0)
    old_success, old_failure, opener = (breaker.try_acquire(100.0) for _ in range(3))
    breaker.on_failure(100.0, opener)
    breaker.try_acquire(130.0)  # the probe, still in flight
    breaker.on_success(131.0, old_success)  # not a probe: does not close
    breaker.on_failure(131.0, old_failure)  # not a probe: does not re-open
    assert breaker.state_at(131.0) is HALF_OPEN
    assert breaker.snapshot()["probes_in_flight"] == 1
    assert [t.to_state for t in seen] == ["open", "half_open"]


def test_late_failure_from_an_earlier_closed_period_does_not_count_after_recovery() -> None:
    breaker, seen = make(failure_threshold=1, cooldown_s=30.0)
    old = breaker.try_acquire(100.0)
    fail(breaker, 100.0)
    breaker.on_success(130.0, breaker.try_acquire(130.0))  # closed again
    breaker.on_failure(140.0, old)
    assert breaker.state_at(140.0) is CLOSED
    assert [t.to_state for t in seen] == ["open", "half_open", "closed"]


def test_a_probe_reported_twice_counts_once() -> None:
    breaker, seen = opened_at_100(success_threshold=2, half_open_max_probes=2)
    probe = breaker.try_acquire(130.0)
    breaker.on_success(131.0, probe)
    breaker.on_success(131.0, probe)
    breaker.on_failure(131.0, probe)
    assert breaker.state_at(131.0) is HALF_OPEN
    assert len(seen) == 2


def test_reports_of_refused_admissions_are_ignored() -> None:
    breaker, seen = opened_at_100()
    refused = breaker.try_acquire(110.0)
    breaker.on_success(111.0, refused)
    breaker.on_failure(111.0, refused)
    breaker.release(refused)
    assert len(seen) == 1


# -- hooks, history, registry ----------------------------------------------------------------


def test_a_failing_hook_never_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    def broken(transition: BreakerTransition) -> None:
        raise RuntimeError("sink down")

    breaker = CircuitBreaker(MODEL, BreakerConfig(failure_threshold=1), broken)
    with caplog.at_level(logging.ERROR, logger="modelroute.breaker"):
        fail(breaker, 1.0)
    assert breaker.transitions == [move("closed", "open", 1.0, "consecutive_failures")]
    assert "sink down" in caplog.text


def test_the_hook_may_read_the_breaker_without_deadlock() -> None:
    states: list[str] = []
    breakers: list[CircuitBreaker] = []

    def hook(transition: BreakerTransition) -> None:
        states.append(breakers[0].snapshot()["state"])

    breakers.append(CircuitBreaker(MODEL, BreakerConfig(failure_threshold=1), hook))
    fail(breakers[0], 1.0)
    assert states == ["open"]


def test_the_transition_history_keeps_the_last_100() -> None:
    breaker, seen = make(failure_threshold=1, cooldown_s=1.0)
    for i in range(60):  # each round: closed -> open -> half_open -> closed
        fail(breaker, 10.0 * i)
        succeed(breaker, 10.0 * i + 5.0)
    assert len(seen) == 180
    assert breaker.transitions == seen[-100:]


def test_registry_creates_one_breaker_per_model_with_overrides() -> None:
    seen: list[BreakerTransition] = []
    strict = BreakerConfig(failure_threshold=1)
    registry = BreakerRegistry(BreakerConfig(), seen.append, overrides={"fragile": strict})
    assert registry.get("a") is registry.get("a")
    assert registry.get("fragile").config is strict
    assert registry.get("a").config == BreakerConfig()
    fail(registry.get("fragile"), 100.0)
    assert registry.states(100.0) == {"a": "closed", "fragile": "open"}
    assert registry.states(130.0) == {"a": "closed", "fragile": "half_open"}
    assert seen == [BreakerTransition("fragile", "closed", "open", 100.0, "consecutive_failures")]


# -- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_threshold", 0),
        ("failure_rate", 0.0),
        ("failure_rate", 1.5),
        ("window_s", 0.0),
        ("min_calls", 0),
        ("cooldown_s", -1.0),
        ("max_cooldown_s", 10.0),  # below the default cooldown of 30 s
        ("half_open_max_probes", 0),
        ("success_threshold", 0),
        ("probe_lease_s", 0.0),
    ],
)
def test_invalid_config_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**{field: value})


def test_config_defaults_are_valid_and_frozen() -> None:
    config = BreakerConfig()
    assert (config.failure_threshold, config.cooldown_s, config.half_open_max_probes) == (5, 30, 1)
    with pytest.raises(AttributeError):
        config.cooldown_s = 1.0  # type: ignore[misc]


# -- property --------------------------------------------------------------------------------

LEGAL = {("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("half_open", "closed")}

KINDS = ["acquire"] * 3 + ["success", "failure", "failure", "release", "advance"]
operations = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 50),  # which outstanding admission a report is about
        st.sampled_from([None, 0.0, 1.5, 5.0, 10.0, 30.0, 100.0]),  # advance s / Retry-After s
    ),
    min_size=20,
    max_size=150,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=operations,
    threshold=st.integers(1, 3),
    max_probes=st.integers(1, 3),
    success_threshold=st.integers(1, 3),
    rate=st.sampled_from([None, 0.5]),
)
def test_random_sequences_keep_probes_bounded_and_the_state_valid(
    ops: list[tuple[str, int, float | None]],
    threshold: int,
    max_probes: int,
    success_threshold: int,
    rate: float | None,
) -> None:
    clock = FakeClock(start=0.0)
    config = BreakerConfig(
        failure_threshold=threshold,
        failure_rate=rate,
        min_calls=4,
        window_s=30.0,
        cooldown_s=10.0,
        max_cooldown_s=50.0,
        half_open_max_probes=max_probes,
        success_threshold=success_threshold,
        probe_lease_s=None,
    )
    seen: list[BreakerTransition] = []
    breaker = CircuitBreaker(MODEL, config, seen.append)
    outstanding: list[tuple[Admission, int]] = []  # (admission, transitions seen when admitted)
    for op, index, value in ops:
        now = clock.now()
        if op == "advance":
            clock.advance(value or 0.0)
        elif op == "acquire":
            expected = breaker.state_at(now)
            admission = breaker.try_acquire(now)
            assert admission.state is expected
            if admission.allowed:
                outstanding.append((admission, len(seen)))
            if admission.probe:  # probes in flight from this same half-open period
                current = [a for a, n in outstanding if a.probe and n == len(seen)]
                assert len(current) <= max_probes
            if expected is OPEN:
                assert not admission.allowed and admission.retry_at is not None
                assert admission.retry_at > now
        elif outstanding:
            admission, _ = outstanding.pop(index % len(outstanding))
            if op == "success":
                breaker.on_success(now, admission)
            elif op == "failure":
                breaker.on_failure(now, admission, value)
            else:
                breaker.release(admission)
        snap = breaker.snapshot()
        assert snap["probes_in_flight"] <= max_probes
        assert (snap["open_until"] is not None) == (snap["state"] == "open")
        if snap["state"] != "half_open":
            assert snap["probes_in_flight"] == 0
        if snap["state"] == "open":
            assert 10.0 - 1e-9 <= snap["open_until"] - seen[-1].at <= 50.0 + 1e-9
    states = ["closed"] + [t.to_state for t in seen]
    assert [t.from_state for t in seen] == states[:-1]
    assert all((t.from_state, t.to_state) in LEGAL for t in seen)
    assert [t.at for t in seen] == sorted(t.at for t in seen)
    assert breaker.transitions == seen[-100:]
