"""The reconciler: the store is the source of truth, the broker only a delivery aid.

At start (`everything=True`) it enqueues every complaint still owed a delivery or an
acknowledgement, so a broker that lost its memory loses nothing; then periodically it does so
for those enqueued longer ago than `requeue_after_seconds`, and processes raw items left
pending by a crash between storing and processing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from ingest import pipeline
from intake.runtime import Runtime
from outbound import jobs
from store.models import ComplaintRow, RawMessageRow
from store.repo import utcnow

log = logging.getLogger(__name__)

STALE_RAW = timedelta(seconds=60)


@dataclass(frozen=True)
class Report:
    raws_processed: int
    jobs_enqueued: int


def reconcile(runtime: Runtime, *, everything: bool = False) -> Report:
    """One pass: process stuck raw items, re-enqueue owed deliveries and acknowledgements."""
    raws = _process_stuck_raws(runtime, everything)
    owed = list(_owed_jobs(runtime, everything))
    enqueued = jobs.dispatch(runtime, owed)
    enqueued += jobs.dispatch_followups(runtime, _owed_followups(runtime, everything))
    if raws or enqueued:
        log.info("reconciler: %s raw items processed, %s complaints re-enqueued", raws, enqueued)
    return Report(raws, enqueued)


def _process_stuck_raws(runtime: Runtime, everything: bool) -> int:
    cutoff = utcnow() - (timedelta(0) if everything else STALE_RAW)
    with runtime.sessions() as session:
        ids = list(session.scalars(
            select(RawMessageRow.id).where(
                RawMessageRow.status == "pending", RawMessageRow.stored_at <= cutoff
            ).order_by(RawMessageRow.id)
        ))
    for raw_id in ids:
        pipeline.process(runtime, raw_id)
    return len(ids)


def _owed_jobs(runtime: Runtime, everything: bool) -> Iterator[tuple[int, str, bool, bool]]:
    cutoff = utcnow() - timedelta(seconds=runtime.settings.broker.requeue_after_seconds)
    delivery_due = ComplaintRow.delivery_state == "pending"
    ack_due = ComplaintRow.ack_state == "pending"
    if not everything:
        delivery_due &= or_(ComplaintRow.delivery_enqueued_at.is_(None),
                            ComplaintRow.delivery_enqueued_at < cutoff)
        ack_due &= or_(ComplaintRow.ack_enqueued_at.is_(None), ComplaintRow.ack_enqueued_at < cutoff)
    query = select(ComplaintRow.id, ComplaintRow.queue, delivery_due, ack_due).where(
        or_(delivery_due, ack_due)
    ).order_by(ComplaintRow.id)
    with runtime.sessions() as session:
        rows = session.execute(query).all()
    for complaint_id, queue, deliver, ack in rows:
        yield complaint_id, queue, bool(deliver), bool(ack)


def _owed_followups(runtime: Runtime, everything: bool) -> list[tuple[int, str]]:
    """Follow-ups not yet forwarded (a re-enqueue of one in hand is a no-op: it is claimed)."""
    query = (
        select(RawMessageRow.id, ComplaintRow.queue)
        .join(ComplaintRow, ComplaintRow.id == RawMessageRow.complaint_id)
        .where(RawMessageRow.forward_state == "pending")
    )
    if not everything:
        stale = utcnow() - timedelta(seconds=runtime.settings.broker.requeue_after_seconds)
        query = query.where(RawMessageRow.stored_at < stale)
    with runtime.sessions() as session:
        return [(raw_id, queue) for raw_id, queue in session.execute(query.order_by(RawMessageRow.id))]


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
