"""The clocks of each complaint, kept in the store: started, paused, resumed, met, listed.

What each clock allows and how it counts is `routing.clocks` (pure); this module keeps the
rows. A clock is met by the first action its policy names; `waiting_on_complainant` pauses
only the clocks whose policy allows it (never the statutory ones); a reopened complaint
starts its resolution clock over, as a new deadline version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.settings import Settings
from routing import clocks as policy
from routing.clocks import ClockName, Measure, Meets, Pause
from store import repo
from store.models import ClockRow, ComplaintRow


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


def state_of(row: ClockRow, at: datetime) -> ClockState:
    """Breached once past its deadline unanswered (answered late, the breach stays on
    record); met once answered in time; paused while waiting on the complainant; else
    running."""
    if row.breached_at is not None:
        return ClockState.BREACHED
    if row.met_at is not None:
        return ClockState.MET
    if row.paused_since is not None:  # its deadline moves on when the pause ends
        return ClockState.PAUSED
    return ClockState.BREACHED if at >= row.due_at else ClockState.RUNNING


def values_for(
    complaint_id: int,
    channel: str,
    received_at: datetime,
    settings: Settings,
    unit_code: str,
    category: str | None = None,
) -> list[dict[str, object]]:
    """The clock rows of a new complaint as INSERT values (a batch of thousands at once)."""
    unit = settings.unit_named(unit_code)
    return [
        _values(complaint_id, start, settings)
        for start in policy.clocks_for(channel, received_at, settings, unit, category)
    ]


def primary_due(
    channel: str,
    received_at: datetime,
    settings: Settings,
    unit_code: str,
    category: str | None = None,
) -> datetime:
    """The deadline a new complaint's ticket shows (its primary clock's)."""
    unit = settings.unit_named(unit_code)
    name = policy.primary(channel, category)
    return policy.start(name, received_at, settings, unit).due_at


def ensure(
    session: Session,
    complaint: ComplaintRow,
    name: ClockName,
    started_at: datetime,
    settings: Settings,
) -> ClockRow | None:
    """Start clock `name` on an existing complaint (a copy through the SSL box); None when it
    runs already."""
    found = clock_of(session, complaint.id, name)
    if found is not None:
        return None
    start = policy.start(name, started_at, settings, settings.unit_named(complaint.unit))
    row = _row(complaint.id, start, settings)
    session.add(row)
    return row


def clock_of(session: Session, complaint_id: int, name: ClockName) -> ClockRow | None:
    return session.scalars(
        select(ClockRow).where(ClockRow.complaint_id == complaint_id, ClockRow.name == name)
    ).one_or_none()


def clocks_of(session: Session, complaint_id: int) -> list[ClockRow]:
    return list(
        session.scalars(
            select(ClockRow).where(ClockRow.complaint_id == complaint_id).order_by(ClockRow.id)
        )
    )


def meet(session: Session, complaint_id: int, action: Meets, at: datetime, by: str) -> list[str]:
    """Every open clock of the complaint that `action` meets is met now; their names."""
    met = []
    for row in clocks_of(session, complaint_id):
        if row.met_at is None and action in policy.POLICIES[ClockName(row.name)].met_by:
            _close_pause(row, at)
            row.met_at, row.met_by = at, by
            met.append(row.name)
    if met:
        repo.add_event(
            session, "clocks_met", complaint_id=complaint_id, clocks=met, by=by, action=action
        )
    return met


def stop_all(session: Session, complaint_id: int, at: datetime, by: str) -> None:
    """A merged or dismissed complaint owes nothing more: its open clocks end, as met."""
    for row in clocks_of(session, complaint_id):
        if row.met_at is None:
            _close_pause(row, at)
            row.met_at, row.met_by = at, by


def pause(session: Session, complaint_id: int, at: datetime) -> list[str]:
    """Waiting on the complainant: the pausable clocks stop (their names)."""
    paused = []
    for row in clocks_of(session, complaint_id):
        if row.pausable and row.met_at is None and row.paused_since is None:
            row.paused_since = at
            paused.append(row.name)
    return paused


def resume(session: Session, complaint_id: int, at: datetime, settings: Settings) -> list[str]:
    """The wait is over: paused clocks go on, their deadlines pushed back by the pause."""
    calendar = policy.calendar_of(settings.clock)
    resumed = []
    for row in clocks_of(session, complaint_id):
        if row.paused_since is None:
            continue
        _close_pause(row, at)
        row.due_at = policy.due(
            Measure(row.measure),
            row.started_at,
            timedelta(seconds=row.budget_seconds),
            pauses_of(row),
            calendar,
        )
        row.next_check_at = next_check(row, settings)
        resumed.append(row.name)
    return resumed


def restart(
    session: Session, complaint: ComplaintRow, name: ClockName, at: datetime, settings: Settings
) -> ClockRow:
    """Start clock `name` over from `at` (a rejected decision reopens the complaint): a new
    deadline version, whose notices go out again."""
    start = policy.start(name, at, settings, settings.unit_named(complaint.unit))
    row = clock_of(session, complaint.id, name)
    if row is None:
        row = _row(complaint.id, start, settings)
        session.add(row)
        return row
    row.started_at, row.due_at = start.started_at, start.due_at
    row.budget_seconds = int(start.budget.total_seconds())
    row.paused, row.paused_since = [], None
    row.met_at = row.met_by = row.breached_at = None
    row.version, row.notified = (row.version or 1) + 1, 0.0
    row.next_check_at = next_check(row, settings)
    return row


def next_check(row: ClockRow, settings: Settings) -> datetime:
    """When the clock next needs a look: its next threshold after what it has been
    notified of, else its deadline."""
    parts = [*policy.warnings(ClockName(row.name), settings.clock), 1.0]
    part = min(p for p in parts if p > (row.notified or 0.0)) if row.notified < 1 else 1.0
    return policy.due(
        Measure(row.measure),
        row.started_at,
        timedelta(seconds=row.budget_seconds) * part,
        pauses_of(row),
        policy.calendar_of(settings.clock),
    )


def pauses_of(row: ClockRow, until: datetime | None = None) -> list[Pause]:
    """The clock's pauses; an open one ends at `until` (left out without it)."""
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in row.paused or []]
    if row.paused_since is not None and until is not None:
        pauses.append((row.paused_since, until))
    return pauses


