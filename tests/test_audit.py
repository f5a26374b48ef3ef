"""`intake audit ssl`: the BR 4.9.5 evidence, from SSL reports seeded through the real
pipeline (real Dramatiq workers on the bundled Redis, aiosmtpd as the relay, the store on
SQLite and PostgreSQL), on the test's clock.

Every expected value is computed here from the test's own inputs (the times it sets, the
mails aiosmtpd received), never read back from the columns under test.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from intake.cli.main import build_parser
from intake.cli.scheduler import run_pass
from outbound.broker import make_broker
from reports import audit
from store.models import ClockRow, ComplaintRow, EventRow
from tests.conftest import make_settings
from tests.mails import mail
from tests.system.test_lifecycle import arrive

pytestmark = pytest.mark.system

IST = ZoneInfo("Europe/Istanbul")
SSL_UNIT = "ssl.operasyon@example.org"

# (reporter, received, answered) in local time; None: never answered.
ON_TIME = ("ayse@example.net", datetime(2026, 3, 10, 10, 0, tzinfo=IST), timedelta(hours=3))
LATE = ("bora@example.net", datetime(2026, 3, 10, 11, 0, tzinfo=IST), timedelta(hours=26))
BREACHED = ("cem@example.net", datetime(2026, 3, 10, 12, 0, tzinfo=IST), None)
OPEN = ("deniz@example.net", datetime(2026, 3, 11, 6, 0, tzinfo=IST), None)
BEFORE = ("emre@example.net", datetime(2026, 3, 9, 23, 30, tzinfo=IST), None)
AFTER = ("fatma@example.net", datetime(2026, 3, 12, 1, 0, tzinfo=IST), None)  # 03-11 22:00 UTC
SCHEDULER_AT = LATE[1] + timedelta(hours=25)  # 03-11 12:00: B's and C's breaches recorded
EXPORT_AT = datetime(2026, 3, 12, 2, 0, tzinfo=IST)
MASKED = {
    "ayse@example.net": "a***@e***.net",
    "bora@example.net": "b***@e***.net",
    "cem@example.net": "c***@e***.net",
    "deniz@example.net": "d***@e***.net",
}


@pytest.fixture
def seeded(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime, clock):
    """The six reports, answered as their tuples say; the export's clock at `EXPORT_AT`."""
    inbox, port = smtp
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        broker={"min_backoff_ms": 100, "max_backoff_ms": 500, "max_retries": 3},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    refs: dict[str, str] = {}
    steps: list[tuple[datetime, str, str]] = []  # (when, what, reporter)
    for reporter, received, answered in (ON_TIME, LATE, BREACHED, OPEN, BEFORE, AFTER):
        steps.append((received, "report", reporter))
        if answered is not None:
            steps.append((received + answered, "reply", reporter))
    steps.append((SCHEDULER_AT, "scheduler", ""))
    for when, what, reporter in sorted(steps):
        clock.set(when)
        if what == "report":
            body = f"The private key of the certificate of {reporter} leaked."
            refs[reporter] = arrive(rt, mail(reporter, "Key compromise", body), "ssl").reference
        elif what == "reply":
            text = "#reply We are revoking the certificate; preliminary report attached."
            arrive(rt, mail(SSL_UNIT, f"Re: [#{refs[reporter]}]", text))
        else:
            run_pass(rt, when)
    clock.set(EXPORT_AT)
    yield rt, inbox, refs
    broker.close()


def utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def export(rt, **options) -> list[dict[str, str]]:
    with rt.sessions() as session:
        rows = audit.ssl_rows(
            session,
            rt.settings,
            datetime(2026, 3, 10).date(),
            datetime(2026, 3, 11).date(),
            EXPORT_AT,
            **options,
        )
    stream = io.StringIO()
    audit.write_csv(rows, stream, rt.settings.clock.timezone)
    return list(csv.DictReader(io.StringIO(stream.getvalue())))


