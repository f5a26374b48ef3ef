"""The scheduler's pass: which clocks have reached a threshold or their deadline, and the
notices that owes, written to the store (each once) for the outbound stage to send.

Deadlines are stored, not queued (a queue cannot hold 30 days, nor a clock that pauses),
so each pass sweeps every clock not yet met, as of `at`:
- at the parts of `[clock] warn_at` (the SSL clock: `ssl_reminder_hours`) the unit is warned;
  for `eta_notice` the first warning asks it for an estimated time;
- at the deadline of `eta_notice` with no ETA given, the complainant is told the unit's typical
  resolution time and the supervisor hears of it; at any other deadline the breach is
  recorded, and the unit and the supervisor are told.
A notice's key (clock, deadline version, threshold) is its claim: passes that overlap, or run
again after a restart, never send one twice. A business-time clock notifies only within
working hours; the wall-clock SSL clock at any hour. When a pass comes late, only the latest
threshold passed is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from handling import actions, clocks, texts
from handling.actions import Act
from handling.notices import Audience, owe
from handling.texts import Text
from intake.lifecycle import Actor
from intake.settings import Settings
from intake.states import OPEN, ComplaintStatus, JobState
from outbound.jobs import Job, Work
from routing.clocks import ClockName, Measure, calendar_of, warnings
from store import repo
from store.models import ClockRow, ComplaintRow, NoticeRow

BATCH = 500
WATCHED = OPEN | {ComplaintStatus.RESOLVED}


@dataclass(frozen=True)
class Owed:
    """One notice a pass wrote: what it is, for whom, and the work that sends it."""

    reference: str
    clock: str
    what: str  # "warning 50%", "deadline", …
    audience: Audience
    work: Work

    def describe(self) -> str:
        return f"{self.reference} {self.clock} {self.what} → {self.audience}"


def sweep(
    session: Session, settings: Settings, at: datetime, after_id: int = 0
) -> tuple[list[Owed], int | None]:
    """One batch of the pass, of clocks with ids above `after_id`: the notices owed and the
    last id looked at (None when there are no more)."""
    rows = session.execute(
        select(ClockRow, ComplaintRow)
        .join(ComplaintRow, ComplaintRow.id == ClockRow.complaint_id)
        .where(
            ClockRow.id > after_id,
            ClockRow.met_at.is_(None),
            ClockRow.paused_since.is_(None),
            ClockRow.notified < 1.0,
            ClockRow.next_check_at <= at,
            ComplaintRow.status.in_(WATCHED),
        )
        .order_by(ClockRow.id)
        .limit(BATCH)
    ).all()
    owed: list[Owed] = []
    for row, complaint in rows:
        owed += _check(session, settings, row, complaint, at)
    return owed, (rows[-1][0].id if len(rows) == BATCH else None)


def _check(
    session: Session, settings: Settings, row: ClockRow, complaint: ComplaintRow, at: datetime
) -> list[Owed]:
    part = clocks.used_part(row, at, settings)
    if part >= 1 and row.breached_at is None and row.name != ClockName.ETA_NOTICE:
        row.breached_at = row.due_at
        repo.add_event(
            session,
            "clock_breached",
            complaint_id=complaint.id,
            actor="system:scheduler",
            clock=row.name,
            due_at=row.due_at,
        )
    calendar = calendar_of(settings.clock)
    if row.measure == Measure.BUSINESS and not calendar.is_open(at):
        row.next_check_at = calendar.next_opening(at)  # told in working hours only
        return []
    notice = _Notices(session, settings, row, complaint)
    if part >= 1:
        row.notified = 1.0
        return notice.deadline(at)
    passed = [p for p in warnings(ClockName(row.name), settings.clock) if part >= p]
    if not passed or max(passed) <= row.notified:
        row.next_check_at = clocks.next_check(row, settings)
        return []
    row.notified = max(passed)
    row.next_check_at = clocks.next_check(row, settings)
    return notice.warning(max(passed))


@dataclass
class _Notices:
    session: Session
    settings: Settings
    row: ClockRow
    complaint: ComplaintRow

    @property
    def tz(self) -> str:
        return self.settings.clock.timezone

    def owe(self, step: str, purpose: str, audience: Audience, text: Text, what: str) -> list[Owed]:
        key = f"clock:{self.row.id}:v{self.row.version}:{step}:{audience}"
        work = owe(
            self.session, self.complaint, key=key, purpose=purpose, audience=audience, text=text
        )
        if work is None:
            return []
        return [Owed(self.complaint.reference, self.row.name, what, audience, work)]

    def warning(self, part: float) -> list[Owed]:
        ref, due = self.complaint.reference, self.row.due_at
        first = part == min(warnings(ClockName(self.row.name), self.settings.clock))
        if self.row.name == ClockName.ETA_NOTICE and first:
            text = texts.eta_reminder(ref, due, self.tz)
        else:
            text = texts.warning(ref, self.row.name, part, due, self.tz)
        return self.owe(f"{part:.4f}", "reminder", Audience.UNIT, text, f"warning {part:.0%}")

    def deadline(self, at: datetime) -> list[Owed]:
        if self.row.name == ClockName.ETA_NOTICE:
            return self._typical_eta(at)
        ref, due = self.complaint.reference, self.row.due_at
        text = texts.breach(ref, self.row.name, due, self.tz)
        owed = self.owe("deadline", "breach", Audience.UNIT, text, "deadline missed")
        if self.settings.clock.escalation_email:
            owed += self.owe("deadline", "breach", Audience.ESCALATION, text, "deadline missed")
        return owed

    def _typical_eta(self, at: datetime) -> list[Owed]:
        """No ETA from the unit within one business day: the complainant gets the unit's
        typical resolution time, the supervisor hears of it, and the obligation is met."""
        unit = self.settings.unit_named(self.complaint.unit)
        calendar = calendar_of(self.settings.clock)
        eta = calendar.add_business_days(self.complaint.received_at, unit.typical_resolution_days)
        if eta <= at:
            eta = calendar.add_business_days(at, 1)
        ref = self.complaint.reference
        owed = self.owe(
            "deadline",
            "eta",
            Audience.COMPLAINANT,
            texts.eta(ref, eta, self.tz, typical=True),
            "typical ETA",
        )
        if not owed:
            return []
        self.complaint.eta_at = self.complaint.eta_at or eta
        self.row.met_at, self.row.met_by = at, "scheduler: the unit's typical resolution time"
        repo.add_event(
            self.session,
            "eta_defaulted",
            complaint_id=self.complaint.id,
            actor="system:scheduler",
            eta=eta,
        )
        if self.settings.clock.escalation_email:
            text = texts.eta_defaulted(ref, unit.name, eta, self.tz)
            owed += self.owe(
                "deadline", "eta_defaulted", Audience.ESCALATION, text, "no ETA from the unit"
            )
        return owed


def sweep_all(sessions: sessionmaker[Session], settings: Settings, at: datetime) -> list[Owed]:
    """The whole pass, a transaction per batch."""
    owed: list[Owed] = []
    after: int | None = 0
    while after is not None:
        with sessions.begin() as session:
            found, after = sweep(session, settings, at, after)
        owed += found
    with sessions.begin() as session:
        owed += close_unanswered(session, settings, at)
    return owed


def left_unsent(session: Session, besides: set[int]) -> list[Owed]:
    """Notices written before and not sent yet, but those in `besides`: what a pass (or an
    action) that was killed after writing its notices left for someone to send."""
    rows = session.execute(
        select(NoticeRow, ComplaintRow.reference)
        .join(ComplaintRow, ComplaintRow.id == NoticeRow.complaint_id)
        .where(NoticeRow.state == JobState.PENDING)
        .order_by(NoticeRow.id)
    )
    return [
        Owed(ref, "notice", f"{row.purpose} (left unsent)", Audience(row.audience), work)
        for row, ref in rows
        if row.id not in besides
        for work in [Work(Job.NOTICE, row.id, row.queue)]
    ]


def close_unanswered(session: Session, settings: Settings, at: datetime) -> list[Owed]:
    """Decisions nobody answered within `[clock] close_resolved_after_days`: closed by the
    desk, and the complainant asked for a rating (ISO 10002: handling ends)."""
    days = settings.clock.close_resolved_after_days
    if days <= 0:
        return []
    owed = []
    stale = session.scalars(
        select(ComplaintRow)
        .where(
            ComplaintRow.status == ComplaintStatus.RESOLVED,
            ComplaintRow.resolved_at <= at - timedelta(days=days),
        )
        .order_by(ComplaintRow.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    for complaint in stale:
        act = Act(
            session,
            settings,
            complaint,
            Actor.SYSTEM,
            "system:scheduler",
            source=f"unanswered:{complaint.id}",
            at=at,
        )
        actions.close(act)
        owed += [
            Owed(complaint.reference, "decision", "closed unanswered", Audience.COMPLAINANT, work)
            for work in act.work
        ]
    return owed
