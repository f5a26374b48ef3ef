"""The clocks: 24 h wall clock for the SSL address, one Turkish business day otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from routing.clocks import add_business_days, first_answer_due

IST = ZoneInfo("Europe/Istanbul")


def test_ssl_reports_are_due_24_hours_later_even_on_a_holiday():
    received = datetime(2026, 10, 29, 2, 0, tzinfo=timezone.utc)  # Republic Day
    assert first_answer_due(received, "email_ssl") == received + timedelta(hours=24)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (
            datetime(2026, 11, 23, 10, 0, tzinfo=IST),
            datetime(2026, 11, 24, 17, 30, tzinfo=IST),
        ),  # Mon → Tue
        (
            datetime(2026, 11, 27, 16, 0, tzinfo=IST),
            datetime(2026, 11, 30, 17, 30, tzinfo=IST),
        ),  # Fri → Mon
        (
            datetime(2026, 10, 28, 9, 0, tzinfo=IST),
            datetime(2026, 10, 30, 17, 30, tzinfo=IST),
        ),  # 29 Oct is a holiday
    ],
)
def test_other_complaints_owe_an_answer_within_one_business_day(received, due):
    assert first_answer_due(received, "email") == due


def test_cimer_petitions_have_30_calendar_days():
    received = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    assert first_answer_due(received, "cimer") == received + timedelta(days=30)


def test_business_days_count_in_istanbul_time():
    late_friday_utc = datetime(2026, 11, 27, 22, 30, tzinfo=timezone.utc)  # Sat 01:30 in Istanbul
    assert add_business_days(late_friday_utc, 1) == datetime(2026, 11, 30, 17, 30, tzinfo=IST)
