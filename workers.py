"""The Dramatiq broker and actors: `dramatiq workers` (or `intake run`) loads this module.

Only complaint ids travel on the queues; the actors read everything else from the store.
Ticket delivery runs on each unit's queue, acknowledgements on `ack`. Temporary failures are
retried with backoff, permanent ones recorded on the complaint (`throws`), the rest kept as
dead letters.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from intake import runtime
from intake.errors import PermanentError
from intake.privacy import install_masking
from outbound import delivery
from outbound.broker import declare_queues, make_broker
from outbound.jobs import ACK_ACTOR, ACK_QUEUE, DELIVER_ACTOR, FOLLOWUP_ACTOR

install_masking()
broker = make_broker(runtime.get().settings)
runtime.get().broker = broker
dramatiq.set_broker(broker)
declare_queues(broker, runtime.get().settings)

# Acting on a socket without a timeout would hang past this limit (see outbound.smtp).
TIME_LIMIT_MS = 5 * 60 * 1000


@dramatiq.actor(actor_name=DELIVER_ACTOR, queue_name=ACK_QUEUE, throws=(PermanentError,),
                time_limit=TIME_LIMIT_MS)
def deliver_ticket(complaint_id: int) -> None:
    """E-mail the ticket to its unit (sent on the unit's own queue by `outbound.jobs`)."""
    delivery.deliver_ticket(runtime.get(), complaint_id)


@dramatiq.actor(actor_name=ACK_ACTOR, queue_name=ACK_QUEUE, throws=(PermanentError,),
                time_limit=TIME_LIMIT_MS)
def acknowledge(complaint_id: int) -> None:
    """Acknowledge the complaint to the complainant with its reference."""
    delivery.acknowledge(runtime.get(), complaint_id)


@dramatiq.actor(actor_name=FOLLOWUP_ACTOR, queue_name=ACK_QUEUE, throws=(PermanentError,),
                time_limit=TIME_LIMIT_MS)
def deliver_followup(raw_id: int) -> None:
    """Forward a follow-up on an open complaint to its unit (sent on the unit's queue)."""
    delivery.deliver_followup(runtime.get(), raw_id)


ACTORS = (deliver_ticket, acknowledge, deliver_followup)


def use_broker(other: RedisBroker) -> None:
    """Re-bind the actors and unit queues to `other` (tests, or a broker built elsewhere)."""
    global broker
    broker = other
    dramatiq.set_broker(other)
    for actor in ACTORS:
        actor.broker = other
        other.declare_actor(actor)
    runtime.get().broker = other
    declare_queues(other, runtime.get().settings)
