"""The outbound stage on its own: Dramatiq's StubBroker, a real worker, a real SMTP server.

Given a complaint ingested through the one door (its ticket and acknowledgement enqueued on
a StubBroker that `outbound.broker.configure` gave our actors, queues and retry policy), an
aiosmtpd relay on loopback scripted per recipient, and the store on SQLite,
when a stub worker drains the queues,
then each mail goes out once, a temporary refusal is retried with backoff until it passes
or the retries run out (a dead letter, the job left pending), a permanent refusal or the
daily cap is recorded and not retried, and a bug is dead-lettered at once and parked until
an operator requeues it.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
import sqlalchemy.exc
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, Retries, TimeLimitExceeded
from sqlalchemy import select, update

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.reconciler import reconcile
from intake.cli.repair import requeue_dead_letters
from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.runtime import Runtime
from outbound import compose, delivery
from outbound.broker import configure, retryable
from outbound.jobs import ACK_QUEUE, Job, Work, dispatch
from store.models import ComplaintRow, DeadLetterRow, EventRow, OutboundMessageRow
from tests.conftest import DATA, Inbox, make_settings

MAIL = (DATA / "system" / "plain_tr.eml").read_bytes()
COMPLAINANT = "ayse.yilmaz@example.com"
UNIT = "certificate_operations"
UNIT_EMAIL = "sertifika.operasyon@example.org"
UNIT_QUEUE = f"unit.{UNIT}"
MAX_RETRIES = 3


# --- helpers --------------------------------------------------------------------------------


@dataclass
class Seen(Middleware):
    """Every message a worker thread picked up: (actor, queue, target id), in order."""

    runs: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            self.runs.append((message.actor_name, message.queue_name, message.args[0]))

    def of(self, actor: str) -> list[tuple[str, str, int]]:
        return [run for run in self.runs if run[0] == actor]


@dataclass
class Desk:
    rt: Runtime
    broker: StubBroker
    inbox: Inbox
    seen: Seen
    rcpts: Counter[str]


def count_rcpts(inbox: Inbox) -> Counter[str]:
    """Count the RCPT commands per address the relay answered (aiosmtpd reads the handler's
    hooks per connection, so wrapping the instance's hook before any connection suffices)."""
    counted: Counter[str] = Counter()
    handle = inbox.handle_RCPT

    async def counting(server, session, envelope, address, options):  # noqa: ANN001, ANN202
        counted[address] += 1
        return await handle(server, session, envelope, address, options)

    inbox.handle_RCPT = counting  # type: ignore[method-assign]
    return counted


@pytest.fixture
def make_desk(tmp_path: Path, smtp, make_runtime) -> Iterator[Callable[..., Desk]]:  # noqa: ANN001
    """Build the desk, with settings tables overridden as `make_settings` takes them."""
    inbox, port = smtp
    brokers: list[StubBroker] = []

    def build(**tables: dict) -> Desk:
        policy = {"min_backoff_ms": 10, "max_backoff_ms": 50, "max_retries": MAX_RETRIES}
        settings = make_settings(
            tmp_path,
            smtp={"host": "127.0.0.1", "port": port},
            broker=policy | tables.pop("broker", {}),
            **tables,
        )
        broker = configure(StubBroker(), settings)
        brokers.append(broker)
        seen = Seen()
        broker.add_middleware(seen)
        # No `emit_after("process_boot")`: of the default middleware only TimeLimit acts on
        # it (it starts a never-ending monitor thread for a 5-minute limit no test reaches).
        rt = make_runtime(settings, broker=broker)
        return Desk(rt, broker, inbox, seen, count_rcpts(inbox))

    yield build
    for broker in brokers:
        broker.flush_all()
        broker.close()


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


def drain(desk: Desk) -> None:
    """Run a stub worker until the unit's queue and `ack` (with their delay queues) are
    empty. Dead letters do not raise here (`fail_fast=False`): the tests look at them."""
    worker = dramatiq.Worker(desk.broker, worker_timeout=100)
    worker.start()
    try:
        for queue in (UNIT_QUEUE, ACK_QUEUE):
            desk.broker.join(queue, timeout=20_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def ingest(desk: Desk, payload: bytes = MAIL) -> int:
    """Ingest one mail; the id of the complaint it created (its jobs are enqueued)."""
    outcome = pipeline.ingest(desk.rt, [raw_from_bytes(payload)]).outcomes()[0]
    assert outcome.status == "created", outcome
    assert outcome.complaint_id is not None
    return outcome.complaint_id


def complaint(desk: Desk, complaint_id: int) -> ComplaintRow:
    with desk.rt.sessions() as session:
        row = session.get(ComplaintRow, complaint_id)
        assert row is not None
        return row


def events(desk: Desk, complaint_id: int, kind: str) -> list[dict[str, Any]]:
    with desk.rt.sessions() as session:
        return list(
            session.scalars(
                select(EventRow.detail)
                .where(EventRow.complaint_id == complaint_id, EventRow.kind == kind)
                .order_by(EventRow.id)
            )
        )


def dead_letters(desk: Desk) -> list[DeadLetterRow]:
    with desk.rt.sessions() as session:
        return list(session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)))


