"""Who may speak for a complaint, and to whom we write (handling.speakers, outbound.compose).

A message that names a complaint continues it only when it comes from that complaint's
complainant or, as commands, from its unit (its address or `members`, and, where `[trust]`
asks for it, vouched for by our own server's Authentication-Results). Anyone else who names a
reference, by subject tag, by an In-Reply-To that only looks like ours, or by replying to our
public acknowledgement on X, writes a new complaint that mentions the old one and learns
nothing of it. The acknowledgement goes to the From alone, to the bare address, greeting a
name only when it is fit for a greeting.

The pipeline runs for real on a SQLite store without a broker: jobs stay pending in the store
and the test does them with `delivery.perform`, against a real aiosmtpd relay (or the fake X
API); the clock stands still at the suite's Tuesday morning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.channels.twitter.payloads import tweet_raw
from ingest.channels.webform import idempotency_source_id
from ingest.records import Outcome
from intake import clock as clock_module
from intake.schema import RawMessage
from outbound import delivery
from outbound.jobs import Job
from store.models import ComplaintRow, EventRow, RawMessageRow
from tests.conftest import Inbox, free_port, make_settings
from tests.ingest.twitter.conftest import SECRETS
from tests.ingest.twitter.fake_x import FakeX, FakeXServer
from tests.mails import mail, text_of

ALI = "ali.yilmaz@example.com"
OUTSIDER = "outsider@evil.example"
CERT_UNIT = "sertifika.operasyon@example.org"
SSL_UNIT = "ssl.operasyon@example.org"
TRUSTED_MX = "mx.example.org"
PASS = f"{TRUSTED_MX}; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"
GENERIC_GREETING = "Sayın başvuru sahibi,"


# --- building and taking in mail -------------------------------------------------------------


def arrive(rt, payload: bytes, mailbox: str | None = None) -> Outcome:
    channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
    raw = raw_from_bytes(payload, channel=channel, mailbox=mailbox)
    return pipeline.ingest(rt, [raw]).outcomes()[0]


def ali_complains(rt) -> Outcome:
    """Ali's complaint about his e-signature card: it goes to certificate operations."""
    created = arrive(
        rt,
        mail(
            f"Ali Yılmaz <{ALI}>",
            "e-imza kartım çalışmıyor",
            "Nitelikli e-imza kartım okunmuyor. Kart seri no 4455-7788, TC 12345678901.",
        ),
    )
    assert created.status == "created"
    assert complaint(rt, created.reference).unit == "certificate_operations"
    return created


def complaint(rt, reference: str | None) -> ComplaintRow:
    with rt.sessions() as session:
        return session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()


def events(rt, complaint_id: int | None, kind: str | None = None) -> list[EventRow]:
    with rt.sessions() as session:
        query = select(EventRow).where(EventRow.complaint_id == complaint_id)
        if kind is not None:
            query = query.where(EventRow.kind == kind)
        return list(session.scalars(query.order_by(EventRow.id)))


def raws_on(rt, complaint_id: int | None) -> list[RawMessageRow]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(RawMessageRow)
                .where(RawMessageRow.complaint_id == complaint_id)
                .order_by(RawMessageRow.id)
            )
        )


def headers_of(message: EmailMessage) -> str:
    return "\n".join(f"{name}: {value}" for name, value in message.items())


def acknowledge(rt, inbox: Inbox, reference: str) -> EmailMessage:
    """Do the acknowledgement job of `reference` and return the one mail it sent."""
    before = len(inbox.messages)
    assert delivery.perform(rt, Job.ACK, complaint(rt, reference).id)
    assert len(inbox.messages) == before + 1
    return inbox.messages[-1][1]


def assert_not_taken_by(rt, outcome: Outcome, existing: Outcome) -> ComplaintRow:
    """`outcome` is a new complaint of its own that names `existing`, which it left alone:
    no raw message, follow-up, forward, note or command of it lands on `existing`."""
    assert outcome.status == "created"
    assert outcome.complaint_id != existing.complaint_id
    assert outcome.reference != existing.reference
    assert [raw.id for raw in raws_on(rt, existing.complaint_id)] == [existing.raw_id]
    kinds = {event.kind for event in events(rt, existing.complaint_id)}
    assert not kinds & {"followup", "unit_reply", "note", "resolved", "status_changed"}
    new = complaint(rt, outcome.reference)
    assert new.ticket_ref == existing.reference
    return new


