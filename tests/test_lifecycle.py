"""The complaint state machine, checked against a table written out here by hand."""

from __future__ import annotations

import itertools

import pytest

from intake.errors import IntakeError
from intake.lifecycle import (
    ACTORS,
    TRANSITIONS,
    Action,
    Actor,
    TransitionRefused,
    allowed_actions,
    is_noop,
    next_state,
)
from intake.states import OPEN, ComplaintStatus

S = ComplaintStatus
A = Action
U, C, O, Y = Actor.UNIT, Actor.COMPLAINANT, Actor.OPERATOR, Actor.SYSTEM

# (state, action) → (target, the actors who may take it)
EXPECTED = {
    (S.RECEIVED, A.ACKNOWLEDGE): (S.ACKNOWLEDGED, {O, Y}),
    (S.RECEIVED, A.ASSIGN): (S.ASSIGNED, {O, Y}),
    (S.RECEIVED, A.MERGE): (S.MERGED, {U, O}),
    (S.RECEIVED, A.DISMISS): (S.NOT_A_COMPLAINT, {U, O, Y}),
    (S.ACKNOWLEDGED, A.ASSIGN): (S.ASSIGNED, {O, Y}),
    (S.ACKNOWLEDGED, A.MERGE): (S.MERGED, {U, O}),
    (S.ACKNOWLEDGED, A.DISMISS): (S.NOT_A_COMPLAINT, {U, O, Y}),
    (S.ASSIGNED, A.INVESTIGATE): (S.INVESTIGATING, {U, C, O, Y}),
    (S.ASSIGNED, A.WAIT): (S.WAITING_ON_COMPLAINANT, {U, O}),
    (S.ASSIGNED, A.RESOLVE): (S.RESOLVED, {U, O}),
    (S.ASSIGNED, A.REASSIGN): (S.ASSIGNED, {U, O}),
    (S.ASSIGNED, A.MERGE): (S.MERGED, {U, O}),
    (S.ASSIGNED, A.DISMISS): (S.NOT_A_COMPLAINT, {U, O, Y}),
    (S.INVESTIGATING, A.WAIT): (S.WAITING_ON_COMPLAINANT, {U, O}),
    (S.INVESTIGATING, A.RESOLVE): (S.RESOLVED, {U, O}),
    (S.INVESTIGATING, A.REASSIGN): (S.ASSIGNED, {U, O}),
    (S.INVESTIGATING, A.MERGE): (S.MERGED, {U, O}),
    (S.WAITING_ON_COMPLAINANT, A.INVESTIGATE): (S.INVESTIGATING, {U, C, O, Y}),
    (S.WAITING_ON_COMPLAINANT, A.RESOLVE): (S.RESOLVED, {U, O}),
    (S.WAITING_ON_COMPLAINANT, A.REASSIGN): (S.ASSIGNED, {U, O}),
    (S.WAITING_ON_COMPLAINANT, A.MERGE): (S.MERGED, {U, O}),
    (S.REOPENED, A.INVESTIGATE): (S.INVESTIGATING, {U, C, O, Y}),
    (S.REOPENED, A.WAIT): (S.WAITING_ON_COMPLAINANT, {U, O}),
    (S.REOPENED, A.RESOLVE): (S.RESOLVED, {U, O}),
    (S.REOPENED, A.REASSIGN): (S.ASSIGNED, {U, O}),
    (S.REOPENED, A.MERGE): (S.MERGED, {U, O}),
    (S.RESOLVED, A.ACCEPT): (S.CLOSED, {C, O}),
    (S.RESOLVED, A.REJECT): (S.REOPENED, {C, O}),
    (S.RESOLVED, A.CLOSE): (S.CLOSED, {O, Y}),
}

ALL_TRIPLES = list(itertools.product(ComplaintStatus, Action, Actor))
ALLOWED = [
    (state, action, actor)
    for state, action, actor in ALL_TRIPLES
    if actor in EXPECTED.get((state, action), (None, set()))[1]
]
REFUSED = [triple for triple in ALL_TRIPLES if triple not in ALLOWED]


@pytest.mark.parametrize(("state", "action", "actor"), ALLOWED)
def test_an_allowed_triple_gives_its_target(state, action, actor):
    assert next_state(state, action, actor) is EXPECTED[state, action][0]


@pytest.mark.parametrize(("state", "action", "actor"), REFUSED)
def test_every_other_triple_is_refused(state, action, actor):
    with pytest.raises(TransitionRefused):
        next_state(state, action, actor)


def test_the_module_table_is_exactly_the_expected_one():
    assert dict(TRANSITIONS) == {edge: target for edge, (target, _) in EXPECTED.items()}
    for action in Action:
        takers = {
            actor for (_, a), (_, actors) in EXPECTED.items() if a is action for actor in actors
        }
        assert ACTORS[action] == takers


def test_a_state_may_be_given_as_its_stored_string():
    assert next_state("resolved", A.REJECT, C) is S.REOPENED
    assert allowed_actions("resolved") == {A.ACCEPT, A.REJECT, A.CLOSE}


def test_an_unknown_state_string_is_a_bug_not_a_refusal():
    with pytest.raises(ValueError):
        next_state("pending", A.ASSIGN, Y)


def test_the_refusal_names_state_action_and_actor():
    with pytest.raises(TransitionRefused) as caught:
        next_state(S.CLOSED, A.RESOLVE, U)
    message = str(caught.value)
    assert "closed" in message and "resolve" in message and "unit" in message
    assert (caught.value.state, caught.value.action, caught.value.actor) == (
        "closed",
        "resolve",
        "unit",
    )
    assert isinstance(caught.value, IntakeError)


def test_staying_where_one_is_is_refused_and_reported_as_a_noop():
    with pytest.raises(TransitionRefused):
        next_state(S.INVESTIGATING, A.INVESTIGATE, U)
    with pytest.raises(TransitionRefused):
        next_state(S.WAITING_ON_COMPLAINANT, A.WAIT, U)
    assert is_noop(S.INVESTIGATING, A.INVESTIGATE)
    assert is_noop("waiting_on_complainant", A.WAIT)


@pytest.mark.parametrize(("state", "action"), list(itertools.product(ComplaintStatus, Action)))
def test_is_noop_only_for_investigate_or_wait_in_their_own_target(state, action):
    expected = (state, action) in {
        (S.INVESTIGATING, A.INVESTIGATE),
        (S.WAITING_ON_COMPLAINANT, A.WAIT),
    }
    assert is_noop(state, action) is expected


@pytest.mark.parametrize("state", ComplaintStatus)
def test_allowed_actions_match_the_table(state):
    assert allowed_actions(state) == {a for (s, a) in EXPECTED if s is state}


@pytest.mark.parametrize("state", [S.CLOSED, S.MERGED, S.NOT_A_COMPLAINT])
def test_terminal_states_have_no_actions(state):
    assert allowed_actions(state) == frozenset()


def reachable(start: ComplaintStatus) -> set[ComplaintStatus]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for action in allowed_actions(state):
            for actor in Actor:
                try:
                    target = next_state(state, action, actor)
                except TransitionRefused:
                    continue
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    return seen


@pytest.mark.parametrize("state", sorted(OPEN | {S.RESOLVED}))
def test_every_open_state_can_reach_closed(state):
    assert S.CLOSED in reachable(state)


def test_every_status_appears_in_the_graph():
    named = {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())
    assert named == set(ComplaintStatus)
    assert reachable(S.RECEIVED) == set(ComplaintStatus)