def tickets(desk: Desk) -> list:
    return desk.inbox.to(UNIT_EMAIL)


def acks(desk: Desk) -> list:
    return desk.inbox.to(COMPLAINANT)


# --- the tests ------------------------------------------------------------------------------


def test_ticket_and_acknowledgement_go_out_once_each_on_their_own_queues(desk):
    cid = ingest(desk)
    drain(desk)

    assert len(tickets(desk)) == 1 and len(acks(desk)) == 1
    assert len(desk.inbox.messages) == 2
    row = complaint(desk, cid)
    assert (row.unit, row.delivery_state, row.ack_state) == (UNIT, "sent", "sent")
    assert sorted(desk.seen.runs) == [("ack", ACK_QUEUE, cid), ("ticket", UNIT_QUEUE, cid)]
    with desk.rt.sessions() as session:
        sent = {
            (r.purpose, r.recipient, r.message_id)
            for r in session.scalars(
                select(OutboundMessageRow).where(OutboundMessageRow.complaint_id == cid)
            )
        }
    assert sent == {
        ("ticket", UNIT_EMAIL, tickets(desk)[0]["Message-ID"].strip("<>")),
        ("ack", COMPLAINANT, acks(desk)[0]["Message-ID"].strip("<>")),
    }

    # The same jobs enqueued again (a reconciler pass, a redelivery): run, and send nothing.
    assert dispatch(desk.rt, [Work(Job.TICKET, cid, row.queue), Work(Job.ACK, cid, row.queue)]) == 2
    drain(desk)
    assert len(desk.seen.runs) == 4  # the duplicates were picked up ...
    assert len(desk.inbox.messages) == 2  # ... and sent nothing more
    assert len(events(desk, cid, "delivered")) == 1
    assert len(events(desk, cid, "acknowledged")) == 1


def test_a_temporary_refusal_is_retried_and_the_ticket_delivered_once(desk):
    desk.inbox.refuse[UNIT_EMAIL] = ["451 4.3.0 try again later", "250 OK"]
    cid = ingest(desk)
    drain(desk)

    assert len(tickets(desk)) == 1
    assert desk.seen.of("ticket") == [("ticket", UNIT_QUEUE, cid)] * 2  # one retry
    assert desk.rcpts[UNIT_EMAIL] == 2
    assert complaint(desk, cid).delivery_state == "sent"
    assert dead_letters(desk) == []
    assert desk.broker.dead_letters == []


def test_a_refusal_that_outlasts_the_retries_is_a_dead_letter_and_stays_pending(desk):
    desk.inbox.refuse[UNIT_EMAIL] = ["451 4.3.0 try again later"]  # for ever
    cid = ingest(desk)
    drain(desk)

    assert tickets(desk) == []
    assert len(desk.seen.of("ticket")) == 1 + MAX_RETRIES
    assert desk.rcpts[UNIT_EMAIL] == 1 + MAX_RETRIES
    [letter] = dead_letters(desk)
    assert (letter.actor, letter.queue, letter.complaint_id) == ("ticket", UNIT_QUEUE, cid)
    assert letter.error.startswith("intake.errors.TemporaryError: recipient deferred: 451")
    row = complaint(desk, cid)
    assert (row.delivery_state, row.ack_state) == ("pending", "sent")  # not parked
    assert [e["parked"] for e in events(desk, cid, "dead_letter")] == [False]
    assert letter.retries == MAX_RETRIES  # three retries after the first attempt


