"""Faults of the servers the desk depends on, injected while `intake run` works (PostgreSQL,
Redis, the SMTP relay), and kill -9 of the desk itself. Each test ends with the invariant of
`Desk.settle`: every entry one complaint, one ticket, one acknowledgement, clocks right."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA, _pg_database, free_port
from tests.faults.harness import (
    Desk,
    Proxy,
    RedisServer,
    Relay,
    relay,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.system
OUTAGE_SECONDS = 30


@pytest.fixture
def pg() -> Iterator[str]:
    yield from _pg_database()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def smtp_relay() -> Iterator[tuple[Relay, int]]:
    with relay() as made:
        yield made


@pytest.fixture
def paths(pg: str, redis_server: RedisServer) -> Iterator[tuple[Proxy, Proxy]]:
    """(PostgreSQL, Redis), each behind a proxy that can be cut."""
    port = int(pg.rsplit(":", 1)[1].split("/")[0])
    pg_path, redis_path = Proxy(port), Proxy(redis_server.port)
    yield pg_path, redis_path
    pg_path.close()
    redis_path.close()


@pytest.fixture
def desk(tmp_path, pg, paths, smtp_relay) -> Iterator[Desk]:
    pg_path, redis_path = paths
    handler, smtp_port = smtp_relay
    database = pg.rsplit("/", 1)[1]
    listen = f"127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path,
        store_url=f"postgresql+psycopg://root@127.0.0.1:{pg_path.port}/{database}",
        broker_url=f"redis://127.0.0.1:{redis_path.port}/0",
        smtp_port=smtp_port,
        listen=listen,
    )
    made = Desk(tmp_path, config, pg, listen, handler)
    made.start()
    yield made
    made.stop()


def post_all(desk: Desk, numbers: range) -> None:
    for number in numbers:
        response = desk.post(number)
        assert response.status_code == 201, response.text


def test_redis_restarted_without_persistence_loses_no_job(desk, redis_server):
    """The jobs waiting in Redis (the relay answers 451) are gone with it; the reconciler
    enqueues them again from the store."""
    desk.relay.refuse_all = "451 4.3.0 try again later"
    post_all(desk, range(5))
    wait_for(lambda: desk.relay.attempts >= 10, 60, "the first tries, refused")

    redis_server.kill()
    redis_server.start()  # empty
    desk.relay.refuse_all = None

    desk.settle(5)


def test_redis_unreachable_for_a_while_everything_waits_and_resumes(desk, paths):
    _, redis_path = paths
    post_all(desk, range(2))
    desk.settle(2)
    redis_path.cut()
    post_all(desk, range(2, 5))  # taken: the store holds them, the broker is not needed
    time.sleep(OUTAGE_SECONDS)
    redis_path.restore()

    desk.settle(5)
    assert desk.process is not None and desk.process.poll() is None
    said = desk.log.count("broker unreachable")
    assert 1 <= said <= 2, desk.log  # once, by the process that enqueues (and not per job)


def test_postgresql_unreachable_entries_get_503_and_the_desk_resumes(desk, paths):
    pg_path, _ = paths
    post_all(desk, range(2))
    pg_path.cut()
    refused = [desk.post(n) for n in range(2, 5)] + [desk.post_webform(5)]
    assert [r.status_code for r in refused] == [503] * 4, [r.text for r in refused]
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    injected = desk.inject(str(DATA / "system" / "plain_tr.eml"))
    assert injected.returncode == 75, injected.stderr
    time.sleep(OUTAGE_SECONDS)
    pg_path.restore()
    post_all(desk, range(2, 5))  # the senders try again, as Retry-After told them
    assert desk.post_webform(5).status_code == 202

    desk.settle(6)


def test_the_relay_answering_4xx_then_nothing_delays_but_loses_nothing(desk):
    desk.relay.refuse_all = "451 4.7.1 greylisted"
    post_all(desk, range(3))
    wait_for(lambda: desk.relay.attempts >= 6, 60, "the refused tries")
    desk.relay.hold_data = threading.Event()  # it takes the data and never answers
    desk.relay.refuse_all = None
    wait_for(lambda: desk.relay.data_started.is_set(), 60, "a DATA left unanswered")
    time.sleep(2)
    desk.relay.refuse_all = "451 4.3.0 try again later"  # no new DATA from now on
    time.sleep(7)  # past the 5-second SMTP timeout: every held sender has given up
    desk.relay.messages.clear()  # what the silent relay kept is lost with it
    desk.relay.hold_data.set()
    desk.relay.hold_data = None
    desk.relay.refuse_all = None

    desk.settle(3)


def test_a_relay_refusing_the_unit_for_good_fails_the_ticket_and_says_so(desk):
    desk.relay.refuse_all = "550 5.1.1 no such mailbox"
    post_all(desk, range(1))
    wait_for(lambda: "failed for good" in desk.log, 60, "the permanent failure recorded")
    desk.relay.refuse_all = None
    time.sleep(8)  # past requeue_after_seconds: the reconciler does not send it round again
    assert desk.relay.messages == []


def test_kill_9_of_the_whole_desk_loses_nothing(desk):
    desk.relay.refuse_all = "451 4.3.0 try again later"
    post_all(desk, range(4))
    wait_for(lambda: desk.relay.attempts >= 4, 60, "the first tries")
    desk.kill()
    desk.relay.refuse_all = None
    desk.start()

    desk.settle(4)


def test_kill_9_of_a_worker_in_the_middle_of_a_delivery_sends_it_once_more(desk):
    """After DATA, before the relay's answer is recorded: the relay has the mail, the store
    does not know it. The job's claim lapses (the lease), the job is sent again: a mail in
    flight arrives twice (at least once, as the README says), everything else once."""
    desk.relay.hold_data = threading.Event()
    post_all(desk, range(1))
    wait_for(lambda: desk.relay.data_started.is_set(), 60, "the first DATA")
    time.sleep(1)  # the ticket and the acknowledgement, each in its worker thread
    in_flight = list(desk.relay.messages)
    for worker in [p for p in desk.family() if "dramatiq" in " ".join(p.cmdline())]:
        worker.kill()  # the master and its worker processes, at once
    desk.relay.hold_data.set()
    desk.relay.hold_data = None
    post_all(desk, range(1, 3))

    count = 6 + len(in_flight)
    wait_for(lambda: len(desk.relay.messages) >= count, 120, "every mail, and those again")
    for _, message in in_flight:
        copies = [m for _, m in desk.relay.messages if m["Subject"] == message["Subject"]]
        assert len(copies) == 2, message["Subject"]
        desk.relay.messages.remove(next(p for p in desk.relay.messages if p[1] is message))
    desk.settle(3)  # the copies the store never recorded set aside: the invariant holds
    assert "restarting" in desk.log  # the supervisor brought the workers back
