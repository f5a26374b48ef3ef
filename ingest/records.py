"""Writing new complaints to the store, many at a time; and `Outcome`, what became of an item.

A first import brings thousands of mails: their complaints, routing decisions, attachments and
events go in as a few multi-row INSERTs, with references reserved in one step. If a batch
fails, each complaint is tried again on its own, so one bad item only fails itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.orm import Session

from handling import clocks
from ingest.prepare import Failed
from intake import clock
from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.schema import Complaint, RoutingDecision
from intake.settings import Settings
from intake.states import ComplaintStatus, JobState, RawState
from normalize.records import Normalized
from outbound.channels import answers_in_kind
from outbound.jobs import Work
from store import repo
from store.models import (
    AttachmentRow,
    ClockRow,
    ComplaintRow,
    EventRow,
    RawMessageRow,
    RoutingDecisionRow,
)

log = logging.getLogger(__name__)


class OutcomeStatus(StrEnum):
    CREATED = "created"  # a new complaint
    DUPLICATE = "duplicate"  # stored before (or a copy of a mail another mailbox had)
    AUTO_SUBMITTED = "auto_submitted"  # an auto-reply, bounce or list mail: recorded only
    FOLLOWUP = "followup"  # continues an existing complaint
    FAILED = "failed"  # kept raw, marked failed with its error (`intake retry`)


@dataclass(frozen=True)
class Outcome:
    """What became of one raw item."""

    raw_id: int
    status: OutcomeStatus
    complaint_id: int | None = None
    reference: str | None = None
    error: str | None = None
    forward_queue: str | None = None  # a follow-up to forward to this unit queue
    work: tuple[Work, ...] = ()  # what its commands or answers owe (handling)


@dataclass(frozen=True)
class Item:
    """A stored raw item after the pure work: normalised and, when new, routed."""

    row: RawMessageRow
    normalized: Normalized
    complaint: Complaint
    decision: RoutingDecision | None = None


@dataclass(frozen=True)
class Created:
    raw_id: int
    complaint_id: int
    reference: str
    queue: str
    ack_pending: bool


def create_complaints(
    session: Session, runtime: Runtime, items: list[Item], failures: dict[int, Failed]
) -> list[Created]:
    """Insert complaints for `items`; the ones that fail alone are added to `failures`."""
    if not items:
        return []
    try:
        with session.begin_nested():
            return _insert(session, runtime, items)
    except Exception as exc:
        if len(items) == 1:
            failures[items[0].row.id] = Failed.of(exc)
            return []
    created = []
    for item in items:  # find the one that spoiled the batch; the rest go in
        created += create_complaints(session, runtime, [item], failures)
    return created


def _insert(session: Session, runtime: Runtime, items: list[Item]) -> list[Created]:
    now = clock.now()
    references = _references(session, runtime, items)
    rows = [_complaint_values(runtime, item, ref, now) for item, ref in zip(items, references)]
    ids = (
        session.execute(
            insert(ComplaintRow).returning(ComplaintRow.id, sort_by_parameter_order=True), rows
        )
        .scalars()
        .all()
    )
    blobs: dict[str, bytes] = {}
    attachments: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    clock_rows: list[dict[str, Any]] = []
    for item, complaint_id, values in zip(items, ids, rows):
        clock_rows += clocks.values_for(
            complaint_id,
            values["channel"],
            values["received_at"],
            runtime.settings,
            values["unit"],
            values["category"],
        )
        blobs.update(item.normalized.blobs)
        attachments += [
            {
                "complaint_id": complaint_id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in item.complaint.attachments
        ]
        decisions.append(_decision_values(_routed(item), complaint_id, now))
        events += _events(item, complaint_id, values, now)
        item.row.status, item.row.complaint_id = RawState.PROCESSED, complaint_id
    repo.put_blobs(session, blobs)
    for model, many in (
        (AttachmentRow, attachments),
        (RoutingDecisionRow, decisions),
        (EventRow, events),
        (ClockRow, clock_rows),
    ):
        if many:
            session.execute(insert(model), many)
    session.flush()
    for item, values in zip(items, rows):
        decision = _routed(item)
        log.info(
            "%s: raw %s routed to %s (%s, %s)",
            values["reference"],
            item.row.id,
            decision.unit,
            decision.product,
            decision.decided_by,
        )
    return [
        Created(
            item.row.id,
            complaint_id,
            values["reference"],
            values["queue"],
            values["ack_state"] == JobState.PENDING,
        )
        for item, complaint_id, values in zip(items, ids, rows)
    ]


def _references(session: Session, runtime: Runtime, items: list[Item]) -> list[str]:
    """One reference per item, numbered in the year of its receipt (local time)."""
    zone = ZoneInfo(runtime.settings.clock.timezone)
    years = [item.complaint.received_at.astimezone(zone).year for item in items]
    pools: dict[int, list[str]] = {}
    for year in sorted(set(years)):
        pools[year] = repo.reserve_references(
            session, runtime.settings.reference.prefix, year, years.count(year)
        )
    return [pools[year].pop(0) for year in years]


def _complaint_values(
    runtime: Runtime, item: Item, reference: str, now: datetime
) -> dict[str, Any]:
    settings, complaint, decision = runtime.settings, item.complaint, _routed(item)
    person = complaint.complainant
    return {
        "reference": reference,
        "raw_message_id": item.row.id,
        "channel": complaint.channel,
        "source_id": complaint.source_id,
        "mailbox": item.row.mailbox,
        "received_at": complaint.received_at,
        "complainant_name": person.name,
        "complainant_email": person.email,
        "complainant_phone": person.phone,
        "complainant_handle": person.handle,
        "subject": complaint.subject,
        "body": complaint.body,
        "language": complaint.language,
        "message_id": item.normalized.message_id,
        "ticket_ref": complaint.ticket_ref,
        "thread_key": item.normalized.thread_key,
        "auto_submitted": False,
        "product": decision.product,
        "kind": decision.kind,
        "unit": decision.unit,
        "queue": decision.queue,
        "category": decision.category,
        "status": ComplaintStatus.ASSIGNED,
        "due_at": clocks.primary_due(
            complaint.channel, complaint.received_at, settings, decision.unit, decision.category
        ),
        "delivery_state": JobState.PENDING,
        "ack_state": _ack_state(settings, complaint),
        "created_at": now,
    }


def _ack_state(settings: Settings, complaint: Complaint) -> JobState:
    """Whether the complaint is owed an acknowledgement: not when there is no one to answer,
    nor when it comes from one of our units (staff need no receipt; a forged From of a unit
    must not make us write to it)."""
    address = complaint.complainant.email
    if address and any(unit.speaks_for(address) for unit in settings.unit):
        return JobState.NOT_NEEDED
    if address or answers_in_kind(complaint.channel):
        return JobState.PENDING
    return JobState.NO_ADDRESS


def _routed(item: Item) -> RoutingDecision:
    """The routing decision of an item that becomes a complaint (auto-submitted mail has none)."""
    if item.decision is None:
        raise IntakeError(f"raw {item.row.id}: not routed, so no complaint can be made of it")
    return item.decision


def _decision_values(decision: RoutingDecision, complaint_id: int, now: datetime) -> dict[str, Any]:
    return {
        "complaint_id": complaint_id,
        "product": decision.product,
        "kind": decision.kind,
        "unit": decision.unit,
        "queue": decision.queue,
        "confidence": decision.confidence,
        "decided_by": decision.decided_by,
        "hits": repo.jsonable(decision.hits),
        "decided_at": now,
    }


def _events(
    item: Item, complaint_id: int, values: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    decision, normalized = _routed(item), item.normalized

    def event(name: str, raw: int | None = None, /, **detail: Any) -> dict[str, Any]:
        return {
            "complaint_id": complaint_id,
            "raw_message_id": raw,
            "kind": name,
            "at": now,
            "actor": "intake",
            "detail": repo.jsonable(detail),
        }

    events = [
        event(
            "received",
            item.row.id,
            channel=values["channel"],
            mailbox=item.row.mailbox,
            notes=normalized.notes,
        ),
        event(
            "routed",
            None,
            product=decision.product,
            kind=decision.kind,
            unit=decision.unit,
            decided_by=decision.decided_by,
            confidence=decision.confidence,
            category=decision.category,
            due_at=values["due_at"],
        ),
    ]
    if normalized.refused_attachments:
        events.append(event("attachments_refused", None, refused=normalized.refused_attachments))
    return events
