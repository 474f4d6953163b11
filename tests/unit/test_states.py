"""The state machine and its generated document."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeward.domain.returns.states import (
    TERMINAL,
    TRANSITIONS,
    Actor,
    MoneyState,
    ParcelState,
    next_money_state,
    next_state,
    render_markdown,
)
from homeward.errors import Conflict

DOC = Path(__file__).resolve().parents[2] / "docs" / "return-states.md"


def test_generated_state_document_is_current():
    assert DOC.read_text() == render_markdown(), "docs/return-states.md is stale: run `make docs`"


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: t.action)
def test_every_transition_is_allowed_from_its_sources_only(transition):
    actor = transition.actors[0]
    for state in ParcelState:
        if state in transition.sources:
            assert next_state(state, transition.action, actor).target == transition.target
        else:
            with pytest.raises(Conflict) as caught:
                next_state(state, transition.action, actor)
            assert caught.value.details["current_status"] == state.value


def test_terminal_states_have_no_way_out():
    for transition in TRANSITIONS:
        assert not set(transition.sources) & TERMINAL, transition.action


def test_every_state_is_reachable_from_requested():
    reached, frontier = {ParcelState.REQUESTED}, [ParcelState.REQUESTED]
    while frontier:
        state = frontier.pop()
        for t in TRANSITIONS:
            if state in t.sources and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == set(ParcelState)


def test_actors_are_enforced():
    with pytest.raises(Conflict) as caught:
        next_state(ParcelState.NEEDS_REVIEW, "approve", Actor.SHOPPER)
    assert caught.value.details["reason"] == "actor_not_allowed"


def test_shopper_cannot_cancel_once_the_parcel_moves():
    assert next_state(ParcelState.LABEL_ISSUED, "cancel", Actor.SHOPPER).target == ParcelState.CANCELLED
    with pytest.raises(Conflict):
        next_state(ParcelState.IN_TRANSIT, "cancel", Actor.SHOPPER)


def test_money_states():
    assert next_money_state(MoneyState.NONE, MoneyState.PENDING) == MoneyState.PENDING
    assert next_money_state(MoneyState.FAILED, MoneyState.PENDING) == MoneyState.PENDING
    # A refund made outside Homeward is recorded already done.
    assert next_money_state(MoneyState.NONE, MoneyState.REFUNDED) == MoneyState.REFUNDED
    with pytest.raises(Conflict):
        next_money_state(MoneyState.NONE, MoneyState.FAILED)
