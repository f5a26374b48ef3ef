"""The clocks (docs/design.md, "Timing obligations"): what each obligation allows, pure.

A complaint runs several clocks at once, each kept on its own. The names are a contract:

| clock | allows | counted in | pauses | met by |
| --- | --- | --- | --- | --- |
| `eta_notice` | `[clock] eta_notice_days` (1 business day) | working hours | yes | the ETA or the decision |
| `ssl_preliminary` | `ssl_answer_hours` (24 h, BR 4.9.5) | wall clock, 24×7 | never | the first reply, ETA or decision told to the reporter |
| `cimer_answer` | `cimer_answer_days` (30, Law 3071) | calendar days | never | the decision |
| `kvkk_answer` | `kvkk_answer_days` (30, KVKK art. 13) | calendar days | never | the decision |
| `resolution` | the unit's `typical_resolution_days` | working hours | yes | the decision |

"1 business day" is one full working day of hours (9 h with the defaults) counted from
receipt; time outside working hours does not count. Only `routing.businesstime` knows the
calendar; this module says which clocks a complaint gets and what their times are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from intake.settings import ClockSettings, Settings, UnitSettings
from routing.businesstime import WorkingCalendar
from routing.kvkk import CATEGORY as KVKK


class ClockName(StrEnum):
    ETA_NOTICE = "eta_notice"
    SSL_PRELIMINARY = "ssl_preliminary"
    CIMER_ANSWER = "cimer_answer"
    KVKK_ANSWER = "kvkk_answer"
    RESOLUTION = "resolution"


class Measure(StrEnum):
    """How a clock counts time."""

    WALL = "wall"  # every second, 24×7
    CALENDAR = "calendar"  # whole days, weekends and holidays included
    BUSINESS = "business"  # Turkish working hours only


class Meets(StrEnum):
    """The actions that can meet a clock."""

    ETA = "eta"  # the estimated resolution time told to the complainant
    REPLY = "reply"  # a unit's answer told to the complainant
    DECISION = "decision"  # the decision told to the complainant


@dataclass(frozen=True)
class Policy:
    name: ClockName
    measure: Measure
    pausable: bool  # `waiting_on_complainant` stops it; statutory clocks never stop
    met_by: frozenset[Meets]


POLICIES = {
    ClockName.ETA_NOTICE: Policy(
        ClockName.ETA_NOTICE, Measure.BUSINESS, True, frozenset({Meets.ETA, Meets.DECISION})
    ),
    ClockName.SSL_PRELIMINARY: Policy(
        ClockName.SSL_PRELIMINARY,
        Measure.WALL,
        False,
        frozenset({Meets.REPLY, Meets.ETA, Meets.DECISION}),
    ),
    ClockName.CIMER_ANSWER: Policy(
        ClockName.CIMER_ANSWER, Measure.CALENDAR, False, frozenset({Meets.DECISION})
    ),
    ClockName.KVKK_ANSWER: Policy(
        ClockName.KVKK_ANSWER, Measure.CALENDAR, False, frozenset({Meets.DECISION})
    ),
    ClockName.RESOLUTION: Policy(
        ClockName.RESOLUTION, Measure.BUSINESS, True, frozenset({Meets.DECISION})
    ),
}


@dataclass(frozen=True)
class Start:
    """A clock as it starts: its budget (in its own measure) and its deadline."""

    name: ClockName
    measure: Measure
    pausable: bool
    started_at: datetime
    budget: timedelta
    due_at: datetime


@lru_cache(maxsize=8)
def calendar_of(clock: ClockSettings) -> WorkingCalendar:
    """The working calendar the settings describe."""
    return WorkingCalendar.parse(
        timezone=clock.timezone,
        working_hours=clock.working_hours,
        half_day_end=clock.half_day_end,
        extra_closed_days=clock.extra_closed_days,
    )


def clocks_for(
    channel: str,
    received_at: datetime,
    settings: Settings,
    unit: UnitSettings,
    category: str | None = None,
) -> list[Start]:
    """The clocks a new complaint gets: every complaint the ETA notice and the resolution
    target; the SSL problem address the 24-hour clock; a CİMER petition the 30 days; a
    data subject's request (category `kvkk`, on any channel) its own 30 days."""
    names = [ClockName.ETA_NOTICE, ClockName.RESOLUTION]
    if channel == "email_ssl":
        names.append(ClockName.SSL_PRELIMINARY)
    if channel == "cimer":
        names.append(ClockName.CIMER_ANSWER)
    if category == KVKK:
        names.append(ClockName.KVKK_ANSWER)
    return [start(name, received_at, settings, unit) for name in names]


