"""Messages that come back about a complaint: a unit's reply to its ticket, a complainant's
answer to our decision or survey.

A unit acts by replying to its ticket mail: the commands on their own lines are applied in
order, the rest of the mail is an internal note, and a command that is unknown, malformed or
not possible now is answered to the unit with the valid ones (never silently ignored). A
complainant's `KABUL`/`RET` to a decision, or a single digit after the survey, is an answer;
anything else they write is a follow-up, as before.
"""

from __future__ import annotations

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


def apply(act: Act, command: Command) -> None:
    """One command, by name (normalize.commands has checked its form)."""
    if command.name == "eta" and command.eta is not None:
        actions.set_eta(act, command.eta)
    elif command.name == "status" and command.status is not None:
        actions.set_status(act, command.status)
    elif command.name == "reply":
        actions.reply(act, command.text)
    elif command.name == "resolved":
        actions.resolve(act, command.text)
    elif command.name == "reassign" and command.target is not None:
        actions.reassign(act, command.target)
    elif command.name == "merge" and command.target is not None:
        actions.merge(act, command.target)
    elif command.name == "note":
        actions.note(act, command.text)
    else:
        raise Refused(f"#{command.name} cannot be applied")


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
