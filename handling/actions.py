"""The verbs of a complaint's lifecycle, the same for a unit's mail, a complainant's answer,
an operator's `intake ticket` and the scheduler.

Each verb runs inside the caller's transaction on one `Act` (who acts on which complaint,
when): it takes the transition `intake.lifecycle` allows, records it as an event, keeps the
clocks, and writes the notices it owes; `act.work` is what to enqueue after the commit. A
verb that cannot be taken raises `Refused` with the reason, and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handling import clocks, texts
from handling.notices import Audience, owe
from handling.texts import Text
from intake import clock
from intake.errors import ConfigError, IntakeError
from intake.lifecycle import Action, Actor, TransitionRefused, is_noop, next_state
from intake.schema import PRODUCTS
from intake.settings import Settings
from intake.states import ComplaintStatus, JobState
from outbound.budget import normal_address
from outbound.jobs import Job, Work
from routing import clocks as policy
from routing.clocks import ClockName, Meets
from routing.kvkk import CATEGORY as KVKK
from routing.route import unit_for
from store import repo
from store.models import ComplaintRow, CorrectionRow, RoutingDecisionRow

log = logging.getLogger(__name__)

# A unit's or operator's answer may only add to a complaint that is still being handled.
SETTLED = frozenset({ComplaintStatus.MERGED, ComplaintStatus.NOT_A_COMPLAINT})


class Refused(IntakeError):
    """The action cannot be taken on this complaint now (the reason is told to the actor)."""


@dataclass
class Act:
    """`who` (as `actor`) acting on `complaint` at `at`, in `session`.

    `source` names what the act came from (a raw message, a command-line call), so that
    the same mail processed twice owes each notice once.
    """

    session: Session
    settings: Settings
    complaint: ComplaintRow
    actor: Actor
    who: str
    source: str
    at: datetime = field(default_factory=clock.now)
    work: list[Work] = field(default_factory=list)
    _told: int = 0

    @property
    def reference(self) -> str:
        return self.complaint.reference

    @property
    def timezone(self) -> str:
        return self.settings.clock.timezone

    def event(self, kind: str, /, **detail: Any) -> None:
        repo.add_event(self.session, kind, complaint_id=self.complaint.id, actor=self.who, **detail)

    def transition(self, action: Action, reason: str = "") -> None:
        """Move the complaint on by `action`, or raise `Refused`."""
        before = ComplaintStatus(self.complaint.status)
        try:
            after = next_state(before, action, self.actor)
        except TransitionRefused as exc:
            raise Refused(str(exc)) from None
        self.complaint.status = after
        self.event(
            "status_changed", action=action, was=before, now=after, by=self.actor, reason=reason
        )

    def tell(self, audience: Audience, purpose: str, text: Text) -> None:
        """Owe `audience` the message `text` (once for this act's source)."""
        self._told += 1
        work = owe(
            self.session,
            self.complaint,
            key=f"{self.source}:{purpose}:{self._told}",
            purpose=purpose,
            audience=audience,
            text=text,
        )
        if work is not None:
            self.work.append(work)


def _into_investigation(act: Act) -> None:
    """A unit that answers has started work: assigned or reopened becomes investigating."""
    if ComplaintStatus(act.complaint.status) in (
        ComplaintStatus.ASSIGNED,
        ComplaintStatus.REOPENED,
    ):
        act.transition(Action.INVESTIGATE)


def _still_handled(act: Act) -> None:
    status = ComplaintStatus(act.complaint.status)
    if status in SETTLED or status is ComplaintStatus.CLOSED:
        raise Refused(f"{act.reference} is {status}")


# --- the unit's (and an operator's) verbs --------------------------------------------------


def set_eta(act: Act, eta: datetime) -> None:
    """The estimated resolution time: told to the complainant at once."""
    _still_handled(act)
    if ComplaintStatus(act.complaint.status) is ComplaintStatus.RESOLVED:
        raise Refused(f"{act.reference} is resolved already")
    if eta <= act.at:
        raise Refused(f"the estimated time {texts.local(eta, act.timezone)} has passed")
    _into_investigation(act)
    act.complaint.eta_at = eta
    act.event("eta_set", eta=eta)
    act.tell(Audience.COMPLAINANT, "eta", texts.eta(act.reference, eta, act.timezone))
    clocks.meet(act.session, act.complaint.id, Meets.ETA, act.at, act.who)


def set_status(act: Act, status: str) -> None:
    """`investigating` or `waiting` (on the complainant: the pausable clocks stop)."""
    action = Action.WAIT if status == "waiting" else Action.INVESTIGATE
    if is_noop(act.complaint.status, action):
        return
    act.transition(action)
    if action is Action.WAIT:
        clocks.pause(act.session, act.complaint.id, act.at)
    else:
        clocks.resume(act.session, act.complaint.id, act.at, act.settings)


def reply(act: Act, text: str) -> None:
    """The unit's words to the complainant, sent as they are."""
    _still_handled(act)
    _into_investigation(act)
    act.event("replied", text=text[:4000])
    act.tell(Audience.COMPLAINANT, "reply", texts.reply(act.reference, text))
    clocks.meet(act.session, act.complaint.id, Meets.REPLY, act.at, act.who)


def resolve(act: Act, decision: str) -> None:
    """The decision: told to the complainant, who is asked to accept or reject it."""
    act.transition(Action.RESOLVE)
    clocks.resume(act.session, act.complaint.id, act.at, act.settings)
    act.complaint.decision, act.complaint.resolved_at = decision, act.at
    act.event("resolved", decision=decision[:4000])
    act.tell(Audience.COMPLAINANT, "decision", texts.decision(act.reference, decision))
    clocks.meet(act.session, act.complaint.id, Meets.DECISION, act.at, act.who)


def reassign(act: Act, unit_code: str) -> None:
    """Hand the complaint to another unit: its ticket goes to that unit now."""
    try:
        unit = act.settings.unit_named(unit_code)
    except ConfigError:
        raise Refused(f"no unit {unit_code!r}") from None
    if unit.code == act.complaint.unit:
        raise Refused(f"{act.reference} is with {unit.code} already")
    was = act.complaint.unit
    act.transition(Action.REASSIGN)
    complaint = act.complaint
    complaint.unit, complaint.queue = unit.code, unit.queue
    complaint.delivery_state = JobState.PENDING
    complaint.delivery_claimed_at = complaint.delivery_enqueued_at = None
    act.event("reassigned", was=was, unit=unit.code)
    act.work.append(Work(Job.TICKET, complaint.id, unit.queue))


def correct(act: Act, product: str, unit_code: str = "") -> None:
    """An operator's correction of the routing: the product (and with it the unit that takes
    it, unless one is named); a new unit gets the ticket now. Kept as a labelled example for
    the categoriser, and as a routing decision of the operator's."""
    complaint = act.complaint
    if product not in PRODUCTS:
        raise Refused(f"no product {product!r}")
    try:
        unit = (
            act.settings.unit_named(unit_code)
            if unit_code
            else unit_for(product, complaint.category, act.settings)
        )
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    if product == complaint.product and unit.code == complaint.unit:
        raise Refused(f"{act.reference} is {product} with {unit.code} already")
    product_was, unit_was = complaint.product, complaint.unit
    if unit.code != unit_was:
        reassign(act, unit.code)  # refused, and nothing changes, where the state allows none
    complaint.product = product
    act.session.add(
        CorrectionRow(
            complaint_id=complaint.id,
            channel=complaint.channel,
            subject=complaint.subject,
            text=complaint.body[:20000],
            product_was=product_was,
            product=product,
            unit_was=unit_was,
            unit=unit.code,
            by=act.who,
            at=act.at,
        )
    )
    act.session.add(
        RoutingDecisionRow(
            complaint_id=complaint.id,
            product=product,
            kind=complaint.kind,
            unit=unit.code,
            queue=unit.queue,
            confidence=1.0,
            decided_by=act.who,
            hits=[],
            decided_at=act.at,
        )
    )
    act.event(
        "corrected", product_was=product_was, product=product, unit_was=unit_was, unit=unit.code
    )


NOT_KVKK = "not a KVKK request"  # met_by of a kvkk_answer clock an operator stopped


def set_category(act: Act, category: str | None) -> None:
    """An operator's word on whether this is a data subject's request (KVKK art. 11): set,
    the 30-day `kvkk_answer` clock runs from the complaint's receipt (art. 13 counts from
    the request, not from our noticing it); cleared, that clock stops as met, its row kept.
    The complaint's due time follows its primary clock."""
    complaint = act.complaint
    if category not in (None, KVKK):
        raise Refused(f"no category {category!r}: kvkk or none")
    if category == complaint.category:
        raise Refused(f"{act.reference} has category {category or 'none'} already")
    was, complaint.category = complaint.category, category
    row = clocks.clock_of(act.session, complaint.id, ClockName.KVKK_ANSWER)
    if category == KVKK and row is None:
        clocks.ensure(
            act.session, complaint, ClockName.KVKK_ANSWER, complaint.received_at, act.settings
        )
    elif category == KVKK and row is not None and row.met_by == NOT_KVKK:
        clocks.restart(
            act.session, complaint, ClockName.KVKK_ANSWER, complaint.received_at, act.settings
        )
    elif row is not None and row.met_at is None:
        row.met_at, row.met_by = act.at, NOT_KVKK
    primary = clocks.clock_of(
        act.session, complaint.id, policy.primary(complaint.channel, category)
    )
    if primary is not None:
        complaint.due_at = primary.due_at
    act.event("category_set", who=act.who, was=was, now=category)


def merge(act: Act, target_reference: str) -> None:
    """A duplicate: folded into `target_reference`, which carries on; nothing is owed on
    this one any more."""
    if target_reference == act.reference:
        raise Refused("a complaint cannot be merged into itself")
    target = act.session.scalars(
        select(ComplaintRow).where(ComplaintRow.reference == target_reference)
    ).one_or_none()
    if target is None:
        raise Refused(f"no complaint {target_reference}")
    if ComplaintStatus(target.status) in SETTLED:
        raise Refused(f"{target_reference} is {target.status}")
    act.transition(Action.MERGE, reason=f"duplicate of {target_reference}")
    act.complaint.merged_into = target_reference
    clocks.stop_all(act.session, act.complaint.id, act.at, f"merged into {target_reference}")
    act.event("merged", into=target_reference)
    repo.add_event(
        act.session, "absorbed", complaint_id=target.id, actor=act.who, duplicate=act.reference
    )
    if same_person(act.complaint, target):  # else the other reference is not theirs to know
        act.tell(Audience.COMPLAINANT, "merged", texts.merged(act.reference, target_reference))


def same_person(one: ComplaintRow, other: ComplaintRow) -> bool:
    """Whether two complaints are one complainant's: the same address or conversation."""
    if one.complainant_email and other.complainant_email:
        return normal_address(one.complainant_email) == normal_address(other.complainant_email)
    return one.thread_key is not None and one.thread_key == other.thread_key


def note(act: Act, text: str) -> None:
    """An internal note: recorded, told to no one."""
    act.event("note", text=text[:8000])


def dismiss(act: Act, reason: str) -> None:
    """Not a complaint (spam, noise): kept, answered no more."""
    act.transition(Action.DISMISS, reason=reason)
    clocks.stop_all(act.session, act.complaint.id, act.at, "not a complaint")


def close(act: Act) -> None:
    """Close a resolved complaint (an operator, or no answer from the complainant)."""
    act.transition(Action.CLOSE)
    _closed(act)


# --- the complainant's -------------------------------------------------------------------


def accept(act: Act) -> None:
    """The complainant accepts the decision: closed, and asked for their satisfaction."""
    act.transition(Action.ACCEPT)
    act.tell(Audience.UNIT, "accepted", texts.accepted(act.reference))
    _closed(act)


def reject(act: Act) -> None:
    """The complainant rejects the decision: the complaint stays open (seed 003), the unit
    hears it, the resolution clock starts over, and the complainant learns the other ways."""
    act.transition(Action.REJECT)
    act.complaint.resolved_at = None
    clocks.restart(act.session, act.complaint, ClockName.RESOLUTION, act.at, act.settings)
    act.tell(Audience.UNIT, "reopened", texts.reopened(act.reference))
    act.tell(Audience.COMPLAINANT, "other_ways", texts.other_ways(act.reference))


def rate(act: Act, score: int) -> None:
    """The answer to the survey, 1–5, stored with its time (the first one counts)."""
    if act.complaint.satisfaction is not None:
        raise Refused(f"{act.reference} is rated already")
    act.complaint.satisfaction, act.complaint.satisfaction_at = score, act.at
    act.event("rated", score=score)


def answered(act: Act) -> None:
    """The complainant wrote while the unit waited on them: the work goes on."""
    if ComplaintStatus(act.complaint.status) is ComplaintStatus.WAITING_ON_COMPLAINANT:
        act.transition(Action.INVESTIGATE, reason="the complainant answered")
        clocks.resume(act.session, act.complaint.id, act.at, act.settings)


def _closed(act: Act) -> None:
    act.complaint.closed_at = act.at
    act.tell(Audience.COMPLAINANT, "survey", texts.survey(act.reference))
