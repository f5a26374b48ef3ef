"""The reconciler: the store is the source of truth, the broker only a delivery aid.

At start (`everything=True`) it enqueues every job a complaint is still owed, so a broker that
lost its memory loses nothing; then periodically it does so for jobs enqueued longer ago than
`requeue_after_seconds`, and processes raw items left pending by a crash between storing and
processing. A job parked by a bug (`dead`) waits for an operator (`intake retry`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from ingest import pipeline
from intake import clock
from intake.runtime import Runtime
from intake.states import JobState, RawState
from outbound import jobs
from outbound.jobs import Job, Work
from store.models import ComplaintRow, NoticeRow, RawMessageRow

log = logging.getLogger(__name__)

STALE_RAW = timedelta(seconds=60)


@dataclass(frozen=True)
class Report:
    raws_processed: int
    jobs_enqueued: int


def reconcile(runtime: Runtime, *, everything: bool = False) -> Report:
    """One pass: process stuck raw items, re-enqueue owed tickets, acks and follow-ups."""
    raws = _process_stuck_raws(runtime, everything)
    enqueued = jobs.dispatch(
        runtime,
        [
            *_owed(runtime, everything),
            *_owed_followups(runtime, everything),
            *_owed_notices(runtime, everything),
        ],
    )
    if raws or enqueued:
        log.info("reconciler: %s raw items processed, %s jobs re-enqueued", raws, enqueued)
    return Report(raws, enqueued)


def _process_stuck_raws(runtime: Runtime, everything: bool) -> int:
    cutoff = clock.now() - (timedelta(0) if everything else STALE_RAW)
    with runtime.sessions() as session:
        ids = list(
            session.scalars(
                select(RawMessageRow.id)
                .where(RawMessageRow.status == RawState.PENDING, RawMessageRow.stored_at <= cutoff)
                .order_by(RawMessageRow.id)
            )
        )
    for raw_id in ids:  # one at a time: each its own transaction, as it came in
        pipeline.process(runtime, [raw_id])
    return len(ids)


def _owed(runtime: Runtime, everything: bool) -> Iterator[Work]:
    """The tickets and acknowledgements still pending (and, but at start, not just sent)."""
    cutoff = clock.now() - timedelta(seconds=runtime.settings.broker.requeue_after_seconds)
    due = {}
    for job in (Job.TICKET, Job.ACK):
        owed = job.columns.state == JobState.PENDING
        enqueued = job.columns.enqueued_at
        if not everything and enqueued is not None:
            owed &= or_(enqueued.is_(None), enqueued < cutoff)
        due[job] = owed
    query = (
        select(ComplaintRow.id, ComplaintRow.queue, due[Job.TICKET], due[Job.ACK])
        .where(or_(*due.values()))
        .order_by(ComplaintRow.id)
    )
    with runtime.sessions() as session:
        rows = session.execute(query).all()
    for complaint_id, queue, ticket, ack in rows:
        if ticket:
            yield Work(Job.TICKET, complaint_id, queue)
        if ack:
            yield Work(Job.ACK, complaint_id, queue)


def _owed_followups(runtime: Runtime, everything: bool) -> list[Work]:
    """Follow-ups not yet forwarded (a re-enqueue of one in hand is a no-op: it is claimed)."""
    query = (
        select(RawMessageRow.id, ComplaintRow.queue)
        .join(ComplaintRow, ComplaintRow.id == RawMessageRow.complaint_id)
        .where(RawMessageRow.forward_state == JobState.PENDING)
    )
    if not everything:
        stale = clock.now() - timedelta(seconds=runtime.settings.broker.requeue_after_seconds)
        query = query.where(RawMessageRow.stored_at < stale)
    with runtime.sessions() as session:
        rows = session.execute(query.order_by(RawMessageRow.id)).all()
    return [Work(Job.FOLLOWUP, raw_id, queue) for raw_id, queue in rows]


def _owed_notices(runtime: Runtime, everything: bool) -> list[Work]:
    """Notices not yet sent (and, but at start, not just enqueued)."""
    query = select(NoticeRow.id, NoticeRow.queue).where(NoticeRow.state == JobState.PENDING)
    if not everything:
        stale = clock.now() - timedelta(seconds=runtime.settings.broker.requeue_after_seconds)
        query = query.where(or_(NoticeRow.enqueued_at.is_(None), NoticeRow.enqueued_at < stale))
    with runtime.sessions() as session:
        rows = session.execute(query.order_by(NoticeRow.id)).all()
    return [Work(Job.NOTICE, notice_id, queue) for notice_id, queue in rows]


class ReconcilerThread(threading.Thread):
    """Runs `reconcile` at start and every `interval` seconds until `stop()`."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="reconciler", daemon=True)
        self.runtime, self.interval = runtime, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        everything = True
        while not self._stop_event.is_set():
            try:
                reconcile(self.runtime, everything=everything)
                everything = False
            except Exception:  # a database outage must not end the loop
                log.exception("reconciler pass failed; trying again in %ss", self.interval)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
