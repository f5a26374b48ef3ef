"""Which complaint a message continues, if any: the decisions of threading and dedupe.

An auto-reply is recorded only; a copy of a mail from another mailbox, a reply quoting a
reference or answering one of our messages, a new message in an open conversation and an
edit all attach to an existing complaint instead of opening a new one.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import records
from ingest.records import Outcome, OutcomeStatus
from intake.runtime import Runtime
from intake.schema import Complaint
from intake.states import OPEN, JobState, RawState
from normalize.records import Normalized
from routing.clocks import first_answer_due
from store import repo
from store.models import ComplaintRow, OutboundMessageRow, RawMessageRow

log = logging.getLogger(__name__)


def settle(session: Session, runtime: Runtime, item: records.Item) -> Outcome | None:
    """Auto-replies, copies from another mailbox and follow-ups; None for a new complaint."""
    row, complaint, normalized = item.row, item.complaint, item.normalized
    if complaint.auto_submitted:
        row.status = RawState.PROCESSED
        repo.add_event(
            session,
            "not_a_complaint",
            raw_message_id=row.id,
            reason=normalized.auto_reason,
            ticket_ref=complaint.ticket_ref,
        )
        log.info("raw %s: auto-submitted (%s), recorded only", row.id, normalized.auto_reason)
        return Outcome(row.id, OutcomeStatus.AUTO_SUBMITTED)
    twin = _same_mail_elsewhere(session, complaint)
    if twin is not None:  # the same mail reached another of our mailboxes (To and Cc)
        row.status, row.complaint_id = RawState.PROCESSED, twin.id
        repo.add_event(
            session,
            "received_again",
            complaint_id=twin.id,
            raw_message_id=row.id,
            channel=row.channel,
            mailbox=row.mailbox,
        )
        _apply_ssl_clock(session, runtime, twin, complaint)
        return Outcome(row.id, OutcomeStatus.DUPLICATE, twin.id, twin.reference)
    if normalized.replaces:
        edited = _complaint_by_source(session, row.channel, normalized.replaces)
        if edited is not None:
            return _record_edit(session, row, edited, complaint)
    existing = (
        _complaint_by_reference(session, complaint.ticket_ref)
        or _complaint_answered(session, normalized)
        or _open_in_thread(session, normalized.thread_key)
    )
    if existing is not None:
        return _record_followup(session, runtime, row, existing, complaint)
    return None


def depends_on(items: list[records.Item], item: records.Item) -> bool:
    """Whether `item` is a copy of, or continues the conversation of, a new item before it."""
    twin = _dedupes_across_mailboxes(item.complaint)
    thread = item.normalized.thread_key
    return any(
        (twin and other.complaint.source_id == item.complaint.source_id)
        or (thread is not None and other.normalized.thread_key == thread)
        for other in items
    )


def _record_followup(
    session: Session,
    runtime: Runtime,
    row: RawMessageRow,
    existing: ComplaintRow,
    complaint: Complaint,
) -> Outcome:
    """A message on an open complaint: stored on it; the unit is told, unless it wrote it."""
    unit_addresses = {u.email.lower() for u in runtime.settings.unit}
    from_unit = (complaint.complainant.email or "").lower() in unit_addresses
    row.status, row.complaint_id = RawState.PROCESSED, existing.id
    row.forward_state = JobState.NOT_NEEDED if from_unit else JobState.PENDING
    repo.add_event(
        session,
        "unit_reply" if from_unit else "followup",
        complaint_id=existing.id,
        raw_message_id=row.id,
        subject=complaint.subject,
    )
    log.info(
        "raw %s: continues %s%s",
        row.id,
        existing.reference,
        " (from the unit)" if from_unit else "",
    )
    return Outcome(
        row.id,
        OutcomeStatus.FOLLOWUP,
        existing.id,
        existing.reference,
        forward_queue=None if from_unit else existing.queue,
    )


EMAIL_CHANNELS = ("email", "email_ssl")


def _dedupes_across_mailboxes(complaint: Complaint) -> bool:
    return complaint.channel in EMAIL_CHANNELS and not complaint.source_id.startswith("sha256:")


def _same_mail_elsewhere(session: Session, complaint: Complaint) -> ComplaintRow | None:
    """A complaint made from the same Message-ID that came in through another mailbox."""
    if not _dedupes_across_mailboxes(complaint):
        return None
    return session.scalars(
        select(ComplaintRow)
        .where(
            ComplaintRow.channel.in_(EMAIL_CHANNELS),
            ComplaintRow.source_id == complaint.source_id,
        )
        .limit(1)
    ).first()


def _apply_ssl_clock(
    session: Session, runtime: Runtime, twin: ComplaintRow, complaint: Complaint
) -> None:
    """A copy through the SSL problem address makes the complaint an SSL problem report: its
    answer is due `ssl_answer_hours` after the first receipt, on the wall clock (CA/B Forum
    BR 4.9.5), as if it had come through that address alone, whatever the hour."""
    if complaint.channel != "email_ssl":
        return  # a copy through a general box changes nothing
    settings = runtime.settings
    due = first_answer_due(
        twin.received_at,
        complaint.channel,
        ssl_hours=settings.clock.ssl_answer_hours,
        tz=settings.clock.timezone,
    )
    if twin.due_at != due:
        repo.add_event(
            session,
            "clock_changed",
            complaint_id=twin.id,
            channel=complaint.channel,
            due_at=due,
            was=twin.due_at,
        )
        twin.due_at = due


def _complaint_by_reference(session: Session, reference: str | None) -> ComplaintRow | None:
    if not reference:
        return None
    return session.scalars(
        select(ComplaintRow).where(ComplaintRow.reference == reference)
    ).one_or_none()


def _complaint_answered(session: Session, normalized: Normalized) -> ComplaintRow | None:
    """The complaint of one of our outgoing messages that this one replies to."""
    ids = [i for i in (*normalized.in_reply_to, *normalized.references) if i]
    if not ids:
        return None
    return session.scalars(
        select(ComplaintRow)
        .join(OutboundMessageRow, OutboundMessageRow.complaint_id == ComplaintRow.id)
        .where(OutboundMessageRow.message_id.in_(ids))
        .limit(1)
    ).first()


def _open_in_thread(session: Session, thread_key: str | None) -> ComplaintRow | None:
    """The latest open complaint of a conversation (a chat) that a new message continues."""
    if not thread_key:
        return None
    return session.scalars(
        select(ComplaintRow)
        .where(ComplaintRow.thread_key == thread_key, ComplaintRow.status.in_(OPEN))
        .order_by(ComplaintRow.id.desc())
        .limit(1)
    ).first()


def _complaint_by_source(session: Session, channel: str, source_id: str) -> ComplaintRow | None:
    return session.scalars(
        select(ComplaintRow).where(
            ComplaintRow.channel == channel, ComplaintRow.source_id == source_id
        )
    ).first()


def _record_edit(
    session: Session, row: RawMessageRow, edited: ComplaintRow, complaint: Complaint
) -> Outcome:
    """An edited message updates its complaint; the unit gets the new text as a follow-up."""
    repo.add_event(
        session,
        "edited",
        complaint_id=edited.id,
        raw_message_id=row.id,
        previous_body=edited.body[:2000],
    )
    edited.body, edited.subject = complaint.body, complaint.subject or edited.subject
    row.status, row.complaint_id = RawState.PROCESSED, edited.id
    row.forward_state = (
        JobState.PENDING if edited.delivery_state == JobState.SENT else JobState.NOT_NEEDED
    )
    log.info("raw %s: edits %s", row.id, edited.reference)
    return Outcome(
        row.id,
        OutcomeStatus.FOLLOWUP,
        edited.id,
        edited.reference,
        forward_queue=edited.queue if row.forward_state == JobState.PENDING else None,
    )
