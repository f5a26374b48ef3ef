"""`intake status`: what operators need at a glance, from the store and the broker.

Queue depth per unit (waiting, delayed for retry, dead in the broker), complaints by status,
deliveries, acknowledgements and notices by state, the clocks (open, breached), failed raw
items and recorded dead letters.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from intake import clock
from intake.cli.wiring import broker_url
from intake.privacy import redact_url
from intake.runtime import Runtime
from intake.states import RawState
from outbound.broker import queue_depths as broker_depths
from store.models import (
    ClockRow,
    ComplaintRow,
    DeadLetterRow,
    NoticeRow,
    PollStatusRow,
    RawMessageRow,
    ReportRunRow,
)


def collect(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:

        def count_by(column: InstrumentedAttribute[Any]) -> dict[str, int]:
            rows = session.execute(select(column, func.count()).group_by(column)).all()
            return {str(key): n for key, n in rows}

        report: dict[str, Any] = {
            "store": runtime.engine.url.render_as_string(hide_password=True),
            "complaints": count_by(ComplaintRow.status),
            "delivery": count_by(ComplaintRow.delivery_state),
            "acknowledgement": count_by(ComplaintRow.ack_state),
            "notices": count_by(NoticeRow.state),
            "clocks": {
                "open": session.scalar(
                    select(func.count()).select_from(ClockRow).where(ClockRow.met_at.is_(None))
                ),
                "breached": session.scalar(
                    select(func.count())
                    .select_from(ClockRow)
                    .where(ClockRow.breached_at.is_not(None))
                ),
            },
            "raw_messages": count_by(RawMessageRow.status),
            "dead_letters": session.scalar(
                select(func.count())
                .select_from(DeadLetterRow)
                .where(DeadLetterRow.requeued_at.is_(None))
            ),
        }
        report["reports"] = [
            {
                "key": row.key,
                "state": row.state,
                "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "error": row.error,
            }
            for row in session.scalars(
                select(ReportRunRow).order_by(ReportRunRow.id.desc()).limit(3)
            )
        ]
        report["mailboxes"] = mailbox_health(session, runtime)
        report["channels"] = channel_health(session, runtime)
    report["broker"] = redact_url(broker_url(runtime.settings))
    report["queues"] = queue_depths(runtime)
    return report


def mailbox_health(session: Session, runtime: Runtime) -> list[dict[str, Any]]:
    """Per polled folder: last good poll, mail today, failures, and the SSL box warning."""
    settings = runtime.settings
    midnight = (
        clock.now()
        .astimezone(ZoneInfo(settings.clock.timezone))
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    today = dict(
        session.execute(
            select(RawMessageRow.mailbox, func.count())
            .where(RawMessageRow.stored_at >= midnight)
            .group_by(RawMessageRow.mailbox)
        ).all()
    )
    failed = dict(
        session.execute(
            select(RawMessageRow.mailbox, func.count())
            .where(RawMessageRow.status == RawState.FAILED)
            .group_by(RawMessageRow.mailbox)
        ).all()
    )
    rows = {(r.mailbox, r.folder): r for r in session.scalars(select(PollStatusRow))}
    stale_after = timedelta(minutes=settings.imap.ssl_stale_minutes)
    health = []
    for box in settings.mailbox:
        for folder in box.all_folders:
            row = rows.get((box.name, folder))
            last = row.last_success_at if row else None
            stale = (
                box.enabled
                and box.channel == "email_ssl"
                and (last is None or clock.now() - last > stale_after)
            )
            health.append(
                {
                    "mailbox": box.name,
                    "folder": folder,
                    "channel": box.channel,
                    "enabled": box.enabled,
                    "last_success_at": last.isoformat() if last else None,
                    "messages_today": today.get(box.name, 0),
                    "failed_raw": failed.get(box.name, 0),
                    "consecutive_failures": row.consecutive_failures if row else 0,
                    "last_error": row.last_error if row and row.consecutive_failures else None,
                    "warning": (
                        f"SSL problem box not polled successfully for over "
                        f"{settings.imap.ssl_stale_minutes} minutes"
                    )
                    if stale
                    else None,
                }
            )
    return health


def channel_health(session: Session, runtime: Runtime) -> list[dict[str, Any]]:
    """Polled channels other than mailboxes (Telegram updates, X mentions and DMs)."""
    boxes = {box.name for box in runtime.settings.mailbox}
    health = []
    for row in session.scalars(select(PollStatusRow).order_by(PollStatusRow.mailbox)):
        if row.mailbox in boxes:
            continue
        health.append(
            {
                "channel": row.channel,
                "feed": f"{row.mailbox}/{row.folder}",
                "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
                "consecutive_failures": row.consecutive_failures,
                "last_error": row.last_error if row.consecutive_failures else None,
            }
        )
    return health


def queue_depths(runtime: Runtime) -> dict[str, dict[str, int]] | str:
    """Per queue: waiting, delayed (retry backoff) and dead (broker's own dead-letter queue)."""
    broker = runtime.broker
    if not isinstance(broker, RedisBroker):
        return "broker not connected"
    try:
        return broker_depths(broker, runtime.settings)
    except Exception as exc:  # redis down: say so, show the rest
        return f"broker unreachable: {exc}"


def render(report: dict[str, Any]) -> str:
    lines = [f"store:  {report['store']}", f"broker: {report['broker']}", ""]
    queues = report["queues"]
    if isinstance(queues, str):
        lines.append(f"queues: {queues}")
    else:
        lines.append(f"{'queue':40} {'waiting':>8} {'delayed':>8} {'dead':>6}")
        for name, depth in queues.items():
            lines.append(
                f"{name:40} {depth['waiting']:>8} {depth['delayed']:>8} {depth['dead']:>6}"
            )
    lines.append("")
    for box in report["mailboxes"]:
        state = "enabled" if box["enabled"] else "not polled"
        lines.append(
            f"mailbox {box['mailbox']}/{box['folder']} ({box['channel']}, {state}): last good poll "
            f"{box['last_success_at'] or 'never'}, today {box['messages_today']}, "
            f"failed {box['failed_raw']}, consecutive failures {box['consecutive_failures']}"
        )
        if box["last_error"]:
            lines.append(f"  last error: {box['last_error']}")
        if box["warning"]:
            lines.append(f"  WARNING: {box['warning']}")
    for feed in report["channels"]:
        lines.append(
            f"channel {feed['feed']} ({feed['channel']}): last good poll "
            f"{feed['last_success_at'] or 'never'}, consecutive failures "
            f"{feed['consecutive_failures']}"
        )
        if feed["last_error"]:
            lines.append(f"  last error: {feed['last_error']}")
    lines.append("")
    for title in ("complaints", "delivery", "acknowledgement", "notices", "clocks", "raw_messages"):
        counts = report[title] or {"-": 0}
        lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = report["raw_messages"].get(RawState.FAILED, 0)
    lines.append(f"failed raw items: {failed}" + ("  (intake retry)" if failed else ""))
    dead = report["dead_letters"]
    lines.append(f"dead letters: {dead}" + ("  (intake dead-letters)" if dead else ""))
    for run in report["reports"]:  # the latest reports to management
        said = f"sent {run['sent_at']}" if run["sent_at"] else run["state"]
        problem = f": {run['error']}" if run["error"] else ""
        which, _, label = run["key"].partition("@")[0].partition(":")
        flag = "--month" if which == "monthly" else "--year"
        hint = f"  (intake report {flag} {label} --mail)" if run["state"] == "failed" else ""
        lines.append(f"report {run['key']}: {said}{problem}{hint}")
    return "\n".join(lines)
