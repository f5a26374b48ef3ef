"""The spine end to end on real servers: mails in, tickets in each unit's SMTP inbox.

Real Dramatiq workers on a real Redis (the bundled redis-server), the store on SQLite and
on PostgreSQL, and an aiosmtpd server standing in for the organisation's relay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import func, select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.prepare import start_pool
from ingest.reconciler import reconcile
from ingest.records import Outcome
from outbound.broker import make_broker
from outbound.jobs import ACK_QUEUE
from store.models import ComplaintRow, EventRow, RawMessageRow
from tests.conftest import DATA, make_settings

pytestmark = pytest.mark.system

MAILS = DATA / "system"
# file → (mailbox it arrives in, unit whose inbox must get it); None: an auto-reply.
EXPECTED = {
    "plain_tr.eml": (None, "certificate_operations"),
    "html_only.eml": (None, "time_stamping"),
    "legacy_1254.eml": (None, "hardware"),
    "with_attachment.eml": (None, "certificate_operations"),
    "auto_reply.eml": (None, None),
    "ssl_problem.eml": ("ssl", "ssl_operations"),
}


@pytest.fixture
def system(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime):
    inbox, port = smtp
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        broker={"min_backoff_ms": 100, "max_backoff_ms": 500, "max_retries": 5},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    yield rt, inbox
    broker.close()


def ingest_one(rt, raw) -> Outcome:
    return pipeline.ingest(rt, [raw]).outcomes()[0]


def inject_all(rt) -> dict[str, Outcome]:
    outcomes = {}
    for name, (mailbox, _unit) in EXPECTED.items():
        channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
        payload = (MAILS / name).read_bytes()
        outcomes[name] = ingest_one(rt, raw_from_bytes(payload, channel=channel, mailbox=mailbox))
    return outcomes


def run_workers_until_idle(rt) -> None:
    broker = rt.broker
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for queue in [unit.queue for unit in rt.settings.unit] + [ACK_QUEUE]:
            broker.join(queue, timeout=60_000)
        worker.join()
    finally:
        worker.stop()


def count(rt, model) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def complaints(rt) -> dict[str, ComplaintRow]:
    with rt.sessions() as session:
        return {row.source_id: row for row in session.scalars(select(ComplaintRow))}


def test_every_mail_becomes_one_ticket_in_its_units_inbox(system):
    rt, inbox = system
    first = inject_all(rt)
    again = inject_all(rt)

    assert {n: o.status for n, o in first.items()} == {
        n: ("auto_submitted" if unit is None else "created") for n, (_, unit) in EXPECTED.items()
    }
    assert {o.status for o in again.values()} == {"duplicate"}
    assert count(rt, ComplaintRow) == 5
    assert count(rt, RawMessageRow) == 6

    run_workers_until_idle(rt)

    by_source = complaints(rt)
    for name, (_mailbox, unit_code) in EXPECTED.items():
        if unit_code is None:
            continue
        unit = next(u for u in rt.settings.unit if u.code == unit_code)
        reference = first[name].reference
        tickets = [m for m in inbox.to(unit.email) if m["X-Intake-Ref"] == reference]
        assert len(tickets) == 1, name
        assert tickets[0]["Subject"].startswith(f"[#{reference}] ")
    for unit in rt.settings.unit:
        expected = sum(1 for _m, u in EXPECTED.values() if u == unit.code)
        assert len(inbox.to(unit.email)) == expected, unit.code
    assert all(row.delivery_state == "sent" for row in by_source.values())


def test_each_complainant_gets_one_acknowledgement_and_the_auto_reply_none(system):
    rt, inbox = system
    first = inject_all(rt)
    run_workers_until_idle(rt)

    for name, outcome in first.items():
        sender = {
            "plain_tr.eml": "ayse.yilmaz@example.com",
            "html_only.eml": "mehmet.kaya@example.net",
            "legacy_1254.eml": "sule.sahin@example.com.tr",
            "with_attachment.eml": "can.demir@example.org.tr",
            "auto_reply.eml": "ofis@example.com",
            "ssl_problem.eml": "researcher@example.net",
        }[name]
        acks = inbox.to(sender)
        if outcome.status == "auto_submitted":
            assert acks == []
            continue
        assert len(acks) == 1, name
        assert outcome.reference in acks[0]["Subject"]
        assert outcome.reference in acks[0].get_content()
        assert acks[0]["Auto-Submitted"] == "auto-replied"


def ticket_for(inbox, reference: str):
    """The ticket (not the acknowledgement) sent for `reference`."""
    return next(
        m
        for m in inbox.messages
        if m[1]["X-Intake-Ref"] == reference and "ticket" in m[1]["Message-ID"]
    )[1]


def test_ticket_carries_the_attachment_and_turkish_text_intact(system):
    rt, inbox = system
    first = inject_all(rt)
    run_workers_until_idle(rt)

    ticket = ticket_for(inbox, first["with_attachment.eml"].reference)
    parts = [p for p in ticket.iter_attachments()]
    assert [p.get_filename() for p in parts] == ["hata.pdf"]
    assert parts[0].get_content().startswith(b"%PDF-1.4")
    legacy = ticket_for(inbox, first["legacy_1254.eml"].reference)
    assert "Kart okuyucu sürücüsü yüklenmiyor" in legacy["Subject"]
    assert "cihazının sürücüsü" in legacy.get_body().get_content()


def test_ssl_problem_report_goes_to_ssl_unit_due_in_24_hours(system):
    rt, inbox = system
    first = inject_all(rt)
    row = complaints(rt)["ssl-report-0006@mail.example.net"]
    assert (row.channel, row.product, row.unit) == ("email_ssl", "ssl", "ssl_operations")
    assert row.due_at - row.received_at == timedelta(hours=24)
    run_workers_until_idle(rt)
    assert len(inbox.to("ssl.operasyon@example.org")) == 1
    assert first["ssl_problem.eml"].reference


def test_reconciler_delivers_everything_after_redis_lost_its_memory(system):
    rt, inbox = system
    inject_all(rt)
    assert rt.broker.client.hlen("dramatiq:unit.certificate_operations.msgs") == 2
    rt.broker.client.flushall()  # the broker forgets every queued job

    reconcile(rt, everything=True)
    run_workers_until_idle(rt)

    for unit in rt.settings.unit:
        expected = sum(1 for _m, u in EXPECTED.values() if u == unit.code)
        assert len(inbox.to(unit.email)) == expected, unit.code
    assert len(inbox.messages) == 5 + 5  # five tickets, five acknowledgements, none twice


def test_a_temporary_smtp_failure_is_retried_and_a_permanent_one_recorded(system):
    rt, inbox = system
    inbox.refuse["sertifika.operasyon@example.org"] = ["451 4.3.0 try later", "250 OK"]
    inbox.refuse["researcher@example.net"] = ["550 5.1.1 no such user"]
    first = inject_all(rt)
    run_workers_until_idle(rt)

    assert len(inbox.to("sertifika.operasyon@example.org")) == 2  # after the retry
    ssl_row = complaints(rt)["ssl-report-0006@mail.example.net"]
    assert (ssl_row.delivery_state, ssl_row.ack_state) == ("sent", "failed")
    with rt.sessions() as session:
        kinds = list(
            session.scalars(
                select(EventRow.kind)
                .where(EventRow.complaint_id == ssl_row.id)
                .order_by(EventRow.id)
            )
        )
    assert "ack_failed" in kinds and "delivered" in kinds
    assert first["ssl_problem.eml"].status == "created"


def test_mail_that_cannot_be_processed_is_kept_failed_and_does_not_block(system):
    rt, inbox = system
    bad = ingest_one(rt, raw_from_bytes(b"\x00\x01\x02 not a mail at all"))
    good = ingest_one(rt, raw_from_bytes((MAILS / "plain_tr.eml").read_bytes()))
    assert (bad.status, good.status) == ("failed", "created")
    with rt.sessions() as session:
        row = session.get(RawMessageRow, bad.raw_id)
        assert row.status == "failed" and "NotAnEmail" in row.error
        assert row.payload == b"\x00\x01\x02 not a mail at all"
        assert row.attempts == 1
    again = pipeline.process(rt, [bad.raw_id])[bad.raw_id]
    assert again.status == "failed"  # retry: still kept, still failed
    with rt.sessions() as session:
        assert session.get(RawMessageRow, bad.raw_id).attempts == 2  # one per try, not two


# Received on a Monday evening in Istanbul the next business day's end (Tuesday 17:30) comes
# before the 24 hours; in the morning it comes after them. A copy through the SSL box puts
# the complaint on the SSL clock either way, as if it had come through that box alone.
@pytest.mark.parametrize("received", ["2026-03-09T10:00:00+03:00", "2026-03-09T18:00:00+03:00"])
@pytest.mark.parametrize("order", [("general", "ssl"), ("ssl", "general")])
def test_the_same_mail_in_two_mailboxes_is_one_complaint_on_the_ssl_clock(system, received, order):
    rt, inbox = system
    payload = (MAILS / "ssl_problem.eml").read_bytes()
    at = datetime.fromisoformat(received)
    first, second = (
        ingest_one(
            rt,
            raw_from_bytes(
                payload,
                channel=rt.settings.mailbox_named(box).channel,
                mailbox=box,
                received_at=at + timedelta(minutes=n),
            ),
        )
        for n, box in enumerate(order)
    )
    assert (first.status, second.status) == ("created", "duplicate")
    assert second.reference == first.reference
    assert count(rt, ComplaintRow) == 1 and count(rt, RawMessageRow) == 2
    row = complaints(rt)["ssl-report-0006@mail.example.net"]
    assert row.received_at == at
    assert row.due_at == at + timedelta(hours=24)


def test_a_job_that_keeps_failing_ends_as_a_recorded_dead_letter(system):
    from intake.cli.status import collect
    from store.models import DeadLetterRow

    rt, inbox = system
    first = inject_all(rt)
    with rt.sessions.begin() as session:  # a unit removed from the settings: retried, then kept
        row = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == first["html_only.eml"].reference)
        ).one()
        row.unit = "dissolved_unit"
    run_workers_until_idle(rt)

    with rt.sessions() as session:
        letters = list(session.scalars(select(DeadLetterRow)))
        assert [(d.actor, d.complaint_id) for d in letters] == [("ticket", row.id)]
        assert "dissolved_unit" in letters[0].error
        assert session.get(ComplaintRow, row.id).delivery_state == "pending"
    assert collect(rt)["dead_letters"] == 1
    assert len(inbox.messages) == 4 + 5  # the other tickets, and every acknowledgement


def test_a_reply_quoting_our_reference_continues_the_complaint(system):
    rt, inbox = system
    first = inject_all(rt)
    run_workers_until_idle(rt)
    ack = inbox.to("ayse.yilmaz@example.com")[0]
    reply = (
        "From: Ayse Yilmaz <ayse.yilmaz@example.com>\r\nTo: sikayet@example.org\r\n"
        f"Subject: Re: {ack['Subject']}\r\nMessage-ID: <reply-1@mail.example.com>\r\n"
        f"In-Reply-To: {ack['Message-ID']}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nKartım hâlâ kilitli.\r\n"
    ).encode()
    outcome = ingest_one(rt, raw_from_bytes(reply))
    assert (outcome.status, outcome.reference) == ("followup", first["plain_tr.eml"].reference)
    assert count(rt, ComplaintRow) == 5
    run_workers_until_idle(rt)

    unit_mail = inbox.to("sertifika.operasyon@example.org")
    followups = [m for m in unit_mail if "Follow-up" in m["Subject"]]
    assert len(followups) == 1
    assert followups[0]["Subject"].startswith(f"[#{outcome.reference}] ")
    assert "Kartım hâlâ kilitli." in followups[0].get_content()
    assert len(inbox.to("ayse.yilmaz@example.com")) == 1  # no second acknowledgement


def test_a_units_reply_to_its_ticket_is_recorded_not_sent_back_to_it(system):
    rt, inbox = system
    first = inject_all(rt)
    run_workers_until_idle(rt)
    ticket = ticket_for(inbox, first["plain_tr.eml"].reference)
    reply = (
        "From: Sertifika Operasyon <sertifika.operasyon@example.org>\r\n"
        f"To: sikayet@example.org\r\nSubject: Re: {ticket['Subject']}\r\n"
        f"Message-ID: <unit-reply-1@example.org>\r\nIn-Reply-To: {ticket['Message-ID']}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPUK sıfırlandı.\r\n"
    ).encode()
    before = len(inbox.messages)
    outcome = ingest_one(rt, raw_from_bytes(reply))
    run_workers_until_idle(rt)
    assert outcome.status == "followup"
    assert len(inbox.messages) == before
    with rt.sessions() as session:
        kinds = set(
            session.scalars(
                select(EventRow.kind).where(EventRow.complaint_id == outcome.complaint_id)
            )
        )
    assert "unit_reply" in kinds


def test_automatic_mails_to_one_address_are_capped_per_day(
    tmp_path, store_url, redis_url, smtp, make_runtime
):
    inbox, port = smtp
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        acknowledge={"max_per_address_per_day": 2},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    template = (MAILS / "plain_tr.eml").read_bytes()
    for n in range(4):
        payload = template.replace(b"plain-tr-0001@", f"loop-{n}@".encode())
        assert ingest_one(rt, raw_from_bytes(payload)).status == "created"
        run_workers_until_idle(rt)
    assert len(inbox.to("ayse.yilmaz@example.com")) == 2
    assert len(inbox.to("sertifika.operasyon@example.org")) == 4  # every ticket still delivered
    with rt.sessions() as session:
        states = sorted(session.scalars(select(ComplaintRow.ack_state)))
    assert states == ["sent", "sent", "suppressed", "suppressed"]
    broker.close()


def test_one_item_the_database_refuses_does_not_fail_its_batch(system, monkeypatch):
    from ingest import records

    rt, _inbox = system
    real = records._complaint_values

    def poisoned(runtime, item, reference, now):
        values = real(runtime, item, reference, now)
        if "legacy" in item.complaint.source_id:
            values["product"] = None  # NOT NULL: the database refuses this row
        return values

    monkeypatch.setattr(records, "_complaint_values", poisoned)
    raws = [
        raw_from_bytes((MAILS / name).read_bytes())
        for name in ("plain_tr.eml", "legacy_1254.eml", "html_only.eml")
    ]
    outcomes = pipeline.ingest(rt, raws).outcomes()
    assert [o.status for o in outcomes] == ["created", "failed", "created"]
    assert [o.reference for o in outcomes if o.reference] == ["CMP-2026-000001", "CMP-2026-000002"]
    with rt.sessions() as session:
        failed = session.get(RawMessageRow, outcomes[1].raw_id)
        assert failed.status == "failed" and "product" in failed.error


def test_a_pool_of_processes_prepares_large_batches_alike(tmp_path, store_url, make_runtime):
    settings = make_settings(tmp_path, store={"url": store_url}, ingest={"processes": 2})
    rt = make_runtime(settings)
    template = (MAILS / "plain_tr.eml").read_bytes()
    raws = [
        raw_from_bytes(template.replace(b"plain-tr-0001@", f"pool-{n}@".encode()))
        for n in range(20)
    ]
    raws.append(raw_from_bytes(b"\x00\x01 junk, not a mail"))
    rt.pool = start_pool(settings)
    assert rt.pool is not None
    outcomes = pipeline.ingest(rt, raws).outcomes()
    assert [o.status for o in outcomes] == ["created"] * 20 + ["failed"]
    assert outcomes[-1].error.startswith("NotAnEmail: ")
    with rt.sessions() as session:
        products = set(session.scalars(select(ComplaintRow.product)))
        failed = session.get(RawMessageRow, outcomes[-1].raw_id)
    assert products == {"nes"}
    assert failed.status == "failed" and failed.error.startswith("NotAnEmail: ")


def test_a_conversation_within_one_batch_is_one_complaint(tmp_path, store_url, make_runtime):
    import json
    from datetime import datetime, timezone

    from intake.schema import RawMessage

    rt = make_runtime(make_settings(tmp_path, store={"url": store_url}))
    author = {"id": "201", "username": "ayse_k", "name": "Ayşe Kaya"}

    def post(tweet_id: str, text: str) -> RawMessage:
        tweet = {
            "id": tweet_id,
            "text": text,
            "author_id": "201",
            "conversation_id": "900",
            "created_at": "2026-11-22T07:00:00.000Z",
        }
        return RawMessage(
            channel="twitter",
            source_id=tweet_id,
            received_at=datetime(2026, 11, 22, 7, tzinfo=timezone.utc),
            payload=json.dumps({"tweet": tweet, "author": author}).encode(),
        )

    outcomes = pipeline.ingest(
        rt,
        [
            post("900", "e-imza kartımın PIN kodu bloke oldu"),
            post("901", "hâlâ yanıt yok, e-Devlet'e giremiyorum"),
        ],
    ).outcomes()
    assert [o.status for o in outcomes] == ["created", "followup"]
    assert outcomes[1].reference == outcomes[0].reference
    assert count(rt, ComplaintRow) == 1
