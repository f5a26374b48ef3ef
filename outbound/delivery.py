"""What the workers do: e-mail tickets and follow-ups to units, acknowledge complainants.

Each job first claims its row in the store (so a re-enqueued duplicate is a no-op), sends,
then records the result: sent (with the Message-ID, so replies thread), permanently failed
(recorded, not retried), suppressed (the daily cap of automatic mails to one address), or
temporarily failed (claim released, the queue retries with backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.channels import AckRequest
from ingest.channels import channel as channel_spec
from intake.errors import PermanentError
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import Complainant, RawMessage
from intake.settings import UnitSettings
from outbound import compose, smtp
from store import repo
from store.models import (
    AttachmentRow,
    Base,
    ComplaintRow,
    OutboundMessageRow,
    RawMessageRow,
    RoutingDecisionRow,
)

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)

_Row = TypeVar("_Row", bound=Base)


class Suppressed(PermanentError):
    """Not sent on purpose (e.g. the daily cap of automatic mails to one address)."""


@dataclass(frozen=True)
class Outgoing:
    message: EmailMessage | None  # an e-mail, or None when `send` answers on another channel
    recipient: str
    purpose: str  # "ticket" | "ack" | "followup"
    complaint_id: int
    reference: str
    send: Callable[[], str] | None = None  # sends on the complainant's channel, returns its id


def deliver_ticket(runtime: Runtime, complaint_id: int) -> bool:
    """Mail complaint `complaint_id` to its unit; False when there was nothing to do."""
    return _run(runtime, complaint_id, "delivery")


def acknowledge(runtime: Runtime, complaint_id: int) -> bool:
    """Acknowledge complaint `complaint_id` to the complainant (never an auto-submitted one)."""
    return _run(runtime, complaint_id, "ack")


def deliver_followup(runtime: Runtime, raw_id: int) -> bool:
    """Forward a follow-up message (raw message `raw_id`) to the unit of its complaint."""
    return _run(runtime, raw_id, "followup")


def _run(runtime: Runtime, row_id: int, job: str) -> bool:
    problem: PermanentError | None = None
    with runtime.sessions.begin() as session:
        if not repo.claim(session, row_id, job, LEASE):
            log.info("%s %s: already done or in hand", job, row_id)
            return False
        try:
            out = BUILDERS[job](session, runtime, row_id)
        except PermanentError as exc:
            problem = exc
    if problem is not None:
        _finish(runtime, row_id, job, None, problem)
        if isinstance(problem, Suppressed):
            return False
        raise problem
    try:
        sent_id = _send(runtime, out)
    except PermanentError as exc:
        _finish(runtime, row_id, job, out, exc)
        log.warning("%s: %s failed for good: %s", out.reference, out.purpose, exc)
        raise
    except Exception:  # temporary, or a bug: let the queue retry (then dead-letter) it
        with runtime.sessions.begin() as session:
            repo.release(session, row_id, job)
        raise
    _finish(runtime, row_id, job, out, None, sent_id)
    log.info("%s: %s sent to %s", out.reference, out.purpose, mask(out.recipient))
    return True


def _send(runtime: Runtime, out: Outgoing) -> str:
    """Send by e-mail, or on the complainant's channel; the id of what was sent."""
    if out.send is not None:
        return out.send()
    if out.message is None:
        raise ValueError(f"{out.reference}: {out.purpose} has neither a message nor a sender")
    smtp.send(runtime.settings.smtp, out.message, [out.recipient])
    return str(out.message["Message-ID"])


def _finish(runtime: Runtime, row_id: int, job: str, out: Outgoing | None,
            problem: PermanentError | None, sent_id: str = "") -> None:
    """Record the outcome on the row and in the complaint's event log."""
    state = "sent" if problem is None else (
        "suppressed" if isinstance(problem, Suppressed) else "failed")
    with runtime.sessions.begin() as session:
        complaint: ComplaintRow | None = None
        complaint_id: int | None
        if job == "followup":
            raw = _get(session, RawMessageRow, row_id)
            raw.forward_state, complaint_id = state, raw.complaint_id
        else:
            complaint = _get(session, ComplaintRow, row_id)
            setattr(complaint, "delivery_state" if job == "delivery" else "ack_state", state)
            complaint_id = row_id
        if problem is not None:
            repo.add_event(session, f"{job}_{state}", complaint_id=complaint_id, actor="worker",
                           error=str(problem))
            return
        if out is None:
            raise ValueError(f"{job} {row_id}: sent, but nothing to record as sent")
        now = repo.utcnow()
        if complaint is not None and job == "delivery":
            complaint.delivered_at = now
        elif complaint is not None and job == "ack":
            complaint.acknowledged_at = now
        message_id = sent_id
        session.add(OutboundMessageRow(
            complaint_id=complaint_id, purpose=out.purpose, message_id=message_id.strip("<>"),
            recipient=out.recipient, sent_at=now,
        ))
        repo.add_event(session, EVENTS[job], complaint_id=complaint_id, actor="worker",
                       message_id=message_id, to=mask(out.recipient))


