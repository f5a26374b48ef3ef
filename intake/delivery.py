"""What the workers do: e-mail the ticket to its unit, acknowledge the complainant.

Each job first claims its complaint in the store (so a re-enqueued duplicate is a no-op), sends,
then records the result: sent (with the Message-ID, so replies thread), permanently failed
(recorded, not retried), or temporarily failed (claim released, the queue retries).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from intake import compose, smtp
from intake.errors import PermanentError
from intake.privacy import mask_email
from intake.runtime import Runtime
from store import repo
from store.models import (
    AttachmentRow,
    ComplaintRow,
    OutboundMessageRow,
    RoutingDecisionRow,
)

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
STATE = {"delivery": ("delivery_state", "delivered_at", "delivered"),
         "ack": ("ack_state", "acknowledged_at", "acknowledged")}


def deliver_ticket(runtime: Runtime, complaint_id: int) -> bool:
    """Mail complaint `complaint_id` to its unit; False when there was nothing to do."""
    return _run(runtime, complaint_id, "delivery", _ticket)


def acknowledge(runtime: Runtime, complaint_id: int) -> bool:
    """Acknowledge complaint `complaint_id` to the complainant (never an auto-submitted one)."""
    return _run(runtime, complaint_id, "ack", _ack)


def _run(runtime: Runtime, complaint_id: int, job: str, build) -> bool:  # type: ignore[no-untyped-def]
    with runtime.sessions.begin() as session:
        if not repo.claim(session, complaint_id, job, LEASE):
            log.info("complaint %s: %s already done or in hand", complaint_id, job)
            return False
        row = session.get(ComplaintRow, complaint_id)
        try:
            message, recipient, purpose = build(session, runtime, row)
        except PermanentError as exc:
            message, problem = None, exc
    if message is None:
        _finish(runtime, complaint_id, job, "failed", error=str(problem))
        raise problem
    try:
        smtp.send(runtime.settings.smtp, message, [recipient])
    except PermanentError as exc:
        _finish(runtime, complaint_id, job, "failed", error=str(exc))
        log.warning("%s: %s failed for good: %s", row.reference, job, exc)
        raise
    except Exception:  # temporary, or a bug: let the queue retry (then dead-letter) it
        with runtime.sessions.begin() as session:
            repo.release(session, complaint_id, job)
        raise
    _finish(runtime, complaint_id, job, "sent", message_id=str(message["Message-ID"]),
            recipient=recipient, purpose=purpose)
    log.info("%s: %s sent to %s", row.reference, purpose, mask_email(recipient))
    return True


def _finish(runtime: Runtime, complaint_id: int, job: str, state: str, **detail: str) -> None:
    state_column, time_column, event = STATE[job]
    with runtime.sessions.begin() as session:
        row = session.get(ComplaintRow, complaint_id)
        setattr(row, state_column, state)
        if state == "sent":
            now = repo.utcnow()
            setattr(row, time_column, now)
            session.add(OutboundMessageRow(
                complaint_id=complaint_id, purpose=detail["purpose"],
                message_id=detail["message_id"].strip("<>"), recipient=detail["recipient"],
                sent_at=now,
            ))
            repo.add_event(session, event, complaint_id=complaint_id, actor="worker",
                           message_id=detail["message_id"], to=mask_email(detail["recipient"]))
        else:
            repo.add_event(session, f"{job}_failed", complaint_id=complaint_id, actor="worker",
                           error=detail.get("error"), permanent=True)


def _unit(runtime: Runtime, code: str):  # type: ignore[no-untyped-def]
    for unit in runtime.settings.unit:
        if unit.code == code:
            return unit
    raise LookupError(f"unit {code!r} is not configured")


def _ticket(session, runtime: Runtime, row: ComplaintRow):  # type: ignore[no-untyped-def]
    unit = _unit(runtime, row.unit)
    attachments = []
    for item in session.scalars(select(AttachmentRow).where(AttachmentRow.complaint_id == row.id)):
        data = repo.get_blob(session, item.sha256) or b""
        attachments.append((item.filename, item.content_type, data))
    message = compose.ticket_mail(_view(session, row, unit.name), unit.email, runtime.settings,
                                  attachments)
    return message, unit.email, "ticket"


def _ack(session, runtime: Runtime, row: ComplaintRow):  # type: ignore[no-untyped-def]
    if row.auto_submitted or not row.complainant_email:
        raise PermanentError("nothing to acknowledge: auto-submitted or no address")
    message = compose.ack_mail(_view(session, row, row.unit), runtime.settings)
    return message, row.complainant_email, "ack"


def _view(session, row: ComplaintRow, unit_name: str) -> compose.TicketView:  # type: ignore[no-untyped-def]
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
