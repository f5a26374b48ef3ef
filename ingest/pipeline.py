"""The spine: store the raw item first, then normalise, route, record, and enqueue after commit.

`ingest(raw)` is what every channel calls. A second delivery of the same (channel, source_id)
is recorded on the first and creates nothing. An item that cannot be processed is kept raw,
marked failed with its error, and never blocks the next one; `process(raw_id)` retries it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.channels import channel as channel_spec
from intake import jobs
from intake.errors import PermanentError
from intake.runtime import Runtime
from intake.schema import Complaint, RawMessage, RoutingDecision
from routing.clocks import first_answer_due
from routing.route import route
from store import repo
from store.models import (
    AttachmentRow,
    ComplaintRow,
    RawMessageRow,
    RoutingDecisionRow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one raw item."""

    raw_id: int
    status: str  # "created" | "duplicate" | "auto_submitted" | "followup" | "failed"
    complaint_id: int | None = None
    reference: str | None = None
    error: str | None = None
    forward_queue: str | None = None  # a follow-up to forward to this unit queue


def ingest(runtime: Runtime, raw: RawMessage) -> Outcome:
    """Store `raw` (committed before anything else), then process it."""
    return ingest_batch(runtime, [raw])[0]


def ingest_batch(runtime: Runtime, raws: Sequence[RawMessage]) -> list[Outcome]:
    """Store every item raw in one commit, then process the new ones, then enqueue.

    Batches are what make a first import of thousands of mails fast; each item is still
    processed in its own savepoint, so one bad item never takes the others down with it.
    """
    stored = _store_all(runtime, raws)
    processed = process_batch(runtime, [item for item in stored if isinstance(item, int)])
    return [processed[item] if isinstance(item, int) else item for item in stored]


def _store_all(runtime: Runtime, raws: Sequence[RawMessage]) -> list[int | Outcome]:
    """New raw ids, or the outcome of an item already stored (the receipt is recorded)."""
    results: list[int | Outcome] = []
    with runtime.sessions.begin() as session:
        for raw in raws:
            row, created = repo.save_raw(session, raw)
            if created:
                results.append(row.id)
                continue
            repo.add_event(
                session, "received_again", complaint_id=row.complaint_id, raw_message_id=row.id,
                channel=raw.channel, mailbox=raw.mailbox,
            )
            reference = _reference_of(session, row.complaint_id)
            log.info("raw %s: %s already stored, nothing new", row.id, raw.channel)
            results.append(Outcome(row.id, "duplicate", row.complaint_id, reference))
    return results


def reject(runtime: Runtime, raw: RawMessage, error: str) -> Outcome:
    """Record an item that could not even be read (a failed fetch): kept, counted, failed."""
    with runtime.sessions.begin() as session:
        row, created = repo.save_raw(session, raw)
        if created:
            row.status, row.error = "failed", error[:4000]
            repo.add_event(session, "failed", raw_message_id=row.id, error=error[:4000],
                           permanent=False)
        raw_id = row.id
    log.warning("raw %s: %s", raw_id, error)
    return Outcome(raw_id, "failed", error=error)


def process(runtime: Runtime, raw_id: int) -> Outcome:
    """Normalise, route and record raw item `raw_id`; failures are recorded on it."""
    return process_batch(runtime, [raw_id])[raw_id]


def process_batch(runtime: Runtime, raw_ids: Sequence[int]) -> dict[int, Outcome]:
    """Process stored raw items in one transaction, one savepoint each; enqueue after commit."""
    outcomes: dict[int, Outcome] = {}
    failures: list[tuple[int, Exception]] = []
    created: list[tuple[int, str, bool, bool]] = []
    with runtime.sessions.begin() as session:
        for raw_id in raw_ids:
            try:
                with session.begin_nested():
                    outcome, job = _process_in(session, runtime, raw_id)
            except Exception as exc:
                failures.append((raw_id, exc))
                continue
            outcomes[raw_id] = outcome
            if job is not None:
                created.append(job)
    for raw_id, exc in failures:
        outcomes[raw_id] = _record_failure(runtime, raw_id, exc)
    jobs.dispatch(runtime, created)
    jobs.dispatch_followups(runtime, [(o.raw_id, o.forward_queue) for o in outcomes.values()
                                      if o.forward_queue])
    return outcomes


