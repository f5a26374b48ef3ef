"""The one state machine of a complaint (ISO 10002, docs/design.md "Lifecycle").

Pure: given a stored status, an action and who takes it, say the next status or refuse. Every
stage that moves a complaint (routing, unit mails, complainant answers, the operator's CLI, the
timers) asks here, so the rules live in one table that a test checks triple by triple.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from intake.errors import IntakeError
from intake.states import OPEN, ComplaintStatus

S = ComplaintStatus


class Actor(StrEnum):
    """Who takes an action: the unit handling it, the complainant, a desk operator, a timer."""

    UNIT = "unit"
    COMPLAINANT = "complainant"
    OPERATOR = "operator"
    SYSTEM = "system"


class Action(StrEnum):
    """What can happen to a complaint; each names one edge (or a set of edges) of the graph."""

    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    INVESTIGATE = "investigate"
    WAIT = "wait"
    RESOLVE = "resolve"
    ACCEPT = "accept"
    REJECT = "reject"
    CLOSE = "close"
    REASSIGN = "reassign"
    MERGE = "merge"
    DISMISS = "dismiss"


class TransitionRefused(IntakeError):
    """The action is not allowed in this state, or not to this actor."""

    def __init__(self, state: ComplaintStatus | str, action: Action | str, actor: Actor | str):
        self.state, self.action, self.actor = str(state), str(action), str(actor)
        super().__init__(f"{self.actor} may not {self.action} a complaint in state {self.state!r}")


def _edges(
    sources: Iterable[ComplaintStatus], action: Action, target: ComplaintStatus
) -> dict[tuple[ComplaintStatus, Action], ComplaintStatus]:
    return {(source, action): target for source in sources}


_WORKING = {S.ASSIGNED, S.INVESTIGATING, S.WAITING_ON_COMPLAINANT, S.REOPENED}

TRANSITIONS: Mapping[tuple[ComplaintStatus, Action], ComplaintStatus] = MappingProxyType(
    {
        **_edges({S.RECEIVED}, Action.ACKNOWLEDGE, S.ACKNOWLEDGED),
        **_edges({S.RECEIVED, S.ACKNOWLEDGED}, Action.ASSIGN, S.ASSIGNED),
        **_edges(
            {S.ASSIGNED, S.WAITING_ON_COMPLAINANT, S.REOPENED}, Action.INVESTIGATE, S.INVESTIGATING
        ),
        **_edges({S.ASSIGNED, S.INVESTIGATING, S.REOPENED}, Action.WAIT, S.WAITING_ON_COMPLAINANT),
        **_edges(_WORKING, Action.RESOLVE, S.RESOLVED),
        **_edges(_WORKING, Action.REASSIGN, S.ASSIGNED),
        **_edges({S.RESOLVED}, Action.ACCEPT, S.CLOSED),
        **_edges({S.RESOLVED}, Action.REJECT, S.REOPENED),
        **_edges({S.RESOLVED}, Action.CLOSE, S.CLOSED),
        **_edges(OPEN, Action.MERGE, S.MERGED),
        **_edges({S.RECEIVED, S.ACKNOWLEDGED, S.ASSIGNED}, Action.DISMISS, S.NOT_A_COMPLAINT),
    }
)

_A = Actor
ACTORS: Mapping[Action, frozenset[Actor]] = MappingProxyType(
    {
        Action.ACKNOWLEDGE: frozenset({_A.OPERATOR, _A.SYSTEM}),
        Action.ASSIGN: frozenset({_A.OPERATOR, _A.SYSTEM}),
        Action.INVESTIGATE: frozenset({_A.UNIT, _A.COMPLAINANT, _A.OPERATOR, _A.SYSTEM}),
        Action.WAIT: frozenset({_A.UNIT, _A.OPERATOR}),
        Action.RESOLVE: frozenset({_A.UNIT, _A.OPERATOR}),
        Action.ACCEPT: frozenset({_A.COMPLAINANT, _A.OPERATOR}),
        Action.REJECT: frozenset({_A.COMPLAINANT, _A.OPERATOR}),
        Action.CLOSE: frozenset({_A.OPERATOR, _A.SYSTEM}),
        Action.REASSIGN: frozenset({_A.UNIT, _A.OPERATOR}),
        Action.MERGE: frozenset({_A.UNIT, _A.OPERATOR}),
        Action.DISMISS: frozenset({_A.UNIT, _A.OPERATOR, _A.SYSTEM}),
    }
)

TERMINAL = frozenset({S.CLOSED, S.MERGED, S.NOT_A_COMPLAINT})

_NOOP_TARGETS = {
    Action.INVESTIGATE: S.INVESTIGATING,
    Action.WAIT: S.WAITING_ON_COMPLAINANT,
}


def next_state(state: ComplaintStatus | str, action: Action, actor: Actor) -> ComplaintStatus:
    """The status after `actor` takes `action`; TransitionRefused when the rules say no.

    An unknown status string is a bug, not a refusal: it raises ValueError.
    """
    status = ComplaintStatus(state)
    target = TRANSITIONS.get((status, Action(action)))
    if target is None or actor not in ACTORS.get(Action(action), frozenset()):
        raise TransitionRefused(status, action, actor)
    return target


def allowed_actions(state: ComplaintStatus | str) -> frozenset[Action]:
    """The actions that leave `state` (by someone); empty for a terminal state."""
    status = ComplaintStatus(state)
    return frozenset(action for source, action in TRANSITIONS if source == status)


def is_noop(state: ComplaintStatus | str, action: Action) -> bool:
    """True when INVESTIGATE or WAIT would land where the complaint already is: skip it."""
    target = _NOOP_TARGETS.get(Action(action))
    return target is not None and ComplaintStatus(state) == target
