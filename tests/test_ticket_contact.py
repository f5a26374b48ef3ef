"""KVKK data minimisation: a unit's mails carry only the contact fields `ticket_contact` lists.

Given a web-form complaint with a name, an address and a phone (and a handle on the stored
row), the store on SQLite and a real aiosmtpd relay, when the ticket, a follow-up by mail, a
notice to the unit and an escalation are delivered (`outbound.delivery.perform`), then with
`[privacy] ticket_contact = ["name"]` every one of them, read whole (headers, every part
decoded, the raw bytes), has the name and none of the others, and tells the unit that the desk
keeps them; the unit's `#reply` still reaches the complainant. The default shows all four,
as before; a `[[unit]]` may set its own list; an unknown field is refused at load time.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from handling import notices
from handling.texts import Text
from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake import clock
from intake.errors import ConfigError
from intake.runtime import Runtime
from intake.schema import RawMessage
from outbound import delivery
from outbound.jobs import Job
from store.models import ComplaintRow, NoticeRow
from tests.conftest import Inbox, make_settings
from tests.mails import mail
from tests.mails import text_of as crlf_text_of

NAME = "Ayşe Yılmaz"
ADDRESS = "ayse.yilmaz@example.com"
PHONE = "+90 532 123 45 67"
HANDLE = "@ayse_tr"
UNIT_EMAIL = "sertifika.operasyon@example.org"  # certificate_operations takes product nes
SUPERVISOR = "kalite@example.org"
DESK_NOTE = "İletişim bilgileri masada / contact details kept by the desk"
# Every way the withheld fields could be written: whole, local part, digits, handle bare.
WITHHELD = (ADDRESS, "ayse.yilmaz", "532 123 45 67", "5321234567", HANDLE, "ayse_tr")


def form(product: str = "nes", message: str = "E-imza kartımın PIN kodu bloke oldu.") -> RawMessage:
    """A web-form submission with a name, an address and a phone."""
    boundary = "b0undary-intake-test"
    fields = {
        "name": NAME,
        "email": ADDRESS,
        "phone": PHONE,
        "subject": "PIN kilidi",
        "message": message,
        "product": product,
        "kvkk_consent": "on",
    }
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            for key, value in fields.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    return RawMessage(
        channel="webform",
        source_id="sha256:" + hashlib.sha256(body).hexdigest(),
        received_at=clock.now(),
        payload=body,
        transport={"content_type": f"multipart/form-data; boundary={boundary}"},
    )


def desk(tmp_path: Path, smtp: tuple[Inbox, int], make_runtime, **tables: dict) -> Runtime:  # noqa: ANN001
    settings = make_settings(
        tmp_path,
        smtp={"host": "127.0.0.1", "port": smtp[1]},
        clock={"escalation_email": SUPERVISOR},
        **tables,
    )
    return make_runtime(settings)


def submit(rt: Runtime, raw: RawMessage) -> ComplaintRow:
    """Ingest `raw`; its stored row, given a handle too (a web form has none of its own)."""
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    assert outcome.status == "created" and outcome.complaint_id is not None, outcome
    with rt.sessions.begin() as session:
        session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.id == outcome.complaint_id)
            .values(complainant_handle=HANDLE)
        )
        row = session.get(ComplaintRow, outcome.complaint_id)
        assert row is not None
        session.expunge(row)
    return row


def owe_notice(rt: Runtime, complaint_id: int, audience: notices.Audience) -> int:
    """A notice to `audience` on the complaint, as the scheduler writes one; its id."""
    with rt.sessions.begin() as session:
        row = session.get(ComplaintRow, complaint_id)
        assert row is not None
        work = notices.owe(
            session,
            row,
            key=f"test:{audience}",
            purpose="warning",
            audience=audience,
            text=Text("Süre uyarısı / Deadline warning", "Yanıt süresinin yarısı doldu."),
        )
        assert work is not None
        return work.target_id


def sent(inbox: Inbox, purpose: str) -> EmailMessage:
    [message] = [m for _, m in inbox.messages if f".{purpose}." in m["Message-ID"]]
    return message


def text_of(message: EmailMessage) -> str:
    return crlf_text_of(message).replace("\r\n", "\n")


def whole(message: EmailMessage) -> str:
    """Everything a reader of `message` could see: headers, each part decoded, the raw bytes."""
    raw = message.as_bytes()
    texts = [raw.decode("utf-8", "replace"), *(f"{k}: {v}" for k, v in message.items())]
    for part in message.walk():
        texts.extend(f"{k}: {v}" for k, v in part.items())
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


def followup(rt: Runtime, reference: str) -> int:
    """The complainant writes again, quoting the desk's mail under an attribution line that
    carries her address; the raw message's id."""
    payload = mail(
        f"{NAME} <{ADDRESS}>",
        f"Re: [#{reference}] PIN kilidi",
        "PUK kodunu da denedim, yine olmadı.\n\n"
        f"On Tue, 10 Mar 2026 at 10:00, {NAME} <{ADDRESS}> wrote:\n"
        "> E-imza kartımın PIN kodu bloke oldu.\n",
    )
    outcome = pipeline.ingest(rt, [raw_from_bytes(payload)]).outcomes()[0]
    assert outcome.status == "followup" and outcome.raw_id is not None, outcome
    return outcome.raw_id