def _process_in(session: Session, runtime: Runtime, raw_id: int):  # type: ignore[no-untyped-def]
    row = session.get(RawMessageRow, raw_id, with_for_update=True)
    if row is None:
        raise LookupError(f"raw message {raw_id} does not exist")
    if row.status == "processed":
        return Outcome(raw_id, "duplicate", row.complaint_id), None
    row.attempts += 1
    raw = RawMessage(
        channel=row.channel, source_id=row.source_id, received_at=row.received_at,
        payload=row.payload, mailbox=row.mailbox, transport=row.transport,
    )
    normalized = channel_spec(raw.channel).normalizer(raw, runtime.settings)
    complaint = dataclasses.replace(
        normalized.complaint, channel=raw.channel, source_id=raw.source_id,
        received_at=raw.received_at,
    )
    if complaint.auto_submitted:
        row.status = "processed"
        repo.add_event(session, "not_a_complaint", raw_message_id=raw_id,
                       reason=normalized.auto_reason, ticket_ref=complaint.ticket_ref)
        log.info("raw %s: auto-submitted (%s), recorded only", raw_id, normalized.auto_reason)
        return Outcome(raw_id, "auto_submitted"), None
    twin = _same_mail_elsewhere(session, complaint)
    if twin is not None:  # the same mail reached another of our mailboxes (To and Cc)
        row.status, row.complaint_id = "processed", twin.id
        repo.add_event(session, "received_again", complaint_id=twin.id, raw_message_id=raw_id,
                       channel=raw.channel, mailbox=raw.mailbox)
        _apply_stricter_clock(session, runtime, twin, complaint)
        return Outcome(raw_id, "duplicate", twin.id, twin.reference), None
    existing = _complaint_by_reference(session, complaint.ticket_ref)
    if existing is not None:
        return _record_followup(session, runtime, row, existing, complaint), None
    decision = route(complaint.subject, complaint.body, complaint.channel, runtime.settings)
    created = _create_complaint(session, runtime, row, complaint, normalized, decision)
    job = (created.id, created.queue, True, created.ack_state == "pending")
    return Outcome(raw_id, "created", created.id, created.reference), job


def _record_followup(session: Session, runtime: Runtime, row: RawMessageRow,
                     existing: ComplaintRow, complaint: Complaint) -> Outcome:
    """A message on an open complaint: stored on it; the unit is told, unless it wrote it."""
    unit_addresses = {u.email.lower() for u in runtime.settings.unit}
    from_unit = (complaint.complainant.email or "").lower() in unit_addresses
    row.status, row.complaint_id = "processed", existing.id
    row.forward_state = "not_needed" if from_unit else "pending"
    repo.add_event(session, "unit_reply" if from_unit else "followup", complaint_id=existing.id,
                   raw_message_id=row.id, subject=complaint.subject)
    log.info("raw %s: continues %s%s", row.id, existing.reference,
             " (from the unit)" if from_unit else "")
    return Outcome(row.id, "followup", existing.id, existing.reference,
                   forward_queue=None if from_unit else existing.queue)


