"""normalize_email: the raw bytes of one mail to a `Normalized` holding the Complaint.

The e-mail stage of `normalize/` (docs/design.md flow: store → normalize → Complaint). Pure: no
I/O. `sniff` refuses what is not a mail; the stdlib parses (compat32: ~4x cheaper than the
default policy); `headers`, `mime`, `body`, `reference`, `autoreply`, `complainant` and
`language` each decide one part of the record. Broken MIME is handled best-effort.
"""

from __future__ import annotations

import email
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from intake import clock
from intake.schema import Attachment, Complaint
from normalize.attachments import clean_attachment
from normalize.authresults import sender_authenticated
from normalize.autoreply import detect_auto_reason
from normalize.body import assemble_body
from normalize.complainant import build_complainant
from normalize.headers import (
    HeaderMap,
    decode_capped_header,
    first,
    index_headers,
    parse_date,
    parse_ids,
    parse_message_id,
)
from normalize.language import detect_language
from normalize.mime import RawAttachment, collect_parts
from normalize.mojibake import repair_mojibake
from normalize.records import EmailLimits, Normalized, RefusedAttachment
from normalize.reference import find_ticket_ref
from normalize.sniff import check_email

DEFAULT_LIMITS = EmailLimits()


def parse_message(payload: bytes) -> tuple[Message, tuple[str, ...]]:
    """Parse with compat32; MIME nested beyond the stdlib parser's recursion gets headers only."""
    try:
        return email.message_from_bytes(payload, policy=compat32), ()
    except RecursionError:
        # The feed parser recurses once per multipart level; hostile mail nests thousands.
        msg = BytesParser(policy=compat32).parsebytes(payload, headersonly=True)
        return msg, ("mime nesting too deep to parse, body not extracted",)


def pick_received_at(given: datetime | None, date: datetime | None) -> datetime:
    """The caller's time, else the Date header, else now; naive times are taken as UTC."""
    chosen = given or date or clock.now()
    return chosen if chosen.tzinfo else chosen.replace(tzinfo=timezone.utc)


def refusal_reason(size: int, count: int, total: int, limits: EmailLimits) -> str | None:
    """Why an attachment is refused given what was accepted before it, or None."""
    if count >= limits.max_attachments:
        return f"more than {limits.max_attachments} attachments"
    if size > limits.max_attachment_bytes:
        return f"larger than {limits.max_attachment_bytes} bytes"
    if total + size > limits.max_total_attachment_bytes:
        return f"total attachment size over {limits.max_total_attachment_bytes} bytes"
    return None


def admit_attachments(
    raws: list[RawAttachment], limits: EmailLimits
) -> tuple[
    tuple[Attachment, ...], dict[str, bytes], tuple[RefusedAttachment, ...], tuple[str, ...]
]:
    """Attachments within the limits (with their bytes by SHA-256), the refused ones, and the
    notes of names and types cleaned (`attachments.clean_attachment`)."""
    accepted: list[Attachment] = []
    blobs: dict[str, bytes] = {}
    refused: list[RefusedAttachment] = []
    notes: list[str] = []
    total = 0
    for raw in raws:
        filename, content_type, cleaned = clean_attachment(raw.filename, raw.content_type)
        notes += cleaned
        size = len(raw.data)
        reason = refusal_reason(size, len(accepted), total, limits)
        if reason:
            refused.append(RefusedAttachment(filename, content_type, size, reason))
            continue
        digest = hashlib.sha256(raw.data).hexdigest()
        accepted.append(Attachment(filename, content_type, size, digest))
        blobs[digest] = raw.data
        total += size
    return tuple(accepted), blobs, tuple(refused), tuple(dict.fromkeys(notes))


@dataclass(frozen=True)
class Thread:
    """Where a mail sits in its conversation (RFC 5322 §3.6.4), ids without brackets."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None


def read_thread(headers: HeaderMap) -> Thread:
    """Message-ID, In-Reply-To, References (all occurrences) and Date."""
    return Thread(
        message_id=parse_message_id(first(headers, "message-id")),
        in_reply_to=parse_ids(first(headers, "in-reply-to")),
        references=parse_ids(" ".join(headers.get("references", ()))),
        date=parse_date(first(headers, "date")),
    )


def normalize_email(
    payload: bytes,
    *,
    channel: str = "email",
    received_at: datetime | None = None,
    limits: EmailLimits = DEFAULT_LIMITS,
    reference_prefix: str = "CMP",
    authserv_id: str = "",
) -> Normalized:
    """Normalise one RFC 5322 message; raises only `NotAnEmail`, for bytes that are no mail.

    With `authserv_id` (our own server), `sender_authenticated` says whether that server's
    Authentication-Results vouch for the From (DMARC or DKIM pass); else it is None."""
    msg, parse_notes = parse_message(check_email(payload))
    headers, content_type = index_headers(msg), msg.get_content_type()
    raw_subject, cut_notes = decode_capped_header(first(headers, "subject"), "subject")
    subject, subject_notes = repair_mojibake(raw_subject)
    thread = read_thread(headers)
    parts = collect_parts(msg, limits.max_body_chars)
    body = assemble_body(parts.segments, subject, limits.max_body_chars)
    attachments, blobs, refused, attachment_notes = admit_attachments(parts.attachments, limits)
    reason = detect_auto_reason(headers, content_type, subject, thread.message_id, reference_prefix)
    complaint = Complaint(
        channel=channel,
        source_id=thread.message_id or "sha256:" + hashlib.sha256(payload).hexdigest(),
        received_at=pick_received_at(received_at, thread.date),
        complainant=build_complainant(headers, body.signature, body.text),
        subject=subject,
        body=body.text,
        language=detect_language(subject + "\n" + body.text),
        attachments=attachments,
        ticket_ref=find_ticket_ref(
            subject, thread.in_reply_to, thread.references, reference_prefix
        ),
        auto_submitted=reason is not None,
    )
    notes = tuple(
        dict.fromkeys(
            (*parse_notes, *parts.notes, *cut_notes, *subject_notes, *body.notes, *attachment_notes)
        )
    )
    return Normalized(
        complaint, blobs, thread.message_id, thread.in_reply_to, thread.references, thread.date,
        reason, refused, notes,
        sender_authenticated=vouched_for(headers, complaint.complainant.email, authserv_id),
    )  # fmt: skip


def vouched_for(headers: HeaderMap, sender: str | None, authserv_id: str) -> bool | None:
    """Whether our server (`authserv_id`) vouches for the From's domain; None unasked."""
    if not authserv_id:
        return None
    domain = (sender or "").rpartition("@")[2]
    results = tuple(headers.get("authentication-results", ()))
    return bool(domain) and sender_authenticated(results, authserv_id, domain)