def test_a_ticket_left_pending_after_its_retries_is_sent_by_the_reconciler(desk):
    desk.inbox.refuse[UNIT_EMAIL] = ["451 4.3.0 try again later"]
    cid = ingest(desk)
    drain(desk)
    assert complaint(desk, cid).delivery_state == "pending"

    desk.inbox.refuse.clear()  # the relay recovers
    assert reconcile(desk.rt, everything=True).jobs_enqueued == 1
    drain(desk)
    assert len(tickets(desk)) == 1
    assert complaint(desk, cid).delivery_state == "sent"


def test_a_ticket_whose_retry_chains_keep_running_out_is_parked_after_the_cap(make_desk):
    """The reconciler starts a new retry chain for what is still owed; one that can never go
    out is parked after `park_after_dead_letters` chains, not dead-lettered for ever."""
    desk = make_desk(broker={"park_after_dead_letters": 2})
    desk.inbox.refuse[UNIT_EMAIL] = ["451 4.3.0 try again later"]  # for ever
    cid = ingest(desk)
    drain(desk)
    assert complaint(desk, cid).delivery_state == "pending"
    assert reconcile(desk.rt, everything=True).jobs_enqueued == 1  # the second chain
    drain(desk)

    assert [letter.target_id for letter in dead_letters(desk)] == [cid, cid]
    assert complaint(desk, cid).delivery_state == "dead"
    assert [e["parked"] for e in events(desk, cid, "dead_letter")] == [False, True]
    assert reconcile(desk.rt, everything=True).jobs_enqueued == 0  # no third chain
    assert desk.rcpts[UNIT_EMAIL] == 2 * (1 + MAX_RETRIES)

    desk.inbox.refuse.clear()  # the relay is mended; the operator sends it again
    assert requeue_dead_letters(desk.rt) == 2
    drain(desk)
    assert complaint(desk, cid).delivery_state == "sent" and len(tickets(desk)) == 1


def claimed_at(desk: Desk, complaint_id: int) -> datetime | None:
    with desk.rt.sessions() as session:
        return session.scalar(
            select(ComplaintRow.delivery_claimed_at).where(ComplaintRow.id == complaint_id)
        )


def hold_claim(desk: Desk, complaint_id: int, at: datetime) -> None:
    """As a worker killed mid-send leaves it: the ticket claimed at `at`, never renewed."""
    with desk.rt.sessions.begin() as session:
        session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.id == complaint_id)
            .values(delivery_claimed_at=at)
        )


def test_a_killed_workers_claim_lapses_after_the_short_lease_not_ten_minutes(desk, clock):
    cid = ingest(desk)
    hold_claim(desk, cid, clock())

    with pytest.raises(delivery.InHand):  # in the lease: tried again later, never dropped
        delivery.perform(desk.rt, Job.TICKET, cid)
    assert retryable(delivery.InHand("x")) and tickets(desk) == []

    clock.set(clock() + delivery.lease_of(desk.rt) + timedelta(seconds=1))
    assert delivery.perform(desk.rt, Job.TICKET, cid) is True
    assert len(tickets(desk)) == 1 and complaint(desk, cid).delivery_state == "sent"
    assert delivery.lease_of(desk.rt) == timedelta(seconds=90)  # the default, not 10 minutes
    assert delivery.perform(desk.rt, Job.TICKET, cid) is False  # done: a duplicate is a no-op


def test_a_sending_worker_renews_its_claim_until_it_stops(desk, clock):
    cid = ingest(desk)
    start = clock()
    hold_claim(desk, cid, start)
    later = start + timedelta(minutes=5)

    with delivery.Heartbeat(desk.rt, Job.TICKET, cid, every=0.02):
        clock.set(later)
        deadline = time.monotonic() + 10
        while claimed_at(desk, cid) != later:
            assert time.monotonic() < deadline, "the claim was not renewed"
            time.sleep(0.02)
    clock.set(later + timedelta(minutes=5))
    time.sleep(0.1)
    assert claimed_at(desk, cid) == later  # stopped with the send


def test_a_permanent_refusal_of_the_complainant_is_recorded_and_not_retried(desk):
    desk.inbox.refuse[COMPLAINANT] = ["550 5.1.1 no such user"]
    cid = ingest(desk)
    drain(desk)

    row = complaint(desk, cid)
    assert (row.delivery_state, row.ack_state) == ("sent", "failed")
    [failed] = events(desk, cid, "ack_failed")
    assert "550" in failed["error"]
    assert desk.rcpts[COMPLAINANT] == 1
    assert desk.seen.of("ack") == [("ack", ACK_QUEUE, cid)]
    assert acks(desk) == [] and len(tickets(desk)) == 1
    assert dead_letters(desk) == []
    assert events(desk, cid, "dead_letter") == []


