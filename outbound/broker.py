"""The Dramatiq broker of the outbound stage: its actors, its queues, and what it retries.

Only temporary and infrastructure faults are retried, with exponential backoff from the
settings: a `TemporaryError` (SMTP 4xx, an API's 5xx), a refused connection, a database or
Redis that is down, a missing secret an operator can set. A permanent error is recorded on
the complaint and not retried (`throws`). Anything else is a bug: it is not retried, it is
recorded as a dead letter at once, and its job is parked (`dead`) with the complaint kept,
until `intake retry --dead-letters` sends it again.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import dramatiq
import redis
import sqlalchemy.exc
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware, Retries, Shutdown, TimeLimitExceeded
from sqlalchemy import func, select, update

from intake import clock, runtime
from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.settings import Settings, secret
from intake.states import JobState
from outbound import delivery
from outbound.jobs import ACK_QUEUE, Job
from store.models import DeadLetterRow, NoticeRow, RawMessageRow
from store.repo import add_event

log = logging.getLogger(__name__)

# Worth another try: the fault may pass, or an operator can fix it without a code change.
RETRYABLE: tuple[type[BaseException], ...] = (
    TemporaryError,
    ConfigError,
    OSError,  # smtplib's errors are OSErrors too
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeLimitExceeded,
    Shutdown,  # a socket that hung; a worker stopping mid-job
)

# Acting on a socket without a timeout would hang past this limit (see outbound.smtp).
TIME_LIMIT_MS = 5 * 60 * 1000

# Messages of the ticket and follow-up jobs go to the unit's queue (`jobs.Work`); this queue of
# their actors' own is only declared, never sent to (`UnitActor.send` refuses).
UNIT_PLACEHOLDER_QUEUE = "unit"


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE)


def make_broker(settings: Settings, url: str) -> RedisBroker:
    """A Redis broker at `url` with our actors, queues, retry policy and dead letters."""
    # Every socket needs its own timeout: Dramatiq's time limit cannot interrupt blocking I/O.
    pool = redis.ConnectionPool.from_url(
        url,
        password=secret(settings.broker.password_env),  # a password in the URL wins
        socket_timeout=30,
        socket_connect_timeout=10,
        health_check_interval=30,
    )
    broker = RedisBroker(connection_pool=pool)
    configure(broker, settings)
    return broker


def configure(broker: dramatiq.Broker, settings: Settings) -> dramatiq.Broker:
    """Give `broker` (a Redis one, or Dramatiq's StubBroker in tests) our policy and actors."""
    limit = settings.broker.max_retries
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.min_backoff = settings.broker.min_backoff_ms
            middleware.max_backoff = settings.broker.max_backoff_ms
            middleware.retry_when = lambda retries, exc: retries < limit and retryable(exc)
    # "after" hooks run in reverse order: placed before Retries, ours sees its verdict.
    if not any(isinstance(m, DeadLetters) for m in broker.middleware):
        broker.add_middleware(DeadLetters(), before=Retries)
    broker.declare_queue(ACK_QUEUE)
    for unit in settings.unit:
        broker.declare_queue(unit.queue)
    for job in Job:
        if job not in broker.actors:
            declare_actor(broker, job)
    return broker


def queues_of(settings: Settings) -> list[str]:
    """Every queue the desk uses: one per unit, and `ack`."""
    return [unit.queue for unit in settings.unit] + [ACK_QUEUE]


def queue_depths(broker: RedisBroker, settings: Settings) -> dict[str, dict[str, int]]:
    """Per queue: messages waiting, delayed for a retry, and dead in the broker's own
    dead-letter set (Dramatiq's Redis keys), in one round trip; raises when Redis is down."""
    queues = queues_of(settings)
    pipe = broker.client.pipeline(transaction=False)
    for name in queues:
        prefix = f"{broker.namespace}:{name}"
        pipe.hlen(f"{prefix}.msgs")
        pipe.hlen(f"{prefix}.DQ.msgs")
        pipe.zcard(f"{prefix}.XQ")
    values = pipe.execute()
    return {
        name: {
            "waiting": int(values[3 * i]),
            "delayed": int(values[3 * i + 1]),
            "dead": int(values[3 * i + 2]),
        }
        for i, name in enumerate(queues)
    }


class UnitActor(dramatiq.Actor):
    """An actor whose messages go to the queue of the complaint's unit, made by `jobs.Work`:
    a plain `send` would put them on a queue no unit reads, so it is refused."""

    def send_with_options(self, **_options: Any) -> dramatiq.Message:
        raise TypeError(f"{self.actor_name}: enqueue with outbound.jobs.dispatch (unit queue)")


def declare_actor(broker: dramatiq.Broker, job: Job) -> dramatiq.Actor:
    def perform(target_id: int) -> None:
        delivery.perform(runtime.get(), job, target_id)

    perform.__name__ = perform.__qualname__ = job.value
    actor_class = UnitActor if job.on_unit_queue else dramatiq.Actor
    return actor_class(
        perform,
        broker=broker,
        actor_name=job.value,
        priority=0,
        queue_name=UNIT_PLACEHOLDER_QUEUE if job.on_unit_queue else ACK_QUEUE,
        options={"throws": (PermanentError,), "time_limit": TIME_LIMIT_MS},
    )


class DeadLetters(Middleware):
    """Record every message that failed for good (not a permanent, already-recorded error);
    a bug's job is parked, so the reconciler does not send it round again."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed or isinstance(exception, PermanentError):
            return
        bug = not retryable(exception)
        error = "".join(traceback.format_exception_only(type(exception), exception)).strip()
        try:
            rt = runtime.get()
            with rt.sessions.begin() as session:
                job, target = _job_of(message)
                complaint_id = _complaint_of(session, job, target)
                session.add(
                    DeadLetterRow(
                        message_id=message.message_id,
                        queue=message.queue_name,
                        actor=message.actor_name,
                        target_id=target,
                        complaint_id=complaint_id,
                        error=error[:4000],
                        retries=_retries(message),
                        failed_at=clock.now(),
                    )
                )
                chains = _chains_failed(session, message.actor_name, target)
                worn_out = chains >= rt.settings.broker.park_after_dead_letters
                if job is not None and target is not None and (bug or worn_out):
                    _park(session, job, target)
                if worn_out and not bug:
                    log.warning(
                        "%s %s: parked after %s retry chains failed; `intake retry` sends it again",
                        message.actor_name,
                        target,
                        chains,
                    )
                if complaint_id is not None:
                    add_event(
                        session,
                        "dead_letter",
                        complaint_id=complaint_id,
                        actor="worker",
                        job=message.actor_name,
                        error=error[:1000],
                        parked=bug or worn_out,
                        chains=chains,
                    )
        except Exception:  # the broker's own dead-letter queue still holds it
            log.exception("message %s: could not record the dead letter", message.message_id)


def _chains_failed(session: Any, actor: str, target: int | None) -> int:
    """How many retry chains of this job have ended in a dead letter since an operator last
    sent it again (this one included): the reconciler starts a new chain every
    `requeue_after_seconds`, and a job that can never go out must not do so for ever."""
    if target is None:
        return 1
    session.flush()
    return int(
        session.scalar(
            select(func.count())
            .select_from(DeadLetterRow)
            .where(
                DeadLetterRow.actor == actor,
                DeadLetterRow.target_id == target,
                DeadLetterRow.requeued_at.is_(None),
            )
        )
    )


def _retries(message: dramatiq.MessageProxy) -> int:
    """How often it was retried: `Retries` has counted this last failure already (its hook
    runs before ours), so one less than its count."""
    return max(0, int(message.options.get("retries", 0)) - 1)


def _job_of(message: dramatiq.MessageProxy) -> tuple[Job | None, int | None]:
    try:
        job: Job | None = Job(message.actor_name)
    except ValueError:  # an actor of someone else's on our broker
        job = None
    target = message.args[0] if message.args and isinstance(message.args[0], int) else None
    return job, target


def _complaint_of(session: Any, job: Job | None, target: int | None) -> int | None:
    if job is None or target is None:
        return None
    if job is Job.FOLLOWUP:
        raw = session.get(RawMessageRow, target)
        return raw.complaint_id if raw is not None else None
    if job is Job.NOTICE:
        notice = session.get(NoticeRow, target)
        return notice.complaint_id if notice is not None else None
    return target


def _park(session: Any, job: Job, target: int) -> None:
    """A bug stopped the job: `dead` until an operator sends it again."""
    table, state = job.columns.model, job.columns.state
    session.execute(
        update(table)
        .where(table.id == target, state == JobState.PENDING)
        .values({state: JobState.DEAD})
        .execution_options(synchronize_session=False)
    )
