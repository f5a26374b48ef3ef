"""The clocks (docs/design.md, "Timing obligations"): pure functions from receipt time to due time.

The SSL problem address runs on the wall clock, 24×7 (CA/B Forum BR 4.9.5: preliminary report
within 24 hours). Everything else owes the complainant word within one Turkish business day
(seed 003), counted in Europe/Istanbul with the `holidays` calendar of Türkiye.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

BUSINESS_DAY_END = time(17, 30)


@lru_cache(maxsize=8)
def turkish_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("TR", years=year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in turkish_holidays(day.year)


def add_business_days(start: datetime, days: int, tz: str = "Europe/Istanbul") -> datetime:
    """End of the `days`-th business day after `start` (local time of `tz`), returned in `tz`."""
    local = start.astimezone(ZoneInfo(tz))
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return datetime.combine(day, BUSINESS_DAY_END, tzinfo=ZoneInfo(tz))


def first_answer_due(
    received_at: datetime, channel: str, *, ssl_hours: int = 24, tz: str = "Europe/Istanbul"
) -> datetime:
    """When the first answer to the complainant is due, by channel."""
    if channel == "email_ssl":
        return received_at + timedelta(hours=ssl_hours)
    if channel == "cimer":
        return received_at + timedelta(days=30)  # Law 3071: reasoned answer in 30 days
    return add_business_days(received_at, 1, tz)
