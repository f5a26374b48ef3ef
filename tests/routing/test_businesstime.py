"""Turkish business time: working hours, weekends, holidays, half days, extra closed days.

Every expected value is worked out by hand in the comment beside it; the holiday dates are
those of `holidays` 0.108 for Türkiye (printed once and checked in test_the_2026_calendar).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.businesstime import WorkingCalendar

IST = ZoneInfo("Europe/Istanbul")
DESK = WorkingCalendar()
H = timedelta(hours=1)


def ist(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=IST)


def test_the_2026_calendar():
    """The library's 2026: half days 19 Mar, 26 May, 28 Oct; the feasts and 29 Oct closed."""
    assert DESK.hours_of(date(2026, 3, 19)) == (ist(2026, 3, 19, 8, 30), ist(2026, 3, 19, 13))
    assert DESK.hours_of(date(2026, 5, 26)) == (ist(2026, 5, 26, 8, 30), ist(2026, 5, 26, 13))
    assert DESK.hours_of(date(2026, 10, 28)) == (ist(2026, 10, 28, 8, 30), ist(2026, 10, 28, 13))
    closed = [date(2026, 1, 1), date(2026, 3, 20), date(2026, 4, 23), date(2026, 5, 1)]
    closed += [date(2026, 5, 19), date(2026, 7, 15), date(2026, 10, 29)]
    closed += [date(2026, 5, d) for d in (27, 28, 29)]
    assert [d for d in closed if DESK.hours_of(d) is not None] == []
    # An ordinary Tuesday, and the weekend.
    assert DESK.hours_of(date(2026, 11, 24)) == (
        ist(2026, 11, 24, 8, 30),
        ist(2026, 11, 24, 17, 30),
    )
    assert DESK.hours_of(date(2026, 11, 28)) is None
    assert DESK.hours_of(date(2026, 11, 29)) is None


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Tue 10:00: 7.5 h on Tuesday, 1.5 h from Wed 08:30.
        (ist(2026, 11, 24, 10), ist(2026, 11, 25, 10)),
        # Fri 18:00 is after hours: 9 h from Mon 08:30 end exactly at Monday's closing.
        (ist(2026, 11, 27, 18), ist(2026, 11, 30, 17, 30)),
        # Fri 16:00: 1.5 h on Friday, 7.5 h from Mon 08:30.
        (ist(2026, 11, 27, 16), ist(2026, 11, 30, 16)),
        # Mail at 23:00 on a Tuesday counts from Wed 08:30.
        (ist(2026, 11, 24, 23), ist(2026, 11, 25, 17, 30)),
        # Mail at 05:00 on a Tuesday counts from 08:30 the same day.
        (ist(2026, 11, 24, 5), ist(2026, 11, 24, 17, 30)),
        # 28 Oct (Wed) closes at 13:00: 1 h; 29 Oct is Republic Day; 8 h from Fri 08:30.
        (ist(2026, 10, 28, 12), ist(2026, 10, 30, 16, 30)),
        # 28 Oct after 13:00 is already off: 9 h from Fri 30 Oct 08:30.
        (ist(2026, 10, 28, 14), ist(2026, 10, 30, 17, 30)),
        # Ramazan Bayramı: 1 h on 19 Mar (to 13:00), 20–22 Mar off, 8 h from Mon 23 Mar 08:30.
        (ist(2026, 3, 19, 12), ist(2026, 3, 23, 16, 30)),
        # Wed 18 Mar 17:00: 0.5 h, then 4.5 h on 19 Mar, 4 h from Mon 23 Mar 08:30.
        (ist(2026, 3, 18, 17), ist(2026, 3, 23, 12, 30)),
        # Kurban Bayramı: 3 h on 26 May (10:00–13:00), 27–30 May off, 31 May a Sunday,
        # 6 h from Mon 1 Jun 08:30.
        (ist(2026, 5, 26, 10), ist(2026, 6, 1, 14, 30)),
        # Mon 25 May 17:00: 0.5 h, 4.5 h on 26 May, 4 h from Mon 1 Jun 08:30.
        (ist(2026, 5, 25, 17), ist(2026, 6, 1, 12, 30)),
        # New Year on a Thursday: 1.5 h on Wed 31 Dec 2025, 7.5 h from Fri 2 Jan 08:30.
        (ist(2025, 12, 31, 16), ist(2026, 1, 2, 16)),
        # Received on New Year's Day itself: counting starts Fri 2 Jan 08:30.
        (ist(2026, 1, 1, 10), ist(2026, 1, 2, 17, 30)),
    ],
)
def test_one_business_day(start, due):
    result = DESK.add_business_days(start, 1)
    assert result == due
    assert result.tzinfo == IST and result.utcoffset() == due.utcoffset()