def _create_complaint(session, runtime, row, complaint: Complaint, normalized,  # type: ignore[no-untyped-def]
                      decision: RoutingDecision) -> ComplaintRow:
    settings = runtime.settings
    year = complaint.received_at.astimezone(ZoneInfo(settings.clock.timezone)).year
    due_at = first_answer_due(
        complaint.received_at, complaint.channel,
        ssl_hours=settings.clock.ssl_answer_hours, tz=settings.clock.timezone,
    )
    person = complaint.complainant
    created = ComplaintRow(
        reference=repo.next_reference(session, settings.reference.prefix, year),
        raw_message_id=row.id, channel=complaint.channel, source_id=complaint.source_id,
        mailbox=row.mailbox, received_at=complaint.received_at, complainant_name=person.name,
        complainant_email=person.email, complainant_phone=person.phone,
        complainant_handle=person.handle, subject=complaint.subject, body=complaint.body,
        language=complaint.language, message_id=normalized.message_id,
        ticket_ref=complaint.ticket_ref, auto_submitted=False, product=decision.product,
        kind=decision.kind, unit=decision.unit, queue=decision.queue, status="assigned",
        due_at=due_at, delivery_state="pending",
        ack_state="pending" if person.email else "no_address", created_at=repo.utcnow(),
    )
    session.add(created)
    session.flush()
    _record_attachments(session, created.id, complaint, normalized)
    session.add(RoutingDecisionRow(
        complaint_id=created.id, product=decision.product, kind=decision.kind,
        unit=decision.unit, queue=decision.queue, confidence=decision.confidence,
        decided_by=decision.decided_by, hits=repo._jsonable(decision.hits),
        decided_at=repo.utcnow(),
    ))
    row.status, row.complaint_id = "processed", created.id
    repo.add_event(session, "received", complaint_id=created.id, raw_message_id=row.id,
                   channel=complaint.channel, mailbox=row.mailbox, notes=normalized.notes)
    repo.add_event(session, "routed", complaint_id=created.id, product=decision.product,
                   kind=decision.kind, unit=decision.unit, decided_by=decision.decided_by,
                   confidence=decision.confidence, due_at=due_at)
    log.info("%s: raw %s routed to %s (%s, %s)", created.reference, row.id, decision.unit,
             decision.product, decision.decided_by)
    return created


def _record_attachments(session: Session, complaint_id: int, complaint: Complaint,
                        normalized) -> None:  # type: ignore[no-untyped-def]
    repo.put_blobs(session, normalized.blobs)
    for item in complaint.attachments:
        session.add(AttachmentRow(
            complaint_id=complaint_id, filename=item.filename, content_type=item.content_type,
            size=item.size, sha256=item.sha256,
        ))
    if normalized.refused_attachments:
        repo.add_event(session, "attachments_refused", complaint_id=complaint_id,
                       refused=normalized.refused_attachments)


def _record_failure(runtime: Runtime, raw_id: int, exc: Exception) -> Outcome:
    """Keep the raw item, mark it failed with the error; the next item goes on."""
    permanent = isinstance(exc, PermanentError)
    error = f"{type(exc).__name__}: {exc}"
    if permanent:
        log.warning("raw %s: rejected: %s", raw_id, error)
    else:
        log.exception("raw %s: processing failed", raw_id)
    with runtime.sessions.begin() as session:
        row = session.get(RawMessageRow, raw_id)
        if row is not None:
            row.status, row.error = "failed", error[:4000]
            row.attempts = (row.attempts or 0) + 1
            repo.add_event(session, "failed", raw_message_id=raw_id, error=error[:4000],
                           permanent=permanent)
    return Outcome(raw_id, "failed", error=error)


EMAIL_CHANNELS = ("email", "email_ssl")


def _same_mail_elsewhere(session: Session, complaint: Complaint) -> ComplaintRow | None:
    """A complaint made from the same Message-ID that came in through another mailbox."""
    if complaint.channel not in EMAIL_CHANNELS or complaint.source_id.startswith("sha256:"):
        return None
    return session.scalars(
        select(ComplaintRow).where(
            ComplaintRow.channel.in_(EMAIL_CHANNELS),
            ComplaintRow.source_id == complaint.source_id,
        ).limit(1)
    ).first()


def _apply_stricter_clock(session: Session, runtime: Runtime, twin: ComplaintRow,
                          complaint: Complaint) -> None:
    """A copy through the SSL problem address puts the complaint on the 24-hour clock too."""
    settings = runtime.settings
    due = first_answer_due(twin.received_at, complaint.channel,
                           ssl_hours=settings.clock.ssl_answer_hours, tz=settings.clock.timezone)
    if twin.due_at is None or due < twin.due_at:
        repo.add_event(session, "clock_tightened", complaint_id=twin.id,
                       channel=complaint.channel, due_at=due, was=twin.due_at)
        twin.due_at = due


def _complaint_by_reference(session: Session, reference: str | None) -> ComplaintRow | None:
    if not reference:
        return None
    return session.scalars(
        select(ComplaintRow).where(ComplaintRow.reference == reference)
    ).one_or_none()


def _reference_of(session: Session, complaint_id: int | None) -> str | None:
    if complaint_id is None:
        return None
    return session.scalar(select(ComplaintRow.reference).where(ComplaintRow.id == complaint_id))
