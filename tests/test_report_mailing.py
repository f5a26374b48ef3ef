"""The report to management, mailed by the scheduler on the first working day of the month
(`reports.mailing`): once, whatever restarts, retries or second passes come; against the real
store (SQLite and PostgreSQL) and a real SMTP server (aiosmtpd), on the test's clock."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.cli.main import main
from intake.cli.scheduler import SchedulerFeed, send_reports
from intake.cli.status import collect, render
from reports import mailing
from reports.monthly import Period
from store.models import EventRow, ReportRunRow
from tests.conftest import make_settings
from tests.mails import mail
from tests.system.test_run import write_config

IST = ZoneInfo("Europe/Istanbul")
BOSS = "yonetim@example.org"
# 2026-11-01 is a Sunday: November's first working day is Monday the 2nd, from 08:30.
OPENS = datetime(2026, 11, 2, 8, 30, tzinfo=IST)
FILES = {"report.html", "report.pdf", "complaints.csv", "summary.csv", "recurring.csv"}


def settings_for(tmp_path: Path, **tables: dict):
    return make_settings(tmp_path, report={"management_email": BOSS}, **tables)


# --- when a report is owed (no servers) --------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "opens"),
    [
        (2026, 11, datetime(2026, 11, 2, 8, 30, tzinfo=IST)),  # the 1st is a Sunday
        (2027, 1, datetime(2027, 1, 4, 8, 30, tzinfo=IST)),  # 1 January a holiday, then a weekend
        (2026, 12, datetime(2026, 12, 1, 8, 30, tzinfo=IST)),  # a Tuesday
        (2026, 5, datetime(2026, 5, 4, 8, 30, tzinfo=IST)),  # 1 May (Labour Day), weekend
    ],
)
def test_the_first_working_day_follows_the_turkish_calendar(tmp_path, year, month, opens):
    assert mailing.first_working_day(year, month, settings_for(tmp_path)) == opens


def test_last_months_report_is_owed_from_the_opening_of_the_first_working_day(tmp_path):
    settings = settings_for(tmp_path)
    assert mailing.owed(settings, OPENS - timedelta(minutes=1)) == []
    assert [o.key for o in mailing.owed(settings, OPENS)] == ["monthly:2026-10"]
    assert [o.key for o in mailing.owed(settings, OPENS + timedelta(days=20))] == [
        "monthly:2026-10"
    ]
    assert mailing.owed(settings, OPENS)[0].period == Period(2026, 10)


def test_january_owes_the_year_too_unless_yearly_is_off(tmp_path):
    january = datetime(2027, 1, 4, 9, 0, tzinfo=IST)
    keys = [o.key for o in mailing.owed(settings_for(tmp_path), january)]
    assert keys == ["monthly:2026-12", "yearly:2026"]
    quiet = make_settings(tmp_path, report={"management_email": BOSS, "yearly": False})
    assert [o.key for o in mailing.owed(quiet, january)] == ["monthly:2026-12"]


def test_without_a_management_address_nothing_is_owed(tmp_path):
    assert mailing.owed(make_settings(tmp_path), OPENS + timedelta(hours=1)) == []


# --- sending, once -----------------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path, store_url: str, smtp, make_runtime, clock):
    """A store with October's complaints, and a relay; the clock stands at the opening."""
    inbox, port = smtp
    settings = settings_for(
        tmp_path, store={"url": store_url}, smtp={"host": "127.0.0.1", "port": port}
    )
    rt = make_runtime(settings)
    for day, who in ((6, "ayse@example.net"), (20, "bora@example.net")):
        clock.set(datetime(2026, 10, day, 10, 0, tzinfo=IST))
        raw = raw_from_bytes(mail(who, "e-imza kartım çalışmıyor", "NES kartım okunmuyor."))
        assert pipeline.ingest(rt, [raw]).outcomes()[0].reference
    clock.set(OPENS + timedelta(minutes=5))
    return rt, inbox, settings


def reports_to(inbox) -> list:
    return [m for m in inbox.to(BOSS) if "rapor" in m["Subject"]]


def test_the_report_goes_once_with_its_files_and_a_restart_sends_nothing_again(
    desk, make_runtime, clock
):
    rt, inbox, settings = desk
    at = clock()
    assert send_reports(rt, at) == ["monthly:2026-10: sent"]
    sent = reports_to(inbox)
    assert len(sent) == 1
    message = sent[0]
    assert "2026-10" in message["Subject"] and message["Auto-Submitted"] == "auto-generated"
    attached = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attached) == FILES
    assert bytes(attached["report.pdf"]).startswith(b"%PDF-")

    assert send_reports(rt, at + timedelta(seconds=5)) == []  # the next pass
    restarted = make_runtime(settings)  # a new process on the same store
    assert send_reports(restarted, at + timedelta(minutes=1)) == []
    assert send_reports(restarted, at + timedelta(days=3)) == []  # long after any claim
    feed = SchedulerFeed(restarted)  # the daemon's own cycle, too
    feed.cycle()
    assert feed.reports.thread is not None
    feed.reports.thread.join(60)
    feed.cycle()  # settled now: no thread is started for it again
    assert feed.reports.settled == {"monthly:2026-10"} and not feed.reports.thread.is_alive()
    assert len(reports_to(inbox)) == 1

    with rt.sessions() as session:
        row = session.scalars(select(ReportRunRow)).one()
        events = session.scalars(select(EventRow).where(EventRow.kind == "report_sent")).all()
    assert (row.key, row.state, row.attempts) == ("monthly:2026-10", "sent", 1)
    assert row.message_id == message["Message-ID"]
    assert [e.detail["report"] for e in events] == ["monthly:2026-10"]
    assert BOSS not in str(events[0].detail)  # masked, as in every event


