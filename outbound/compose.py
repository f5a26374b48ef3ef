"""The mails we send, built as data (no I/O): the ticket to a unit and the acknowledgement.

Every outgoing Message-ID has the form `<CMP-2026-000042.<purpose>.<hex>@domain>`, so a reply
that names it in In-Reply-To/References finds its complaint again; every mail carries
`X-Intake-Ref` and RFC 3834 `Auto-Submitted`, so autoresponders do not answer it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from intake import clock
from intake.schema import KIND_NAMES, KVKK, PRODUCT_NAMES, Complainant, Complaint
from intake.settings import Settings
from normalize.attachments import Withheld


@dataclass(frozen=True)
class TicketView:
    """What the mails need of a stored complaint (read from the store by the worker)."""

    reference: str
    channel: str
    mailbox: str | None
    received_at: datetime
    due_at: datetime | None
    name: str | None
    email: str | None
    phone: str | None
    handle: str | None
    subject: str
    body: str
    language: str
    product: str
    kind: str
    unit_name: str
    decided_by: str
    confidence: float
    message_id: str | None
    mentions: str | None = None  # a complaint this one names, written by someone else
    kept_by_desk: tuple[str, ...] = ()  # contact fields a unit's mail leaves out (KVKK)
    category: str | None = None  # "kvkk": a data subject's request (routing.kvkk)


def make_message_id(reference: str, purpose: str, settings: Settings) -> str:
    domain = settings.smtp.message_id_domain or settings.smtp.from_address.rpartition("@")[2]
    return f"<{reference}.{purpose}.{secrets.token_hex(8)}@{domain or 'intake.invalid'}>"


def ticket_mail(
    view: TicketView,
    to: str,
    settings: Settings,
    attachments: list[tuple[str | None, str, bytes]],
    withheld: Sequence[Withheld] = (),
) -> EmailMessage:
    """The ticket a unit receives: `[#CMP-…] <product> — <subject>`, the complaint, the clock,
    and the attachments held back (`outbound.scan`), named with the reason."""
    msg = _base(view, settings, "ticket", auto="auto-generated")
    msg["To"] = to
    subject = one_line(view.subject) or "(konusuz)"
    tag = f"{KVKK_TAG} — " if view.category == KVKK else ""
    msg["Subject"] = f"[#{view.reference}] {tag}{PRODUCT_NAMES[view.product]} — {subject}"
    msg.set_content(_kvkk_banner(view, settings) + _ticket_text(view, settings, withheld))
    _attach(msg, attachments)
    return msg


KVKK_TAG = "KVKK başvurusu / data subject request"


def _kvkk_banner(view: TicketView, settings: Settings) -> str:
    """The first line of a data subject's request's ticket: what it is and its statutory
    time (KVKK art. 11 rights, answered free of charge within 30 days, art. 13)."""
    if view.category != KVKK:
        return ""
    days = settings.clock.kvkk_answer_days
    return (
        f"{KVKK_TAG} — {days} gün / days (KVKK md. 11, 13): yanıt en geç / answer by "
        f"{_local(view.due_at, settings)}, ücretsiz / free of charge.\n\n"
    )


def followup_mail(
    view: TicketView,
    followup: Complaint,
    to: str,
    settings: Settings,
    attachments: list[tuple[str | None, str, bytes]],
    withheld: Sequence[Withheld] = (),
) -> EmailMessage:
    """A new message on an open complaint, forwarded to the unit that holds it."""
    msg = _base(view, settings, "followup", auto="auto-generated")
    msg["To"] = to
    msg["Subject"] = (
        f"[#{view.reference}] Ek bilgi / Follow-up — {one_line(followup.subject or view.subject)}"
    )
    sender = followup.complainant
    msg.set_content(
        "\n".join(
            [
                f"Referans / Reference: {view.reference}",
                _from_line(sender, view.kept_by_desk),
                f"Alındı / Received: {_local(followup.received_at, settings)}",
                *_desk_note(view),
                "",
                followup.body,
                *withheld_lines(withheld),
            ]
        )
    )
    _attach(msg, attachments)
    return msg


def _attach(msg: EmailMessage, attachments: list[tuple[str | None, str, bytes]]) -> None:
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=filename or "ek",
        )


def withheld_lines(withheld: Sequence[Withheld]) -> list[str]:
    """What the unit is told of the attachments held back: each name, type, size, reason."""
    if not withheld:
        return []
    return [
        "",
        "Alıkonan ekler / Withheld attachments (kayıtta saklı, operatörler inceleyebilir / "
        "kept with the complaint for the operators to examine):",
        *(
            f"- {item.filename or 'ek'} ({item.content_type}, {item.size} bayt/bytes): "
            f"{item.reason}"
            for item in withheld
        ),
    ]


# Something in a display name that makes it more than a name: a link, an address, a domain.
NOT_A_NAME = re.compile(r"://|www\.|@|\b[\w-]+\.(?:[a-z]{2,})\b|[<>\[\]{}|\\]", re.IGNORECASE)


def safe_name(name: str | None, settings: Settings) -> str | None:
    """The sender's display name when it is fit for a greeting: short, no link, no address
    (a long or linked "name" is how a forged mail makes our answer carry its text)."""
    if not name or len(name) > settings.acknowledge.max_name_chars or NOT_A_NAME.search(name):
        return None
    if BREAKS.search(name):
        return None
    return name


def ack_mail(view: TicketView, settings: Settings) -> EmailMessage:
    """The acknowledgement to the complainant, with the reference (seed 003): to the bare
    address, and nothing the sender wrote but a name fit for a greeting."""
    msg = _base(view, settings, "ack", auto="auto-replied")
    msg["To"] = view.email or ""
    msg["Subject"] = f"[#{view.reference}] Başvurunuz alındı / We received your message"
    if view.message_id:  # RFC 5322 3.6.4: thread the answer under the complainant's mail
        msg["In-Reply-To"] = f"<{view.message_id}>"
        msg["References"] = f"<{view.message_id}>"
    msg.set_content(_ack_text(view, settings))
    return msg


def notice_mail(
    view: TicketView, to: str, subject: str, body: str, purpose: str, settings: Settings
) -> EmailMessage:
    """A notice (handling.notices): to the complainant in their thread, or to a unit or
    the supervisor, under the complaint's reference."""
    msg = _base(view, settings, purpose, auto="auto-generated")
    msg["To"] = to
    msg["Subject"] = f"[#{view.reference}] {subject}"
    if view.message_id and to == view.email:
        msg["In-Reply-To"] = f"<{view.message_id}>"
        msg["References"] = f"<{view.message_id}>"
    msg.set_content(f"Referans / Reference: {view.reference}\n\n{body}\n")
    return msg


