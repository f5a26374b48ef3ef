"""The scheduler's pass (`handling.scheduler.sweep_all`) in process, on a real store (SQLite
and PostgreSQL), without a broker: each pass is run as of a chosen time and returns the
notices it owes, which the test reads back from the store (`NoticeRow`).

The times are worked out by hand from the shipped calendar: working hours 08:30–17:30 in
Istanbul (a business day is 9 h), weekends and Turkish holidays off (Friday 20 March 2026 is
Ramazan Bayramı, Thursday 19 March its eve, a half day to 13:00).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handling import actions, scheduler
from handling.scheduler import Owed, sweep_all
from ingest import pipeline
from ingest.channels.desk import submit_entry
from ingest.channels.email.raw import raw_from_bytes
from intake.runtime import Runtime
from routing.clocks import calendar_of
from store.models import NoticeRow
from tests.conftest import make_settings
from tests.handling.test_actions import (
    acting,
    clock_rows,
    notices,
    plain,
    row,
    ssl_report,
)
from tests.mails import mail

IST = ZoneInfo("Europe/Istanbul")
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
SUPERVISOR = "kalite@example.org"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=IST)


@pytest.fixture
def build(tmp_path: Path, store_url: str, make_runtime, clock):
    """A runtime on this test's store, with settings overrides."""

    def make(**overrides: dict) -> Runtime:
        return make_runtime(make_settings(tmp_path, store={"url": store_url}, **overrides))

    clock.set(TUESDAY)
    return make


@pytest.fixture
def desk(build) -> Runtime:
    return build()


def sweep(rt: Runtime, moment: datetime) -> list[tuple[str, str, str, str]]:
    """One pass as of `moment`: (reference, clock, what, audience) of each notice owed."""
    return [describe(o) for o in sweep_all(rt.sessions, rt.settings, moment)]


def describe(owed: Owed) -> tuple[str, str, str, str]:
    return (owed.reference, owed.clock, owed.what, str(owed.audience))


def notice_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(NoticeRow)) or 0


# --- working hours ---------------------------------------------------------------------------


def test_a_business_time_warning_comes_at_the_first_pass_in_hours_after_its_threshold(desk, clock):
    clock.set(at(3, 13, 16))  # Friday 16:00
    ref = plain(desk)
    eta = clock_rows(desk, ref)["eta_notice"]
    # 9 h of working time: Friday 16:00–17:30 is 1.5 h, then Monday 08:30 + 7.5 h.
    assert eta.due_at == at(3, 16, 16)

    assert sweep(desk, at(3, 13, 23)) == []  # Friday night: the desk is closed
    assert sweep(desk, at(3, 14, 12)) == []  # Saturday
    # 50 % is 4.5 h: 1.5 h on Friday and 3 h on Monday from 08:30, so Monday 11:30.
    assert sweep(desk, at(3, 16, 11, 29)) == []
    assert sweep(desk, at(3, 16, 11, 30)) == [(ref, "eta_notice", "warning 50%", "unit")]
    [reminder] = notices(desk, ref)
    assert reminder.purpose == "reminder" and "ETA" in reminder.subject  # asks for the ETA
    assert "16.03.2026 16:00" in reminder.body
    assert sweep(desk, at(3, 16, 12)) == []


def test_a_threshold_reached_at_closing_waits_for_the_next_opening_while_the_ssl_clock_does_not(
    desk, clock
):
    clock.set(at(3, 13, 13))  # Friday 13:00: eta_notice's 50 % (4.5 h) is 17:30, closing
    ref = ssl_report(desk)
    ssl = clock_rows(desk, ref)["ssl_preliminary"]
    assert ssl.due_at == at(3, 14, 13)  # Saturday 13:00: 24 h on the wall clock

    assert sweep(desk, at(3, 13, 17, 30)) == []  # closed: told in working hours only
    assert sweep(desk, at(3, 13, 23)) == []
    assert sweep(desk, at(3, 14, 1)) == [(ref, "ssl_preliminary", "warning 50%", "unit")]
    assert sweep(desk, at(3, 14, 9)) == [(ref, "ssl_preliminary", "warning 83%", "unit")]
    assert sweep(desk, at(3, 14, 13)) == [(ref, "ssl_preliminary", "deadline missed", "unit")]
    assert sweep(desk, at(3, 15, 12)) == []  # Sunday
    assert sweep(desk, at(3, 16, 8, 30)) == [(ref, "eta_notice", "warning 50%", "unit")]
    assert clock_rows(desk, ref)["ssl_preliminary"].breached_at == ssl.due_at


# --- a late pass ----------------------------------------------------------------------------


