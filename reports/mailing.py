"""The report to management, mailed by the scheduler: last month's on the first working day
of each month (and, with `[report] yearly`, last year's with January's), to
`[report] management_email` (seed 001: complaint data goes to management every month).

Each report owed has one `report_runs` row, and its key ("monthly:2026-10", "yearly:2026") is
unique: the claim. The first pass from the opening of the first working day on builds the
files once, keeps them as blobs and inserts the row; then it sends. A restart, another pass or
a second instance finds the row and sends nothing twice; a retry sends the same bytes. A relay
that fails for the moment is tried again with backoff (`RETRY`); one that refuses the mail for
good leaves the row `failed`, shown by `intake status`, and `intake report --mail` sends it by
hand. A desk that was down on the first working day sends the report when it comes back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake import clock
from intake.errors import PermanentError, TemporaryError
from intake.privacy import mask_email
from intake.settings import Settings
from intake.states import JobState
from outbound import smtp
from outbound.compose import make_message_id
from reports.monthly import Period, build_files
from routing.clocks import calendar_of
from store import repo
from store.models import BlobRow, ReportRunRow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # a claim older than this is a dead sender's
RETRY = (timedelta(minutes=1), timedelta(hours=1))  # first retry, and the longest wait
BUILD_RETRY = timedelta(minutes=30)  # after a report that could not be built at all

TYPES = {
    ".html": "text/html",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
}

Build = Callable[[Session, Settings, Period, datetime], dict[str, bytes]]


@dataclass(frozen=True)
class Owed:
    """A report the desk owes management as of some moment."""

    key: str  # the claim: "monthly:2026-10" or "yearly:2026"
    period: Period

    @property
    def title(self) -> str:
        if self.period.month is None:
            return f"Yıllık şikâyet raporu / Yearly complaint report {self.period.label}"
        return f"Aylık şikâyet raporu / Monthly complaint report {self.period.label}"


def first_working_day(year: int, month: int, settings: Settings) -> datetime:
    """The opening of the first working day of the month (Turkish business calendar)."""
    calendar = calendar_of(settings.clock)
    day = date(year, month, 1)
    while (hours := calendar.hours_of(day)) is None:
        day += timedelta(days=1)
    return hours[0]


def owed(settings: Settings, at: datetime) -> list[Owed]:
    """The reports due by `at`: the month before (and in January, with `yearly`, the year
    before) once the first working day of `at`'s month has opened; none without an address."""
    if not settings.report.management_email:
        return []
    local = at.astimezone(ZoneInfo(settings.clock.timezone))
    if at < first_working_day(local.year, local.month, settings):
        return []
    this = Period(local.year, local.month)
    due = [Owed(f"monthly:{this.previous().label}", this.previous())]
    if local.month == 1 and settings.report.yearly:
        due.append(Owed(f"yearly:{local.year - 1}", Period(local.year - 1)))
    return due


def settled(sessions: sessionmaker[Session], keys: list[str]) -> set[str]:
    """Those of `keys` whose report is done with: sent, or refused for good."""
    if not keys:
        return set()
    with sessions() as session:
        found = session.scalars(
            select(ReportRunRow.key).where(
                ReportRunRow.key.in_(keys), ReportRunRow.state.in_([JobState.SENT, JobState.FAILED])
            )
        )
        return set(found)


_unbuildable: dict[str, datetime] = {}  # key → not before: a report that failed to build


def run_due(
    sessions: sessionmaker[Session], settings: Settings, at: datetime, build: Build = build_files
) -> list[str]:
    """Build and send what `owed` says is due and no pass has sent; returns what became of
    each report it touched ("monthly:2026-10: sent", …). Never raises for a relay's fault or
    a report that cannot be built: the scheduler's clocks must go on."""
    done = []
    for item in owed(settings, at):
        with sessions() as session:
            row = session.scalar(select(ReportRunRow).where(ReportRunRow.key == item.key))
            state = None if row is None else row.state
        if state in (JobState.SENT, JobState.FAILED):
            continue
        if state is None and not _create(sessions, settings, item, at, build):
            continue
        outcome = send_pending(sessions, settings, item.key, at)
        if outcome:
            done.append(f"{item.key}: {outcome}")
    return done