@pytest.fixture
def desk(tmp_path: Path, smtp, make_runtime, clock) -> Iterator:
    """`desk(**table_overrides)`: a runtime on SQLite with no broker, mail to aiosmtpd."""
    inbox, port = smtp

    def build(**overrides):
        settings = make_settings(tmp_path, smtp={"host": "127.0.0.1", "port": port}, **overrides)
        return make_runtime(settings), inbox

    yield build


# --- 1. anyone who names a reference ---------------------------------------------------------


def test_a_strangers_mail_quoting_a_reference_is_a_new_complaint_that_only_mentions_it(desk):
    rt, inbox = desk()
    ali = ali_complains(rt)

    outsider = arrive(
        rt, mail(OUTSIDER, f"Re: [#{ali.reference}]", "Bu başvurunun durumu ne, bilgi verin.")
    )

    new = assert_not_taken_by(rt, outsider, ali)
    assert new.complainant_email == OUTSIDER
    with rt.sessions() as session:
        pending_forward = session.scalars(
            select(RawMessageRow).where(
                RawMessageRow.complaint_id == ali.complaint_id,
                RawMessageRow.forward_state == "pending",
            )
        ).all()
    assert pending_forward == []  # nothing of the outsider's goes to Ali's unit as his

    ack = acknowledge(rt, inbox, outsider.reference)
    assert inbox.messages[-1][0] == [OUTSIDER]
    written = text_of(ack) + "\n" + headers_of(ack)
    assert outsider.reference in written
    for secret in (ali.reference, "Ali", "Yılmaz", ALI, "4455-7788", "12345678901", "e-imza"):
        assert secret not in written, secret


def test_the_units_ticket_of_a_strangers_complaint_names_the_reference_it_mentions(desk):
    rt, inbox = desk()
    ali = ali_complains(rt)
    outsider = arrive(
        rt, mail(OUTSIDER, f"Re: [#{ali.reference}]", "Bu başvurunun durumu ne, bilgi verin.")
    )

    assert delivery.perform(rt, Job.TICKET, outsider.complaint_id)
    [ticket] = [m for _rcpts, m in inbox.messages if m["X-Intake-Ref"] == outsider.reference]
    assert ticket["Subject"].startswith(f"[#{outsider.reference}]")
    mentions = [line for line in text_of(ticket).splitlines() if "Mentions" in line]
    assert len(mentions) == 1 and ali.reference in mentions[0]


def test_a_strangers_reply_to_the_exact_message_id_of_our_ack_is_a_new_complaint(desk):
    """Our acknowledgement, forwarded to someone else, answered by them: the real Message-ID
    is ours, yet the sender is not the complainant."""
    rt, inbox = desk()
    ali = ali_complains(rt)
    ours = acknowledge(rt, inbox, ali.reference)

    outsider = arrive(
        rt,
        mail(OUTSIDER, "Re: Başvurunuz alındı", "Ben de yazdım.", in_reply_to=ours["Message-ID"]),
    )

    assert_not_taken_by(rt, outsider, ali)


def test_the_complainants_own_reply_with_the_reference_still_continues_the_complaint(desk):
    rt, _inbox = desk()
    ali = ali_complains(rt)
    again = arrive(rt, mail(ALI.upper(), f"Re: [#{ali.reference}]", "Kart hâlâ okunmuyor."))
    assert (again.status, again.complaint_id) == ("followup", ali.complaint_id)
    assert [e.kind for e in events(rt, ali.complaint_id, "followup")] == ["followup"]


# --- 2. only a Message-ID we sent counts as ours ---------------------------------------------


def test_an_in_reply_to_that_only_looks_like_ours_lets_no_forged_unit_mail_act(desk):
    rt, inbox = desk()
    ali_complains(rt)  # so that the SSL report is the second complaint
    report = arrive(
        rt,
        mail("reporter@example.net", "Key compromise", "The private key of our cert leaked."),
        mailbox="ssl",
    )
    row = complaint(rt, report.reference)
    assert row.unit == "ssl_operations"
    assert delivery.perform(rt, Job.TICKET, report.complaint_id)  # a real ticket Message-ID
    [ticket] = inbox.to(SSL_UNIT)
    forged = f"<{report.reference}.whatever@forged.example>"
    assert forged != ticket["Message-ID"]

    outcome = arrive(rt, mail(SSL_UNIT, "Re: Key compromise", "#resolved done", in_reply_to=forged))

    assert outcome.status == "created" and outcome.complaint_id != report.complaint_id
    assert complaint(rt, report.reference).status == row.status
    assert events(rt, report.complaint_id, "resolved") == []
    assert events(rt, report.complaint_id, "unit_reply") == []
    assert [raw.id for raw in raws_on(rt, report.complaint_id)] == [report.raw_id]


