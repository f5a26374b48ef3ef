"""The store on SQLite and on PostgreSQL: migrations, dedupe key, references, claims."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from intake.schema import RawMessage
from outbound.jobs import Job
from store import repo
from store.db import make_engine, make_sessions
from store.migrate import current_revision, head_revision, upgrade
from store.models import Base, BlobRow, ComplaintRow, RawMessageRow
from store.repo import Watermark

WHEN = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def sessions(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    yield make_sessions(engine)
    engine.dispose()


def raw(source_id: str = "a@b", channel: str = "email") -> RawMessage:
    return RawMessage(channel=channel, source_id=source_id, received_at=WHEN, payload=b"x")


def test_migrations_build_exactly_the_models(store_url):
    engine = make_engine(store_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_same_dedupe_key_is_stored_once(sessions):
    with sessions.begin() as session:
        first, created_first = repo.save_raw(session, raw())
        again, created_again = repo.save_raw(session, raw())
        other, created_other = repo.save_raw(session, raw(channel="email_ssl"))
    assert (created_first, created_again, created_other) == (True, False, True)
    assert again.id == first.id != other.id
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessageRow)) == 2


def test_times_come_back_aware_in_utc(sessions):
    with sessions.begin() as session:
        row, _ = repo.save_raw(session, raw())
        row_id = row.id
    with sessions() as session:
        stored = session.get(RawMessageRow, row_id)
        assert stored.received_at == WHEN
        assert stored.received_at.tzinfo is not None


def test_references_count_per_prefix_and_year(sessions):
    with sessions.begin() as session:
        refs = [repo.reserve_references(session, "CMP", 2026, 1)[0] for _ in range(2)]
        refs += repo.reserve_references(session, "CMP", 2026, 1)
        refs += repo.reserve_references(session, "CMP", 2027, 1)
    assert refs == ["CMP-2026-000001", "CMP-2026-000002", "CMP-2026-000003", "CMP-2027-000001"]


def test_concurrent_references_are_unique(sessions):
    def take(_: int) -> str:
        with sessions.begin() as session:
            return repo.reserve_references(session, "CMP", 2026, 1)[0]

    with ThreadPoolExecutor(max_workers=4) as pool:
        refs = list(pool.map(take, range(40)))
    assert len(set(refs)) == 40
    assert max(refs) == "CMP-2026-000040"


def _complaint(sessions) -> int:
    with sessions.begin() as session:
        row, _ = repo.save_raw(session, raw())
        complaint = ComplaintRow(
            reference="CMP-2026-000001",
            raw_message_id=row.id,
            channel="email",
            source_id="a@b",
            received_at=WHEN,
            subject="s",
            body="b",
            language="tr",
            product="nes",
            kind="complaint",
            unit="u",
            queue="unit.u",
            status="assigned",
            created_at=WHEN,
        )
        session.add(complaint)
        session.flush()
        return complaint.id


def test_a_job_is_claimed_by_one_worker_at_a_time(sessions):
    complaint_id = _complaint(sessions)
    lease = timedelta(minutes=10)
    results = []
    barrier = threading.Barrier(4)

    def try_claim() -> None:
        barrier.wait()
        with sessions.begin() as session:
            results.append(repo.claim(session, Job.TICKET.columns, complaint_id, lease))

    threads = [threading.Thread(target=try_claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    with sessions.begin() as session:
        repo.release(session, Job.TICKET.columns, complaint_id)
        assert repo.claim(session, Job.TICKET.columns, complaint_id, lease)
        assert repo.claim(session, Job.ACK.columns, complaint_id, lease)


def test_an_abandoned_claim_expires_and_a_finished_job_stays_done(sessions):
    complaint_id = _complaint(sessions)
    with sessions.begin() as session:
        assert repo.claim(session, Job.TICKET.columns, complaint_id, timedelta(minutes=10))
    with sessions.begin() as session:
        assert repo.claim(session, Job.TICKET.columns, complaint_id, timedelta(seconds=-1))
        session.get(ComplaintRow, complaint_id).delivery_state = "sent"
    with sessions.begin() as session:
        assert not repo.claim(session, Job.TICKET.columns, complaint_id, timedelta(seconds=-1))


def test_blobs_are_content_addressed(sessions):
    with sessions.begin() as session:
        repo.put_blobs(session, {"ab" * 32: b"pdf"})
    with sessions.begin() as session:
        repo.put_blobs(session, {"ab" * 32: b"pdf", "cd" * 32: b"png"})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(BlobRow)) == 2
        assert repo.get_blob(session, "cd" * 32) == b"png"


def test_watermarks_round_trip(sessions):
    with sessions.begin() as session:
        assert repo.get_watermark(session, "email", "general/INBOX") is None
        repo.set_watermark(
            session, Watermark("email", "general/INBOX", {"uidvalidity": 7, "uid": 41})
        )
    with sessions.begin() as session:
        repo.set_watermark(
            session, Watermark("email", "general/INBOX", {"uidvalidity": 7, "uid": 42})
        )
    with sessions() as session:
        assert repo.get_watermark(session, "email", "general/INBOX") == {
            "uidvalidity": 7,
            "uid": 42,
        }


def test_a_ping_that_fails_in_a_broken_transaction_state_replaces_the_connection():
    """SQLAlchemy's psycopg ping raised ProgrammingError ("can't change 'autocommit' now")
    for a connection left mid-transaction by a dead socket: a 500 during a database outage
    (tests/faults, PostgreSQL cut). A failed ping now means: reconnect."""
    from tests.conftest import _pg_database

    for url in _pg_database():
        engine = make_engine(url)
        try:
            raw = engine.raw_connection()
            dbapi = raw.driver_connection
            dbapi.execute("select 1")  # autocommit off: the connection is in a transaction
            assert engine.dialect.do_ping(dbapi) is False
            raw.invalidate()
            with engine.connect() as connection:  # a fresh one from the pool
                assert connection.exec_driver_sql("select 1").scalar() == 1
        finally:
            engine.dispose()