def start(name: ClockName, at: datetime, settings: Settings, unit: UnitSettings) -> Start:
    """Clock `name` started at `at`."""
    policy, clock = POLICIES[name], settings.clock
    calendar = calendar_of(clock)
    budget = {
        ClockName.ETA_NOTICE: calendar.day_length * clock.eta_notice_days,
        ClockName.SSL_PRELIMINARY: timedelta(hours=clock.ssl_answer_hours),
        ClockName.CIMER_ANSWER: timedelta(days=clock.cimer_answer_days),
        ClockName.KVKK_ANSWER: timedelta(days=clock.kvkk_answer_days),
        ClockName.RESOLUTION: calendar.day_length * unit.typical_resolution_days,
    }[name]
    return Start(
        name,
        policy.measure,
        policy.pausable,
        at,
        budget,
        due(policy.measure, at, budget, (), calendar),
    )


def primary(channel: str, category: str | None = None) -> ClockName:
    """The clock whose deadline a ticket shows as "answer due": the SSL address's 24 hours
    first, then a CİMER petition's or a KVKK request's statutory 30 days, else the ETA."""
    if channel == "email_ssl":
        return ClockName.SSL_PRELIMINARY
    if channel == "cimer":
        return ClockName.CIMER_ANSWER
    if category == KVKK:
        return ClockName.KVKK_ANSWER
    return ClockName.ETA_NOTICE


Pause = tuple[datetime, datetime]


def used(
    measure: Measure,
    started_at: datetime,
    at: datetime,
    pauses: Iterable[Pause],
    calendar: WorkingCalendar,
) -> timedelta:
    """How much of its budget a clock has used by `at`: time since its start, counted in its
    measure, less its pauses (an open pause ends at `at`)."""

    def span(begin: datetime, end: datetime) -> timedelta:
        if measure is Measure.BUSINESS:
            return calendar.elapsed(begin, end)
        return max(end - begin, timedelta(0))

    total = span(started_at, at)
    for begin, end in pauses:
        total -= span(max(begin, started_at), min(end, at))
    return max(total, timedelta(0))


def due(
    measure: Measure,
    started_at: datetime,
    budget: timedelta,
    pauses: Sequence[Pause],
    calendar: WorkingCalendar,
) -> datetime:
    """The deadline of a clock whose closed `pauses` are known: its budget, counted in its
    measure from its start, pushed back by each pause."""
    if measure is not Measure.BUSINESS:
        return started_at + budget + sum((end - begin for begin, end in pauses), timedelta(0))
    moment, left = started_at, budget
    for begin, end in sorted(pauses):
        if begin <= moment:
            moment = max(moment, end)
            continue
        before = calendar.elapsed(moment, begin)
        if before >= left:
            break
        left -= before
        moment = end
    return calendar.add(moment, left)


def warnings(name: ClockName, clock: ClockSettings) -> tuple[float, ...]:
    """The parts of a clock's budget at which its unit is warned, before the deadline."""
    if name is ClockName.SSL_PRELIMINARY:
        return tuple(sorted(hours / clock.ssl_answer_hours for hours in clock.ssl_reminder_hours))
    return tuple(sorted(clock.warn_at))