def _base(view: TicketView, settings: Settings, purpose: str, *, auto: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp.from_address
    msg["Date"] = format_datetime(clock.now().astimezone(ZoneInfo(settings.clock.timezone)))
    msg["Message-ID"] = make_message_id(view.reference, purpose, settings)
    msg["X-Intake-Ref"] = view.reference
    msg["Auto-Submitted"] = auto  # RFC 3834: no autoresponder answers this
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


# A line break (or another control) in a name, handle, address or subject would start a line of
# its own in the ticket, one the unit would take for ours (a forged "E-posta:" or "Yönlendirme:"
# line); Telegram and X names come as their users typed them. In a header Python refuses it.
BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def one_line(value: str | None) -> str:
    """`value` on one line: each run of line breaks and controls is one space."""
    return BREAKS.sub(" ", value or "").strip()


def _local(moment: datetime | None, settings: Settings) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(settings.clock.timezone)).strftime("%d.%m.%Y %H:%M %Z")


def _ticket_text(view: TicketView, settings: Settings, withheld: Sequence[Withheld] = ()) -> str:
    where = view.channel + (f" ({view.mailbox})" if view.mailbox else "")
    lines = [
        f"Referans / Reference: {view.reference}",
        f"Ürün / Product: {PRODUCT_NAMES[view.product]} ({view.product})",
        f"Tür / Kind: {KIND_NAMES.get(view.kind, view.kind)}",
        f"Kanal / Channel: {where}",
        f"Alındı / Received: {_local(view.received_at, settings)}",
        f"Yanıt süresi / Answer due: {_local(view.due_at, settings)}",
        *_contact_lines(view),
        f"Yönlendirme / Routing: {view.unit_name} ({view.decided_by}, {view.confidence:.2f})",
        *(
            [
                f"Andığı kayıt / Mentions: {view.mentions} (başka biri yazdı; o kaydın sahibine "
                "bu kayıttan bilgi verilmez / written by someone else; nothing of that "
                "complaint is told to this sender)"
            ]
            if view.mentions
            else []
        ),
        "",
        f"Konu / Subject: {one_line(view.subject)}",
        "",
        view.body,
        *withheld_lines(withheld),
        "",
        "--",
        f"Bu kayda yanıt verirken konu satırındaki [#{view.reference}] ifadesini koruyun.",
    ]
    return "\n".join(lines)


