"""A complaint's whole life on real servers: the unit acts by replying to its ticket, the
complainant hears every action and answers the decision, the scheduler keeps the clocks.

Real Dramatiq workers on the bundled Redis, the store on SQLite and on PostgreSQL, aiosmtpd
as the relay; the time is the test's (`clock`), moved on step by step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.cli.scheduler import run_pass
from outbound.broker import make_broker
from store.models import ComplaintRow, NoticeRow
from tests.conftest import make_settings
from tests.mails import mail, text_of
from tests.system.test_spine import run_workers_until_idle

pytestmark = pytest.mark.system

IST = ZoneInfo("Europe/Istanbul")
ALI = "ali.yilmaz@example.com"
UNIT = "sertifika.operasyon@example.org"
STAFF = "ayse.kaya@staff.example.org"
SSL_UNIT = "ssl.operasyon@example.org"
SUPERVISOR = "kalite@example.org"
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=IST)


@pytest.fixture
def desk(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime, clock):
    inbox, port = smtp
    clock.set(TUESDAY)
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        broker={"min_backoff_ms": 100, "max_backoff_ms": 500, "max_retries": 3},
        clock={"escalation_email": SUPERVISOR},
        unit={"certificate_operations": {"members": ["@staff.example.org"]}},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    yield rt, inbox, clock
    broker.close()


def arrive(rt, payload: bytes, mailbox: str | None = None):
    channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
    raw = raw_from_bytes(payload, channel=channel, mailbox=mailbox)
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    run_workers_until_idle(rt)
    return outcome


def complaint(rt, reference: str) -> ComplaintRow:
    with rt.sessions() as session:
        return session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()


def last_to(inbox, address: str) -> EmailMessage:
    return inbox.to(address)[-1]


def test_the_unit_acts_by_mail_and_the_complainant_hears_each_step_and_answers(desk):
    rt, inbox, clock = desk
    created = arrive(
        rt,
        mail(
            f"Ali Yılmaz <{ALI}>", "e-imza kartım çalışmıyor", "Nitelikli e-imza kartım okunmuyor."
        ),
    )
    ref = created.reference
    ticket = last_to(inbox, UNIT)
    assert ticket["X-Intake-Ref"] == ref and len(inbox.to(ALI)) == 1  # the acknowledgement

    clock.set(TUESDAY + timedelta(hours=2))
    arrive(
        rt,
        mail(
            UNIT,
            f"Re: {ticket['Subject']}",
            "#eta 2026-03-13 15:00\nKart üreticisiyle görüşüyoruz.",
            in_reply_to=ticket["Message-ID"],
        ),
    )
    eta = last_to(inbox, ALI)
    assert "13.03.2026 15:00" in text_of(eta) and eta["Subject"].startswith(f"[#{ref}]")
    assert complaint(rt, ref).status == "investigating"

    arrive(rt, mail(STAFF, f"Re: [#{ref}]", "#reply Kartınızın seri numarasını iletir misiniz?"))
    assert "seri numarasını" in text_of(last_to(inbox, ALI))

    arrive(rt, mail(UNIT, f"Re: [#{ref}]", "#resolved Kartınız yenisiyle değiştirilecektir."))
    decision = last_to(inbox, ALI)
    assert "değiştirilecektir" in text_of(decision) and "KABUL" in text_of(decision)
    assert complaint(rt, ref).status == "resolved"

    before = len(inbox.to(UNIT))
    arrive(rt, mail(ALI, f"Re: {decision['Subject']}", "RET", in_reply_to=decision["Message-ID"]))
    assert complaint(rt, ref).status == "reopened"
    assert len(inbox.to(UNIT)) == before + 1 and "RET" in text_of(last_to(inbox, UNIT))
    assert "BTK" in text_of(last_to(inbox, ALI))  # the other ways open to them (seed 003)

    arrive(rt, mail(UNIT, f"Re: [#{ref}]", "#resolved Yeni kartınız kargoya verildi."))
    decision = last_to(inbox, ALI)
    assert "kargoya" in text_of(decision)
    arrive(rt, mail(ALI, f"Re: {decision['Subject']}", "Kabul", in_reply_to=decision["Message-ID"]))
    closed = complaint(rt, ref)
    assert closed.status == "closed"
    survey = last_to(inbox, ALI)
    assert "1" in text_of(survey) and "5" in text_of(survey) and "memnun" in text_of(survey)

    clock.set(TUESDAY + timedelta(hours=5))
    arrive(rt, mail(ALI, f"Re: {survey['Subject']}", "4", in_reply_to=survey["Message-ID"]))
    rated = complaint(rt, ref)
    assert rated.satisfaction == 4
    assert rated.satisfaction_at == TUESDAY + timedelta(hours=5)


def test_an_unknown_command_is_answered_to_the_unit_with_the_valid_ones(desk):
    rt, inbox, _clock = desk
    ref = arrive(rt, mail(ALI, "e-imza", "Nitelikli e-imza kartım okunmuyor.")).reference
    arrive(rt, mail(UNIT, f"Re: [#{ref}]", "#done bitti\n#eta yarın"))
    help_mail = last_to(inbox, UNIT)
    assert "#done" in text_of(help_mail) and "#resolved" in text_of(help_mail)
    assert complaint(rt, ref).status == "assigned"


def notices(rt, reference: str) -> list[tuple[str, str, str]]:
    with rt.sessions() as session:
        row = complaint(rt, reference)
        return [
            (n.purpose, n.audience, n.state)
            for n in session.scalars(
                select(NoticeRow).where(NoticeRow.complaint_id == row.id).order_by(NoticeRow.id)
            )
        ]


def test_an_ssl_report_gets_its_reminders_and_breach_once_across_a_restart(desk, make_runtime):
    rt, inbox, clock = desk
    ref = arrive(
        rt,
        mail(
            "reporter@example.net", "Key compromise", "The private key of our certificate leaked."
        ),
        mailbox="ssl",
    ).reference
    received = complaint(rt, ref).received_at

    def at(hours: float):
        sent = run_pass(rt, received + timedelta(hours=hours))
        return sorted((item.clock, item.what, str(item.audience)) for item, _ in sent)

    assert at(13) == [("ssl_preliminary", "warning 50%", "unit")]  # 23:00: business clocks wait
    assert at(13.5) == []
    assert at(21) == [("ssl_preliminary", "warning 83%", "unit")]  # 07:00, still 24×7
    assert at(25) == sorted(
        [
            ("eta_notice", "no ETA from the unit", "escalation"),
            ("eta_notice", "typical ETA", "complainant"),
            ("ssl_preliminary", "deadline missed", "escalation"),
            ("ssl_preliminary", "deadline missed", "unit"),
        ]
    )
    ssl_mails = [m for m in inbox.to(SSL_UNIT) if m["X-Intake-Ref"] == ref]
    assert len(ssl_mails) == 4  # the ticket, two reminders, the breach
    assert len([m for m in inbox.to(SUPERVISOR) if m["X-Intake-Ref"] == ref]) == 2

    restarted = make_runtime(rt.settings)  # a new process on the same store
    assert run_pass(restarted, received + timedelta(hours=25)) == []
    assert run_pass(restarted, received + timedelta(hours=30)) == []
    assert len([m for m in inbox.to(SSL_UNIT) if m["X-Intake-Ref"] == ref]) == 4
    breached = [c for c in notices(rt, ref) if c[0] == "breach"]
    assert len(breached) == 2 and all(state == "sent" for *_, state in breached)


def test_a_decision_nobody_answers_is_closed_after_the_set_days_and_a_rating_asked(desk):
    rt, inbox, clock = desk
    ref = arrive(rt, mail(ALI, "e-imza", "Nitelikli e-imza kartım okunmuyor.")).reference
    other = arrive(rt, mail("veli@example.com", "e-imza", "Kartım okunmuyor.")).reference
    for reference in (ref, other):
        arrive(rt, mail(UNIT, f"Re: [#{reference}]", "#resolved Kartınız yenilendi."))
    days = rt.settings.clock.close_resolved_after_days
    assert run_pass(rt, TUESDAY + timedelta(days=days - 1)) == []
    closed = run_pass(rt, TUESDAY + timedelta(days=days, hours=1))
    assert sorted(item.reference for item, _ in closed) == sorted([ref, other])
    assert {complaint(rt, r).status for r in (ref, other)} == {"closed"}
    assert "memnun" in text_of(last_to(inbox, ALI))
    assert run_pass(rt, TUESDAY + timedelta(days=days, hours=2)) == []
