"""Store operations the flow needs, each inside the caller's session (the caller commits).

Insert-with-dedupe-key for raw messages, the yearly complaint counter, content-addressed
blobs, the append-only event log, delivery claims, and channel watermarks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from intake import clock
from intake.schema import RawMessage
from intake.states import JobState, RawState
from store.models import (
    BlobRow,
    ComplaintRow,
    EventRow,
    NoticeRow,
    RawMessageRow,
    ReferenceCounterRow,
    WatermarkRow,
)


def save_raw(session: Session, raw: RawMessage) -> tuple[RawMessageRow, bool]:
    """Insert `raw` keyed by (channel, source_id); (existing row, False) when already stored."""
    row = RawMessageRow(
        channel=raw.channel,
        source_id=raw.source_id,
        mailbox=raw.mailbox,
        received_at=raw.received_at,
        stored_at=clock.now(),
        payload=raw.payload,
        size=len(raw.payload),
        transport=dict(raw.transport),
        status=RawState.PENDING,
        attempts=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = find_raw(session, raw.channel, raw.source_id)
        if existing is None:  # the conflict was something else: let the caller see it
            raise
        return existing, False
    return row, True


def find_raw(session: Session, channel: str, source_id: str) -> RawMessageRow | None:
    return session.scalars(
        select(RawMessageRow).where(
            RawMessageRow.channel == channel, RawMessageRow.source_id == source_id
        )
    ).one_or_none()


def reserve_references(session: Session, prefix: str, year: int, count: int) -> list[str]:
    """`count` consecutive `PREFIX-YYYY-NNNNNN` in one step (a batch of complaints takes a
    block); the counter row's lock serialises concurrent callers."""
    bump = (
        update(ReferenceCounterRow)
        .where(ReferenceCounterRow.prefix == prefix, ReferenceCounterRow.year == year)
        .values(last=ReferenceCounterRow.last + count)
        .returning(ReferenceCounterRow.last)
    )
    last = session.execute(bump).scalar_one_or_none()
    if last is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(ReferenceCounterRow).values(prefix=prefix, year=year, last=count)
                )
            last = count
        except IntegrityError:  # another process created the year's row first
            last = session.execute(bump).scalar_one()
    return [format_reference(prefix, year, n) for n in range(last - count + 1, last + 1)]


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:06d}"


def add_event(
    session: Session,
    event: str,
    /,
    *,
    complaint_id: int | None = None,
    raw_message_id: int | None = None,
    actor: str = "intake",
    **detail: Any,
) -> None:
    """Append one event (never updated, never deleted)."""
    session.add(
        EventRow(
            complaint_id=complaint_id,
            raw_message_id=raw_message_id,
            kind=event,
            at=clock.now(),
            actor=actor,
            detail=jsonable(detail),
        )
    )


def put_blobs(session: Session, blobs: Mapping[str, bytes]) -> None:
    """Store attachment bytes once per sha256."""
    if not blobs:
        return
    # The bytes each known one holds: 0 where retention or a KVKK erasure emptied it.
    found = select(BlobRow.sha256, func.length(BlobRow.data)).where(BlobRow.sha256.in_(list(blobs)))
    held = {sha: size for sha, size in session.execute(found)}
    for sha, data in blobs.items():
        if sha not in held:
            session.add(BlobRow(sha256=sha, size=len(data), data=data))
        elif not held[sha] and data:  # the same file again, after its bytes were dropped
            session.execute(update(BlobRow).where(BlobRow.sha256 == sha).values(data=data))
    session.flush()  # attachment rows refer to these; no relationship orders the inserts


def get_blob(session: Session, sha256: str) -> bytes | None:
    return session.scalar(select(BlobRow.data).where(BlobRow.sha256 == sha256))


@dataclass(frozen=True)
class JobColumns:
    """Where one outbound job keeps its progress: its table, its state column, when it was
    claimed by a worker, and when it was last enqueued (None: not stamped)."""

    model: type[ComplaintRow] | type[RawMessageRow] | type[NoticeRow]
    state: InstrumentedAttribute[Any]
    claimed_at: InstrumentedAttribute[datetime | None]
    enqueued_at: InstrumentedAttribute[datetime | None] | None


def claim(session: Session, columns: JobColumns, row_id: int, lease: timedelta) -> bool:
    """Take the job of row `row_id` whose progress `columns` holds.

    False when the job is done or held by another worker; a claim older than `lease` is
    considered abandoned (a worker died mid-send).
    """
    model, now = columns.model, clock.now()
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute is typed as
    # returning the base Result for every statement.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(model)
            .where(model.id == row_id, columns.state == JobState.PENDING)
            .where((columns.claimed_at.is_(None)) | (columns.claimed_at < now - lease))
            .values({columns.claimed_at: now})
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def renew(session: Session, columns: JobColumns, row_id: int) -> None:
    """Stamp a claim held as fresh (the sending worker's heartbeat)."""
    model = columns.model
    session.execute(
        update(model)
        .where(model.id == row_id, columns.state == JobState.PENDING)
        .where(columns.claimed_at.is_not(None))
        .values({columns.claimed_at: clock.now()})
        .execution_options(synchronize_session=False)
    )


def job_state(session: Session, columns: JobColumns, row_id: int) -> str | None:
    """The job's state on row `row_id` (None when there is no such row)."""
    return session.scalar(select(columns.state).where(columns.model.id == row_id))


def release(session: Session, columns: JobColumns, row_id: int) -> None:
    """Give a claim back so the next retry can take it at once."""
    session.execute(
        update(columns.model)
        .where(columns.model.id == row_id)
        .values({columns.claimed_at: None})
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Watermark:
    """How far a polled feed has read: its (channel, key) and the channel's own value (IMAP
    UIDVALIDITY and UID, a `since_id`, Telegram's offset)."""

    channel: str
    key: str
    value: Mapping[str, Any]


def get_watermark(session: Session, channel: str, key: str) -> dict[str, Any] | None:
    row = session.get(WatermarkRow, (channel, key))
    return dict(row.value) if row else None


def set_watermark(session: Session, mark: Watermark) -> None:
    row = session.get(WatermarkRow, (mark.channel, mark.key))
    if row is None:
        session.add(
            WatermarkRow(
                channel=mark.channel, key=mark.key, value=dict(mark.value), updated_at=clock.now()
            )
        )
    else:
        row.value, row.updated_at = dict(mark.value), clock.now()


def jsonable(value: Any) -> Any:
    """Event details as plain JSON (dataclasses, datetimes and tuples included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
