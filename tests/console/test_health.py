"""`/healthz` and `/readyz` on real servers: the bundled Redis stopped and started again on
its socket, a PostgreSQL database that stops taking connections and takes them again, a
database that accepts the connection and never answers, and pollers whose last good poll
grows old on the test clock.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from console import health, metrics
from ingest.webhooks import make_app
from intake.cli.bundled_redis import BundledRedis
from intake.cli.scheduler import SchedulerFeed
from intake.cli.wiring import runtime_for
from intake.runtime import Runtime
from intake.settings import Settings
from outbound.broker import make_broker
from store import health as poll_health
from tests.conftest import PG_ADMIN_URL, TEST_NOW, _pg_database, free_port, make_settings


def client_for(rt: Runtime) -> TestClient:
    return TestClient(make_app(rt, extra=health.routes(rt) + metrics.routes(rt)))


def ready(client: TestClient) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def wait_for(client: TestClient, status: int, timeout: float = 30) -> dict:
    """Probe until `/readyz` answers `status` (as a load balancer would)."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = ready(client)
        if code == status:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def failing(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


@contextmanager
def scheduling(rt: Runtime) -> Iterator[None]:
    """The scheduler's loop as `intake run` runs it (short waits between passes)."""
    stop = threading.Event()
    feed = SchedulerFeed(rt, wait=lambda _seconds: time.sleep(0.2))
    thread = threading.Thread(target=feed.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def with_mailboxes(settings: Settings, **changes: object) -> Settings:
    """Both shipped mailboxes enabled (`idle = false`: polled every poll_interval_seconds)."""
    boxes = tuple(
        dataclasses.replace(box, enabled=True, idle=False, **changes) for box in settings.mailbox
    )
    return dataclasses.replace(settings, mailbox=boxes)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_database()


# --- alive, and ready on a fresh install ---------------------------------------------------


def test_healthz_says_the_process_is_alive(tmp_path, make_runtime):
    rt = make_runtime(make_settings(tmp_path))
    response = client_for(rt).get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_fresh_install_is_ready_once_the_scheduler_holds_its_lock(
    tmp_path, store_url, redis_url, make_runtime
):
    settings = make_settings(tmp_path, store={"url": store_url})  # the shipped: no poller on
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    client = client_for(rt)
    try:
        code, body = ready(client)
        assert (code, body["status"], failing(body)) == (503, "not ready", {"scheduler"})

        SchedulerFeed(rt).run_once()  # takes the lock, as the loop of `intake run` does
        code, body = ready(client)
        assert (code, body["status"]) == (200, "ready")
        assert set(body["checks"]) == {"database", "broker", "scheduler"}
        assert all(isinstance(check["detail"], str) for check in body["checks"].values())
    finally:
        broker.close()


def test_without_a_broker_the_desk_is_not_ready(tmp_path, make_runtime):
    rt = make_runtime(make_settings(tmp_path))
    code, body = ready(client_for(rt))
    assert (code, failing(body)) == (503, {"broker"})
    assert body["checks"]["scheduler"]["detail"].startswith("not checked")


# --- the broker and the database, down and back --------------------------------------------


def test_ready_follows_the_broker_down_and_back_on_its_socket(tmp_path, store_url, make_runtime):
    server = BundledRedis(tmp_path / "redis")
    url = server.start()
    settings = make_settings(tmp_path, store={"url": store_url})
    broker = make_broker(settings, url)
    rt = make_runtime(settings, broker=broker)
    client = client_for(rt)
    try:
        with scheduling(rt):
            wait_for(client, 200)
            server.stop()
            body = wait_for(client, 503, timeout=health.TIMEOUT + 5)
            assert {"broker", "scheduler"} <= failing(body) <= {"broker", "scheduler"}
            assert body["checks"]["database"]["ok"]

            assert server.start() == url  # the same socket; an empty Redis
            body = wait_for(client, 200)  # the scheduler has taken its lock again
            assert body["checks"]["broker"]["ok"] and body["checks"]["scheduler"]["ok"]
    finally:
        server.stop()
        broker.close()


@contextmanager
def connections_refused(url: str) -> Iterator[None]:
    """The database stops taking connections and its sessions are ended, as when it is
    stopped for maintenance; then it takes them again."""
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_ready_follows_the_database_down_and_back(tmp_path, pg_url, redis_url, make_runtime):
    settings = with_mailboxes(make_settings(tmp_path, store={"url": pg_url}))
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    for box in settings.mailbox:
        poll_health.record_success(rt.sessions, box.name, box.folder, box.channel, 1)
    client = client_for(rt)
    try:
        with scheduling(rt):
            wait_for(client, 200)
            with connections_refused(pg_url):
                code, body = ready(client)
                assert code == 503
                assert failing(body) == {"database", "poll:general/INBOX", "poll:ssl/INBOX"}
                assert "not currently accepting connections" in body["checks"]["database"]["detail"]
                assert body["checks"]["poll:ssl/INBOX"]["detail"].startswith(
                    "poll status not readable"
                )
                assert body["checks"]["broker"]["ok"]
            body = wait_for(client, 200)
            assert body["checks"]["database"]["ok"]
    finally:
        broker.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung database host)."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_database_that_never_answers_does_not_hang_the_probe(tmp_path):
    with silent_server() as port:
        url = f"postgresql+psycopg://root@127.0.0.1:{port}/hung"
        rt = runtime_for(make_settings(tmp_path, store={"url": url}))
        client = client_for(rt)
        try:
            for _probe in range(3):  # the later probes wait on the first stuck check
                started = time.monotonic()
                code, body = ready(client)
                assert time.monotonic() - started < health.TIMEOUT + 1.5
                assert code == 503
                assert body["checks"]["database"] == {
                    "ok": False,
                    "detail": f"no answer within {health.TIMEOUT:g} s",
                }
        finally:
            rt.close()


def test_a_database_on_a_closed_port_is_named(tmp_path):
    url = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/gone"
    rt = runtime_for(make_settings(tmp_path, store={"url": url}))
    try:
        code, body = ready(client_for(rt))
        assert code == 503 and "database" in failing(body)
        assert body["checks"]["database"]["detail"].startswith("OperationalError: ")
    finally:
        rt.close()


# --- the pollers -----------------------------------------------------------------------------


def test_a_stale_enabled_mailbox_is_named(tmp_path, store_url, redis_url, make_runtime, clock):
    settings = with_mailboxes(make_settings(tmp_path, store={"url": store_url}))
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    client = client_for(rt)  # started at TEST_NOW: the clock stands still until set
    try:
        with scheduling(rt):
            body = wait_for(client, 200)  # never polled yet: fine while starting
            assert "never polled" in body["checks"]["poll:ssl/INBOX"]["detail"]
            poll_health.record_success(rt.sessions, "general", "INBOX", "email", 3)

            clock.set(TEST_NOW + timedelta(seconds=299))
            code, body = ready(client)
            assert code == 200
            assert body["checks"]["poll:general/INBOX"]["detail"].startswith("last good poll")

            clock.set(TEST_NOW + timedelta(seconds=301))  # past max(3 × 60 s, 300 s)
            code, body = ready(client)
            assert (code, failing(body)) == (503, {"poll:general/INBOX", "poll:ssl/INBOX"})
            assert "stale (limit 300 s)" in body["checks"]["poll:general/INBOX"]["detail"]
            assert body["checks"]["poll:ssl/INBOX"]["detail"].startswith("never polled")

            poll_health.record_success(rt.sessions, "general", "INBOX", "email", 0)
            poll_health.record_success(rt.sessions, "ssl", "INBOX", "email_ssl", 0)
            assert ready(client)[0] == 200
    finally:
        broker.close()


def test_a_mailbox_left_disabled_is_not_checked(tmp_path, redis_url, make_runtime, clock):
    settings = make_settings(tmp_path)
    boxes = (dataclasses.replace(settings.mailbox[0], enabled=True, idle=False),)
    settings = dataclasses.replace(settings, mailbox=boxes + settings.mailbox[1:])
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    client = client_for(rt)
    try:
        SchedulerFeed(rt).run_once()
        clock.set(TEST_NOW + timedelta(hours=1))
        code, body = ready(client)
        assert code == 503 and failing(body) == {"poll:general/INBOX"}
        assert "poll:ssl/INBOX" not in body["checks"]
    finally:
        broker.close()


def test_each_enabled_poller_gets_its_window(tmp_path: Path):
    base = make_settings(tmp_path)
    settings = dataclasses.replace(
        base,
        mailbox=(
            dataclasses.replace(base.mailbox[0], enabled=True, folders=("Spam",)),  # IDLE
            dataclasses.replace(
                base.mailbox[1], enabled=True, idle=False, poll_interval_seconds=600
            ),
        ),
        telegram=dataclasses.replace(base.telegram, enabled=True),
        twitter=dataclasses.replace(base.twitter, enabled=True, user_id="1"),
    )
    idle = 300 + base.imap.idle_renew_seconds
    assert {p.name: p.window for p in health.enabled_pollers(settings)} == {
        "poll:general/INBOX": idle,
        "poll:general/Spam": idle,
        "poll:ssl/INBOX": 1800,
        "poll:telegram/updates": 300,
        "poll:twitter/mentions": 300,
        "poll:twitter/dms": 300,
    }
    webhook = dataclasses.replace(settings.telegram, mode="webhook")
    no_dms = dataclasses.replace(settings.twitter, direct_messages=False)
    names = {
        p.name
        for p in health.enabled_pollers(
            dataclasses.replace(settings, telegram=webhook, twitter=no_dms)
        )
    }
    assert "poll:telegram/updates" not in names and "poll:twitter/dms" not in names
