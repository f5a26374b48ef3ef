"""The Dramatiq broker: Redis by URL, or the bundled Redis of the state folder.

Retries use exponential backoff from the settings; permanent errors are not retried
(`throws`); a message that fails for good is recorded in the store's dead letters.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware, Retries

from intake.cli import bundled_redis
from intake.errors import PermanentError
from intake.settings import Settings

log = logging.getLogger(__name__)


def broker_url(settings: Settings) -> str:
    return settings.broker.url or bundled_redis.url_for(settings.broker.state_dir)


def make_broker(settings: Settings, url: str | None = None) -> RedisBroker:
    """A Redis broker with our retry policy and the dead-letter recorder."""
    # Every socket needs its own timeout: Dramatiq's time limit cannot interrupt blocking I/O.
    pool = redis.ConnectionPool.from_url(
        url or broker_url(settings), socket_timeout=30, socket_connect_timeout=10,
        health_check_interval=30,
    )
    broker = RedisBroker(connection_pool=pool)
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.max_retries = settings.broker.max_retries
            middleware.min_backoff = settings.broker.min_backoff_ms
            middleware.max_backoff = settings.broker.max_backoff_ms
    # "after" hooks run in reverse order: placed before Retries, ours sees its verdict.
    broker.add_middleware(DeadLetters(), before=Retries)
    return broker


class DeadLetters(Middleware):
    """Record every message that failed for good (not a permanent, already-recorded error)."""

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, *,
                              result: Any | None = None,
                              exception: BaseException | None = None) -> None:
        if exception is None or not message.failed or isinstance(exception, PermanentError):
            return
        from intake import runtime
        from outbound.jobs import ACK_ACTOR, DELIVER_ACTOR
        from store.models import DeadLetterRow
        from store.repo import add_event, utcnow

        args = message.args
        on_complaint = message.actor_name in (DELIVER_ACTOR, ACK_ACTOR) and args
        complaint_id = args[0] if on_complaint and isinstance(args[0], int) else None
        error = "".join(traceback.format_exception_only(type(exception), exception)).strip()
        try:
            with runtime.get().sessions.begin() as session:
                session.add(DeadLetterRow(
                    message_id=message.message_id, queue=message.queue_name,
                    actor=message.actor_name, complaint_id=complaint_id, error=error[:4000],
                    retries=message.options.get("retries", 0), failed_at=utcnow(),
                ))
                if complaint_id is not None:
                    add_event(session, "dead_letter", complaint_id=complaint_id,
                              actor="worker", job=message.actor_name, error=error[:1000])
        except Exception:  # the broker's own dead-letter queue still holds it
            log.exception("message %s: could not record the dead letter", message.message_id)


def declare_queues(broker: dramatiq.Broker, settings: Settings) -> None:
    from outbound.jobs import ACK_QUEUE

    broker.declare_queue(ACK_QUEUE)
    for unit in settings.unit:
        broker.declare_queue(unit.queue)