def test_a_relay_that_defers_gets_the_same_report_later_and_only_once(desk, clock):
    rt, inbox, _ = desk
    inbox.refuse[BOSS] = ["451 4.3.0 try again later", "451 4.3.0 try again later", "250 OK"]
    at = clock()
    assert send_reports(rt, at)[0].startswith("monthly:2026-10: waiting")
    assert send_reports(rt, at + timedelta(seconds=30)) == []  # backoff: one minute first
    assert send_reports(rt, at + timedelta(minutes=1))[0].startswith("monthly:2026-10: waiting")
    assert send_reports(rt, at + timedelta(minutes=2)) == []  # then two
    assert send_reports(rt, at + timedelta(minutes=3)) == ["monthly:2026-10: sent"]
    assert send_reports(rt, at + timedelta(minutes=10)) == []
    assert len(reports_to(inbox)) == 1
    with rt.sessions() as session:
        row = session.scalars(select(ReportRunRow)).one()
    assert (row.state, row.attempts) == ("sent", 3)


def test_a_refusal_for_good_is_recorded_and_not_tried_again(desk, clock, capsys):
    rt, inbox, _ = desk
    inbox.refuse[BOSS] = ["550 5.1.1 no such user"]
    at = clock()
    assert send_reports(rt, at)[0].startswith("monthly:2026-10: failed")
    assert send_reports(rt, at + timedelta(hours=2)) == []
    with rt.sessions() as session:
        row = session.scalars(select(ReportRunRow)).one()
        failed = session.scalars(select(EventRow).where(EventRow.kind == "report_failed")).all()
    assert row.state == "failed" and "550" in (row.error or "")
    assert len(failed) == 1 and inbox.to(BOSS) == []
    said = render(collect(rt))  # `intake status` shows it, and how to send it by hand
    assert re.search(r"report monthly:2026-10: failed: .*550", said)
    assert "(intake report --month 2026-10 --mail)" in said


def test_a_report_that_cannot_be_built_never_stops_the_scheduler(desk, clock):
    rt, inbox, settings = desk
    calls = []

    def broken(*args):  # noqa: ANN002
        calls.append(args)
        raise RuntimeError("a bug in the report")

    at = clock()
    mailing._unbuildable.clear()
    try:
        assert mailing.run_due(rt.sessions, settings, at, build=broken) == []
        assert mailing.run_due(rt.sessions, settings, at + timedelta(minutes=1), build=broken) == []
        assert len(calls) == 1  # not rebuilt every pass: after BUILD_RETRY
        later = at + mailing.BUILD_RETRY
        assert mailing.run_due(rt.sessions, settings, later) == ["monthly:2026-10: sent"]
    finally:
        mailing._unbuildable.clear()
    assert len(reports_to(inbox)) == 1


def test_scheduler_once_at_the_first_working_day_prints_and_sends_the_report(
    tmp_path, smtp, capsys
):
    inbox, port = smtp
    config = write_config(tmp_path, port)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('management_email = ""', f'management_email = "{BOSS}"'), encoding="utf-8"
    )
    at = (OPENS + timedelta(minutes=10)).isoformat()
    args = ["--config", str(config), "scheduler", "--once", "--at", at]
    assert main(args) == 0
    assert "report monthly:2026-10: sent" in capsys.readouterr().out
    assert main(args) == 0  # again, as a cron job run twice would
    assert "report" not in capsys.readouterr().out
    assert len(reports_to(inbox)) == 1


def test_report_mail_sends_now_again_when_asked_and_the_scheduler_then_owes_nothing(
    tmp_path, smtp, capsys
):
    inbox, port = smtp
    config = write_config(tmp_path, port)
    plain = config.read_text(encoding="utf-8")
    args = ["--config", str(config), "report", "--month", "2026-10", "--out", str(tmp_path / "r")]
    assert main([*args, "--mail"]) == 78  # no address to send it to
    assert "management_email is not set" in capsys.readouterr().err
    config.write_text(
        plain.replace('management_email = ""', f'management_email = "{BOSS}"'), encoding="utf-8"
    )
    assert main([*args, "--mail"]) == 0
    out = capsys.readouterr().out
    assert "mail to y***@e***.org: sent" in out and str(tmp_path / "r" / "report.pdf") in out
    assert main([*args, "--mail"]) == 0  # asked for again: sent again
    assert capsys.readouterr().out.count(": sent") == 1
    assert len(reports_to(inbox)) == 2
    at = (OPENS + timedelta(minutes=10)).isoformat()
    assert main(["--config", str(config), "scheduler", "--once", "--at", at]) == 0
    assert "report monthly" not in capsys.readouterr().out
    assert len(reports_to(inbox)) == 2
    inbox.refuse[BOSS] = ["451 4.3.0 later"]
    assert main([*args, "--mail"]) == 75  # the relay is away: try again later


def test_the_daemons_pass_sends_the_report_from_a_thread_of_its_own(desk, clock):
    rt, inbox, _ = desk
    feed = SchedulerFeed(rt)
    feed.cycle()  # the pass returns at once; the report is built beside it
    thread = feed.reports.thread
    assert thread is not None and thread.name == "intake-report"
    thread.join(120)
    assert len(reports_to(inbox)) == 1
    clock.set(clock() + timedelta(seconds=5))
    feed.cycle()
    assert feed.reports.thread is thread  # nothing owed is unsettled: no new thread
    assert len(reports_to(inbox)) == 1