def test_each_ssl_report_shows_its_first_answer_and_verdict_from_its_events(seeded):
    rt, inbox, refs = seeded
    rows = export(rt)
    expected = [ON_TIME, LATE, BREACHED, OPEN]  # by receipt; BEFORE and AFTER are outside
    assert [r["reference"] for r in rows] == [refs[e[0]] for e in expected]
    assert list(rows[0]) == list(audit.COLUMNS)
    for row, (reporter, received, answered) in zip(rows, expected):
        mails = inbox.to(reporter)
        assert row["channel"] == "email_ssl"
        assert row["received_at_utc"] == utc(received)
        assert row["received_at_local"] == received.isoformat()
        assert row["reporter"] == MASKED[reporter]
        # the acknowledgement went at once and is the first mail; it is not the answer
        assert row["acknowledged_at_utc"] == utc(received)
        assert row["acknowledgement_message_id"] == mails[0]["Message-ID"].strip("<>")
        assert row["allowed_hours"] == "24.00"
        if answered is not None:
            replies = [m for m in mails if "preliminary report attached" in m.get_content()]
            assert len(replies) == 1
            assert row["answer"] == "reply"
            assert row["answer_given_at_utc"] == utc(received + answered)
            assert row["answer_sent_at_utc"] == utc(received + answered)
            assert row["answer_sent_at_local"] == (received + answered).isoformat()
            assert row["answer_message_id"] == replies[0]["Message-ID"].strip("<>")
            assert row["elapsed_hours"] == f"{answered.total_seconds() / 3600:.2f}"
        else:
            # the scheduler's typical ETA reached C at 25 h: it is no preliminary report
            assert row["answer"] == row["answer_sent_at_utc"] == row["answer_message_id"] == ""
            assert row["elapsed_hours"] == f"{(EXPORT_AT - received).total_seconds() / 3600:.2f}"
    assert [r["verdict"] for r in rows] == ["on_time", "late", "breached", "open"]
    assert [r["clock_row_disagrees"] for r in rows] == ["no", "no", "no", "no"]
    assert "ayse@example.net" not in repr(rows)


def test_the_events_column_traces_each_row_to_the_stored_events(seeded):
    rt, _inbox, refs = seeded
    rows = {r["reference"]: r for r in export(rt)}

    def traced(reporter: str) -> list[tuple[int, str, str]]:
        items = []
        for part in rows[refs[reporter]]["events"].split("; "):
            number, kind, at = part.split(" ")
            items.append((int(number), kind, at))
        return items

    with rt.sessions() as session:
        for reporter in (ON_TIME[0], LATE[0], BREACHED[0], OPEN[0]):
            complaint = session.scalars(
                select(ComplaintRow).where(ComplaintRow.reference == refs[reporter])
            ).one()
            stored = session.scalars(
                select(EventRow).where(EventRow.complaint_id == complaint.id).order_by(EventRow.id)
            ).all()
            assert [(n, at) for n, _k, at in traced(reporter)] == [
                (e.id, utc(e.at)) for e in stored
            ]
            assert [k.split("(")[0] for _n, k, _at in traced(reporter)] == [e.kind for e in stored]
    late = [kind for _n, kind, at in traced(LATE[0])]
    assert "clock_breached(ssl_preliminary)" in late
    answered_at = utc(LATE[1] + LATE[2])
    assert ("replied", answered_at) in [(k, at) for _n, k, at in traced(LATE[0])]
    assert ("notice_sent(reply)", answered_at) in [(k, at) for _n, k, at in traced(LATE[0])]
    assert late.index("clock_breached(ssl_preliminary)") < late.index("replied")


def test_an_edited_clock_row_does_not_change_the_verdict_and_is_flagged(seeded, capsys):
    rt, _inbox, refs = seeded
    with rt.sessions.begin() as session:  # someone makes the breaches look met in time
        for reporter, received in ((LATE[0], LATE[1]), (BREACHED[0], BREACHED[1])):
            complaint_id = session.scalar(
                select(ComplaintRow.id).where(ComplaintRow.reference == refs[reporter])
            )
            row = session.scalars(
                select(ClockRow).where(
                    ClockRow.complaint_id == complaint_id, ClockRow.name == "ssl_preliminary"
                )
            ).one()
            row.met_at, row.breached_at = received + timedelta(hours=1), None
    path = Path(rt.settings.broker.state_dir).parent / "audit.csv"
    parser = build_parser()
    args = parser.parse_args(
        ["audit", "ssl", "--from", "2026-03-10", "--to", "2026-03-11", "--out", str(path)]
    )
    assert args.handler(args, rt.settings) == 0
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [r["verdict"] for r in rows] == ["on_time", "late", "breached", "open"]
    assert [r["clock_row_disagrees"] for r in rows] == ["no", "yes", "yes", "no"]
    assert f"met {utc(LATE[1] + timedelta(hours=1))}" in rows[1]["clock_row"]
    assert "4 SSL problem report(s)" in capsys.readouterr().err

    args = parser.parse_args(
        ["audit", "ssl", "--from", "2026-03-10", "--to", "2026-03-10", "--unmasked"]
    )
    assert args.handler(args, rt.settings) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["reporter"] for r in out] == [ON_TIME[0], LATE[0], BREACHED[0]]


def test_a_reversed_range_is_refused(tmp_path, capsys):
    args = build_parser().parse_args(["audit", "ssl", "--from", "2026-03-11", "--to", "2026-03-10"])
    assert args.handler(args, make_settings(tmp_path)) == 64
    assert "after" in capsys.readouterr().err
