"""Messages that come back about a complaint: a unit's reply to its ticket, a complainant's
answer to our decision or survey.

A unit acts by replying to its ticket mail: the commands on their own lines are applied in
order, the rest of the mail is an internal note, and a command that is unknown, malformed or
not possible now is answered to the unit with the valid ones (never silently ignored). A
complainant's `KABUL`/`RET` to a decision, or a single digit after the survey, is an answer;
anything else they write is a follow-up, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handling import actions, texts
from handling.actions import Act, Refused
from handling.notices import Audience
from intake.lifecycle import Actor
from intake.settings import Settings
from intake.states import ComplaintStatus
from normalize.commands import Answer, Command, decision_answer, parse_unit_mail, survey_score
from outbound.jobs import Work
from routing.clocks import calendar_of
from store.models import ComplaintRow, NoticeRow


def unit_mail(
    session: Session, settings: Settings, complaint: ComplaintRow, raw_id: int, body: str
) -> list[Work]:
    """Apply the unit's commands in `body`; the work to enqueue after the commit."""
    parsed = parse_unit_mail(
        body,
        prefix=settings.reference.prefix,
        timezone=settings.clock.timezone,
        closes=calendar_of(settings.clock).closes,
    )
    act = Act(
        session, settings, complaint, Actor.UNIT, f"unit:{complaint.unit}", source=f"raw:{raw_id}"
    )
    refused: list[tuple[Command, str]] = []
    for command in parsed.commands:
        owed = len(act.work)
        try:
            with session.begin_nested():
                apply(act, command)
        except Refused as exc:
            del act.work[owed:]
            refused.append((command, str(exc)))
    if parsed.note:
        actions.note(act, parsed.note)
    if parsed.problems:
        act.tell(
            Audience.UNIT, "command_help", texts.command_problems(act.reference, parsed.problems)
        )
    for command, reason in refused:
        act.tell(
            Audience.UNIT,
            "command_help",
            texts.command_refused(act.reference, command.name, reason),
        )
    return act.work


# A command's verb, and the field of the parsed command it takes.
VERBS: dict[str, tuple[Callable[[Act, Any], None], str]] = {
    "eta": (actions.set_eta, "eta"),
    "status": (actions.set_status, "status"),
    "reply": (actions.reply, "text"),
    "resolved": (actions.resolve, "text"),
    "reassign": (actions.reassign, "target"),
    "merge": (actions.merge, "target"),
    "note": (actions.note, "text"),
}


def apply(act: Act, command: Command) -> None:
    """One command, by name (normalize.commands has checked its form)."""
    verb, field = VERBS.get(command.name, (None, ""))
    argument = getattr(command, field, None)
    if verb is None or argument is None:
        raise Refused(f"#{command.name} cannot be applied")
    verb(act, argument)


# The mail commands by the names an operator types (`resolve` reads better than `resolved`).
TYPED = {
    "eta": "eta",
    "status": "status",
    "reply": "reply",
    "resolve": "resolved",
    "reassign": "reassign",
    "merge": "merge",
    "note": "note",
}


def apply_typed(act: Act, action: str, words: str) -> None:
    """An operator's command (`intake ticket`, the console), read with the units' syntax."""
    settings = act.settings
    parsed = parse_unit_mail(
        f"#{TYPED[action]} {words}",
        prefix=settings.reference.prefix,
        timezone=settings.clock.timezone,
        closes=calendar_of(settings.clock).closes,
    )
    if parsed.problems or not parsed.commands:
        reason = parsed.problems[0].reason if parsed.problems else "nothing to do"
        raise Refused(f"{action} {words!r}: {reason}")
    apply(act, parsed.commands[0])


def complainant_message(
    session: Session, settings: Settings, complaint: ComplaintRow, raw_id: int, body: str
) -> tuple[bool, list[Work]]:
    """(whether `body` was an answer rather than a follow-up, the work it makes)."""
    act = Act(
        session, settings, complaint, Actor.COMPLAINANT, "complainant", source=f"raw:{raw_id}"
    )
    status = ComplaintStatus(complaint.status)
    if status is ComplaintStatus.RESOLVED:
        answer = decision_answer(body)
        if answer is Answer.ACCEPT:
            actions.accept(act)
            return True, act.work
        if answer is Answer.REJECT:
            actions.reject(act)
            return True, act.work
    if awaits_rating(session, complaint):
        score = survey_score(body)
        if score is not None:
            actions.rate(act, score)
            return True, act.work
    actions.answered(act)
    return False, act.work


def awaits_rating(session: Session, complaint: ComplaintRow) -> bool:
    """Closed, asked for a rating, and not rated yet."""
    if complaint.status != ComplaintStatus.CLOSED or complaint.satisfaction is not None:
        return False
    asked = session.scalar(
        select(NoticeRow.id)
        .where(NoticeRow.complaint_id == complaint.id, NoticeRow.purpose == "survey")
        .limit(1)
    )
    return asked is not None
