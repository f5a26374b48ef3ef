"""The figures of the report to management, read from the store as of a moment: each
complaint of the period with its clocks' outcomes, the intake counts of the period and of the
two beside it, the clocks' verdicts and durations, the recurring groups, the longest open.

"What happened" comes from the append-only events (reopened, rated, the surveys sent);
durations from the `clocks` rows, in each clock's own measure (`routing.clocks.used`:
working hours or the wall clock). Merged complaints and those dismissed as no complaint are
kept out of every tally. No name, address, phone or handle is read (KVKK minimisation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import mean, median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handling.clocks import used as time_used
from intake.lifecycle import S
from intake.settings import Settings
from intake.states import OPEN
from reports.period import Period
from reports.recurring import LEFT_OUT, recurring_between
from routing import clocks as policy
from routing.clocks import ClockName
from routing.recurring import Grouping
from store.models import ClockRow, ComplaintRow, EventRow

DIMENSIONS = ("channel", "product", "unit", "kind", "category")
NO_CATEGORY = "none"  # summary.csv's value for a complaint with no category (not KVKK)


class Verdict(StrEnum):
    """How a clock stands as of the report's moment."""

    ON_TIME = "on_time"  # met within its budget
    LATE = "late"  # met, past it
    BREACHED = "breached"  # not met, past it
    RUNNING = "running"  # not met, within it (paused ones too)


@dataclass(frozen=True)
class Outcome:
    """One clock of one complaint: its verdict, the hours it took or has used, and by how
    many it went over its budget (0 within it)."""

    clock: str
    verdict: Verdict
    hours: float
    over_hours: float
    due_at: datetime
    met_at: datetime | None


@dataclass(frozen=True)
class Line:
    """One complaint of the period, as complaints.csv shows it."""

    id: int
    reference: str
    channel: str
    received_at: datetime
    product: str
    kind: str
    unit: str
    category: str | None
    status: str
    merged_into: str | None
    counted: bool  # not merged, not dismissed: in the tallies
    reopened: int = 0
    satisfaction: int | None = None
    survey_sent: bool = False
    clocks: dict[str, Outcome] = field(default_factory=dict)

    def value(self, dimension: str) -> str:
        return str(getattr(self, dimension) or NO_CATEGORY)


@dataclass(frozen=True)
class Intake:
    """The counts of one period: everything received, the side exits, the tallies."""

    period: Period
    received: int
    merged: int
    not_a_complaint: int
    by: dict[str, Counter[str]]

    @property
    def counted(self) -> int:
        return self.received - self.merged - self.not_a_complaint


@dataclass(frozen=True)
class ClockFigures:
    name: str
    measure: str
    counts: dict[str, int]  # verdict → complaints
    median_hours: float | None  # of the time to meet, in the clock's measure
    p95_hours: float | None


@dataclass(frozen=True)
class OpenItem:
    reference: str
    product: str
    unit: str
    status: str
    received_at: datetime
    age_days: float


@dataclass(frozen=True)
class Report:
    period: Period
    at: datetime
    timezone: str
    lines: tuple[Line, ...]
    intake: tuple[Intake, Intake, Intake]  # the period, the one before, a year before
    clocks: tuple[ClockFigures, ...]
    grouping: Grouping
    longest_open: tuple[OpenItem, ...]
    unit_names: dict[str, str] = field(default_factory=dict)  # code → the unit's name
    list_limit: int = 100  # the most rows a list of the document shows (`[report]`)

    @property
    def counted(self) -> list[Line]:
        return [line for line in self.lines if line.counted]

    @property
    def breaches(self) -> list[tuple[Line, Outcome]]:
        """Every clock met late or breached, by its deadline."""
        late = (Verdict.LATE, Verdict.BREACHED)
        found = [(ln, o) for ln in self.counted for o in ln.clocks.values() if o.verdict in late]
        return sorted(found, key=lambda pair: (pair[1].due_at, pair[0].reference, pair[1].clock))

    @property
    def breaches_listed(self) -> list[tuple[Line, Outcome]]:
        """The breaches the document lists: all of them, or the `list_limit` largest
        overruns, still by deadline (complaints.csv has every one)."""
        found = self.breaches
        if len(found) <= self.list_limit:
            return found
        worst = sorted(found, key=lambda pair: -pair[1].over_hours)[: self.list_limit]
        return sorted(worst, key=lambda pair: (pair[1].due_at, pair[0].reference, pair[1].clock))

    @property
    def scores(self) -> Counter[int]:
        return Counter(ln.satisfaction for ln in self.counted if ln.satisfaction is not None)

    @property
    def surveys_sent(self) -> int:
        return sum(ln.survey_sent for ln in self.counted)

    @property
    def mean_score(self) -> float | None:
        scores = list(self.scores.elements())
        return mean(scores) if scores else None

    @property
    def response_rate(self) -> float | None:
        """Ratings received / surveys sent."""
        return sum(self.scores.values()) / self.surveys_sent if self.surveys_sent else None

    @property
    def reopened(self) -> list[Line]:
        return [ln for ln in self.counted if ln.reopened]


def collect(session: Session, settings: Settings, period: Period, at: datetime) -> Report:
    """Every figure of the report, as of `at`."""
    tz = settings.clock.timezone
    lines = _lines(session, settings, period, at)
    before = _lines(session, settings, period.previous(), at, bare=True)
    year_ago = _lines(session, settings, period.year_before(), at, bare=True)
    return Report(
        period=period,
        at=at,
        timezone=tz,
        lines=tuple(lines),
        intake=(
            intake_of(period, lines),
            intake_of(period.previous(), before),
            intake_of(period.year_before(), year_ago),
        ),
        clocks=tuple(clock_figures(lines)),
        grouping=recurring_between(session, settings, period.first_day, period.last_day),
        longest_open=tuple(_longest_open(session, settings, at)),
        unit_names={unit.code: unit.name for unit in settings.unit},
        list_limit=settings.report.list_limit,
    )


