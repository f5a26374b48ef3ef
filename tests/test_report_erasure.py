"""Export, erase, export again (KVKK): nothing personal is left, every figure of the monthly
report is as it was, and the BR 4.9.5 audit export still shows each clock and its verdict.

On the real store (SQLite and PostgreSQL), with mail through the pipeline and the unit's
answer through the scheduler's own sending (to the outbox), on the test's clock.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.cli.scheduler import run_pass
from reports import audit
from reports.monthly import Period, build_files
from tests.conftest import make_settings
from tests.handling.test_kvkk import dump, erase, export
from tests.mails import mail

pytestmark = pytest.mark.system

IST = ZoneInfo("Europe/Istanbul")
SSL_UNIT = "ssl.operasyon@example.org"
ZEYNEP = "Zeynep Karaca <zeynep.karaca@example.com>"
REPORTED = datetime(2026, 10, 6, 10, 0, tzinfo=IST)  # a Tuesday
ANSWERED = REPORTED + timedelta(hours=3)
AT = datetime(2026, 11, 3, 10, 0, tzinfo=IST)  # the report and the export are made then
OCTOBER = Period(2026, 10)
CSVS = ("complaints.csv", "summary.csv", "recurring.csv")
CLOCK_COLUMNS = ("reference", "received_at_utc", "answer_sent_at_utc", "allowed_hours",
                 "elapsed_hours", "verdict", "clock_row", "clock_row_disagrees")  # fmt: skip


def arrive(rt, payload: bytes, mailbox: str | None = None) -> str:
    channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
    raw = raw_from_bytes(payload, channel=channel, mailbox=mailbox)
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    return outcome.reference


def audit_rows(rt) -> list[dict[str, str]]:
    with rt.sessions() as session:
        rows = audit.ssl_rows(session, rt.settings, REPORTED.date(), AT.date(), AT)
    stream = io.StringIO()
    audit.write_csv(rows, stream, rt.settings.clock.timezone)
    return list(csv.DictReader(io.StringIO(stream.getvalue())))


def report(rt) -> dict[str, bytes]:
    with rt.sessions() as session:
        return build_files(session, rt.settings, OCTOBER, AT)


def test_an_erasure_changes_no_figure_of_the_report_and_hides_no_clock_of_the_audit(
    tmp_path: Path, store_url: str, make_runtime, clock
):
    rt = make_runtime(make_settings(tmp_path, store={"url": store_url}))
    clock.set(REPORTED)
    ssl_ref = arrive(
        rt, mail(ZEYNEP, "Sertifikamın özel anahtarı sızdı", "Anahtar ele geçti."), "ssl"
    )
    clock.set(ANSWERED)
    arrive(rt, mail(SSL_UNIT, f"Re: [#{ssl_ref}]", "#reply Sertifikanız iptal ediliyor."))
    run_pass(rt, ANSWERED + timedelta(minutes=1))  # sends the reply: the preliminary report
    clock.set(REPORTED + timedelta(days=1))
    own = arrive(
        rt, mail(ZEYNEP, "e-imza kartım okunmuyor", "Kartım okunmuyor. Tel 0532 987 65 43")
    )
    other = arrive(rt, mail("mehmet@example.org", "Mali mühür", "Mali mühür yüklenemiyor."))
    clock.set(AT)

    audit_before, report_before = audit_rows(rt), report(rt)
    found = export(rt, email="zeynep.karaca@example.com")
    assert sorted(c["reference"] for c in found["complaints"]) == sorted([ssl_ref, own])
    assert audit_before[0]["verdict"] == "on_time"  # the answer came in 3 h

    erase(rt, email="zeynep.karaca@example.com")

    assert export(rt, email="zeynep.karaca@example.com")["complaints"] == []
    everything = dump(rt)
    assert "zeynep" not in everything and "karaca" not in everything
    assert "987 65 43" not in everything
    report_after = report(rt)
    for name in CSVS:  # every figure, row and group as it was
        assert report_after[name] == report_before[name], name
    rows = report_after["complaints.csv"].decode("utf-8-sig")
    assert ssl_ref in rows and own in rows and other in rows
    audit_after = audit_rows(rt)
    assert [r["reference"] for r in audit_after] == [ssl_ref]
    for column in CLOCK_COLUMNS:
        assert audit_after[0][column] == audit_before[0][column], column
    assert audit_after[0]["verdict"] == "on_time"
    assert "zeynep" not in audit_after[0]["reporter"].lower()
