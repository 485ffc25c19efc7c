"""The clocks: a real one for production, a fake one that only moves when told to."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from modelroute.clock import Clock, FakeClock, SystemClock


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_system_clock_reads_monotonic_and_epoch_time() -> None:
    clock = SystemClock()
    first, second = clock.now(), clock.now()
    assert second >= first
    assert abs(clock.wall() - time.time()) < 5.0


def test_system_clock_sleeps_zero_and_negative_durations_without_error() -> None:
    clock = SystemClock()
    clock.sleep(0)
    clock.sleep(-1.0)


async def test_system_clock_asleep_zero_and_negative_durations() -> None:
    clock = SystemClock()
    await clock.asleep(0)
    await clock.asleep(-1.0)


def test_importing_clock_does_not_import_asyncio() -> None:
    code = "import sys, modelroute.clock; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_fake_clock_starts_at_its_defaults() -> None:
    clock = FakeClock()
    assert clock.now() == 1000.0
    assert clock.wall() == 1_700_000_000.0
    assert clock.sleeps == []


def test_fake_clock_advance_moves_monotonic_and_wall_time_together() -> None:
    clock = FakeClock(start=5.0, wall_start=100.0)
    clock.advance(2.5)
    assert (clock.now(), clock.wall()) == (7.5, 102.5)
    assert clock.sleeps == []  # advancing is not sleeping


def test_fake_clock_never_goes_backwards() -> None:
    with pytest.raises(ValueError, match="seconds"):
        FakeClock().advance(-1.0)


def test_fake_sleep_advances_instantly_and_records_the_duration() -> None:
    clock = FakeClock(start=0.0)
    clock.sleep(1.5)
    clock.sleep(0.25)
    clock.sleep(-3.0)  # counts as 0
    assert clock.now() == 1.75
    assert clock.sleeps == [1.5, 0.25, 0.0]


async def test_fake_asleep_advances_instantly_and_records_the_duration() -> None:
    clock = FakeClock(start=0.0)
    await clock.asleep(2.0)
    await clock.asleep(3.0)
    assert clock.now() == 5.0
    assert clock.sleeps == [2.0, 3.0]


def test_fake_clock_is_thread_safe() -> None:
    clock = FakeClock(start=0.0, wall_start=0.0)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            clock.sleep(1.0)
            clock.advance(1.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == clock.wall() == 8 * 500 * 2.0
    assert len(clock.sleeps) == 8 * 500