def test_an_extra_closed_day_from_the_settings():
    # Administrative leave on Fri 30 Oct 2026 bridges Republic Day to the weekend:
    # 1 h on 28 Oct, 29 Oct–1 Nov off, 8 h from Mon 2 Nov 08:30.
    desk = WorkingCalendar(extra_closed_days=frozenset({date(2026, 10, 30)}))
    assert desk.hours_of(date(2026, 10, 30)) is None
    assert desk.add_business_days(ist(2026, 10, 28, 12), 1) == ist(2026, 11, 2, 16, 30)
    assert DESK.add_business_days(ist(2026, 10, 28, 12), 1) == ist(2026, 10, 30, 16, 30)


def test_is_open_and_next_opening():
    assert DESK.is_open(ist(2026, 11, 24, 8, 30))
    assert not DESK.is_open(ist(2026, 11, 24, 8, 29, 59))
    assert DESK.is_open(ist(2026, 11, 24, 17, 29, 59))
    assert not DESK.is_open(ist(2026, 11, 24, 17, 30))
    assert DESK.is_open(ist(2026, 10, 28, 12, 59))
    assert not DESK.is_open(ist(2026, 10, 28, 13))
    assert not DESK.is_open(ist(2026, 10, 29, 10))
    assert DESK.next_opening(ist(2026, 11, 24, 11, 15)) == ist(2026, 11, 24, 11, 15)
    assert DESK.next_opening(ist(2026, 11, 24, 5)) == ist(2026, 11, 24, 8, 30)
    assert DESK.next_opening(ist(2026, 11, 24, 17, 30)) == ist(2026, 11, 25, 8, 30)
    assert DESK.next_opening(ist(2026, 11, 27, 18)) == ist(2026, 11, 30, 8, 30)
    assert DESK.next_opening(ist(2026, 10, 28, 13)) == ist(2026, 10, 30, 8, 30)
    assert DESK.next_opening(ist(2026, 5, 26, 13)) == ist(2026, 6, 1, 8, 30)


def test_add_edges():
    # Zero working time is the next opening; ending exactly at closing stays at closing.
    assert DESK.add(ist(2026, 11, 24, 10), timedelta(0)) == ist(2026, 11, 24, 10)
    assert DESK.add(ist(2026, 11, 24, 17, 30), timedelta(0)) == ist(2026, 11, 25, 8, 30)
    assert DESK.add(ist(2026, 11, 24, 10), 7.5 * H) == ist(2026, 11, 24, 17, 30)
    assert DESK.add(ist(2026, 10, 28, 10), 3 * H) == ist(2026, 10, 28, 13)
    assert DESK.add_business_days(ist(2026, 11, 24, 10), 0.5) == ist(2026, 11, 24, 14, 30)
    # Two business days from Fri 16:00: 1.5 h Fri, 9 h Mon, 7.5 h Tue → Tue 16:00.
    assert DESK.add_business_days(ist(2026, 11, 27, 16), 2) == ist(2026, 12, 1, 16)
    with pytest.raises(ValueError, match="negative"):
        DESK.add(ist(2026, 11, 24, 10), -H)


