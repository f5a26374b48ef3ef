"""The jobs of the outbound stage, and putting them on the queues: only ids, after the commit.

A `Job` is one kind of work with one name, used for its actor, its row in the store and its
outgoing mail alike. The ticket and a follow-up go to the queue of the complaint's unit, the
acknowledgement to `ack`. When the broker cannot be reached the work stays pending in the
store and the reconciler enqueues it later, so nothing is lost; the outage is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import redis
from dramatiq import Broker, Message
from sqlalchemy import update

from intake import clock
from intake.runtime import Runtime
from store.models import ComplaintRow, NoticeRow, RawMessageRow
from store.repo import JobColumns

log = logging.getLogger(__name__)

ACK_QUEUE = "ack"


class Job(StrEnum):
    """What a worker does for one complaint; the value is the job's name everywhere."""

    TICKET = "ticket"  # e-mail the complaint to its unit
    ACK = "ack"  # acknowledge it to the complainant, on their own channel
    FOLLOWUP = "followup"  # forward a later message on it to the unit (the target: a raw id)
    NOTICE = "notice"  # a notice the desk owes (the target: a notice id; handling.notices)

    @property
    def columns(self) -> JobColumns:
        """Where the store keeps this job's progress."""
        return _COLUMNS[self]

    @property
    def on_unit_queue(self) -> bool:
        return self is not Job.ACK

    @property
    def sent_event(self) -> str:
        """The event that records it done (the names of the complaint's event log)."""
        return {
            Job.TICKET: "delivered",
            Job.ACK: "acknowledged",
            Job.FOLLOWUP: "followup_forwarded",
            Job.NOTICE: "notice_sent",
        }[self]


_COLUMNS = {
    Job.TICKET: JobColumns(
        ComplaintRow,
        ComplaintRow.delivery_state,
        ComplaintRow.delivery_claimed_at,
        ComplaintRow.delivery_enqueued_at,
    ),
    Job.ACK: JobColumns(
        ComplaintRow,
        ComplaintRow.ack_state,
        ComplaintRow.ack_claimed_at,
        ComplaintRow.ack_enqueued_at,
    ),
    Job.FOLLOWUP: JobColumns(
        RawMessageRow, RawMessageRow.forward_state, RawMessageRow.forward_claimed_at, None
    ),
    Job.NOTICE: JobColumns(NoticeRow, NoticeRow.state, NoticeRow.claimed_at, NoticeRow.enqueued_at),
}


@dataclass(frozen=True)
class Work:
    """One job to put on a queue: for complaint (or, a follow-up, raw message) `target_id`."""

    job: Job
    target_id: int
    unit_queue: str  # the queue of the unit that holds the complaint (a notice: its own)

    @property
    def queue(self) -> str:
        return self.unit_queue if self.job.on_unit_queue else ACK_QUEUE

    def message(self, broker: Broker) -> Message:
        """The message, made by the job's actor, on the queue this work goes to."""
        return broker.get_actor(self.job).message(self.target_id).copy(queue_name=self.queue)


# Faults of the broker's connection: the work waits in the store. Anything else is a bug.
BROKER_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

_broker_down = False


def dispatch(runtime: Runtime, work: Iterable[Work]) -> int:
    """Enqueue `work` in order until the broker fails; returns how many went out."""
    done: list[Work] = []
    for item in work:
        if not _send(runtime, item):
            break
        done.append(item)
    _mark_enqueued(runtime, done)
    return len(done)


def _send(runtime: Runtime, item: Work) -> bool:
    """Put one job on the broker; False (logged once per outage) when it is unreachable."""
    global _broker_down
    if runtime.broker is None:
        return False
    message = item.message(runtime.broker)  # an actor not declared is a bug: it propagates
    try:
        runtime.broker.enqueue(message)
    except BROKER_DOWN as exc:  # redis down, socket gone: the store keeps it pending
        if not _broker_down:
            log.warning("broker unreachable (%s); pending work waits for the reconciler", exc)
        _broker_down = True
        return False
    if _broker_down:
        log.warning("broker reachable again")
        _broker_down = False
    return True


def _mark_enqueued(runtime: Runtime, done: list[Work]) -> None:
    """Stamp when each job went out, so the reconciler only re-sends what is overdue."""
    if not done:
        return
    now = clock.now()
    with runtime.sessions.begin() as session:
        for job in Job:
            table, column = job.columns.model, job.columns.enqueued_at
            ids = [item.target_id for item in done if item.job is job]
            for start in range(0, len(ids) if column is not None else 0, 500):
                session.execute(
                    update(table)
                    .where(table.id.in_(ids[start : start + 500]))
                    .values({column: now})
                )