def test_a_late_pass_sends_only_the_latest_threshold_passed(desk):
    ref = plain(desk)  # Tuesday 10:00: eta_notice due Wednesday 10:00
    # Wednesday 09:00 is 8 of 9 h (89 %): past 50 % and 80 %; only 80 % is told.
    assert sweep(desk, at(3, 11, 9)) == [(ref, "eta_notice", "warning 80%", "unit")]
    assert clock_rows(desk, ref)["eta_notice"].notified == pytest.approx(0.8)
    assert sweep(desk, at(3, 11, 9, 30)) == []
    assert [n.purpose for n in notices(desk, ref)] == ["reminder"]


def test_a_pass_after_every_deadline_sends_the_deadlines_and_no_warning(desk):
    ref = plain(desk)
    late = at(3, 18, 12)  # Wednesday 18 March, after an outage of eight days
    assert sweep(desk, late) == [
        (ref, "eta_notice", "typical ETA", "complainant"),
        (ref, "resolution", "deadline missed", "unit"),
    ]
    assert [(n.purpose, n.audience) for n in notices(desk, ref)] == [
        ("eta", "complainant"),
        ("breach", "unit"),
    ]
    # The typical time (received + 5 business days) had passed: one business day from now,
    # Wednesday 12:00–17:30 (5.5 h) and the half day of Thursday 19th to 12:00 (3.5 h).
    assert row(desk, ref).eta_at == at(3, 19, 12)
    assert row(desk, ref).eta_at == calendar_of(desk.settings.clock).add_business_days(late, 1)
    resolution = clock_rows(desk, ref)["resolution"]
    assert resolution.breached_at == resolution.due_at == at(3, 17, 10)
    assert sweep(desk, late + timedelta(hours=1)) == []


# --- the eta_notice deadline ----------------------------------------------------------------


@pytest.mark.parametrize("escalation", [SUPERVISOR, ""])
def test_at_the_eta_deadline_without_an_eta_the_complainant_gets_the_typical_one(build, escalation):
    rt = build(
        clock={"escalation_email": escalation},
        unit={"certificate_operations": {"typical_resolution_days": 3}},
    )
    ref = plain(rt)
    deadline = at(3, 11, 10)  # one business day after Tuesday 10:00

    expected = [(ref, "eta_notice", "typical ETA", "complainant")]
    if escalation:
        expected.append((ref, "eta_notice", "no ETA from the unit", "escalation"))
    assert sweep(rt, deadline) == expected

    # received + typical_resolution_days (3) business days: Friday 13 March 10:00
    complaint = row(rt, ref)
    assert complaint.eta_at == at(3, 13, 10)
    owed = notices(rt, ref)
    assert [(n.purpose, n.audience) for n in owed] == [
        ("eta", "complainant"),
        *([("eta_defaulted", "escalation")] if escalation else []),
    ]
    assert "13.03.2026 10:00" in owed[0].body
    eta = clock_rows(rt, ref)["eta_notice"]
    assert eta.met_at == deadline and eta.met_by.startswith("scheduler")
    assert eta.breached_at is None
    assert sweep(rt, deadline + timedelta(hours=1)) == []


def test_a_unit_that_gave_an_eta_gets_no_deadline_notice(build, clock):
    rt = build(clock={"escalation_email": SUPERVISOR})
    ref = plain(rt)
    clock.set(TUESDAY + timedelta(hours=2))
    with acting(rt, ref) as act:
        actions.set_eta(act, at(3, 13, 15))

    assert sweep(rt, at(3, 11, 10)) == []
    assert sweep(rt, at(3, 11, 17)) == []
    assert [(n.purpose, n.audience) for n in notices(rt, ref)] == [("eta", "complainant")]
    assert row(rt, ref).eta_at == at(3, 13, 15)


# --- CİMER: a calendar clock ----------------------------------------------------------------


def test_a_cimer_petition_is_due_in_30_calendar_days_and_warned_on_day_15_even_on_a_weekend(
    desk, clock
):
    received = at(3, 6, 10)  # Friday 6 March
    clock.set(received)
    entry = {
        "channel": "cimer",
        "petition_number": "2026-204857",
        "name": "Elif Şahin",
        "email": "elif.sahin@example.com",
        "text": "Mali mühür başvurum iki haftadır sonuçlanmadı.",
        "received_at": received.isoformat(),
    }
    outcome = submit_entry(desk, json.dumps(entry).encode(), "call_centre")
    ref = outcome.reference
    cimer = clock_rows(desk, ref)["cimer_answer"]
    assert cimer.measure == "calendar" and not cimer.pausable
    assert cimer.due_at == received + timedelta(days=30)  # Sunday 5 April 10:00

    day_15 = received + timedelta(days=15)  # Saturday 21 March, in the Bayram holidays
    assert day_15.weekday() == 5
    assert sweep(desk, day_15 - timedelta(minutes=1)) == []
    assert sweep(desk, day_15) == [(ref, "cimer_answer", "warning 50%", "unit")]
    [warning] = [n for n in notices(desk, ref) if n.purpose == "reminder"]
    assert "CİMER" in warning.body and "05.04.2026 10:00" in warning.body
    assert sweep(desk, day_15 + timedelta(hours=1)) == []