def used(row: ClockRow, at: datetime, settings: Settings) -> timedelta:
    """The time the clock has used by `at`, in its own measure, less its pauses."""
    return policy.used(
        Measure(row.measure),
        row.started_at,
        at,
        pauses_of(row, at),
        policy.calendar_of(settings.clock),
    )


def used_part(row: ClockRow, at: datetime, settings: Settings) -> float:
    """How much of its budget the clock has used by `at` (1.0: its deadline)."""
    spent = used(row, at, settings)
    return spent / timedelta(seconds=row.budget_seconds) if row.budget_seconds else 1.0


@dataclass(frozen=True)
class Listed:
    """One clock as `intake clocks` and `intake ticket … show` print it."""

    reference: str
    name: str
    state: ClockState
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    breached_at: datetime | None
    version: int

    def to_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "name": self.name,
            "state": self.state.value,
            "started_at": self.started_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "breached_at": self.breached_at.isoformat() if self.breached_at else None,
            "version": self.version,
        }


def listing(session: Session, at: datetime, reference: str | None = None) -> list[Listed]:
    """The clocks of one complaint, or of every complaint, soonest deadline first."""
    query = select(ComplaintRow.reference, ClockRow).join(
        ClockRow, ClockRow.complaint_id == ComplaintRow.id
    )
    if reference is not None:
        query = query.where(ComplaintRow.reference == reference)
    rows = session.execute(query.order_by(ClockRow.due_at, ClockRow.id)).all()
    return [
        Listed(
            ref,
            row.name,
            state_of(row, at),
            row.started_at,
            row.due_at,
            row.met_at,
            row.breached_at,
            row.version,
        )
        for ref, row in rows
    ]


def _close_pause(row: ClockRow, at: datetime) -> None:
    if row.paused_since is None:
        return
    row.paused = [*(row.paused or []), [row.paused_since.isoformat(), at.isoformat()]]
    row.paused_since = None


def _values(complaint_id: int, start: policy.Start, settings: Settings) -> dict[str, object]:
    first = min(policy.warnings(start.name, settings.clock), default=1.0)
    calendar = policy.calendar_of(settings.clock)
    return {
        "next_check_at": policy.due(
            start.measure, start.started_at, start.budget * first, (), calendar
        ),
        "complaint_id": complaint_id,
        "name": start.name.value,
        "measure": start.measure.value,
        "pausable": start.pausable,
        "budget_seconds": int(start.budget.total_seconds()),
        "started_at": start.started_at,
        "due_at": start.due_at,
        "paused": [],
        "version": 1,
        "notified": 0.0,
    }


def _row(complaint_id: int, start: policy.Start, settings: Settings) -> ClockRow:
    return ClockRow(**_values(complaint_id, start, settings))