def test_inputs_in_other_zones_and_naive_ones():
    # 07:00 UTC is 10:00 in Istanbul (UTC+3 all year since 2016).
    due = DESK.add_business_days(datetime(2026, 11, 24, 7, tzinfo=UTC), 1)
    assert due == ist(2026, 11, 25, 10)
    assert due.tzinfo == IST and due.hour == 10
    assert DESK.is_open(datetime(2026, 11, 24, 5, 30, tzinfo=UTC))  # 08:30 local
    assert not DESK.is_open(datetime(2026, 11, 24, 5, 29, tzinfo=UTC))
    naive = datetime(2026, 11, 24, 10)
    for call in (
        lambda: DESK.is_open(naive),
        lambda: DESK.next_opening(naive),
        lambda: DESK.add(naive, H),
        lambda: DESK.elapsed(naive, ist(2026, 11, 25, 10)),
        lambda: DESK.elapsed(ist(2026, 11, 23, 10), naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


def test_elapsed():
    # Across a weekend: Fri 16:00–17:30 and Mon 08:30–10:00.
    assert DESK.elapsed(ist(2026, 11, 27, 16), ist(2026, 11, 30, 10)) == 3 * H
    # Across the 28 Oct half day: 09:00–13:00, 29 Oct off, 30 Oct 08:30–09:00.
    assert DESK.elapsed(ist(2026, 10, 28, 9), ist(2026, 10, 30, 9)) == 4.5 * H
    # Across Ramazan Bayramı: 18 Mar 17:00–17:30, 19 Mar 08:30–13:00, 23 Mar 08:30–09:00.
    assert DESK.elapsed(ist(2026, 3, 18, 17), ist(2026, 3, 23, 9)) == 5.5 * H
    # A full ordinary week, Monday 00:00 to the next Monday 00:00.
    assert DESK.elapsed(ist(2026, 11, 23), ist(2026, 11, 30)) == 5 * 9 * H
    # Nothing counts at night, and a reversed interval is empty.
    assert DESK.elapsed(ist(2026, 11, 24, 18), ist(2026, 11, 25, 8)) == timedelta(0)
    assert DESK.elapsed(ist(2026, 11, 25, 10), ist(2026, 11, 24, 10)) == timedelta(0)


def test_dst_change_on_a_working_day():
    # Türkiye moved to summer time on Monday 28 Mar 2011 at 03:00 (→ 04:00). With hours
    # 02:00–05:00 that day has 2 h of real working time, though day_length stays 3 h.
    desk = WorkingCalendar(opens=time(2), closes=time(5), half_day_end=time(3))
    monday = date(2011, 3, 28)
    opening, closing = desk.hours_of(monday) or (None, None)
    assert opening is not None and closing is not None
    assert (opening.utcoffset(), closing.utcoffset()) == (2 * H, 3 * H)
    assert desk.elapsed(opening, closing) == 2 * H
    assert desk.add(opening, H) == datetime(2011, 3, 28, 1, tzinfo=UTC)  # 04:00 local, +03
    assert desk.add(opening, H).hour == 4
    assert desk.add(opening, 2 * H) == closing
    # One business day (3 h) from Monday's opening: 2 h Monday, 1 h Tuesday → Tue 03:00.
    assert desk.day_length == 3 * H
    assert desk.add_business_days(opening, 1) == datetime(2011, 3, 29, 3, tzinfo=IST)


def test_parse_accepts_the_defaults():
    parsed = WorkingCalendar.parse(
        timezone="Europe/Istanbul",
        working_hours="08:30-17:30",
        half_day_end="13:00",
        extra_closed_days=[],
    )
    assert parsed == DESK
    assert parsed.day_length == 9 * H
    custom = WorkingCalendar.parse(
        timezone="Europe/Istanbul",
        working_hours=" 9:00 - 18:00 ",
        half_day_end="12:30",
        extra_closed_days=["2026-10-30", "2026-12-31"],
    )
    assert custom == WorkingCalendar(
        opens=time(9),
        closes=time(18),
        half_day_end=time(12, 30),
        extra_closed_days=frozenset({date(2026, 10, 30), date(2026, 12, 31)}),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"working_hours": "17:30-08:30"}, "before closing"),
        ({"working_hours": "08:30-08:30"}, "before closing"),
        ({"working_hours": "08:30"}, "HH:MM-HH:MM"),
        ({"working_hours": "08:30-25:00"}, "HH:MM"),
        ({"working_hours": "0830-1730"}, "HH:MM"),
        ({"working_hours": "08.30-17.30"}, "HH:MM"),
        ({"half_day_end": "18:00"}, "between"),
        ({"half_day_end": "08:30"}, "between"),
        ({"half_day_end": "1 pm"}, "half_day_end"),
        ({"extra_closed_days": ["2026-02-30"]}, "YYYY-MM-DD"),
        ({"extra_closed_days": ["30.10.2026"]}, "YYYY-MM-DD"),
        ({"extra_closed_days": ["20261030"]}, "YYYY-MM-DD"),
        ({"extra_closed_days": "2026-10-30"}, "list"),
        ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
    ],
)
def test_parse_refuses_bad_settings(overrides, message):
    good = {
        "timezone": "Europe/Istanbul",
        "working_hours": "08:30-17:30",
        "half_day_end": "13:00",
        "extra_closed_days": [],
    }
    with pytest.raises(ValueError, match=message):
        WorkingCalendar.parse(**{**good, **overrides})


