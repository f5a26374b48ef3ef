"""Putting work on the queues: only ids travel, and only after the commit.

Ticket delivery and follow-up forwarding go to the unit's own queue; acknowledgements to the
`ack` queue. When the broker cannot be reached the work stays pending in the store and the
reconciler enqueues it later, so nothing is lost; the outage is logged once, not per item.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dramatiq import Message
from sqlalchemy import update

from intake.runtime import Runtime
from store.models import ComplaintRow
from store.repo import utcnow

log = logging.getLogger(__name__)

ACK_QUEUE = "ack"
DELIVER_ACTOR = "deliver_ticket"
ACK_ACTOR = "acknowledge"
FOLLOWUP_ACTOR = "deliver_followup"

_broker_down = False


def job_message(actor: str, queue: str, target_id: int) -> Message:
    return Message(queue_name=queue, actor_name=actor, args=(target_id,), kwargs={}, options={})


def dispatch(runtime: Runtime, complaints: Iterable[tuple[int, str, bool, bool]]) -> int:
    """Enqueue (complaint id, unit queue, deliver?, ack?) jobs; returns how many went out."""
    done: list[tuple[int, bool, bool]] = []
    for complaint_id, queue, deliver, ack in complaints:
        messages = []
        if deliver:
            messages.append(job_message(DELIVER_ACTOR, queue, complaint_id))
        if ack:
            messages.append(job_message(ACK_ACTOR, ACK_QUEUE, complaint_id))
        if not _send(runtime, messages):
            break
        done.append((complaint_id, deliver, ack))
    _mark_enqueued(runtime, done)
    return len(done)


def dispatch_followups(runtime: Runtime, followups: Iterable[tuple[int, str]]) -> int:
    """Enqueue (raw message id, unit queue) follow-up forwards."""
    sent = 0
    for raw_id, queue in followups:
        if not _send(runtime, [job_message(FOLLOWUP_ACTOR, queue, raw_id)]):
            break
        sent += 1
    return sent


def _send(runtime: Runtime, messages: list[Message]) -> bool:
    """Put `messages` on the broker; False (logged once per outage) when it is unreachable."""
    global _broker_down
    if runtime.broker is None:
        return False
    try:
        for message in messages:
            runtime.broker.enqueue(message)
    except Exception as exc:  # redis down, socket gone: the store keeps it pending
        if not _broker_down:
            log.warning("broker unreachable (%s); pending work waits for the reconciler", exc)
        _broker_down = True
        return False
    if _broker_down:
        log.warning("broker reachable again")
        _broker_down = False
    return True


def _mark_enqueued(runtime: Runtime, done: list[tuple[int, bool, bool]]) -> None:
    """Stamp when each job went out, so the reconciler only re-sends what is overdue."""
    now = utcnow()
    columns = (("delivery_enqueued_at", [c for c, d, _a in done if d]),
               ("ack_enqueued_at", [c for c, _d, a in done if a]))
    with runtime.sessions.begin() as session:
        for column, ids in columns:
            for start in range(0, len(ids), 500):
                session.execute(update(ComplaintRow)
                                .where(ComplaintRow.id.in_(ids[start:start + 500]))
                                .values({column: now}))