def test_the_daily_cap_suppresses_a_second_acknowledgement_without_retry(make_desk):
    desk = make_desk(acknowledge={"max_per_address_per_day": 1})
    first = ingest(desk)
    drain(desk)
    second = ingest(desk, MAIL.replace(b"plain-tr-0001@", b"plain-tr-0002@"))
    drain(desk)

    assert len(acks(desk)) == 1 and len(tickets(desk)) == 2  # every ticket still goes out
    assert (complaint(desk, first).ack_state, complaint(desk, second).ack_state) == (
        "sent",
        "suppressed",
    )
    [suppressed] = events(desk, second, "ack_suppressed")
    assert "1 automatic mails" in suppressed["error"]
    assert desk.seen.of("ack") == [("ack", ACK_QUEUE, first), ("ack", ACK_QUEUE, second)]
    assert desk.rcpts[COMPLAINANT] == 1
    assert dead_letters(desk) == []


def test_a_bug_is_dead_lettered_at_once_parked_and_delivered_once_after_requeue(desk, monkeypatch):
    calls: list[str] = []

    def broken(view, *_args, **_kwargs):  # noqa: ANN001, ANN202
        calls.append(view.reference)
        return {}["no such template"]

    monkeypatch.setattr(compose, "ticket_mail", broken)
    cid = ingest(desk)
    drain(desk)

    assert len(calls) == 1 and desk.seen.of("ticket") == [("ticket", UNIT_QUEUE, cid)]
    [letter] = dead_letters(desk)
    assert (letter.actor, letter.complaint_id, letter.requeued_at) == ("ticket", cid, None)
    assert letter.error == "KeyError: 'no such template'"
    row = complaint(desk, cid)
    assert (row.delivery_state, row.ack_state) == ("dead", "sent")
    [event] = events(desk, cid, "dead_letter")
    assert event["parked"] is True and "KeyError" in event["error"]
    assert tickets(desk) == [] and len(acks(desk)) == 1

    monkeypatch.undo()  # the bug is fixed
    assert requeue_dead_letters(desk.rt) == 1
    assert complaint(desk, cid).delivery_state == "pending"
    drain(desk)

    assert len(tickets(desk)) == 1 and len(acks(desk)) == 1
    assert complaint(desk, cid).delivery_state == "sent"
    assert dead_letters(desk)[0].requeued_at is not None
    assert len(calls) == 1  # the second run used the real composer
    assert letter.retries == 0  # the bug was never retried


def test_a_plain_send_of_the_ticket_actor_is_refused(desk):
    ticket = desk.broker.get_actor("ticket")
    with pytest.raises(TypeError, match="unit queue"):
        ticket.send(1)
    with pytest.raises(TypeError, match="unit queue"):
        ticket.send_with_options(args=(1,), queue_name=UNIT_QUEUE)
    assert all(queue.qsize() == 0 for queue in desk.broker.queues.values())
    # The acknowledgement's queue is its actor's own: a plain send is fine there.
    assert desk.broker.get_actor("ack").send(1).queue_name == ACK_QUEUE


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TemporaryError("451 try later"), True),
        (ConfigError("smtp.password_env: SMTP_PASSWORD is not set"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked")), True),
        (redis.exceptions.ConnectionError("Error 111 connecting"), True),
        (TimeLimitExceeded(), True),
        (KeyError("unit"), False),
        (TypeError("missing argument"), False),
        (ValueError("bad value"), False),
        (LookupError("no such row"), False),
        # Never asked in practice: `throws` aborts a PermanentError before retry_when runs.
        (PermanentError("550 no such user"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_only_temporary_and_infrastructure_faults_are_retryable(error, retried):
    assert retryable(error) is retried


def test_the_configured_policy_retries_a_temporary_fault_only_max_retries_times(desk):
    [policy] = [m for m in desk.broker.middleware if isinstance(m, Retries)]
    fault = TemporaryError("451 try later")
    assert [policy.retry_when(done, fault) for done in range(MAX_RETRIES + 1)] == [
        True,
        True,
        True,
        False,
    ]
    assert policy.retry_when(0, KeyError("unit")) is False
    assert (policy.min_backoff, policy.max_backoff) == (10, 50)
