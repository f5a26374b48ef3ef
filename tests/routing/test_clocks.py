"""The clock policies (routing.clocks): which clocks a complaint gets, their deadlines, how
much of a clock is used, and how a pause pushes a deadline back. Pure: no store, no wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from routing.clocks import (
    ClockName,
    Measure,
    calendar_of,
    clocks_for,
    due,
    primary,
    used,
    warnings,
)
from tests.conftest import make_settings

IST = ZoneInfo("Europe/Istanbul")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=IST)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):
    return make_settings(Path(tmp_path_factory.mktemp("clocks")))


def named(settings, channel: str, received: datetime, unit: str = "customer_relations"):
    return {
        start.name: start
        for start in clocks_for(channel, received, settings, settings.unit_named(unit))
    }


def test_every_complaint_gets_the_eta_notice_and_the_resolution_target(settings):
    clocks = named(settings, "email", at(2026, 3, 10, 10, 0))
    assert set(clocks) == {ClockName.ETA_NOTICE, ClockName.RESOLUTION}
    # one full working day of hours: Tuesday 10:00 → Wednesday 10:00
    assert clocks[ClockName.ETA_NOTICE].due_at == at(2026, 3, 11, 10, 0)
    assert clocks[ClockName.ETA_NOTICE].measure is Measure.BUSINESS
    # 5 business days (the default typical_resolution_days): the next Tuesday 10:00
    assert clocks[ClockName.RESOLUTION].due_at == at(2026, 3, 17, 10, 0)


def test_the_ssl_address_adds_the_24_hour_wall_clock_that_never_pauses(settings):
    friday_evening = at(2026, 3, 13, 19, 0)
    clocks = named(settings, "email_ssl", friday_evening, "ssl_operations")
    ssl = clocks[ClockName.SSL_PRELIMINARY]
    assert ssl.due_at == friday_evening + timedelta(hours=24)  # Saturday, the weekend counts
    assert ssl.measure is Measure.WALL and not ssl.pausable
    assert clocks[ClockName.ETA_NOTICE].due_at == at(2026, 3, 16, 17, 30)  # Monday's close
    assert primary("email_ssl") is ClockName.SSL_PRELIMINARY


def test_a_cimer_petition_has_thirty_calendar_days(settings):
    received = at(2026, 3, 10, 10, 0)
    cimer = named(settings, "cimer", received)[ClockName.CIMER_ANSWER]
    assert cimer.due_at == received + timedelta(days=30)
    assert cimer.measure is Measure.CALENDAR and not cimer.pausable
    assert primary("cimer") is ClockName.CIMER_ANSWER
    assert primary("telegram") is ClockName.ETA_NOTICE


def test_a_kvkk_request_on_any_channel_has_its_thirty_calendar_days_as_primary(settings):
    received = at(2026, 3, 10, 10, 0)
    unit = settings.unit_named("customer_relations")
    for channel in ("email", "telegram", "webform"):
        clocks = {s.name: s for s in clocks_for(channel, received, settings, unit, "kvkk")}
        kvkk = clocks[ClockName.KVKK_ANSWER]
        assert kvkk.due_at == received + timedelta(days=30)
        assert kvkk.measure is Measure.CALENDAR and not kvkk.pausable
        assert primary(channel, "kvkk") is ClockName.KVKK_ANSWER
    assert ClockName.KVKK_ANSWER not in named(settings, "email", received)
    assert primary("email_ssl", "kvkk") is ClockName.SSL_PRELIMINARY  # 24 h comes first


def test_business_time_used_leaves_out_nights_weekends_and_pauses(settings):
    calendar = calendar_of(settings.clock)
    friday = at(2026, 3, 13, 16, 30)
    monday = at(2026, 3, 16, 9, 30)
    assert used(Measure.BUSINESS, friday, monday, [], calendar) == timedelta(hours=2)
    assert used(Measure.WALL, friday, monday, [], calendar) == monday - friday
    pause = (at(2026, 3, 16, 8, 0), at(2026, 3, 16, 9, 0))  # only 08:30-09:00 is working time
    assert used(Measure.BUSINESS, friday, monday, [pause], calendar) == timedelta(
        hours=1, minutes=30
    )


def test_a_pause_pushes_a_business_deadline_back_by_the_working_time_it_took(settings):
    calendar = calendar_of(settings.clock)
    start = at(2026, 3, 10, 10, 0)
    budget = timedelta(hours=9)
    assert due(Measure.BUSINESS, start, budget, [], calendar) == at(2026, 3, 11, 10, 0)
    pause = (at(2026, 3, 10, 15, 0), at(2026, 3, 11, 11, 0))  # 2.5 h + 2.5 h of working time
    assert due(Measure.BUSINESS, start, budget, [pause], calendar) == at(2026, 3, 11, 15, 0)
    later = (at(2026, 3, 12, 9, 0), at(2026, 3, 12, 10, 0))  # after the deadline: no effect
    assert due(Measure.BUSINESS, start, budget, [later], calendar) == at(2026, 3, 11, 10, 0)


def test_a_wall_deadline_moves_by_the_length_of_a_pause(settings):
    calendar = calendar_of(settings.clock)
    start = at(2026, 3, 10, 10, 0)
    pause = (at(2026, 3, 10, 12, 0), at(2026, 3, 10, 14, 30))
    assert due(Measure.WALL, start, timedelta(hours=24), [pause], calendar) == at(
        2026, 3, 11, 12, 30
    )


def test_the_ssl_clock_warns_at_12_and_20_hours_and_others_at_half_and_four_fifths(settings):
    assert warnings(ClockName.SSL_PRELIMINARY, settings.clock) == (0.5, 20 / 24)
    assert warnings(ClockName.ETA_NOTICE, settings.clock) == (0.5, 0.8)
