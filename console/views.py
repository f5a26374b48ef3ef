"""What the console's pages show, read from the store (and the broker): plain data, no HTML.

Every number comes from the store at the moment the page is asked for, so what another
instance, a worker or `intake inject` did shows too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from handling import clocks, recurring
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.states import ComplaintStatus, JobState, RawState
from normalize.channels import normalize_raw
from outbound.broker import queue_depths as broker_depths
from outbound.jobs import ACK_QUEUE
from store.models import (
    AttachmentRow,
    ClockRow,
    ComplaintRow,
    DeadLetterRow,
    EventRow,
    NoticeRow,
    PollStatusRow,
    RawMessageRow,
    RoutingDecisionRow,
)

PAGE = 50
SHOWN_STATES = [  # the open ones, in the order of the lifecycle, and those awaiting an answer
    ComplaintStatus.RECEIVED,
    ComplaintStatus.ACKNOWLEDGED,
    ComplaintStatus.ASSIGNED,
    ComplaintStatus.INVESTIGATING,
    ComplaintStatus.WAITING_ON_COMPLAINANT,
    ComplaintStatus.REOPENED,
    ComplaintStatus.RESOLVED,
]


# --- the overview ---------------------------------------------------------------------------


def queue_depths(runtime: Runtime) -> dict[str, dict[str, int]] | None:
    """Per queue: waiting, delayed and dead messages (None when the broker cannot be
    reached: the page says so)."""
    if not isinstance(runtime.broker, RedisBroker):
        return None
    try:
        return broker_depths(runtime.broker, runtime.settings)
    except Exception:
        return None


def overview(session: Session, runtime: Runtime, at: datetime) -> dict[str, Any]:
    settings = runtime.settings
    zone = ZoneInfo(settings.clock.timezone)
    midnight = at.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    week = midnight - timedelta(days=midnight.weekday())
    depths = queue_depths(runtime)
    by_state: dict[str, dict[str, int]] = {}
    for unit, status, count in session.execute(
        select(ComplaintRow.unit, ComplaintRow.status, func.count())
        .where(ComplaintRow.status.in_(SHOWN_STATES))
        .group_by(ComplaintRow.unit, ComplaintRow.status)
    ):
        by_state.setdefault(unit, {})[status] = count
    units = [
        {
            "code": unit.code,
            "name": unit.name,
            "queue": unit.queue,
            "depth": None if depths is None else depths.get(unit.queue, {}).get("waiting", 0),
            "oldest": oldest_waiting(session, unit.code),
            "states": by_state.get(unit.code, {}),
            "open": sum(by_state.get(unit.code, {}).values()),
        }
        for unit in settings.unit
    ]
    return {
        "at": at,
        "units": units,
        "ack_depth": None if depths is None else depths.get(ACK_QUEUE, {}).get("waiting", 0),
        "broker_up": depths is not None,
        "feeds": feeds(session, runtime, midnight),
        "failed_raw": _count(
            session, select(func.count()).where(RawMessageRow.status == RawState.FAILED)
        ),
        "dead_letters": _count(
            session,
            select(func.count())
            .select_from(DeadLetterRow)
            .where(DeadLetterRow.requeued_at.is_(None)),
        ),
        "clocks": closest_clocks(session, at),
        "today": intake_counts(session, midnight),
        "week": intake_counts(session, week),
        "states": SHOWN_STATES,
    }


def oldest_waiting(session: Session, unit: str) -> datetime | None:
    """When the longest-waiting job of the unit went on its queue (its ticket, a follow-up
    or a notice still pending)."""
    found = [
        session.scalar(
            select(func.min(ComplaintRow.delivery_enqueued_at)).where(
                ComplaintRow.unit == unit, ComplaintRow.delivery_state == JobState.PENDING
            )
        ),
        session.scalar(
            select(func.min(NoticeRow.enqueued_at))
            .join(ComplaintRow, ComplaintRow.id == NoticeRow.complaint_id)
            .where(
                ComplaintRow.unit == unit,
                NoticeRow.state == JobState.PENDING,
                NoticeRow.audience != "complainant",
            )
        ),
    ]
    present = [moment for moment in found if moment is not None]
    return min(present) if present else None


def feeds(session: Session, runtime: Runtime, midnight: datetime) -> list[dict[str, Any]]:
    """Every polled feed with its last good poll and error, and what it brought in today
    (a mailbox by its name, Telegram and X by their channel); an enabled mailbox that has
    never been polled shows too."""
    by_mailbox = dict(
        session.execute(
            select(RawMessageRow.mailbox, func.count())
            .where(RawMessageRow.stored_at >= midnight)
            .group_by(RawMessageRow.mailbox)
        ).all()
    )
    by_channel = dict(
        session.execute(
            select(RawMessageRow.channel, func.count())
            .where(RawMessageRow.stored_at >= midnight)
            .group_by(RawMessageRow.channel)
        ).all()
    )
    boxes = {box.name for box in runtime.settings.mailbox}
    rows, seen = [], set()
    for row in session.scalars(
        select(PollStatusRow).order_by(PollStatusRow.mailbox, PollStatusRow.folder)
    ):
        seen.add(row.mailbox)
        today = (
            by_mailbox.get(row.mailbox, 0)
            if row.mailbox in boxes
            else by_channel.get(row.channel, 0)
        )
        rows.append(
            {
                "feed": f"{row.mailbox}/{row.folder}",
                "channel": row.channel,
                "last_success_at": row.last_success_at,
                "last_error": row.last_error if row.consecutive_failures else None,
                "failures": row.consecutive_failures,
                "today": today,
            }
        )
    for box in runtime.settings.mailbox:
        if box.enabled and box.name not in seen:
            rows.append(
                {
                    "feed": f"{box.name}/{box.folder}",
                    "channel": box.channel,
                    "last_success_at": None,
                    "last_error": "never polled",
                    "failures": 0,
                    "today": by_mailbox.get(box.name, 0),
                }
            )
    return rows


def closest_clocks(session: Session, at: datetime, limit: int = 12) -> list[dict[str, Any]]:
    """The open clocks nearest their deadline (or past it), SSL reports first."""
    rows = session.execute(
        select(ComplaintRow.reference, ComplaintRow.unit, ClockRow)
        .join(ClockRow, ClockRow.complaint_id == ComplaintRow.id)
        .where(ClockRow.met_at.is_(None), ClockRow.paused_since.is_(None))
        .order_by((ClockRow.name != "ssl_preliminary"), ClockRow.due_at)
        .limit(limit)
    ).all()
    return [
        {
            "reference": reference,
            "unit": unit,
            "name": row.name,
            "due_at": row.due_at,
            "state": clocks.state_of(row, at),
            "left": row.due_at - at,
        }
        for reference, unit, row in rows
    ]


def intake_counts(session: Session, since: datetime) -> dict[str, dict[str, int]]:
    """Complaints received since `since`, by channel and by product."""
    recent = ComplaintRow.received_at >= since

    def by(column: Any) -> dict[str, int]:
        return {
            str(key): count
            for key, count in session.execute(
                select(column, func.count()).where(recent).group_by(column).order_by(column)
            )
        }

    return {"channel": by(ComplaintRow.channel), "product": by(ComplaintRow.product)}


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(query) or 0)


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    reference: str = ""
    product: str = ""
    unit: str = ""
    status: str = ""
    channel: str = ""
    complainant: str = ""
    since: str = ""  # YYYY-MM-DD, local
    until: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, params: Any) -> "Filters":
        """From a query string; a page that is not a number is the first."""

        def value(name: str) -> str:
            return str(params.get(name, "") or "").strip()

        try:
            page = max(1, int(params.get("page", 1) or 1))
        except ValueError:
            page = 1
        return cls(
            reference=value("reference"),
            product=value("product"),
            unit=value("unit"),
            status=value("status"),
            channel=value("channel"),
            complainant=value("complainant"),
            since=value("since"),
            until=value("until"),
            page=page,
        )


def search(session: Session, runtime: Runtime, filters: Filters) -> tuple[list[ComplaintRow], int]:
    """One page of complaints matching `filters`, newest first, and how many match."""
    query = select(ComplaintRow)
    if filters.reference:
        query = query.where(
            ComplaintRow.reference.ilike(f"%{_like(filters.reference)}%", escape="\\")
        )
    for column, value in (
        (ComplaintRow.product, filters.product),
        (ComplaintRow.unit, filters.unit),
        (ComplaintRow.status, filters.status),
        (ComplaintRow.channel, filters.channel),
    ):
        if value:
            query = query.where(column == value)
    if filters.complainant:
        pattern = f"%{_like(filters.complainant)}%"
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        ComplaintRow.complainant_name,
                        ComplaintRow.complainant_email,
                        ComplaintRow.complainant_phone,
                        ComplaintRow.complainant_handle,
                    )
                )
            )
        )
    zone = ZoneInfo(runtime.settings.clock.timezone)
    for text, after in ((filters.since, True), (filters.until, False)):
        if not text:
            continue
        try:
            day = datetime.fromisoformat(text).replace(tzinfo=zone)
        except ValueError:
            filters.errors["since" if after else "until"] = "YYYY-MM-DD"
            continue
        query = query.where(
            ComplaintRow.received_at >= day
            if after
            else ComplaintRow.received_at < day + timedelta(days=1)
        )
    total = _count(session, select(func.count()).select_from(query.subquery()))
    rows = list(
        session.scalars(
            query.order_by(ComplaintRow.id.desc()).offset((filters.page - 1) * PAGE).limit(PAGE)
        )
    )
    return rows, total


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- one complaint --------------------------------------------------------------------------


def complaint_page(
    session: Session, runtime: Runtime, reference: str, at: datetime
) -> dict[str, Any] | None:
    complaint = session.scalars(
        select(ComplaintRow).where(ComplaintRow.reference == reference)
    ).one_or_none()
    if complaint is None:
        return None
    return {
        "complaint": complaint,
        "thread": thread(session, runtime, complaint),
        "decisions": list(
            session.scalars(
                select(RoutingDecisionRow)
                .where(RoutingDecisionRow.complaint_id == complaint.id)
                .order_by(RoutingDecisionRow.id)
            )
        ),
        "events": list(
            session.scalars(
                select(EventRow).where(EventRow.complaint_id == complaint.id).order_by(EventRow.id)
            )
        ),
        "attachments": list(
            session.scalars(select(AttachmentRow).where(AttachmentRow.complaint_id == complaint.id))
        ),
        "clocks": clocks.listing(session, at, complaint.reference),
        "recurring": recurring_group(session, runtime, complaint),
        "notices": list(
            session.scalars(
                select(NoticeRow)
                .where(NoticeRow.complaint_id == complaint.id)
                .order_by(NoticeRow.id)
            )
        ),
    }


def recurring_group(
    session: Session, runtime: Runtime, complaint: ComplaintRow
) -> dict[str, Any] | None:
    """The complaint's group among its product's within `[recurring] window_days`
    (`handling.recurring`): its label, size, whether it recurs, and the other members with
    their status; None for a one-off."""
    group = recurring.group_of(session, runtime.settings, complaint)
    if group is None:
        return None
    others = [m for m in group.members if m.id != complaint.id]
    found = session.execute(
        select(ComplaintRow.id, ComplaintRow.status).where(
            ComplaintRow.id.in_([m.id for m in others])
        )
    )
    status = {row.id: row.status for row in found}
    return {
        "label": " ".join(group.label),
        "size": len(group.members),
        "recurring": len(group.members) >= runtime.settings.recurring.min_group,
        "others": [
            {"reference": m.reference, "received_at": m.received_at, "status": status.get(m.id)}
            for m in others
        ],
    }


def thread(session: Session, runtime: Runtime, complaint: ComplaintRow) -> list[dict[str, Any]]:
    """The complaint's messages as they came in, oldest first: the first one as stored, each
    later one normalised again from its raw bytes."""
    messages = [
        {
            "received_at": complaint.received_at,
            "channel": complaint.channel,
            "sender": complaint.complainant_email
            or complaint.complainant_handle
            or complaint.complainant_name,
            "subject": complaint.subject,
            "body": complaint.body,
        }
    ]
    later = session.scalars(
        select(RawMessageRow)
        .where(
            RawMessageRow.complaint_id == complaint.id, RawMessageRow.id != complaint.raw_message_id
        )
        .order_by(RawMessageRow.id)
    )
    for raw in later:
        try:
            normalized = normalize_raw(_raw_message(raw), runtime.settings).complaint
        except Exception as exc:  # a raw item the normaliser refuses: say so, show the rest
            messages.append(
                {
                    "received_at": raw.received_at,
                    "channel": raw.channel,
                    "sender": "?",
                    "subject": "",
                    "body": f"({type(exc).__name__})",
                }
            )
            continue
        person = normalized.complainant
        messages.append(
            {
                "received_at": raw.received_at,
                "channel": raw.channel,
                "sender": person.email or person.handle or person.name,
                "subject": normalized.subject,
                "body": normalized.body,
            }
        )
    return messages


def _raw_message(raw: RawMessageRow) -> RawMessage:
    return RawMessage(
        channel=raw.channel,
        source_id=raw.source_id,
        received_at=raw.received_at,
        payload=raw.payload,
        mailbox=raw.mailbox,
        transport=raw.transport,
    )


def failed_raws(session: Session, limit: int = 50) -> list[RawMessageRow]:
    return list(
        session.scalars(
            select(RawMessageRow)
            .where(RawMessageRow.status == RawState.FAILED)
            .order_by(RawMessageRow.id.desc())
            .limit(limit)
        )
    )


def dead_letters(session: Session, limit: int = 50) -> list[DeadLetterRow]:
    return list(
        session.scalars(
            select(DeadLetterRow)
            .where(DeadLetterRow.requeued_at.is_(None))
            .order_by(DeadLetterRow.id.desc())
            .limit(limit)
        )
    )
