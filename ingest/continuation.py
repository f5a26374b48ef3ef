"""Which complaint a message continues, if any: the decisions of threading and dedupe.

An auto-reply is recorded only; a copy of a mail from another mailbox and an edit attach to
their complaint. A reply that answers one of our messages (its Message-ID, random part and
all), quotes a reference in its subject, or comes in an open conversation continues that
complaint only when its sender may speak for it (`handling.speakers`): the complainant's
message is a follow-up or an answer, the unit's carries its commands. Anyone else's is a
new complaint that mentions the old one.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from handling import clocks, inbound
from handling.speakers import Speaker, speaker_of
from ingest import records
from ingest.records import Outcome, OutcomeStatus
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import Complaint
from intake.states import OPEN, ComplaintStatus, JobState, RawState
from normalize.commands import survey_score
from normalize.records import Normalized
from normalize.reference import ref_from_subject, ref_in_text
from routing.clocks import ClockName
from store import repo
from store.models import ComplaintRow, OutboundMessageRow, RawMessageRow

log = logging.getLogger(__name__)


def settle(session: Session, runtime: Runtime, item: records.Item) -> Outcome | records.Item:
    """What becomes of `item`: an outcome when it is settled on an existing complaint (or
    recorded only), else the item to make a new complaint of (naming a complaint it
    mentions)."""
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
        if twin.source_id == complaint.source_id:  # a copy of the complaint itself
            _apply_ssl_clock(session, runtime, twin, complaint)
        return Outcome(row.id, OutcomeStatus.DUPLICATE, twin.id, twin.reference)
    if normalized.replaces:
        edited = _complaint_by_source(session, row.channel, normalized.replaces)
        if edited is not None:
            return _record_edit(session, row, edited, complaint)
    existing = _continued(session, runtime, normalized)
    if existing is None:  # new; a reference it names that is none of ours stays a mention
        return item
    speaker = speaker_of(existing, normalized, runtime.settings)
    if speaker is Speaker.UNIT:
        return _record_unit_mail(session, runtime, row, existing, complaint)
    if speaker is Speaker.COMPLAINANT:
        return _record_followup(session, runtime, row, existing, complaint)
    log.info(
        "raw %s: names %s but is not its complainant's: a new complaint", row.id, existing.reference
    )
    return _mentioning(item, existing.reference)


def _continued(session: Session, runtime: Runtime, normalized: Normalized) -> ComplaintRow | None:
    """The complaint a message would continue: the one whose message it answers, the one
    its subject names, or the latest of its conversation that still listens."""
    found = _complaint_answered(session, normalized)
    if found is None:
        subject = normalized.complaint.subject
        reference = (
            ref_from_subject(subject, runtime.settings.reference.prefix) if subject else None
        )
        incoming = normalized.complaint
        if incoming.channel not in EMAIL_CHANNELS:  # a chat or a form names it in the text
            written = f"{incoming.subject}\n{incoming.body}"
            reference = incoming.ticket_ref or ref_in_text(
                written, runtime.settings.reference.prefix
            )
        found = _complaint_by_reference(session, reference)
    if found is None:
        found = _listening_in_thread(session, normalized)
    return found


def _mentioning(item: records.Item, reference: str) -> records.Item:
    """The item as a new complaint that mentions complaint `reference` (shown to the unit;
    the sender learns nothing of it)."""
    return dataclasses.replace(
        item, complaint=dataclasses.replace(item.complaint, ticket_ref=reference)
    )


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
    """The complainant's message: an answer to our decision or survey, else a follow-up
    stored on the complaint and forwarded to its unit."""
    answer, work = inbound.complainant_message(
        session, runtime.settings, existing, row.id, complaint.body
    )
    row.status, row.complaint_id = RawState.PROCESSED, existing.id
    row.forward_state = JobState.NOT_NEEDED if answer else JobState.PENDING
    repo.add_event(
        session,
        "complainant_answer" if answer else "followup",
        complaint_id=existing.id,
        raw_message_id=row.id,
        subject=complaint.subject,
    )
    log.info("raw %s: %s %s", row.id, "answers" if answer else "continues", existing.reference)
    return Outcome(
        row.id,
        OutcomeStatus.FOLLOWUP,
        existing.id,
        existing.reference,
        forward_queue=None if answer else existing.queue,
        work=tuple(work),
    )


def _record_unit_mail(
    session: Session,
    runtime: Runtime,
    row: RawMessageRow,
    existing: ComplaintRow,
    complaint: Complaint,
) -> Outcome:
    """The unit's reply to its ticket: its commands applied, the rest an internal note."""
    row.status, row.complaint_id = RawState.PROCESSED, existing.id
    row.forward_state = JobState.NOT_NEEDED
    repo.add_event(
        session,
        "unit_reply",
        complaint_id=existing.id,
        raw_message_id=row.id,
        actor=f"unit:{existing.unit}",
        subject=complaint.subject,
        sender=complaint.complainant.email,
    )
    work = inbound.unit_mail(session, runtime.settings, existing, row.id, complaint.body)
    log.info(
        "raw %s: the unit's reply on %s (%s)",
        row.id,
        existing.reference,
        mask(complaint.complainant.email or ""),
    )
    return Outcome(
        row.id, OutcomeStatus.FOLLOWUP, existing.id, existing.reference, work=tuple(work)
    )


EMAIL_CHANNELS = ("email", "email_ssl")


def _dedupes_across_mailboxes(complaint: Complaint) -> bool:
    return complaint.channel in EMAIL_CHANNELS and not complaint.source_id.startswith("sha256:")


def _same_mail_elsewhere(session: Session, complaint: Complaint) -> ComplaintRow | None:
    """The complaint that the same Message-ID, come in through another mailbox, was made
    into or settled on (a unit's reply or a follow-up sent to both addresses counts once)."""
    if not _dedupes_across_mailboxes(complaint):
        return None
    return session.scalars(
        select(ComplaintRow)
        .join(RawMessageRow, RawMessageRow.complaint_id == ComplaintRow.id)
        .where(
            RawMessageRow.channel.in_(EMAIL_CHANNELS),
            RawMessageRow.channel != complaint.channel,
            RawMessageRow.source_id == complaint.source_id,
            RawMessageRow.status == RawState.PROCESSED,
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
    started = clocks.ensure(
        session, twin, ClockName.SSL_PRELIMINARY, twin.received_at, runtime.settings
    )
    if started is None:
        return
    due = started.due_at  # the clock its ticket shows from now on, as through that box alone
    repo.add_event(
        session,
        "clock_changed",
        complaint_id=twin.id,
        channel=complaint.channel,
        clock=ClockName.SSL_PRELIMINARY,
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


LISTENING = OPEN | {ComplaintStatus.RESOLVED}  # a resolved one awaits KABUL or RET


def _listening_in_thread(session: Session, normalized: Normalized) -> ComplaintRow | None:
    """The latest complaint of a conversation (a chat) that a new message continues: one
    still open or awaiting an answer to its decision, or a closed one that asked for a
    rating when the message is one."""
    if not normalized.thread_key:
        return None
    latest = session.scalars(
        select(ComplaintRow)
        .where(ComplaintRow.thread_key == normalized.thread_key)
        .order_by(ComplaintRow.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.status in LISTENING:
        return latest
    rating = survey_score(normalized.complaint.body) is not None
    return latest if rating and inbound.awaits_rating(session, latest) else None


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