def _contact_lines(view: TicketView) -> list[str]:
    """The complainant's contact lines of a ticket: only the fields not kept by the desk."""
    kept = view.kept_by_desk
    name = one_line(view.name) or "-"
    lines = [] if "name" in kept else [f"Başvuru sahibi / Complainant: {name}"]
    reach = [
        f"{label}: {one_line(value) or '-'}"
        for field, label, value in (
            ("email", "E-posta", view.email),
            ("phone", "Telefon", view.phone),
            ("handle", "Hesap", view.handle),
        )
        if field not in kept
    ]
    return lines + (["   ".join(reach)] if reach else []) + _desk_note(view)


def _from_line(sender: Complainant, kept: Sequence[str]) -> str:
    """Who wrote a follow-up, without the fields kept by the desk."""
    name = None if "name" in kept else one_line(sender.name)
    address = None if "email" in kept else one_line(sender.email) or "-"
    if address is None:
        return f"Kimden / From: {name or 'başvuru sahibi / the complainant'}"
    return f"Kimden / From: {name or '-'} <{address}>"


def _desk_note(view: TicketView) -> list[str]:
    """Where the unit's mail leaves contact fields out (`[privacy] ticket_contact`), how the
    unit still reaches the complainant: a reply to the ticket, which the desk relays."""
    if not view.kept_by_desk:
        return []
    return [
        "İletişim bilgileri masada / contact details kept by the desk: başvuru sahibine bu "
        "kayda yanıt vererek (#reply) ulaşın / reach the complainant by replying to this "
        "ticket (#reply)."
    ]


def _ack_text(view: TicketView, settings: Settings) -> str:
    name = safe_name(view.name, settings)
    greeting = f"Sayın {name}," if name else "Sayın başvuru sahibi,"
    ssl_note = (
        "\nSSL sertifika problem bildiriminiz 24 saat içinde değerlendirilip yanıtlanacaktır.\n"
        "Your SSL certificate problem report will be assessed and answered within 24 hours.\n"
        if view.channel == "email_ssl"
        else ""
    )
    return (
        f"{greeting}\n\n"
        f"Başvurunuz {view.reference} referans numarasıyla kayda alınmıştır. "
        "Çözüm süreci hakkında sizi bilgilendireceğiz. Bu konudaki yazışmalarda konu "
        f"satırındaki [#{view.reference}] ifadesini lütfen koruyunuz.\n"
        f"{ssl_note}\n"
        f"Dear {name or 'customer'},\n\n"
        f"Your message has been registered under reference {view.reference}. We will keep "
        f"you informed. Please keep [#{view.reference}] in the subject when you write to us "
        "about it.\n"
    )