# Starts anywhere from 2010 (DST years in Türkiye) to 2031, in a few zones, fold and
# nonexistent local times included; durations up to about 60 business days of 9 h.
ZONES = [IST, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]
starts = st.datetimes(
    min_value=datetime(2010, 1, 1),
    max_value=datetime(2031, 12, 31),
    timezones=st.sampled_from(ZONES),
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=540))
calendars = st.sampled_from(
    [
        DESK,
        WorkingCalendar(opens=time(2), closes=time(5), half_day_end=time(3)),
        WorkingCalendar(timezone="Europe/Berlin", opens=time(0), closes=time(23, 59)),
        # Israel moves its clocks on a Friday in spring: a DST change inside working hours.
        WorkingCalendar(timezone="Asia/Jerusalem", opens=time(1), closes=time(23)),
    ]
)


@settings(max_examples=200, deadline=None)
@given(desk=calendars, start=starts, working=durations)
def test_elapsed_undoes_add(desk, start, working):
    end = desk.add(start, working)
    assert desk.elapsed(start, end) == working
    assert end.tzinfo == ZoneInfo(desk.timezone)
    assert end.astimezone(UTC) >= start.astimezone(UTC)
    hours = desk.hours_of(end.date())
    assert desk.is_open(end) or (hours is not None and end == hours[1])


@settings(max_examples=200, deadline=None)
@given(desk=calendars, start=starts, a=durations, b=durations)
def test_add_is_monotonic(desk, start, a, b):
    a, b = sorted((a, b))
    assert desk.add(start, a).astimezone(UTC) <= desk.add(start, b).astimezone(UTC)
    later = start.astimezone(UTC) + b
    assert desk.add(start, a).astimezone(UTC) <= desk.add(later, a).astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(desk=calendars, a=starts, b=starts, c=starts)
def test_elapsed_adds_up(desk, a, b, c):
    a, b, c = sorted(x.astimezone(UTC) for x in (a, b, c))
    assert desk.elapsed(a, c) == desk.elapsed(a, b) + desk.elapsed(b, c)


# Clock changes inside working hours on working days, which a uniform draw over 22 years would
# hardly ever hit: Istanbul Mon 28 Mar 2011 03:00 → 04:00, Jerusalem Fri 27 Mar 2026 02:00 → 03:00.
WEEKDAY_DST = [
    (
        WorkingCalendar(opens=time(2), closes=time(5), half_day_end=time(3)),
        datetime(2011, 3, 28, 1, tzinfo=UTC),
    ),
    (
        WorkingCalendar(timezone="Asia/Jerusalem", opens=time(1), closes=time(23)),
        datetime(2026, 3, 27, 0, tzinfo=UTC),
    ),
]


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(WEEKDAY_DST),
    shift=st.timedeltas(min_value=-timedelta(hours=30), max_value=timedelta(hours=2)),
    working=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30)),
    zone=st.sampled_from(ZONES),
)
def test_elapsed_undoes_add_across_a_clock_change(case, shift, working, zone):
    desk, change = case
    start = (change + shift).astimezone(zone)
    end = desk.add(start, working)
    assert desk.elapsed(start, end) == working
    assert end.astimezone(UTC) >= start.astimezone(UTC)