def test_the_exact_message_id_of_our_ticket_lets_the_unit_act_without_a_subject_tag(desk):
    rt, inbox = desk()
    report = arrive(
        rt,
        mail("reporter@example.net", "Key compromise", "The private key of our cert leaked."),
        mailbox="ssl",
    )
    assert delivery.perform(rt, Job.TICKET, report.complaint_id)
    [ticket] = inbox.to(SSL_UNIT)

    outcome = arrive(
        rt,
        mail(SSL_UNIT, "Re: Key compromise", "#resolved done", in_reply_to=ticket["Message-ID"]),
    )

    assert (outcome.status, outcome.complaint_id) == ("followup", report.complaint_id)
    assert complaint(rt, report.reference).status == "resolved"
    assert len(events(rt, report.complaint_id, "resolved")) == 1


# --- 3. with [trust], only our own server's word makes a From the unit's ---------------------

TRUST = {"authserv_id": TRUSTED_MX, "require_authentication": True}


@pytest.mark.parametrize(
    "results",
    [
        pytest.param((), id="no-authentication-results"),
        pytest.param(
            (
                "mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org",
            ),
            id="another-authserv-id",
        ),
        pytest.param(
            (f"{TRUSTED_MX}; dkim=fail header.d=example.org; dmarc=fail header.from=example.org",),
            id="dkim-fail",
        ),
        pytest.param((f"{TRUSTED_MX}; dkim=pass header.d=evil.example",), id="unaligned-signer"),
    ],
)
def test_an_unvouched_mail_from_the_units_address_is_no_command(desk, results):
    rt, _inbox = desk(trust=TRUST)
    ali = ali_complains(rt)

    outcome = arrive(
        rt,
        mail(
            CERT_UNIT,
            f"Re: [#{ali.reference}]",
            "#note x\n#status waiting",
            authentication_results=results,
        ),
    )

    assert_not_taken_by(rt, outcome, ali)
    assert complaint(rt, ali.reference).status == "assigned"


def test_a_mail_from_the_units_address_vouched_for_by_our_server_is_applied(desk):
    rt, _inbox = desk(trust=TRUST)
    ali = ali_complains(rt)

    outcome = arrive(
        rt,
        mail(
            CERT_UNIT,
            f"Re: [#{ali.reference}]",
            "#note x\n#status waiting",
            authentication_results=(PASS,),
        ),
    )

    assert (outcome.status, outcome.complaint_id) == ("followup", ali.complaint_id)
    [note] = events(rt, ali.complaint_id, "note")
    assert note.detail["text"] == "x" and note.actor == "unit:certificate_operations"
    assert complaint(rt, ali.reference).status == "waiting_on_complainant"


def test_with_trust_required_an_unvouched_complainant_reply_is_not_believed_either(desk):
    rt, _inbox = desk(trust=TRUST)
    ali = ali_complains(rt)
    outcome = arrive(rt, mail(ALI, f"Re: [#{ali.reference}]", "Kart hâlâ okunmuyor."))
    assert_not_taken_by(rt, outcome, ali)


# --- 4. the unit's members speak for it; another unit does not -------------------------------

MEMBERS = {
    "certificate_operations": {"members": ["@staff.example.org", "mehmet.demir@partner.example"]},
    "ssl_operations": {"members": ["@ssl-staff.example.org"]},
}


@pytest.mark.parametrize(
    "sender",
    ["ayse.kaya@staff.example.org", "Mehmet.Demir@Partner.example"],
    ids=["member-domain", "member-address"],
)
def test_a_reply_from_a_member_of_the_unit_counts_as_the_units(desk, sender):
    rt, _inbox = desk(unit=MEMBERS)
    ali = ali_complains(rt)

    outcome = arrive(rt, mail(sender, f"Re: [#{ali.reference}]", "#note x"))

    assert (outcome.status, outcome.complaint_id) == ("followup", ali.complaint_id)
    [note] = events(rt, ali.complaint_id, "note")
    assert note.detail["text"] == "x" and note.actor == "unit:certificate_operations"
    assert len(events(rt, ali.complaint_id, "unit_reply")) == 1