def _create(
    sessions: sessionmaker[Session], settings: Settings, item: Owed, at: datetime, build: Build
) -> bool:
    """Build the files of `item` and insert its row; False when it could not be built (tried
    again after `BUILD_RETRY`). Another instance inserting it first is no fault."""
    if _unbuildable.get(item.key, at) > at:
        return False
    try:
        with sessions() as session:
            files = build(session, settings, item.period, at)
    except Exception:  # a bug in a report must not stop the clocks: logged, tried later
        log.exception("%s: the report could not be built; trying again later", item.key)
        _unbuildable[item.key] = at + BUILD_RETRY
        return False
    blobs = {hashlib.sha256(data).hexdigest(): data for data in files.values()}
    listed = [
        {
            "filename": name,
            "content_type": _type_of(name),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        for name, data in files.items()
    ]
    try:
        with sessions.begin() as session:
            repo.put_blobs(session, blobs)
            session.add(
                ReportRunRow(
                    key=item.key,
                    period=item.period.label,
                    recipient=settings.report.management_email,
                    state=JobState.PENDING,
                    files=listed,
                    created_at=at,
                    attempts=0,
                )
            )
    except IntegrityError:  # another pass or instance made it first: it is theirs to send
        log.info("%s: already built elsewhere", item.key)
    return True


def send_now(
    sessions: sessionmaker[Session],
    settings: Settings,
    period: Period,
    at: datetime,
    files: dict[str, bytes] | None = None,
) -> str:
    """`intake report --mail`: send `period`'s report now (`files`, or built afresh), under
    its own key, whatever became of it before (refused, or sent and asked for again); the
    earlier row is kept under another key. Returns what `send_pending` says."""
    if not settings.report.management_email:
        return "not sent: [report] management_email is not set"
    item = Owed(f"{'monthly' if period.month else 'yearly'}:{period.label}", period)
    with sessions.begin() as session:
        session.execute(
            update(ReportRunRow)
            .where(ReportRunRow.key == item.key)
            .values(key=f"{item.key}@{at.isoformat()}")  # the earlier run, kept aside
        )
    _unbuildable.pop(item.key, None)
    build: Build = build_files if files is None else (lambda *_: files)
    if not _create(sessions, settings, item, at, build):
        return "not sent: the report could not be built (see the log)"
    return send_pending(sessions, settings, item.key, at) or "not sent: in another's hands"


def send_pending(
    sessions: sessionmaker[Session], settings: Settings, key: str, at: datetime
) -> str:
    """Claim the row `key` and send it, if it is pending and its retry is due: "sent",
    "waiting: …" (tried again later), "failed: …" (for good), or "" when nothing was done."""
    with sessions.begin() as session:
        result = session.execute(
            update(ReportRunRow)
            .where(
                ReportRunRow.key == key,
                ReportRunRow.state == JobState.PENDING,
                or_(ReportRunRow.next_attempt_at.is_(None), ReportRunRow.next_attempt_at <= at),
                or_(ReportRunRow.claimed_at.is_(None), ReportRunRow.claimed_at < at - LEASE),
            )
            .values(claimed_at=at, attempts=ReportRunRow.attempts + 1)
        )
        claimed = cast(CursorResult[Any], result).rowcount == 1  # an UPDATE's result
    if not claimed:
        return ""
    with sessions() as session:
        row = session.scalars(select(ReportRunRow).where(ReportRunRow.key == key)).one()
        recipient, attempts = row.recipient, row.attempts
        try:
            message = report_mail(session, settings, row)
        except PermanentError as exc:
            return _fail(sessions, key, exc)
    try:
        smtp.send(settings.smtp, message, [recipient])
    except PermanentError as exc:
        return _fail(sessions, key, exc)
    except (TemporaryError, OSError) as exc:
        wait = min(RETRY[0] * 2 ** (attempts - 1), RETRY[1])
        with sessions.begin() as session:
            session.execute(
                update(ReportRunRow)
                .where(ReportRunRow.key == key)
                .values(claimed_at=None, next_attempt_at=at + wait, error=str(exc)[:1000])
            )
        log.warning("%s: the report waits %s for the relay: %s", key, wait, exc)
        return f"waiting: {exc}"
    _record(
        sessions,
        key,
        state=JobState.SENT,
        event="report_sent",
        message_id=str(message["Message-ID"]),
        sent_at=clock.now(),
        to=mask_email(recipient),
    )
    log.info("%s: the report went to %s", key, mask_email(recipient))
    return "sent"


def _fail(sessions: sessionmaker[Session], key: str, exc: PermanentError) -> str:
    _record(sessions, key, state=JobState.FAILED, error=str(exc), event="report_failed")
    log.warning("%s: the report failed for good: %s", key, exc)
    return f"failed: {exc}"


def _record(
    sessions: sessionmaker[Session],
    key: str,
    *,
    state: JobState,
    event: str,
    error: str | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
    to: str | None = None,
) -> None:
    with sessions.begin() as session:
        row = session.scalars(select(ReportRunRow).where(ReportRunRow.key == key)).one()
        row.state, row.error = state, (error or "")[:1000] or None
        row.message_id, row.sent_at = message_id, sent_at
        detail: dict[str, Any] = {"message_id": message_id, "to": to, "error": error}
        repo.add_event(
            session,
            event,
            actor="system:scheduler",
            report=key,
            **{name: value for name, value in detail.items() if value is not None},
        )


def report_mail(session: Session, settings: Settings, row: ReportRunRow) -> EmailMessage:
    """The mail of a report row: a short text and its files attached, from the blobs."""
    period = Period.parse(row.period)
    item = Owed(row.key, period)
    msg = EmailMessage()
    msg["From"] = settings.smtp.from_address
    msg["To"] = row.recipient
    msg["Subject"] = item.title
    msg["Date"] = format_datetime(clock.now().astimezone(ZoneInfo(settings.clock.timezone)))
    msg["Message-ID"] = make_message_id(f"REPORT-{period.label}", "report", settings)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no autoresponder answers this
    msg["X-Auto-Response-Suppress"] = "All"
    names = ", ".join(str(f["filename"]) for f in row.files)
    msg.set_content(
        f"{item.title}\n\n"
        "Şikâyet masasının ISO 10002 raporu ektedir: kanal, ürün, birim ve türe göre "
        "başvurular, süreler, tekrarlayan şikâyetler, memnuniyet.\n"
        "The complaint desk's ISO 10002 report is attached: intake by channel, product, unit "
        "and kind, the clocks, recurring complaints, satisfaction.\n\n"
        f"Ekler / Files: {names}\n"
    )
    for item_file in row.files:
        data = session.get(BlobRow, item_file["sha256"])
        if data is None or (not data.data and data.size):
            raise PermanentError(f"{row.key}: the file {item_file['filename']} is gone")
        maintype, _, subtype = str(item_file["content_type"]).partition("/")
        msg.add_attachment(
            data.data, maintype=maintype, subtype=subtype, filename=str(item_file["filename"])
        )
    return msg


def _type_of(name: str) -> str:
    return next(
        (kind for ext, kind in TYPES.items() if name.endswith(ext)), "application/octet-stream"
    )
