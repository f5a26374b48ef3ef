"""Putting work on the queues when the broker is gone: the store keeps it, nothing is lost.

Given a real Redis (the bundled redis-server) that stops after the broker was made, when
mail is ingested, then each complaint is created and its jobs stay pending, unstamped, the
outage is logged once; once Redis is back the reconciler enqueues every job. A job whose
actor is not declared on the broker is a bug and says so, not "broker unreachable".
"""

from __future__ import annotations

import logging

import pytest
from dramatiq.errors import ActorNotFound
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.reconciler import reconcile
from intake.cli.bundled_redis import BundledRedis
from outbound import jobs
from outbound.broker import make_broker
from outbound.jobs import Job, Work
from store.models import ComplaintRow
from tests.conftest import DATA, make_settings

MAIL = (DATA / "system" / "plain_tr.eml").read_bytes()


def test_work_waits_in_the_store_while_the_broker_is_down(tmp_path, make_runtime, caplog):
    server = BundledRedis(tmp_path / "redis")
    settings = make_settings(tmp_path)
    broker = make_broker(settings, server.start())
    rt = make_runtime(settings, broker=broker)
    server.stop()
    caplog.set_level(logging.WARNING)
    try:
        for n in range(2):
            payload = MAIL.replace(b"plain-tr-0001@", f"down-{n}@".encode())
            [outcome] = pipeline.ingest(rt, [raw_from_bytes(payload)]).outcomes()
            assert outcome.status == "created"
        with rt.sessions() as session:
            rows = list(session.scalars(select(ComplaintRow)))
        assert [(r.delivery_state, r.delivery_enqueued_at, r.ack_enqueued_at) for r in rows] == [
            ("pending", None, None)
        ] * 2
        outage = [r for r in caplog.records if "broker unreachable" in r.getMessage()]
        assert len(outage) == 1  # logged once, not once per job

        server.start()
        assert reconcile(rt, everything=True).jobs_enqueued == 4
        assert broker.client.hlen("dramatiq:unit.certificate_operations.msgs") == 2
        assert broker.client.hlen("dramatiq:ack.msgs") == 2
        assert any("broker reachable again" in r.getMessage() for r in caplog.records)
    finally:
        broker.close()
        server.stop()


def test_a_job_without_its_actor_is_a_bug_not_an_outage(tmp_path, make_runtime, redis_url):
    from dramatiq.brokers.redis import RedisBroker

    settings = make_settings(tmp_path)
    bare = RedisBroker(url=redis_url)  # no `configure`: our actors are not declared on it
    rt = make_runtime(settings, broker=bare)
    try:
        with pytest.raises(ActorNotFound):
            jobs.dispatch(rt, [Work(Job.TICKET, 1, "unit.certificate_operations")])
    finally:
        bare.close()
