"""`/metrics` read back with Prometheus' own parser, against what the store holds.

On real servers: the store on SQLite and on PostgreSQL, the bundled Redis, two Dramatiq
worker processes delivering, and a mail taken in by another process (`intake inject`). The
numbers are the store's at scrape time, so they agree whichever process did the work.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from starlette.testclient import TestClient

from console import health, metrics
from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.webhooks import make_app
from intake import settings as settings_module
from intake.cli.bundled_redis import BundledRedis, die_with_parent
from intake.runtime import Runtime
from intake.states import OPEN
from outbound.broker import make_broker
from store import health as poll_health
from store.models import ClockRow, ComplaintRow, DeadLetterRow, RawMessageRow
from tests.conftest import ROOT, TEST_NOW, free_port, make_settings
from tests.mails import mail
from tests.system.test_run import INTAKE, write_config
from tests.system.test_spine import inject_all

Series = dict[tuple[str, ...], float]


def scrape(rt: Runtime) -> str:
    client = TestClient(make_app(rt, extra=health.routes(rt) + metrics.routes(rt)))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == metrics.CONTENT_TYPE_LATEST
    return response.text


def series(text: str, sample: str, *labels: str) -> Series:
    """The values of `sample` keyed by the values of `labels`, parsed as Prometheus does."""
    found: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample:
                found[tuple(s.labels[label] for label in labels)] = s.value
    return found


def one(text: str, sample: str) -> float:
    values = series(text, sample)
    assert list(values) == [()], f"{sample}: {values}"
    return values[()]


def grouped(rt: Runtime, *columns, where=None) -> Series:  # noqa: ANN001
    statement = select(*columns, func.count()).group_by(*columns)
    if where is not None:
        statement = statement.where(where)
    with rt.sessions() as session:
        return {tuple(row[:-1]): float(row[-1]) for row in session.execute(statement).all()}


def store_numbers(rt: Runtime) -> dict[str, Series]:
    return {
        "received": grouped(rt, RawMessageRow.channel),
        "complaints": grouped(rt, ComplaintRow.product, ComplaintRow.unit),
        "failed": grouped(rt, RawMessageRow.channel, where=RawMessageRow.status == "failed"),
        "delivered": grouped(
            rt, ComplaintRow.channel, where=ComplaintRow.delivered_at.is_not(None)
        ),
    }


def metric_numbers(text: str) -> dict[str, Series]:
    return {
        "received": series(text, "intake_messages_received_total", "channel"),
        "complaints": series(text, "intake_complaints_created_total", "product", "unit"),
        "failed": series(text, "intake_raw_failed_total", "channel"),
        "delivered": series(text, "intake_ingest_to_delivery_seconds_count", "channel"),
    }


def buckets(text: str, channel: str) -> list[tuple[float, float]]:
    found = series(text, "intake_ingest_to_delivery_seconds_bucket", "channel", "le")
    return sorted((float(le), n) for (ch, le), n in found.items() if ch == channel)


# --- with real workers -----------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime, monkeypatch):
    """A runtime on a settings file that other processes (workers, `intake inject`) share."""
    _inbox, port = smtp
    config = write_config(tmp_path, port)
    env = {"INTAKE_CONFIG": str(config), "INTAKE_STORE_URL": store_url}
    env["INTAKE_BROKER_URL"] = redis_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_module.load(config)
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    yield rt, config, dict(os.environ)
    broker.close()


@pytest.fixture
def workers(desk) -> Iterator[subprocess.Popen[bytes]]:
    """`dramatiq workers --processes 2`, started as `intake run` starts them."""
    _rt, _config, env = desk
    process = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "workers", "--processes", "2", "--threads", "2"],
        env=env,
        cwd=ROOT,
        preexec_fn=die_with_parent,
        stdin=subprocess.DEVNULL,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(done, what: str, timeout: float = 90) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def all_delivered(rt: Runtime) -> bool:
    with rt.sessions() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(ComplaintRow)
            .where(
                (ComplaintRow.delivery_state == "pending") | (ComplaintRow.ack_state == "pending")
            )
        )
    return waiting == 0


def queues_empty(rt: Runtime) -> bool:
    client, names = rt.broker.client, [u.queue for u in rt.settings.unit] + ["ack"]
    return all(client.hlen(f"dramatiq:{name}.msgs") == 0 for name in names)


@pytest.mark.system
def test_metrics_agree_with_the_store_whoever_did_the_work(desk, workers, tmp_path):
    rt, config, env = desk
    inject_all(rt)  # five complaints (one through the SSL box) and an auto-reply
    assert pipeline.ingest(rt, [raw_from_bytes(b"\x00\x01 not a mail")]).outcomes()[0].status == (
        "failed"
    )
    other = tmp_path / "other.eml"
    other.write_bytes(mail("Deniz <deniz@example.com>", "e-imza PIN bloke", "Kartım kilitlendi."))
    injected = subprocess.run(
        [*INTAKE, "--config", str(config), "inject", str(other)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert injected.returncode == 0, injected.stderr  # another process took this one in

    wait_until(lambda: all_delivered(rt) and queues_empty(rt), "the workers to deliver")
    dramatiq = [p for p in psutil.Process(workers.pid).children() if "python" in p.name()]
    assert len(dramatiq) == 2  # two worker processes did it

    text = scrape(rt)
    expected = store_numbers(rt)
    assert metric_numbers(text) == expected
    assert expected["received"] == {("email",): 7.0, ("email_ssl",): 1.0}
    assert expected["failed"] == {("email",): 1.0}
    assert sum(expected["complaints"].values()) == 6.0
    assert sum(expected["delivered"].values()) == 6.0  # every complaint, by two processes
    for (channel,), count in expected["delivered"].items():
        cumulative = buckets(text, channel)
        assert cumulative[-1] == (float("inf"), count)
        assert [n for _le, n in cumulative] == sorted(n for _le, n in cumulative)
    with rt.sessions() as session:
        rows = session.execute(select(ComplaintRow.delivered_at, ComplaintRow.received_at)).all()
    total = sum(max(0.0, (d - r).total_seconds()) for d, r in rows)
    sums = series(text, "intake_ingest_to_delivery_seconds_sum", "channel")
    assert sum(sums.values()) == pytest.approx(total, rel=1e-6, abs=0.01 * len(rows))
    depths = series(text, "intake_queue_depth", "queue")
    assert set(depths) == {(u.queue,) for u in rt.settings.unit} | {("ack",)}
    assert set(depths.values()) == {0.0}
    assert one(text, "intake_broker_up") == 1.0
    assert one(text, "intake_dead_letters") == 0.0
    assert one(text, "intake_scrape_errors") == 0.0


@pytest.mark.system
def test_queue_depth_counts_what_waits_for_the_workers(desk):
    rt, _config, _env = desk
    inject_all(rt)  # no worker runs: every job waits in Redis
    text = scrape(rt)
    depths = series(text, "intake_queue_depth", "queue")
    per_unit = grouped(rt, ComplaintRow.unit)
    for unit in rt.settings.unit:
        assert depths[(unit.queue,)] == per_unit.get((unit.code,), 0.0), unit.code
    assert depths[("ack",)] == 5.0  # the auto-reply gets no acknowledgement


# --- every family, worked out by hand ------------------------------------------------------


# Seconds from receipt to delivery given to the complaints, and the buckets they fall in;
# -10: a worker whose clock is behind, counted as 0 s.
DURATIONS = {"email": [0.5, 3.0, 20.0, 45.0, 200.0, 4000.0, 100_000.0, -10.0], "email_ssl": [7.0]}


def ingest_mails(rt: Runtime) -> None:
    raws = [
        raw_from_bytes(mail(f"K{n} <k{n}@example.com>", f"e-imza sorunu {n}", "PIN bloke."))
        for n in range(len(DURATIONS["email"]) + 1)  # one stays undelivered
    ]
    raws.append(
        raw_from_bytes(
            mail("Res <res@example.net>", "SSL sertifika hatası", "Sertifika iptal edilmeli."),
            channel="email_ssl",
            mailbox="ssl",
        )
    )
    raws.append(raw_from_bytes(b"\x00 junk"))
    pipeline.ingest(rt, raws).outcomes()


def deliver_after(rt: Runtime) -> None:
    with rt.sessions.begin() as session:
        for channel, durations in DURATIONS.items():
            rows = session.scalars(
                select(ComplaintRow)
                .where(ComplaintRow.channel == channel)
                .order_by(ComplaintRow.id)
            ).all()
            for row, seconds in zip(rows, durations):
                row.delivered_at = row.received_at + timedelta(seconds=seconds)


def test_every_family_on_a_known_store(tmp_path, store_url, make_runtime, clock):
    rt = make_runtime(make_settings(tmp_path, store={"url": store_url}))
    ingest_mails(rt)
    deliver_after(rt)
    now = clock()
    with rt.sessions.begin() as session:
        clocks = session.scalars(select(ClockRow).order_by(ClockRow.id)).all()
        for row in clocks[:3]:
            row.breached_at = now
        session.add_all(
            DeadLetterRow(
                message_id=f"m{n}",
                queue="ack",
                actor="ack",
                error="boom",
                retries=3,
                failed_at=now,
                requeued_at=now if n == 0 else None,
            )
            for n in range(3)
        )
        first = session.scalars(select(ComplaintRow).order_by(ComplaintRow.id)).first()
        first.status = "closed"
    poll_health.record_success(rt.sessions, "general", "INBOX", "email", 4)

    text = scrape(rt)

    assert metric_numbers(text) == store_numbers(rt)
    assert series(text, "intake_raw_failed_total", "channel") == {("email",): 1.0}
    for channel, durations in DURATIONS.items():
        seconds = [max(0.0, d) for d in durations]
        expected = [(float(b), float(sum(s <= b for s in seconds))) for b in metrics.BUCKETS]
        assert buckets(text, channel) == [*expected, (float("inf"), float(len(seconds)))]
        sums = series(text, "intake_ingest_to_delivery_seconds_sum", "channel")
        assert sums[(channel,)] == pytest.approx(sum(seconds), abs=0.005)
    breached = grouped(rt, ClockRow.name, where=ClockRow.breached_at.is_not(None))
    assert series(text, "intake_clock_breaches_total", "clock") == breached
    assert sum(breached.values()) == 3.0
    assert one(text, "intake_dead_letters") == 2.0
    assert series(text, "intake_poll_last_success_timestamp_seconds", "feed") == {
        ("general/INBOX",): TEST_NOW.timestamp()
    }
    open_now = grouped(
        rt, ComplaintRow.unit, ComplaintRow.status, where=ComplaintRow.status.in_(sorted(OPEN))
    )
    assert series(text, "intake_open_complaints", "unit", "status") == open_now
    assert sum(open_now.values()) == 9.0  # ten complaints, one closed
    assert one(text, "intake_broker_up") == 0.0  # no broker in this runtime: none counted
    assert series(text, "intake_queue_depth", "queue") == {}
    assert one(text, "intake_scrape_errors") == 0.0


def test_a_hundred_thousand_complaints_are_bucketed_by_the_database(
    tmp_path, store_url, make_runtime
):
    """The histogram is one aggregate query: its cost does not come back to Python."""
    rt = make_runtime(make_settings(tmp_path, store={"url": store_url}))
    ingest_mails(rt)
    deliver_after(rt)
    with rt.sessions.begin() as session:
        template = session.scalars(
            select(ComplaintRow).where(ComplaintRow.delivered_at.is_not(None))
        ).first()
        values = {
            c.key: getattr(template, c.key)
            for c in ComplaintRow.__table__.columns
            if c.key not in ("id", "reference", "source_id")
        }
        received: datetime = values["received_at"]
        rows = [
            {
                **values,
                "reference": f"BULK-{n}",
                "source_id": f"bulk-{n}",
                "channel": "bulk",
                "delivered_at": received + timedelta(seconds=n % 120),
            }
            for n in range(100_000)
        ]
    with rt.engine.begin() as connection:
        connection.execute(ComplaintRow.__table__.insert(), rows)
    started = time.monotonic()
    text = scrape(rt)
    assert time.monotonic() - started < metrics.STORE_SECONDS
    spread = [n % 120 for n in range(100_000)]
    assert buckets(text, "bulk") == [
        *((float(b), float(sum(s <= b for s in spread))) for b in metrics.BUCKETS),
        (float("inf"), 100_000.0),
    ]
    sums = series(text, "intake_ingest_to_delivery_seconds_sum", "channel")
    assert sums[("bulk",)] == pytest.approx(sum(spread), abs=1.0)
    assert one(text, "intake_scrape_errors") == 0.0


# --- a part that is down ---------------------------------------------------------------------


def test_a_broker_that_is_down_leaves_the_store_answered(tmp_path, store_url, make_runtime):
    server = BundledRedis(tmp_path / "redis")
    url = server.start()
    settings = make_settings(tmp_path, store={"url": store_url})
    broker = make_broker(settings, url)
    rt = make_runtime(settings, broker=broker)
    try:
        ingest_mails(rt)
        assert one(scrape(rt), "intake_broker_up") == 1.0
        server.stop()

        text = scrape(rt)
        assert one(text, "intake_broker_up") == 0.0
        assert series(text, "intake_queue_depth", "queue") == {}
        assert one(text, "intake_scrape_errors") == 1.0
        assert metric_numbers(text) == store_numbers(rt)  # the store's part still answered
        assert one(text, "intake_store_up") == 1.0
    finally:
        server.stop()
        broker.close()


def test_a_store_that_is_down_leaves_the_broker_answered(tmp_path, redis_url):
    from intake.cli.wiring import runtime_for

    closed = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/gone"
    settings = make_settings(tmp_path, store={"url": closed})
    broker = make_broker(settings, redis_url)
    rt = runtime_for(settings, broker=broker)
    try:
        text = scrape(rt)
        assert one(text, "intake_store_up") == 0.0
        assert one(text, "intake_scrape_errors") == 1.0
        assert series(text, "intake_messages_received_total", "channel") == {}
        assert one(text, "intake_broker_up") == 1.0
        assert set(series(text, "intake_queue_depth", "queue").values()) == {0.0}
    finally:
        rt.close()
        broker.close()


def test_the_registry_is_the_desks_own(tmp_path, make_runtime):
    """Nothing goes to the global default registry (a second app would double-register)."""
    from prometheus_client import REGISTRY

    rt = make_runtime(make_settings(tmp_path))
    metrics.routes(rt)
    metrics.routes(dataclasses.replace(rt))
    assert not [f.name for f in REGISTRY.collect() if f.name.startswith("intake_")]


def test_a_store_that_never_answers_does_not_hang_the_scrape(tmp_path, redis_url):
    from intake.cli.wiring import runtime_for
    from tests.console.test_health import silent_server

    with silent_server() as port:
        settings = make_settings(
            tmp_path, store={"url": f"postgresql+psycopg://root@127.0.0.1:{port}/hung"}
        )
        broker = make_broker(settings, redis_url)
        rt = runtime_for(settings, broker=broker)
        try:
            started = time.monotonic()
            text = scrape(rt)
            assert time.monotonic() - started < metrics.STORE_SECONDS + 1.5
            assert (one(text, "intake_store_up"), one(text, "intake_broker_up")) == (0.0, 1.0)
            assert one(text, "intake_scrape_errors") == 1.0
        finally:
            rt.close()
            broker.close()
