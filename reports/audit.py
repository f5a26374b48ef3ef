"""The BR 4.9.5 audit evidence: every report received on the SSL problem address, with the
first answer it got and whether that came within `[clock] ssl_answer_hours` (24 h).

The CA/Browser Forum Baseline Requirements 4.9.5 ask for a *preliminary report* to the
reporter within 24 hours of receipt. The acknowledgement (the reference, sent at once) is
not one: it reports no findings, and it does not meet the `ssl_preliminary` clock either
(`routing.clocks`: the first reply, ETA or decision told to the reporter meets it). So the
answer of a row is the first mail *sent* to the reporter for one of those actions: an
`replied`, `eta_set` or `resolved` event, then the `notice_sent` event of its notice (time
and Message-ID). The scheduler's typical ETA (`eta_defaulted`) is not the unit's answer and
does not count, as it does not meet the clock.

Everything is read from the append-only `events`, the complaint's time of receipt (the first
receipt, whichever box it came through) and the settings; the `clocks` row is shown beside
it, and a row whose clock disagrees with its events is flagged, so that an edited `met_at`
hides nothing. The elapsed time runs on the wall clock, 24×7, to the moment the answer was
sent (the reporter's side), or to `at` while none has been.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.privacy import mask_email
from intake.settings import Settings
from routing.clocks import ClockName
from store.models import ClockRow, ComplaintRow, EventRow

SSL_CHANNEL = "email_ssl"

# The events of the actions that meet the SSL clock → the purpose of the notice they owe.
ANSWERS = {"replied": "reply", "eta_set": "eta", "resolved": "decision"}

COLUMNS = (
    "reference",
    "channel",
    "received_at_utc",
    "received_at_local",
    "reporter",
    "acknowledged_at_utc",
    "acknowledgement_message_id",
    "answer",
    "answer_given_at_utc",
    "answer_sent_at_utc",
    "answer_sent_at_local",
    "answer_message_id",
    "allowed_hours",
    "elapsed_hours",
    "verdict",
    "clock_row",
    "clock_row_disagrees",
    "events",
)


class Verdict(StrEnum):
    ON_TIME = "on_time"  # answered within the allowed hours
    LATE = "late"  # answered, after them
    OPEN = "open"  # not answered yet, still within them
    BREACHED = "breached"  # not answered, and past them


@dataclass(frozen=True)
class Trace:
    """One event behind a row."""

    id: int
    kind: str
    at: datetime
    note: str = ""

    def __str__(self) -> str:
        note = f"({self.note})" if self.note else ""
        return f"{self.id} {self.kind}{note} {_utc(self.at)}"


@dataclass(frozen=True)
class SslAuditRow:
    reference: str
    channel: str
    received_at: datetime
    reporter: str
    acknowledged_at: datetime | None
    acknowledgement_message_id: str
    answer: str  # reply | eta | decision, or "" while none has been given
    answer_given_at: datetime | None  # when the unit (or an operator) gave it
    # When it was sent to the reporter; None while it waits or failed (then it is not one).
    answer_sent_at: datetime | None
    answer_message_id: str
    allowed: timedelta
    elapsed: timedelta
    verdict: Verdict
    clock_row: str
    clock_row_disagrees: bool
    events: tuple[Trace, ...]

    def cells(self, timezone: str) -> list[str]:
        zone = ZoneInfo(timezone)
        return [
            self.reference,
            self.channel,
            _utc(self.received_at),
            _local(self.received_at, zone),
            self.reporter,
            _utc(self.acknowledged_at),
            self.acknowledgement_message_id,
            self.answer,
            _utc(self.answer_given_at),
            _utc(self.answer_sent_at),
            _local(self.answer_sent_at, zone),
            self.answer_message_id,
            _hours(self.allowed),
            _hours(self.elapsed),
            self.verdict.value,
            self.clock_row,
            "yes" if self.clock_row_disagrees else "no",
            "; ".join(str(trace) for trace in self.events),
        ]


def window(since: date, until: date, timezone: str) -> tuple[datetime, datetime]:
    """The receipts of local days `since` to `until`, both included: [start, end)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(since, time(0), zone)
    end = datetime.combine(until + timedelta(days=1), time(0), zone)
    return start, end


def ssl_rows(
    session: Session,
    settings: Settings,
    since: date,
    until: date,
    at: datetime,
    *,
    unmasked: bool = False,
) -> list[SslAuditRow]:
    """One row per SSL problem report received from local day `since` to `until` (both
    included), oldest first, judged as of `at`."""
    start, end = window(since, until, settings.clock.timezone)
    allowed = timedelta(hours=settings.clock.ssl_answer_hours)
    copied = (
        select(EventRow.complaint_id)
        .where(EventRow.kind == "clock_changed", EventRow.complaint_id.is_not(None))
        .distinct()
    )
    candidates = session.scalars(
        select(ComplaintRow)
        .where(
            ComplaintRow.received_at >= start,
            ComplaintRow.received_at < end,
            or_(ComplaintRow.channel == SSL_CHANNEL, ComplaintRow.id.in_(copied)),
        )
        .order_by(ComplaintRow.received_at, ComplaintRow.id)
    ).all()
    ids = [row.id for row in candidates]
    events = _events_of(session, ids)
    clocks = _ssl_clocks_of(session, ids)
    rows = []
    for complaint in candidates:
        own = events.get(complaint.id, [])
        if complaint.channel != SSL_CHANNEL and not _copied_to_ssl(own):
            continue
        rows.append(_row(complaint, own, clocks.get(complaint.id), allowed, at, unmasked))
    return rows