def intake_of(period: Period, lines: Sequence[Line]) -> Intake:
    counted = [line for line in lines if line.counted]
    return Intake(
        period=period,
        received=len(lines),
        merged=sum(line.status == S.MERGED for line in lines),
        not_a_complaint=sum(line.status == S.NOT_A_COMPLAINT for line in lines),
        by={d: Counter(line.value(d) for line in counted) for d in DIMENSIONS},
    )


def clock_figures(lines: Sequence[Line]) -> Iterator[ClockFigures]:
    """For each clock the counted complaints have: the verdicts and the time to meet."""
    for name in ClockName:
        outcomes = [ln.clocks[name] for ln in lines if ln.counted and name in ln.clocks]
        if not outcomes:
            continue
        taken = sorted(o.hours for o in outcomes if o.met_at is not None)
        yield ClockFigures(
            name=name.value,
            measure=policy.POLICIES[name].measure.value,
            counts={v.value: sum(o.verdict is v for o in outcomes) for v in Verdict},
            median_hours=median(taken) if taken else None,
            p95_hours=percentile(taken, 0.95) if taken else None,
        )


def percentile(ordered: Sequence[float], part: float) -> float:
    """The nearest-rank percentile of sorted values: the smallest one that at least `part`
    of them do not exceed (a value that occurred, not an interpolation)."""
    return ordered[max(math.ceil(part * len(ordered)), 1) - 1]


def _lines(
    session: Session, settings: Settings, period: Period, at: datetime, *, bare: bool = False
) -> list[Line]:
    """The complaints received in the period (not auto-replies), oldest first; `bare`: only
    what the intake counts need, without their events and clocks."""
    start, end = period.bounds(settings.clock.timezone)
    rows = session.scalars(
        select(ComplaintRow)
        .where(
            ComplaintRow.received_at >= start,
            ComplaintRow.received_at < end,
            ComplaintRow.received_at <= at,
            ComplaintRow.auto_submitted.is_(False),
        )
        .order_by(ComplaintRow.received_at, ComplaintRow.id)
    ).all()
    if bare:
        return [_line(row, [], [], settings, at) for row in rows]
    ids = [row.id for row in rows]
    events = _by_complaint(session, EventRow, ids, EventRow.at <= at)
    clocks = _by_complaint(session, ClockRow, ids, ClockRow.started_at <= at)
    return [_line(r, events.get(r.id, []), clocks.get(r.id, []), settings, at) for r in rows]


def _line(
    row: ComplaintRow,
    events: Sequence[EventRow],
    clocks: Sequence[ClockRow],
    settings: Settings,
    at: datetime,
) -> Line:
    rated = [e for e in events if e.kind == "rated"]
    return Line(
        id=row.id,
        reference=row.reference,
        channel=row.channel,
        received_at=row.received_at,
        product=row.product,
        kind=row.kind,
        unit=row.unit,
        category=row.category,
        status=row.status,
        merged_into=row.merged_into,
        counted=row.status not in [str(s) for s in LEFT_OUT],
        reopened=sum(
            e.kind == "status_changed" and (e.detail or {}).get("now") == S.REOPENED for e in events
        ),
        satisfaction=int(rated[0].detail["score"]) if rated else None,
        survey_sent=any(
            e.kind == "notice_sent" and (e.detail or {}).get("notice") == "survey" for e in events
        ),
        clocks={c.name: outcome(c, settings, at) for c in clocks},
    )


def outcome(row: ClockRow, settings: Settings, at: datetime) -> Outcome:
    """The clock as of `at`, judged by the time it used in its own measure against its
    budget (a deadline moved by a pause is not stored until the pause ends)."""
    met = row.met_at is not None and row.met_at <= at
    end = row.met_at if met and row.met_at is not None else at
    used = time_used(row, end, settings)
    over = used - timedelta(seconds=row.budget_seconds)
    if met:
        verdict = Verdict.LATE if over > timedelta(0) else Verdict.ON_TIME
    else:
        verdict = Verdict.BREACHED if over >= timedelta(0) else Verdict.RUNNING
    return Outcome(
        clock=row.name,
        verdict=verdict,
        hours=_hours(used),
        over_hours=_hours(max(over, timedelta(0))),
        due_at=row.due_at,
        met_at=row.met_at if met else None,
    )


def _by_complaint(session: Session, model: Any, ids: Sequence[int], *where: Any) -> dict:
    """The rows of `model` of each complaint, in id order (in chunks: a year has thousands)."""
    found: dict[int, list[Any]] = {}
    for begin in range(0, len(ids), 500):
        chunk = ids[begin : begin + 500]
        query = select(model).where(model.complaint_id.in_(chunk), *where).order_by(model.id)
        for row in session.scalars(query):
            found.setdefault(row.complaint_id, []).append(row)
    return found


def _longest_open(session: Session, settings: Settings, at: datetime) -> Iterator[OpenItem]:
    """The complaints still open (whenever received), oldest first."""
    rows = session.scalars(
        select(ComplaintRow)
        .where(
            ComplaintRow.status.in_([str(s) for s in OPEN]),
            ComplaintRow.received_at <= at,
            ComplaintRow.auto_submitted.is_(False),
        )
        .order_by(ComplaintRow.received_at, ComplaintRow.id)
        .limit(settings.report.longest_open)
    )
    for row in rows:
        age = (at - row.received_at) / timedelta(days=1)
        yield OpenItem(row.reference, row.product, row.unit, row.status, row.received_at, age)


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600
