"""Putting work on the queues: only complaint ids travel, and only after the commit.

Ticket delivery goes to the unit's own queue; acknowledgements to the `ack` queue. When the
broker cannot be reached the complaint stays pending in the store and the reconciler
enqueues it later, so nothing is lost; the outage is logged once, not once per complaint.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dramatiq import Broker, Message
from sqlalchemy import update

from intake.runtime import Runtime
from store.models import ComplaintRow
from store.repo import utcnow

log = logging.getLogger(__name__)

ACK_QUEUE = "ack"
DELIVER_ACTOR = "deliver_ticket"
ACK_ACTOR = "acknowledge"

_broker_down = False


def job_message(actor: str, queue: str, complaint_id: int) -> Message:
    return Message(queue_name=queue, actor_name=actor, args=(complaint_id,), kwargs={}, options={})


def enqueue_delivery(broker: Broker, complaint_id: int, queue: str) -> None:
    broker.enqueue(job_message(DELIVER_ACTOR, queue, complaint_id))


def enqueue_ack(broker: Broker, complaint_id: int) -> None:
    broker.enqueue(job_message(ACK_ACTOR, ACK_QUEUE, complaint_id))


def dispatch(runtime: Runtime, complaints: Iterable[tuple[int, str, bool, bool]]) -> int:
    """Enqueue (id, queue, deliver?, ack?) jobs; returns how many were put on the broker."""
    global _broker_down
    if runtime.broker is None:
        return 0
    sent = 0
    try:
        for complaint_id, queue, deliver, ack in complaints:
            if deliver:
                enqueue_delivery(runtime.broker, complaint_id, queue)
            if ack:
                enqueue_ack(runtime.broker, complaint_id)
            _mark_enqueued(runtime, complaint_id, deliver, ack)
            sent += 1
    except Exception as exc:  # redis down, socket gone: the store keeps it pending
        if not _broker_down:
            log.warning("broker unreachable (%s); pending complaints wait for the reconciler", exc)
        _broker_down = True
        return sent
    if _broker_down:
        log.warning("broker reachable again")
        _broker_down = False
    return sent


def _mark_enqueued(runtime: Runtime, complaint_id: int, deliver: bool, ack: bool) -> None:
    values = {}
    now = utcnow()
    if deliver:
        values["delivery_enqueued_at"] = now
    if ack:
        values["ack_enqueued_at"] = now
    if not values:
        return
    with runtime.sessions.begin() as session:
        session.execute(update(ComplaintRow).where(ComplaintRow.id == complaint_id).values(values))