def test_with_only_the_name_no_mail_to_a_unit_carries_the_address_phone_or_handle(
    tmp_path, smtp, make_runtime
):
    inbox, _ = smtp
    rt = desk(tmp_path, smtp, make_runtime, privacy={"ticket_contact": ["name"]})
    row = submit(rt, form())

    assert delivery.perform(rt, Job.TICKET, row.id)
    assert delivery.perform(rt, Job.FOLLOWUP, followup(rt, row.reference))
    assert delivery.perform(rt, Job.NOTICE, owe_notice(rt, row.id, notices.Audience.UNIT))
    assert delivery.perform(rt, Job.NOTICE, owe_notice(rt, row.id, notices.Audience.ESCALATION))

    ticket, forwarded = sent(inbox, "ticket"), sent(inbox, "followup")
    assert len(inbox.to(UNIT_EMAIL)) == 3 and len(inbox.to(SUPERVISOR)) == 1
    for message in (*inbox.to(UNIT_EMAIL), *inbox.to(SUPERVISOR)):
        seen = whole(message)
        assert not [field for field in WITHHELD if field in seen], message["Message-ID"]
    assert f"Başvuru sahibi / Complainant: {NAME}" in text_of(ticket)
    assert DESK_NOTE in text_of(ticket) and "#reply" in text_of(ticket)
    assert f"Kimden / From: {NAME}\n" in text_of(forwarded)
    assert DESK_NOTE in text_of(forwarded) and "PUK kodunu da denedim" in text_of(forwarded)


def test_the_unit_still_reaches_the_complainant_by_replying_to_the_ticket(
    tmp_path, smtp, make_runtime
):
    inbox, _ = smtp
    rt = desk(tmp_path, smtp, make_runtime, privacy={"ticket_contact": []})
    row = submit(rt, form())
    assert delivery.perform(rt, Job.TICKET, row.id)
    ticket = sent(inbox, "ticket")
    assert NAME not in whole(ticket) and ADDRESS not in whole(ticket)

    answer = mail(
        UNIT_EMAIL,
        f"Re: {ticket['Subject']}",
        "#reply Kartınızın seri numarasını iletir misiniz?",
        in_reply_to=ticket["Message-ID"],
    )
    pipeline.ingest(rt, [raw_from_bytes(answer)])
    with rt.sessions() as session:
        notice_id = session.scalars(
            select(NoticeRow.id).where(
                NoticeRow.complaint_id == row.id, NoticeRow.audience == "complainant"
            )
        ).one()
    assert delivery.perform(rt, Job.NOTICE, notice_id)

    [relayed] = inbox.to(ADDRESS)
    assert "seri numarasını" in text_of(relayed)
    assert relayed["In-Reply-To"] is None or ADDRESS not in relayed["In-Reply-To"]


def test_a_unit_s_own_ticket_contact_overrides_the_privacy_default(tmp_path, smtp, make_runtime):
    inbox, _ = smtp
    rt = desk(
        tmp_path,
        smtp,
        make_runtime,
        unit={"certificate_operations": {"ticket_contact": ["name", "phone"]}},
    )
    own = submit(rt, form("nes"))
    default = submit(rt, form("genel", "Çağrı merkezine ulaşamıyorum."))

    assert delivery.perform(rt, Job.TICKET, own.id)
    assert delivery.perform(rt, Job.TICKET, default.id)

    [narrow] = inbox.to(UNIT_EMAIL)
    [wide] = inbox.to(rt.settings.unit_named(default.unit).email)
    assert PHONE in text_of(narrow) and NAME in text_of(narrow)
    assert ADDRESS not in whole(narrow) and HANDLE not in whole(narrow)
    assert DESK_NOTE in text_of(narrow)
    assert f"E-posta: {ADDRESS}   Telefon: {PHONE}   Hesap: {HANDLE}" in text_of(wide)


def test_by_default_the_unit_sees_every_contact_field_as_before(tmp_path, smtp, make_runtime):
    inbox, _ = smtp
    rt = desk(tmp_path, smtp, make_runtime)
    row = submit(rt, form())

    assert delivery.perform(rt, Job.TICKET, row.id)
    assert delivery.perform(rt, Job.FOLLOWUP, followup(rt, row.reference))

    ticket, forwarded = text_of(sent(inbox, "ticket")), text_of(sent(inbox, "followup"))
    assert f"Başvuru sahibi / Complainant: {NAME}\n" in ticket
    assert f"E-posta: {ADDRESS}   Telefon: {PHONE}   Hesap: {HANDLE}\n" in ticket
    assert f"Kimden / From: {NAME} <{ADDRESS}>\n" in forwarded
    assert DESK_NOTE not in ticket and DESK_NOTE not in forwarded


@pytest.mark.parametrize(
    "tables",
    [
        {"privacy": {"ticket_contact": ["name", "tckn"]}},
        {"unit": {"software": {"ticket_contact": ["e-mail"]}}},
    ],
)
def test_an_unknown_contact_field_is_a_configuration_error(tmp_path, tables):
    with pytest.raises(ConfigError, match="ticket_contact: unknown"):
        make_settings(tmp_path, **tables)