EVENTS = {"delivery": "delivered", "ack": "acknowledged", "followup": "followup_forwarded"}


def _get(session: Session, model: type[_Row], row_id: int) -> _Row:
    """The row `row_id` of `model`; a `LookupError` when it does not exist."""
    row = session.get(model, row_id)
    if row is None:
        raise LookupError(f"{model.__tablename__} row {row_id} does not exist")
    return row


def _ticket(session: Session, runtime: Runtime, complaint_id: int) -> Outgoing:
    row = _get(session, ComplaintRow, complaint_id)
    unit = _unit(runtime, row.unit)
    attachments = []
    for item in session.scalars(select(AttachmentRow).where(AttachmentRow.complaint_id == row.id)):
        data = repo.get_blob(session, item.sha256) or b""
        attachments.append((item.filename, item.content_type, data))
    message = compose.ticket_mail(_view(session, row, unit.name), unit.email, runtime.settings,
                                  attachments)
    return Outgoing(message, unit.email, "ticket", row.id, row.reference)


def _ack(session: Session, runtime: Runtime, complaint_id: int) -> Outgoing:
    row = _get(session, ComplaintRow, complaint_id)
    if row.auto_submitted:
        raise PermanentError("auto-submitted mail is never acknowledged")
    acknowledge_on_channel = channel_spec(row.channel).acknowledge
    if acknowledge_on_channel is not None:  # on the complainant's own channel
        request = _ack_request(session, row)
        recipient = row.complainant_handle or row.complainant_email or row.source_id
        return Outgoing(None, recipient, "ack", row.id, row.reference,
                        send=lambda: acknowledge_on_channel(runtime, request))
    if not row.complainant_email:
        raise PermanentError("nothing to acknowledge to: no address")
    cap = runtime.settings.acknowledge.max_per_address_per_day
    if _automatic_mails_today(session, row.complainant_email) >= cap:
        raise Suppressed(f"{cap} automatic mails to this address in the last 24 hours")
    message = compose.ack_mail(_view(session, row, row.unit), runtime.settings)
    return Outgoing(message, row.complainant_email, "ack", row.id, row.reference)


def _ack_request(session: Session, row: ComplaintRow) -> AckRequest:
    raw = _get(session, RawMessageRow, row.raw_message_id)
    return AckRequest(
        reference=row.reference, channel=row.channel, source_id=row.source_id,
        complainant=Complainant(row.complainant_name, row.complainant_email,
                                row.complainant_phone, row.complainant_handle),
        subject=row.subject, language=row.language, transport=dict(raw.transport or {}),
    )


def _followup(session: Session, runtime: Runtime, raw_id: int) -> Outgoing:
    raw_row = _get(session, RawMessageRow, raw_id)
    if raw_row.complaint_id is None:
        raise LookupError(f"raw message {raw_id} is not a follow-up of any complaint")
    row = _get(session, ComplaintRow, raw_row.complaint_id)
    unit = _unit(runtime, row.unit)
    raw = RawMessage(channel=raw_row.channel, source_id=raw_row.source_id,
                     received_at=raw_row.received_at, payload=raw_row.payload,
                     mailbox=raw_row.mailbox, transport=raw_row.transport)
    normalized = channel_spec(raw.channel).normalizer(raw, runtime.settings)
    attachments = [(a.filename, a.content_type, normalized.blobs[a.sha256])
                   for a in normalized.complaint.attachments if a.sha256 in normalized.blobs]
    message = compose.followup_mail(_view(session, row, unit.name), normalized.complaint,
                                    unit.email, runtime.settings, attachments)
    return Outgoing(message, unit.email, "followup", row.id, row.reference)


BUILDERS = {"delivery": _ticket, "ack": _ack, "followup": _followup}


def _automatic_mails_today(session: Session, address: str) -> int:
    since = repo.utcnow() - timedelta(days=1)
    return session.scalar(
        select(func.count()).select_from(OutboundMessageRow).where(
            func.lower(OutboundMessageRow.recipient) == address.lower(),
            OutboundMessageRow.purpose == "ack", OutboundMessageRow.sent_at >= since,
        )
    ) or 0


def _unit(runtime: Runtime, code: str) -> UnitSettings:
    for unit in runtime.settings.unit:
        if unit.code == code:
            return unit
    raise LookupError(f"unit {code!r} is not configured")


def _view(session: Session, row: ComplaintRow, unit_name: str) -> compose.TicketView:
    decision = session.scalars(
        select(RoutingDecisionRow).where(RoutingDecisionRow.complaint_id == row.id)
        .order_by(RoutingDecisionRow.id.desc())
    ).first()
    return compose.TicketView(
        reference=row.reference, channel=row.channel, mailbox=row.mailbox,
        received_at=row.received_at, due_at=row.due_at, name=row.complainant_name,
        email=row.complainant_email, phone=row.complainant_phone,
        handle=row.complainant_handle, subject=row.subject, body=row.body,
        language=row.language, product=row.product, kind=row.kind, unit_name=unit_name,
        decided_by=decision.decided_by if decision else "-",
        confidence=decision.confidence if decision else 0.0, message_id=row.message_id,
    )
