"""Calendar periods in IANA time zones (modelroute.limits.periods)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from modelroute.limits.periods import Period, period_window


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


BERLIN = ZoneInfo("Europe/Berlin")


def test_a_berlin_day_starts_at_local_midnight_not_utc() -> None:
    before = period_window(Period.DAY, BERLIN, utc(2026, 11, 30, 22, 59, 59))
    after = period_window(Period.DAY, BERLIN, utc(2026, 11, 30, 23, 0, 0))
    assert before.label == "2026-11-30"
    assert after.label == "2026-12-01"
    assert before.end == after.start == utc(2026, 11, 30, 23, 0, 0)  # 00:00 CET


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29, 12), 23), ((2026, 10, 25, 12), 25), ((2026, 6, 1, 12), 24)],
)
def test_days_around_dst_changes_are_23_or_25_hours_long(
    day: tuple[int, int, int, int], hours: int
) -> None:
    w = period_window(Period.DAY, BERLIN, utc(*day))
    assert w.end - w.start == hours * 3600


def test_months_roll_over_in_the_zone_and_across_the_year() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert period_window(Period.MONTH, tokyo, utc(2026, 1, 31, 14, 59)).label == "2026-01"
    feb = period_window(Period.MONTH, tokyo, utc(2026, 1, 31, 15, 0))
    assert feb.label == "2026-02"
    assert feb.start == utc(2026, 1, 31, 15, 0)
    dec = period_window(Period.MONTH, ZoneInfo("UTC"), utc(2026, 12, 15))
    assert (dec.label, dec.end) == ("2026-12", utc(2027, 1, 1))


def test_a_zone_west_of_utc_is_still_on_the_previous_day() -> None:
    la = ZoneInfo("America/Los_Angeles")
    w = period_window(Period.DAY, la, utc(2026, 12, 1, 7, 59))
    assert w.label == "2026-11-30"
    assert w.end == utc(2026, 12, 1, 8, 0)
