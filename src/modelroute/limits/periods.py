"""Calendar periods (day, month) in an IANA time zone: which period an instant falls in.

A budget's spend is kept per period; the period is named by its local start date, so
`2026-03-29` in `Europe/Berlin` is the Berlin day, whatever the UTC offset that day.
Days that are 23 or 25 hours long (DST changes) are handled by `zoneinfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Period(StrEnum):
    """The calendar period a budget covers."""

    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """One concrete period: `label` (`2026-11-30` or `2026-11`), `start` and `end` as epoch
    seconds (the end is the next period's start)."""

    label: str
    start: float
    end: float


def period_window(period: Period, tz: ZoneInfo, at: float) -> PeriodWindow:
    """The period of kind `period` in time zone `tz` that contains epoch time `at` (seconds)."""
    local = datetime.fromtimestamp(at, tz)
    if period is Period.DAY:
        first = local.date()
        after = first + timedelta(days=1)
        label = first.isoformat()
    else:
        first = date(local.year, local.month, 1)
        after = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        label = f"{first.year:04d}-{first.month:02d}"
    return PeriodWindow(label, _midnight(first, tz), _midnight(after, tz))


def _midnight(day: date, tz: ZoneInfo) -> float:
    # Where local midnight does not exist (a DST jump at 00:00) this is the jump's instant.
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