@pytest.mark.parametrize(
    "sender",
    [
        SSL_UNIT,
        "can.oz@ssl-staff.example.org",
        "ayse.kaya@evilstaff.example.org",
        "ayse.kaya@staff.example.org.evil.example",
        "mehmet.demir@partner.example.evil.example",
    ],
    ids=[
        "another-units-address",
        "another-units-member",
        "lookalike-domain",
        "member-domain-as-prefix",
        "member-address-as-prefix",
    ],
)
def test_a_reply_from_outside_the_unit_is_no_command_but_a_new_complaint(desk, sender):
    rt, _inbox = desk(unit=MEMBERS)
    ali = ali_complains(rt)

    outcome = arrive(rt, mail(sender, f"Re: [#{ali.reference}]", "#note x\n#resolved bitti"))

    assert_not_taken_by(rt, outcome, ali)
    assert complaint(rt, ali.reference).status == "assigned"


# --- 5. the acknowledgement: to the From, the bare address, no text of the sender's ----------

SPAM = "Tebrikler! 10.000 TL kazandınız, hemen http://evil.example/claim"


def test_the_acknowledgement_goes_to_the_from_never_to_the_reply_to(desk):
    rt, inbox = desk()
    outcome = arrive(
        rt,
        mail(
            "attacker@evil.example",
            "Merhaba",
            "Kartım çalışmıyor.",
            reply_to=f'"{SPAM}" <victim@example.com>',
        ),
    )
    assert complaint(rt, outcome.reference).complainant_email == "attacker@evil.example"

    ack = acknowledge(rt, inbox, outcome.reference)

    assert [rcpts for rcpts, _m in inbox.messages] == [["attacker@evil.example"]]
    assert inbox.to("victim@example.com") == []
    assert ack["To"] == "attacker@evil.example"
    assert [a.display_name for a in ack["To"].addresses] == [""]
    written = text_of(ack) + "\n" + headers_of(ack)
    for piece in ("Tebrikler", "kazandınız", "10.000", "evil.example/claim", "victim"):
        assert piece not in written, piece
    assert "://" not in text_of(ack) and "http" not in text_of(ack)
    assert GENERIC_GREETING in text_of(ack)


LONG_NAME = ("Ayşe Fatma Zeynep Nur " * 10)[:200]


@pytest.mark.parametrize(
    ("display_name", "giveaway"),
    [
        pytest.param(LONG_NAME, "Zeynep", id="200-characters"),
        pytest.param(SPAM, "Tebrikler", id="with-a-link"),
        pytest.param("Kazandınız www.evil.example", "Kazandınız", id="with-www"),
        pytest.param("Hediye evil-prize.com", "Hediye", id="with-a-domain"),
    ],
)
def test_a_from_name_unfit_for_a_greeting_gets_the_generic_greeting(desk, display_name, giveaway):
    rt, inbox = desk()
    outcome = arrive(rt, mail(f'"{display_name}" <bob@example.com>', "Kart", "Kartım okunmuyor."))
    assert complaint(rt, outcome.reference).complainant_name == display_name

    ack = acknowledge(rt, inbox, outcome.reference)

    assert GENERIC_GREETING in text_of(ack) and "Dear customer," in text_of(ack)
    assert giveaway not in text_of(ack) + "\n" + headers_of(ack)
    assert "://" not in text_of(ack)
    assert ack["To"] == "bob@example.com"
    assert [a.display_name for a in ack["To"].addresses] == [""]


def test_a_plain_from_name_is_greeted_but_kept_out_of_the_to_header(desk):
    rt, inbox = desk()
    outcome = arrive(rt, mail(f"Ali Yılmaz <{ALI}>", "Kart", "Kartım okunmuyor."))
    ack = acknowledge(rt, inbox, outcome.reference)
    assert "Sayın Ali Yılmaz," in text_of(ack) and "Dear Ali Yılmaz," in text_of(ack)
    assert ack["To"] == ALI


def test_a_web_form_name_of_200_characters_gets_the_generic_greeting(desk):
    rt, inbox = desk()
    body = json.dumps(
        {
            "name": LONG_NAME,
            "email": "web.user@example.com",
            "subject": "Zaman damgası",
            "message": "Zaman damgası sunucusu yanıt vermiyor.",
            "kvkk_consent": True,
        }
    ).encode()
    raw = RawMessage(
        channel="webform",
        source_id=idempotency_source_id(None, body, client="site"),
        received_at=clock_module.now(),
        payload=body,
        transport={"content_type": "application/json", "client": "127.0.0.1"},
    )
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    assert outcome.status == "created"
    assert complaint(rt, outcome.reference).complainant_name == LONG_NAME

    ack = acknowledge(rt, inbox, outcome.reference)

    assert inbox.messages[-1][0] == ["web.user@example.com"]
    assert GENERIC_GREETING in text_of(ack) and "Zeynep" not in text_of(ack)
    assert ack["To"] == "web.user@example.com"


