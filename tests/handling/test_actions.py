"""The lifecycle verbs of `handling.actions` on a real store (SQLite and PostgreSQL), without a
broker: the work they make stays pending, so the test reads what they owe (the `NoticeRow`
rows), the complaint and its clocks straight from the store. The clock stands still at the
suite's Tuesday morning until a test moves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handling import actions, clocks, inbound
from handling.actions import Act, Refused
from handling.scheduler import sweep_all
from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.lifecycle import Actor
from intake.runtime import Runtime
from intake.states import JobState
from outbound.jobs import Job, Work
from routing.clocks import calendar_of
from store.models import ClockRow, ComplaintRow, EventRow, NoticeRow
from tests.conftest import DATA, make_settings
from tests.mails import mail

IST = ZoneInfo("Europe/Istanbul")
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=IST)  # the suite's TEST_NOW
REPORTER = "researcher@example.net"  # the sender of ssl_problem.eml
AYSE = "ayse.yilmaz@example.com"  # the sender of plain_tr.eml


@pytest.fixture
def desk(tmp_path: Path, store_url: str, make_runtime, clock) -> Runtime:
    clock.set(TUESDAY)
    return make_runtime(make_settings(tmp_path, store={"url": store_url}))


def arrive(rt: Runtime, payload: bytes, mailbox: str | None = None) -> str:
    """Ingest one mail (no broker: its work stays pending); the reference it made or
    continued."""
    channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
    raw = raw_from_bytes(payload, channel=channel, mailbox=mailbox)
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    assert outcome.reference, outcome
    return outcome.reference


def plain(rt: Runtime) -> str:
    return arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes())


def ssl_report(rt: Runtime) -> str:
    return arrive(rt, (DATA / "system" / "ssl_problem.eml").read_bytes(), mailbox="ssl")


def fresh(rt: Runtime, sender: str, text: str) -> str:
    """A new complaint by mail (each with its own Message-ID)."""
    return arrive(rt, mail(sender, "e-imza kartım", text))


@contextmanager
def acting(
    rt: Runtime, reference: str, actor: Actor = Actor.UNIT, source: str = "test"
) -> Iterator[Act]:
    """An `Act` on `reference` in a transaction that commits when the block ends."""
    with rt.sessions.begin() as session:
        complaint = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()
        yield Act(session, rt.settings, complaint, actor, f"{actor}:test", source=source)


def row(rt: Runtime, reference: str) -> ComplaintRow:
    with rt.sessions() as session:
        found = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()
        session.expunge(found)
        return found


def clock_rows(rt: Runtime, reference: str) -> dict[str, ClockRow]:
    with rt.sessions() as session:
        complaint_id = row(rt, reference).id
        rows = clocks.clocks_of(session, complaint_id)
        session.expunge_all()
        return {r.name: r for r in rows}


def notices(rt: Runtime, reference: str) -> list[NoticeRow]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.complaint_id == row(rt, reference).id)
            .order_by(NoticeRow.id)
        ).all()
        session.expunge_all()
        return list(rows)


def owed(rt: Runtime, reference: str) -> list[tuple[str, str]]:
    return [(n.purpose, n.audience) for n in notices(rt, reference)]


def event_kinds(rt: Runtime, reference: str) -> list[str]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(EventRow.kind)
                .where(EventRow.complaint_id == row(rt, reference).id)
                .order_by(EventRow.id)
            )
        )


def event_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(EventRow)) or 0


# --- waiting on the complainant ----------------------------------------------------------


def test_waiting_on_the_complainant_pauses_resolution_and_eta_notice_but_never_ssl_preliminary(
    desk, clock
):
    ref = ssl_report(desk)
    clock.set(TUESDAY + timedelta(hours=1))
    with acting(desk, ref) as act:
        actions.set_status(act, "waiting")

    assert row(desk, ref).status == "waiting_on_complainant"
    rows = clock_rows(desk, ref)
    assert set(rows) == {"eta_notice", "resolution", "ssl_preliminary"}
    assert rows["eta_notice"].paused_since == TUESDAY + timedelta(hours=1)
    assert rows["resolution"].paused_since == TUESDAY + timedelta(hours=1)
    assert rows["ssl_preliminary"].paused_since is None  # BR 4.9.5: 24 hours, whatever
    with desk.sessions() as session:
        listed = {c.name: c.state for c in clocks.listing(session, clock(), ref)}
    assert listed == {"eta_notice": "paused", "resolution": "paused", "ssl_preliminary": "running"}


def test_a_followup_while_waiting_resumes_the_clocks_and_pushes_their_deadlines_back_by_the_pause(
    desk, clock
):
    ref = ssl_report(desk)
    before = clock_rows(desk, ref)
    # Tuesday 10:00 receipt: eta_notice due Wednesday 10:00 (9 h), resolution 5 business days
    # later, Tuesday 17 March 10:00; ssl_preliminary 24 h later.
    assert before["eta_notice"].due_at == datetime(2026, 3, 11, 10, 0, tzinfo=IST)
    assert before["resolution"].due_at == datetime(2026, 3, 17, 10, 0, tzinfo=IST)
    assert before["ssl_preliminary"].due_at == TUESDAY + timedelta(hours=24)

    paused_at = TUESDAY + timedelta(hours=1)  # Tuesday 11:00
    clock.set(paused_at)
    with acting(desk, ref) as act:
        actions.set_status(act, "waiting")

    answered_at = datetime(2026, 3, 11, 9, 0, tzinfo=IST)  # Wednesday 09:00
    clock.set(answered_at)
    assert (
        arrive(desk, mail(REPORTER, f"Re: [#{ref}] problem report", "The repository is gone."))
        == ref
    )

    assert row(desk, ref).status == "investigating"
    after = clock_rows(desk, ref)
    # The pause held Tuesday 11:00–17:30 (6.5 h) and Wednesday 08:30–09:00 (0.5 h) of
    # working time: 7 h. eta_notice had used 1 h of its 9 h: 8 h left from Wednesday 09:00
    # is Wednesday 17:00. resolution had used 1 h of its 45 h: 44 h left from Wednesday
    # 09:00 is 8.5 (Wed) + 9 (Thu) + 9 (Fri) + 9 (Mon) + 8.5 (Tue 08:30–17:00).
    assert after["eta_notice"].due_at == datetime(2026, 3, 11, 17, 0, tzinfo=IST)
    assert after["resolution"].due_at == datetime(2026, 3, 17, 17, 0, tzinfo=IST)
    calendar = calendar_of(desk.settings.clock)
    pause = calendar.elapsed(paused_at, answered_at)
    assert pause == timedelta(hours=7)
    for name in ("eta_notice", "resolution"):
        assert after[name].paused_since is None
        assert clocks.pauses_of(after[name]) == [(paused_at, answered_at)]
        assert calendar.elapsed(before[name].due_at, after[name].due_at) == pause
    assert after["ssl_preliminary"].due_at == before["ssl_preliminary"].due_at
    assert "followup" in event_kinds(desk, ref)


def test_a_paused_clock_is_not_breached_while_the_complainant_is_waited_on(desk, clock):
    ref = plain(desk)
    clock.set(TUESDAY + timedelta(hours=1))
    with acting(desk, ref) as act:
        actions.set_status(act, "waiting")
    later = datetime(2026, 3, 12, 12, 0, tzinfo=IST)  # past the unpaused eta deadline
    with desk.sessions() as session:
        listed = {c.name: c.state for c in clocks.listing(session, later, ref)}
    # state_of reads a deadline that is only pushed back on resume: a paused clock whose
    # stored deadline has passed must still show paused, not breached.
    assert listed == {"eta_notice": "paused", "resolution": "paused"}


# --- reassign ------------------------------------------------------------------------------


def test_reassign_moves_unit_and_queue_resets_the_delivery_and_returns_a_ticket_for_the_new_unit(
    desk,
):
    ref = plain(desk)
    start = row(desk, ref)
    assert (start.unit, start.delivery_state) == ("certificate_operations", "pending")
    with desk.sessions.begin() as session:  # the first ticket went out
        session.get(ComplaintRow, start.id).delivery_state = JobState.SENT

    with acting(desk, ref) as act:
        actions.reassign(act, "hardware")
        work = list(act.work)

    moved = row(desk, ref)
    hardware = desk.settings.unit_named("hardware")
    assert (moved.unit, moved.queue) == ("hardware", hardware.queue)
    assert moved.status == "assigned"
    assert moved.delivery_state == JobState.PENDING
    assert moved.delivery_claimed_at is None and moved.delivery_enqueued_at is None
    assert work == [Work(Job.TICKET, moved.id, hardware.queue)]
    assert event_kinds(desk, ref)[-2:] == ["status_changed", "reassigned"]


@pytest.mark.parametrize("target", ["certificate_operations", "nosuchunit"])
def test_reassign_to_the_same_or_an_unknown_unit_is_refused_and_changes_nothing(desk, target):
    ref = plain(desk)
    before, events = row(desk, ref), event_count(desk)
    with acting(desk, ref) as act:  # the transaction commits: whatever the verb did stays
        with pytest.raises(Refused):
            actions.reassign(act, target)
        assert act.work == []

    after = row(desk, ref)
    assert (after.unit, after.queue, after.status, after.delivery_state) == (
        before.unit,
        before.queue,
        before.status,
        before.delivery_state,
    )
    assert event_count(desk) == events


# --- merge ---------------------------------------------------------------------------------


def test_merge_folds_a_duplicate_into_its_target_stops_its_clocks_and_tells_the_target(desk, clock):
    target = fresh(desk, AYSE, "Kartım okunmuyor.")
    duplicate = fresh(desk, "veli@example.com", "Kartım da okunmuyor.")
    clock.set(TUESDAY + timedelta(hours=2))
    with acting(desk, duplicate) as act:
        actions.merge(act, target)
        assert act.work == []

    merged = row(desk, duplicate)
    assert (merged.status, merged.merged_into) == ("merged", target)
    for name, clock_row in clock_rows(desk, duplicate).items():
        assert clock_row.met_at == TUESDAY + timedelta(hours=2), name
        assert clock_row.met_by == f"merged into {target}"
    assert "merged" in event_kinds(desk, duplicate)
    with desk.sessions() as session:
        absorbed = session.scalars(
            select(EventRow).where(
                EventRow.complaint_id == row(desk, target).id, EventRow.kind == "absorbed"
            )
        ).one()
    assert absorbed.detail == {"duplicate": duplicate}
    assert row(desk, target).status == "assigned"  # the target carries on
    assert all(c.met_at is None for c in clock_rows(desk, target).values())


def test_merging_two_complaints_of_one_complainant_tells_them_where_it_goes_on(desk):
    target = fresh(desk, AYSE, "Kartım okunmuyor.")
    duplicate = fresh(desk, AYSE.upper(), "Kartım hâlâ okunmuyor.")
    with acting(desk, duplicate) as act:
        actions.merge(act, target)
        owed = len(act.work)
    assert owed == 1
    with desk.sessions() as session:
        notice = session.scalars(
            select(NoticeRow).where(NoticeRow.complaint_id == row(desk, duplicate).id)
        ).one()
    assert (notice.purpose, notice.audience) == ("merged", "complainant")
    assert target in notice.body


def test_merge_into_itself_an_unknown_or_a_merged_complaint_is_refused_and_changes_nothing(
    desk,
):
    first = fresh(desk, AYSE, "Kartım okunmuyor.")
    second = fresh(desk, "veli@example.com", "Kartım da okunmuyor.")
    third = fresh(desk, "can@example.com", "Benim kartım da.")
    with acting(desk, second) as act:
        actions.merge(act, first)
    events = event_count(desk)

    for target in (third, "CMP-2026-999999", second):
        with acting(desk, third) as act:
            with pytest.raises(Refused):
                actions.merge(act, target)
    after = row(desk, third)
    assert (after.status, after.merged_into) == ("assigned", None)
    assert all(c.met_at is None for c in clock_rows(desk, third).values())
    assert event_count(desk) == events


# --- reject ---------------------------------------------------------------------------------


def test_reject_reopens_restarts_resolution_as_version_2_and_owes_reopened_and_other_ways(
    desk, clock
):
    ref = plain(desk)
    # Resolution: 5 business days (45 h) from Tuesday 10:00; 50 % (22.5 h) is Thursday 14:30.
    first_half = datetime(2026, 3, 12, 14, 30, tzinfo=IST)
    assert [(o.clock, o.what) for o in sweep_all(desk.sessions, desk.settings, first_half)] == [
        ("eta_notice", "typical ETA"),
        ("resolution", "warning 50%"),
    ]

    clock.set(datetime(2026, 3, 12, 15, 0, tzinfo=IST))
    with acting(desk, ref) as act:
        actions.resolve(act, "Kartınız yenilendi.")
    rejected_at = datetime(2026, 3, 12, 16, 0, tzinfo=IST)
    clock.set(rejected_at)
    with acting(desk, ref, Actor.COMPLAINANT, source="raw:999") as act:
        actions.reject(act)
        work = list(act.work)

    reopened = row(desk, ref)
    assert reopened.status == "reopened" and reopened.resolved_at is None
    resolution = clock_rows(desk, ref)["resolution"]
    assert (resolution.version, resolution.notified) == (2, 0.0)
    assert resolution.met_at is None and resolution.breached_at is None
    assert resolution.started_at == rejected_at
    # 45 h from Thursday 16:00: 1.5 (Thu 12th) + 9 (Fri) + 9 (Mon) + 9 (Tue) + 9 (Wed) = 37.5;
    # Thursday 19th is the eve of Ramazan Bayramı, a half day (08:30–13:00, 4.5 h) → 42;
    # Friday 20th is the Bayram; Monday 23rd 08:30 + 3 h = 11:30.
    assert resolution.due_at == calendar_of(desk.settings.clock).add(
        rejected_at, timedelta(hours=45)
    )
    assert resolution.due_at == datetime(2026, 3, 23, 11, 30, tzinfo=IST)
    assert [(n.purpose, n.audience) for n in notices(desk, ref)][-2:] == [
        ("reopened", "unit"),
        ("other_ways", "complainant"),
    ]
    assert [w.job for w in work] == [Job.NOTICE, Job.NOTICE]
    assert "BTK" in notices(desk, ref)[-1].body

    # Version 2 has its own thresholds: its 50 % warning is owed again, under a new key.
    # 22.5 h from Thursday 16:00: 1.5 + 9 (Fri) + 9 (Mon) = 19.5; Tuesday 08:30 + 3 = 11:30.
    second_half = datetime(2026, 3, 17, 11, 30, tzinfo=IST)
    assert [(o.clock, o.what) for o in sweep_all(desk.sessions, desk.settings, second_half)] == [
        ("resolution", "warning 50%")
    ]
    reminders = [n.key for n in notices(desk, ref) if n.purpose == "reminder"]
    assert len(reminders) == 2
    assert ":v1:" in reminders[0] and ":v2:" in reminders[1]


# --- a unit mail processed twice -----------------------------------------------------------


def test_the_same_unit_mail_processed_twice_owes_each_notice_once(desk, clock):
    ref = plain(desk)
    clock.set(TUESDAY + timedelta(hours=1))
    body = "#eta 2026-03-13 15:00\n#reply Kart üreticisiyle görüşüyoruz.\nİç not."

    def process() -> list[Work]:
        with acting(desk, ref) as act:
            return inbound.unit_mail(act.session, desk.settings, act.complaint, 4242, body)

    first = process()
    second = process()

    assert [w.job for w in first] == [Job.NOTICE, Job.NOTICE]
    assert second == []
    assert owed(desk, ref) == [("eta", "complainant"), ("reply", "complainant")]
    assert len({n.key for n in notices(desk, ref)}) == 2
    assert row(desk, ref).eta_at == datetime(2026, 3, 13, 15, 0, tzinfo=IST)


def test_the_same_unit_mail_received_in_two_mailboxes_owes_each_notice_once(desk, clock):
    """A unit member's reply sent to both desk addresses (To sikayet@, Cc sslproblem@) is
    one mail, with one Message-ID, fetched from two mailboxes: the complainant must hear its
    ETA and its reply once, as a complaint sent to both boxes is one complaint."""
    ref = plain(desk)
    clock.set(TUESDAY + timedelta(hours=1))
    unit = desk.settings.unit_named("certificate_operations").email
    payload = mail(unit, f"Re: [#{ref}]", "#eta 2026-03-13 15:00\n#reply Görüşüyoruz.")
    for mailbox in (None, "ssl"):
        assert arrive(desk, payload, mailbox=mailbox) == ref

    assert owed(desk, ref) == [("eta", "complainant"), ("reply", "complainant")]


# --- ETA ------------------------------------------------------------------------------------


def test_an_eta_in_the_past_is_refused_and_changes_nothing(desk, clock):
    ref = plain(desk)
    clock.set(TUESDAY + timedelta(hours=2))
    events = event_count(desk)
    with acting(desk, ref) as act:
        for eta in (TUESDAY + timedelta(hours=1), TUESDAY + timedelta(hours=2)):
            with pytest.raises(Refused, match="has passed"):
                actions.set_eta(act, eta)
        assert act.work == []

    after = row(desk, ref)
    assert (after.status, after.eta_at) == ("assigned", None)
    assert clock_rows(desk, ref)["eta_notice"].met_at is None
    assert notices(desk, ref) == []
    assert event_count(desk) == events