def write_csv(rows: Iterable[SslAuditRow], stream: TextIO, timezone: str) -> None:
    """The rows as CSV (the header first); the caller opens the file (`utf-8-sig` for Excel)."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells(timezone))


def _row(
    complaint: ComplaintRow,
    events: Sequence[EventRow],
    clock_row: ClockRow | None,
    allowed: timedelta,
    at: datetime,
    unmasked: bool,
) -> SslAuditRow:
    received = complaint.received_at
    ack = next((e for e in events if e.kind == "acknowledged"), None)
    given, sent = _first_answer(events)
    if sent is not None:
        elapsed = sent.at - received
        verdict = Verdict.ON_TIME if elapsed <= allowed else Verdict.LATE
    else:
        elapsed = max(at - received, timedelta(0))
        verdict = Verdict.BREACHED if elapsed >= allowed else Verdict.OPEN
    reporter = complaint.complainant_email or ""
    said = _clock_says(clock_row, at)
    return SslAuditRow(
        reference=complaint.reference,
        channel=complaint.channel,
        received_at=received,
        reporter=reporter if unmasked else mask_email(reporter),
        acknowledged_at=ack.at if ack is not None else None,
        acknowledgement_message_id=_message_id(ack),
        answer=ANSWERS[given.kind] if given is not None else "",
        answer_given_at=given.at if given is not None else None,
        answer_sent_at=sent.at if sent is not None else None,
        answer_message_id=_message_id(sent),
        allowed=allowed,
        elapsed=elapsed,
        verdict=verdict,
        clock_row=_describe(clock_row),
        clock_row_disagrees=said is not None and said is not verdict,
        events=tuple(_trace(e) for e in events),
    )


def _first_answer(events: Sequence[EventRow]) -> tuple[EventRow | None, EventRow | None]:
    """The first answer sent to the reporter: the action (replied, eta_set, resolved) and the
    `notice_sent` of the notice it owed; (the first action, None) while none has gone."""
    owed: dict[str, EventRow] = {}  # notice purpose → the earliest action still unsent
    first: EventRow | None = None
    for event in events:
        if event.kind in ANSWERS:
            owed.setdefault(ANSWERS[event.kind], event)
            first = first or event
        elif event.kind == "notice_sent" and (event.detail or {}).get("notice") in owed:
            return owed[event.detail["notice"]], event
    return first, None


def _clock_says(row: ClockRow | None, at: datetime) -> Verdict | None:
    """What the clocks table alone would say (None: there is no SSL clock row)."""
    if row is None:
        return None
    if row.met_at is not None:
        late = row.breached_at is not None or row.met_at > row.due_at
        return Verdict.LATE if late else Verdict.ON_TIME
    if row.breached_at is not None or at >= row.due_at:
        return Verdict.BREACHED
    return Verdict.OPEN


def _describe(row: ClockRow | None) -> str:
    if row is None:
        return "no ssl_preliminary clock"
    parts = [f"due {_utc(row.due_at)}"]
    if row.met_at is not None:
        parts.append(f"met {_utc(row.met_at)}")
    if row.breached_at is not None:
        parts.append(f"breached {_utc(row.breached_at)}")
    return ", ".join(parts)


def _copied_to_ssl(events: Sequence[EventRow]) -> bool:
    """A copy came in through the SSL box (`ingest.continuation` started the SSL clock)."""
    return any(
        e.kind == "clock_changed"
        and (e.detail or {}).get("clock") == ClockName.SSL_PRELIMINARY.value
        for e in events
    )


def _events_of(session: Session, ids: Sequence[int]) -> dict[int, list[EventRow]]:
    found: dict[int, list[EventRow]] = {}
    for chunk in _chunks(ids, 500):
        for event in session.scalars(
            select(EventRow).where(EventRow.complaint_id.in_(chunk)).order_by(EventRow.id)
        ):
            found.setdefault(event.complaint_id or 0, []).append(event)
    return found


def _ssl_clocks_of(session: Session, ids: Sequence[int]) -> dict[int, ClockRow]:
    found: dict[int, ClockRow] = {}
    for chunk in _chunks(ids, 500):
        for row in session.scalars(
            select(ClockRow).where(
                ClockRow.complaint_id.in_(chunk), ClockRow.name == ClockName.SSL_PRELIMINARY
            )
        ):
            found[row.complaint_id] = row
    return found


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for begin in range(0, len(ids), size):
        yield ids[begin : begin + size]


def _trace(event: EventRow) -> Trace:
    detail: dict[str, Any] = event.detail or {}
    if event.kind == "notice_sent":
        note = str(detail.get("notice") or "")
    elif event.kind in ("clocks_met", "clock_breached", "clock_changed"):
        clocks = detail.get("clocks") or [detail.get("clock")]
        note = ",".join(str(c) for c in clocks if c)
    elif event.kind == "status_changed":
        note = str(detail.get("now") or "")
    else:
        note = ""
    return Trace(event.id, event.kind, event.at, note)


def _message_id(event: EventRow | None) -> str:
    if event is None:
        return ""
    return str((event.detail or {}).get("message_id") or "").strip("<>")


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.2f}"