# --- 7. on X, a stranger replying to our public acknowledgement ------------------------------

DESK_ID = "100"
USERS = {
    "201": {"id": "201", "username": "ali_y", "name": "Ali Yılmaz"},
    "666": {"id": "666", "username": "someone_else", "name": "Someone Else"},
    # Another account that took the handle Ali had when he complained (X lets a handle go
    # and another account claim it): the same name, not the same account.
    "777": {"id": "777", "username": "Ali_Y", "name": "Ali Y."},
}
CONVERSATION = "1860000000000000001"


def tweet(tweet_id: str, author_id: str, text: str, replied_to: str | None = None) -> dict:
    mentions = [{"start": 0, "end": 14, "username": "kamusm_destek", "id": DESK_ID}]
    data: dict[str, Any] = {
        "id": tweet_id,
        "text": text,
        "author_id": author_id,
        "conversation_id": CONVERSATION,
        "created_at": "2026-03-10T07:00:00.000Z",
        "lang": "tr",
        "edit_history_tweet_ids": [tweet_id],
        "entities": {"mentions": mentions},
    }
    if replied_to is not None:
        data["in_reply_to_user_id"] = DESK_ID
        data["referenced_tweets"] = [{"type": "replied_to", "id": replied_to}]
    return data


@pytest.fixture
def x_desk(tmp_path: Path, make_runtime, monkeypatch, clock) -> Iterator:
    """A runtime (SQLite, no broker) whose X channel talks to the fake X API on loopback."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    fake = FakeX(desk_id=DESK_ID)
    for user in USERS.values():
        fake.add_user(user)
    server = FakeXServer(fake, free_port())
    server.start()
    try:
        twitter = {"enabled": True, "user_id": DESK_ID, "api_base": fake.base}
        yield make_runtime(make_settings(tmp_path, twitter=twitter)), fake
    finally:
        server.stop()


def take_in(rt, data: dict) -> Outcome:
    return pipeline.ingest(rt, [tweet_raw(data, USERS)]).outcomes()[0]


def test_a_stranger_replying_to_our_ack_on_x_makes_a_new_complaint_and_the_owner_continues(
    x_desk,
):
    rt, fake = x_desk
    ali = take_in(rt, tweet(CONVERSATION, "201", "@kamusm_destek e-imza kartımın PIN'i bloke."))
    assert ali.status == "created"
    assert delivery.perform(rt, Job.ACK, ali.complaint_id)  # the real reply, via the fake X
    [ack] = fake.posted
    assert ack["reply"]["in_reply_to_tweet_id"] == CONVERSATION and ali.reference in ack["text"]

    stranger = take_in(
        rt,
        tweet(
            "1860000000000000400",
            "666",
            "@kamusm_destek @ali_y benim kartım da kilitli, ne yapmalıyım?",
            replied_to=ack["id"],
        ),
    )

    new = assert_not_taken_by(rt, stranger, ali)
    assert new.complainant_handle == "@someone_else"
    assert delivery.perform(rt, Job.ACK, stranger.complaint_id)
    answer = fake.posted[-1]
    assert answer["reply"]["in_reply_to_tweet_id"] == "1860000000000000400"
    assert stranger.reference in answer["text"] and ali.reference not in answer["text"]

    own = take_in(
        rt,
        tweet(
            "1860000000000000500",
            "201",
            "@kamusm_destek DM gönderdim, kart hâlâ kilitli.",
            replied_to=ack["id"],
        ),
    )
    assert (own.status, own.complaint_id) == ("followup", ali.complaint_id)


def test_on_x_another_account_under_the_complainants_old_handle_is_still_a_stranger(x_desk):
    """The same X account is the same author id; a handle is only a name an account holds
    for now. Were the handle enough, whoever holds it next could answer KABUL to the unit's
    decision and close the complaint of someone else."""
    rt, fake = x_desk
    ali = take_in(rt, tweet(CONVERSATION, "201", "@kamusm_destek e-imza kartımın PIN'i bloke."))
    assert delivery.perform(rt, Job.ACK, ali.complaint_id)
    [ack] = fake.posted

    other = take_in(
        rt,
        tweet(
            "1860000000000000600",
            "777",
            "@kamusm_destek kartım hâlâ kilitli, son durum nedir?",
            replied_to=ack["id"],
        ),
    )

    assert_not_taken_by(rt, other, ali)
