"""Prometheus `/metrics`, counted from the store and the broker when Prometheus asks.

No number is kept in this process's memory: one `Collector`, on a registry of its own (not
the global default one, no multiprocess mode), reads the store and Redis at each scrape. So
mail taken in by `intake inject`, delivered by any number of worker processes or received by
another instance counts alike, and every instance answers the same.

The `*_total` families are counts of rows, typed as counters for their meaning; a row that
changes (a complaint reassigned, a failed raw item retried) moves from one series to another,
which Prometheus reads as a reset of the one that went down. `intake_ingest_to_delivery_seconds`
is a histogram of the delivered complaints' `delivered_at - received_at`, bucketed by the
database in one aggregate query (a clock skew between machines counts as 0 s).

A part that cannot be read in time (the store, the broker) is left out of the answer and
counted in `intake_scrape_errors`; the rest is answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import ColumnElement, Executable, case, extract, func, select, text
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.health import Bounded, describe
from intake.runtime import Runtime
from intake.states import OPEN, RawState
from outbound.broker import queue_depths
from store.models import (
    ClockRow,
    ComplaintRow,
    DeadLetterRow,
    NoticeRow,
    PollStatusRow,
    RawMessageRow,
)

log = logging.getLogger(__name__)

BUCKETS = (1, 5, 15, 30, 60, 300, 900, 3600, 14400, 86400)  # seconds, ingest to delivery
STORE_SECONDS = 5.0  # the store's part of a scrape may take this long
BROKER_SECONDS = 2.0


# --- the store ---------------------------------------------------------------------------------


def store_families(runtime: Runtime) -> list[Metric]:
    """Every family read from the store, in one transaction (one snapshot of the counts)."""
    with runtime.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":  # never outlive the scrape
            session.execute(text(f"SET LOCAL statement_timeout = {int(STORE_SECONDS * 1000)}"))
        return [
            *counts(session),
            *open_complaints(session),
            poll_successes(session),
            delivery_histogram(session),
        ]


def _grouped(session: Session, statement: Executable) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(statement).all()]


def counts(session: Session) -> Iterator[Metric]:
    received = CounterMetricFamily(
        "intake_messages_received", "Raw messages stored, by channel.", labels=["channel"]
    )
    for channel, n in _grouped(
        session, select(RawMessageRow.channel, func.count()).group_by(RawMessageRow.channel)
    ):
        received.add_metric([channel], n)
    yield received

    complaints = CounterMetricFamily(
        "intake_complaints_created",
        "Complaints, by their current product and unit.",
        labels=["product", "unit"],
    )
    for product, unit, n in _grouped(
        session,
        select(ComplaintRow.product, ComplaintRow.unit, func.count()).group_by(
            ComplaintRow.product, ComplaintRow.unit
        ),
    ):
        complaints.add_metric([product, unit], n)
    yield complaints

    failed = CounterMetricFamily(
        "intake_raw_failed", "Raw messages that failed processing, by channel.", labels=["channel"]
    )
    for channel, n in _grouped(
        session,
        select(RawMessageRow.channel, func.count())
        .where(RawMessageRow.status == RawState.FAILED)
        .group_by(RawMessageRow.channel),
    ):
        failed.add_metric([channel], n)
    yield failed

    breaches = CounterMetricFamily(
        "intake_clock_breaches", "Clocks past their deadline, by clock.", labels=["clock"]
    )
    for name, n in _grouped(
        session,
        select(ClockRow.name, func.count())
        .where(ClockRow.breached_at.is_not(None))
        .group_by(ClockRow.name),
    ):
        breaches.add_metric([name], n)
    yield breaches

    dead = session.scalar(
        select(func.count()).select_from(DeadLetterRow).where(DeadLetterRow.requeued_at.is_(None))
    )
    yield GaugeMetricFamily(
        "intake_dead_letters", "Dead letters not sent again yet.", value=dead or 0
    )

    notices = GaugeMetricFamily("intake_notices", "Notices, by state.", labels=["state"])
    for state, n in _grouped(
        session, select(NoticeRow.state, func.count()).group_by(NoticeRow.state)
    ):
        notices.add_metric([state], n)
    yield notices


def open_complaints(session: Session) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "intake_open_complaints", "Open complaints, by unit and status.", labels=["unit", "status"]
    )
    for unit, status, n in _grouped(
        session,
        select(ComplaintRow.unit, ComplaintRow.status, func.count())
        .where(ComplaintRow.status.in_(sorted(OPEN)))
        .group_by(ComplaintRow.unit, ComplaintRow.status),
    ):
        family.add_metric([unit, status], n)
    yield family


def poll_successes(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "intake_poll_last_success_timestamp_seconds",
        "When each polled feed (mailbox/folder) last polled successfully, Unix time.",
        labels=["feed"],
    )
    rows = session.execute(
        select(PollStatusRow.mailbox, PollStatusRow.folder, PollStatusRow.last_success_at)
        .where(PollStatusRow.last_success_at.is_not(None))
        .order_by(PollStatusRow.mailbox, PollStatusRow.folder)
    ).all()
    for feed, folder, last in rows:
        if last is not None:
            family.add_metric([f"{feed}/{folder}"], last.timestamp())
    return family


def seconds_to_delivery(dialect: str) -> ColumnElement[Any]:
    """`delivered_at - received_at` in seconds, as the database computes it: SQLite keeps
    times as text (julianday, rounded to its millisecond precision), PostgreSQL as timestamps."""
    delivered, received = ComplaintRow.delivered_at, ComplaintRow.received_at
    if dialect == "sqlite":
        return func.round((func.julianday(delivered) - func.julianday(received)) * 86400.0, 3)
    return extract("epoch", delivered - received)


def delivery_histogram(session: Session) -> Metric:
    """Cumulative buckets, sum and count per channel, from one aggregate query."""
    raw = seconds_to_delivery(session.get_bind().dialect.name)
    delivered = (
        select(
            ComplaintRow.channel.label("channel"),
            case((raw < 0, 0.0), else_=raw).label("seconds"),
        )
        .where(ComplaintRow.delivered_at.is_not(None))
        .subquery()
    )
    seconds = delivered.c.seconds
    statement = select(
        delivered.c.channel,
        func.count(),
        func.coalesce(func.sum(seconds), 0),
        *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in BUCKETS),
    ).group_by(delivered.c.channel)
    family = HistogramMetricFamily(
        "intake_ingest_to_delivery_seconds",
        "Seconds from a complaint's receipt to its ticket's delivery to the unit.",
        labels=["channel"],
    )
    for channel, count, total, *within in session.execute(statement).all():
        buckets = [(floatToGoString(b), float(n)) for b, n in zip(BUCKETS, within)]
        family.add_metric([channel], [*buckets, ("+Inf", float(count))], float(total))
    return family


# --- the broker --------------------------------------------------------------------------------


def queue_families(runtime: Runtime) -> list[Metric]:
    """Messages per unit queue and `ack` (waiting, delayed for a retry, dead in the broker),
    as `intake status` counts them; raises when Redis does not answer."""
    broker = runtime.broker
    assert isinstance(broker, RedisBroker)
    depths = queue_depths(broker, runtime.settings)
    gauges = [
        GaugeMetricFamily(
            "intake_queue_depth", "Messages waiting on each queue.", labels=["queue"]
        ),
        GaugeMetricFamily(
            "intake_queue_delayed", "Messages waiting out a retry backoff.", labels=["queue"]
        ),
        GaugeMetricFamily(
            "intake_queue_dead", "Messages in the broker's dead-letter queue.", labels=["queue"]
        ),
    ]
    for name, depth in depths.items():
        for gauge, part in zip(gauges, ("waiting", "delayed", "dead")):
            gauge.add_metric([name], depth[part])
    return [*gauges]


# --- the collector -----------------------------------------------------------------------------


class DeskCollector(Collector):
    """Reads the store and the broker at each `collect`, both at once, each in bounded time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.bounded = Bounded()

    def describe(self) -> Iterable[Metric]:
        return []  # nothing is read when the collector is registered

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        parts = {"store": self.bounded.start("store", lambda: store_families(self.runtime))}
        if isinstance(self.runtime.broker, RedisBroker):  # else: no broker to count
            parts["broker"] = self.bounded.start("broker", lambda: queue_families(self.runtime))
        limits = {"store": STORE_SECONDS, "broker": BROKER_SECONDS}
        families: list[Metric] = []
        errors = 0
        for part, limit in limits.items():
            call = parts.get(part)
            try:
                if call is not None:
                    families += call.result(started + limit - time.monotonic())
            except Exception as exc:
                errors += 1
                log.warning("metrics: the %s could not be read: %s", part, describe(exc, limit))
                call = None
            families.append(_up(part, call is not None))
        families.append(
            GaugeMetricFamily(
                "intake_scrape_errors",
                "Parts of this scrape (store, broker) that could not be read.",
                value=errors,
            )
        )
        return families


def _up(part: str, up: bool) -> Metric:
    return GaugeMetricFamily(
        f"intake_{part}_up", f"Whether the {part} answered this scrape.", value=int(up)
    )


def registry_for(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(runtime))
    return registry


def routes(runtime: Runtime) -> list[Route]:
    """GET `/metrics` in the Prometheus text format (a sync handler, off the event loop)."""
    registry = registry_for(runtime)

    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [Route("/metrics", metrics, methods=["GET"])]
