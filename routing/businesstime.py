"""Turkish business time: when the complaint desk is open, and how much working time lies
between two moments (ISO 10002 answer deadlines are counted in working time, not wall time).

The desk opens on weekdays within the working hours of the settings, in their time zone. It is
closed on Saturdays, Sundays, the public holidays of the `holidays` calendar of Türkiye and the
extra closed days of the settings (administrative leave). On the library's half days (the eves
of Ramazan Bayramı and Kurban Bayramı, and 28 October) the afternoon is off from
`half_day_end`. Pure: no I/O, no wall clock.

All arithmetic on instants is done in UTC, because Python adds and subtracts aware datetimes
that share a tzinfo as wall-clock times; that is wrong across a DST change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@lru_cache(maxsize=64)
def _turkish_days_off(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, half days) of Türkiye in `year`; cached, the calendar is slow to build."""
    public = holidays.country_holidays("TR", years=year, categories=("public",))
    half = holidays.country_holidays("TR", years=year, categories=("half_day",))
    return (
        frozenset(d for d in public if d.year == year),
        frozenset(d for d in half if d.year == year),
    )


def _clock(text: str, what: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{what}: expected HH:MM, got {text!r}")
    return time(int(match[1]), int(match[2]))


def _day(text: str) -> date:
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"extra closed day: expected YYYY-MM-DD, got {text!r}") from None


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """The desk's working hours, weekends, Turkish holidays and extra closed days."""

    timezone: str = "Europe/Istanbul"
    opens: time = time(8, 30)
    closes: time = time(17, 30)
    half_day_end: time = time(13, 0)
    extra_closed_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        if any(t.tzinfo is not None for t in (self.opens, self.closes, self.half_day_end)):
            raise ValueError("working hours are local wall-clock times; give them without tzinfo")
        if not self.opens < self.closes:
            raise ValueError(
                f"working hours: opening {self.opens:%H:%M} must be before closing {self.closes:%H:%M}"
            )
        if not self.opens < self.half_day_end < self.closes:
            raise ValueError(
                f"half_day_end {self.half_day_end:%H:%M} must lie between opening "
                f"{self.opens:%H:%M} and closing {self.closes:%H:%M}"
            )
        if not isinstance(self.extra_closed_days, frozenset):
            object.__setattr__(self, "extra_closed_days", frozenset(self.extra_closed_days))

    @classmethod
    def parse(
        cls,
        *,
        timezone: str,
        working_hours: str,
        half_day_end: str,
        extra_closed_days: Iterable[str],
    ) -> WorkingCalendar:
        """From settings strings: working_hours "08:30-17:30", half_day_end "13:00", dates
        "YYYY-MM-DD". Bad input raises ValueError saying which setting is wrong."""
        opens, sep, closes = working_hours.partition("-")
        if not sep:
            raise ValueError(f"working_hours: expected HH:MM-HH:MM, got {working_hours!r}")
        if isinstance(extra_closed_days, str):
            raise ValueError("extra_closed_days: expected a list of YYYY-MM-DD, got one string")
        return cls(
            timezone=timezone,
            opens=_clock(opens, "working_hours"),
            closes=_clock(closes, "working_hours"),
            half_day_end=_clock(half_day_end, "half_day_end"),
            extra_closed_days=frozenset(_day(d) for d in extra_closed_days),
        )

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def day_length(self) -> timedelta:
        """One business day: closes - opens on the wall clock (9 h by default), even on days
        that a DST change makes shorter or longer."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def hours_of(self, day: date) -> tuple[datetime, datetime] | None:
        """Local opening and closing of `day`, or None when the desk is closed all day; a half
        day closes at half_day_end."""
        if day.weekday() >= 5 or day in self.extra_closed_days:
            return None
        public, half = _turkish_days_off(day.year)
        if day in public:
            return None
        closes = self.half_day_end if day in half else self.closes
        opening = datetime.combine(day, self.opens, tzinfo=self._zone)
        closing = datetime.combine(day, closes, tzinfo=self._zone)
        if _utc(closing, "closing") <= _utc(opening, "opening"):
            return None  # a DST change swallowed the whole day's hours
        return opening, closing

    def _interval(self, day: date) -> tuple[datetime, datetime] | None:
        """hours_of(day) in UTC, for arithmetic."""
        hours = self.hours_of(day)
        if hours is None:
            return None
        return _utc(hours[0], "opening"), _utc(hours[1], "closing")

    def _local_day(self, utc: datetime) -> date:
        return utc.astimezone(self._zone).date()

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` lies within [opening, closing) of its local day."""
        at = _utc(moment, "moment")
        interval = self._interval(self._local_day(at))
        return interval is not None and interval[0] <= at < interval[1]

    def _next_opening_utc(self, at: datetime) -> tuple[datetime, datetime]:
        """(first open instant >= at, closing of that day), in UTC."""
        day = self._local_day(at)
        while True:
            interval = self._interval(day)
            if interval is not None and at < interval[1]:
                return max(at, interval[0]), interval[1]
            day += timedelta(days=1)

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when the desk is open, else the next opening."""
        start, _ = self._next_opening_utc(_utc(moment, "moment"))
        return start.astimezone(self._zone)

    def add(self, start: datetime, working: timedelta) -> datetime:
        """The moment at which `working` of working time has passed since `start`.

        Time outside working hours does not count, so a start outside them counts from the next
        opening. A result that falls exactly at a closing time is that closing time (the answer
        is due before the desk closes, not when it reopens); working == 0 gives
        next_opening(start).
        """
        if working < timedelta(0):
            raise ValueError(f"working time must not be negative, got {working}")
        at, closing = self._next_opening_utc(_utc(start, "start"))
        remaining = working
        while remaining > closing - at:
            remaining -= closing - at
            at, closing = self._next_opening_utc(closing)
        return (at + remaining).astimezone(self._zone)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time within [start, end); zero when end <= start."""
        begin, finish = _utc(start, "start"), _utc(end, "end")
        total = timedelta(0)
        if finish <= begin:
            return total
        day, last = self._local_day(begin), self._local_day(finish)
        while day <= last:
            interval = self._interval(day)
            if interval is not None:
                overlap = min(finish, interval[1]) - max(begin, interval[0])
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def add_business_days(self, start: datetime, days: float) -> datetime:
        """add(start, days * day_length): a business day is a full day's hours of working time,
        so a half day uses up only part of one."""
        return self.add(start, days * self.day_length)