# --- passes that overlap --------------------------------------------------------------------


def test_two_overlapping_passes_on_one_store_owe_each_notice_once(build, store_url, monkeypatch):
    """Two processes' passes at the same time. On PostgreSQL both read the same due clocks
    before either writes (each waits for the other after its read); SQLite takes its write
    lock at BEGIN, so there the passes run one after the other whatever the threads do."""
    first = build(clock={"escalation_email": SUPERVISOR})
    second = build(clock={"escalation_email": SUPERVISOR})  # another process, same store
    raws = [
        raw_from_bytes(mail(f"kisi{n}@example.com", "e-imza", "Kartım okunmuyor."))
        for n in range(25)
    ]
    outcomes = pipeline.ingest(first, raws).outcomes()
    references = {o.reference for o in outcomes}
    assert len(references) == 25

    overlap = store_url.startswith("postgresql")
    both_read = threading.Barrier(2)
    looked: dict[str, int] = {}
    real_check = scheduler._check

    def check(session, settings, clock_row, complaint, moment):  # noqa: ANN001, ANN202
        name = threading.current_thread().name
        looked[name] = looked.get(name, 0) + 1
        if overlap and looked[name] == 1:
            both_read.wait(30)  # both passes hold the same batch, nothing written yet
        return real_check(session, settings, clock_row, complaint, moment)

    monkeypatch.setattr(scheduler, "_check", check)

    deadline = at(3, 11, 10)  # every eta_notice: the typical ETA, and the supervisor told
    start = threading.Barrier(2)
    results: dict[str, list[Owed]] = {}
    errors: list[BaseException] = []

    def run(rt: Runtime) -> None:
        try:
            start.wait(10)
            results[threading.current_thread().name] = sweep_all(rt.sessions, rt.settings, deadline)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(rt,), name=f"pass-{i}")
        for i, rt in enumerate((first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    if overlap:  # each pass looked at every due eta_notice clock
        assert looked == {"pass-0": 25, "pass-1": 25}

    together = [describe(o) for found in results.values() for o in found]
    assert len(together) == len(set(together)) == 50
    assert {r for r, *_ in together} == references
    assert notice_count(first) == 50
    with first.sessions() as session:
        twice = session.execute(
            select(NoticeRow.complaint_id, NoticeRow.purpose, func.count())
            .group_by(NoticeRow.complaint_id, NoticeRow.purpose)
            .having(func.count() > 1)
        ).all()
    assert twice == []
    monkeypatch.setattr(scheduler, "_check", real_check)
    assert sweep(second, deadline) == [] and sweep(first, deadline) == []


# --- a paused clock -------------------------------------------------------------------------


def test_a_paused_clock_is_not_swept_and_is_again_once_resumed(desk, clock):
    ref = plain(desk)
    paused_at = TUESDAY + timedelta(hours=1)
    clock.set(paused_at)
    with acting(desk, ref) as act:
        actions.set_status(act, "waiting")
    before = clock_rows(desk, ref)

    resumed_at = at(3, 12, 12)  # Thursday: past eta_notice's deadline had it run on
    assert sweep(desk, resumed_at) == []
    after = clock_rows(desk, ref)
    for name in ("eta_notice", "resolution"):
        assert (after[name].notified, after[name].met_at, after[name].breached_at) == (
            0.0,
            None,
            None,
        )
        assert after[name].next_check_at == before[name].next_check_at
    assert notices(desk, ref) == []
    assert row(desk, ref).eta_at is None

    clock.set(resumed_at)
    with acting(desk, ref) as act:
        actions.set_status(act, "investigating")
    # eta_notice had used 1 h; its 50 % (4.5 h) comes 3.5 h of working time after the
    # resumption: Thursday 15:30.
    assert sweep(desk, at(3, 12, 15, 29)) == []
    assert sweep(desk, at(3, 12, 15, 30)) == [(ref, "eta_notice", "warning 50%", "unit")]
