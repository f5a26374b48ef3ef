"""A period of the report to management: a local calendar month, or a whole year
(`intake report --month 2026-10 | --year 2026`), with the periods shown beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """A local calendar month, or a whole year (`month` None)."""

    year: int
    month: int | None = None

    @classmethod
    def parse(cls, text: str) -> Period:
        """ "2026-10" or "2026"; ValueError otherwise."""
        found = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text.strip())
        if found is None or not 2000 <= int(found[1]) <= 9998:
            raise ValueError(f"not a month (YYYY-MM) or a year (YYYY): {text!r}")
        month = int(found[2]) if found[2] else None
        if month is not None and not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {text!r}")
        return cls(int(found[1]), month)

    @property
    def label(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month or 1, 1)

    @property
    def last_day(self) -> date:
        """The period's last local day (included)."""
        following = self.following().first_day
        return following - timedelta(days=1)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """The aware [start, end) of the period in local time."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.first_day, time(), zone)
        return start, datetime.combine(self.following().first_day, time(), zone)

    def following(self) -> Period:
        if self.month is None:
            return Period(self.year + 1)
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        """The month (or year) before."""
        if self.month is None:
            return Period(self.year - 1)
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def year_before(self) -> Period:
        """The same month a year before (a year: the year before)."""
        return Period(self.year - 1, self.month)
