"""Applying carrier updates to a parcel: ordering, history, ETA, events, return actions, stalls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.returns.states import Actor, ParcelState, next_state
from homeward.domain.tracking.status import TERMINAL, Reason, TrackingStatus
from homeward.domain.tracking.updates import (
    DELIVERED_AFTER_RETURN_TO_SENDER,
    TrackingOutcome,
    apply_update,
    is_stalled,
    mark_delayed,
    merge_checkpoints,
    parcel_view,
    register_shipment,
    return_action_for,
    shipment_event_doc,
)
from homeward.models.tracking import (
    MAX_CHECKPOINTS,
    CarrierUpdate,
    Checkpoint,
    Direction,
    Location,
    Shipment,
)
from hypothesis import given
from hypothesis import strategies as st

S = TrackingStatus
P = ParcelState

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
TN = "1Z999AA10123456784"
BERLIN = Location(city="Berlin", country="DE")
HAMBURG = Location(city="Hamburg", country="DE")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


_event_ids = iter(range(1_000_000))


def update(status: TrackingStatus, minutes: int, **fields) -> CarrierUpdate:
    fields.setdefault("event_id", f"evt_{next(_event_ids)}")
    fields.setdefault("tracking_number", TN)
    return CarrierUpdate(provider="generic", status=status, event_at=at(minutes), **fields)


def shipment(direction: Direction = Direction.OUTBOUND, **fields) -> Shipment:
    return register_shipment(
        fields.pop("tracking_number", TN),
        carrier=fields.pop("carrier", "ups"),
        direction=direction,
        order_id="ord_1",
        rma="RMA-1" if direction == Direction.RETURN else None,
        now=fields.pop("now", T0 - timedelta(days=1)),
    )


def run(parcel: Shipment, *updates: CarrierUpdate) -> tuple[Shipment, list[TrackingOutcome]]:
    outcomes = []
    for item in updates:
        outcome = apply_update(parcel, item, now=NOW)
        outcomes.append(outcome)
        parcel = outcome.shipment
    return parcel, outcomes


# --- register_shipment ---------------------------------------------------------------------------


def test_register_shipment_starts_unknown_at_version_0():
    parcel = register_shipment(
        "1z 999-aa1", carrier="ups", direction=Direction.RETURN, order_id="ord_1", rma="RMA-1", now=T0
    )
    assert parcel.tracking_number == "1Z999AA1"
    assert parcel.status == S.UNKNOWN and parcel.status_at is None and parcel.last_event_at is None
    assert parcel.direction == Direction.RETURN and parcel.rma == "RMA-1" and parcel.order_id == "ord_1"
    assert parcel.registered_at == parcel.updated_at == T0
    assert parcel.version == 0 and parcel.applied_events == 0 and parcel.checkpoints == []
    assert not parcel.needs_review and parcel.delayed_for is None


# --- the core rule ---------------------------------------------------------------------------------


def test_first_update_sets_the_current_status():
    outcome = apply_update(
        shipment(), update(S.IN_TRANSIT, 10, detail="arrived_at_facility", location=BERLIN), now=NOW
    )
    parcel = outcome.shipment
    assert outcome.decision.apply and outcome.decision.reason == Reason.FIRST_EVENT and outcome.applied
    assert (parcel.status, parcel.detail, parcel.status_at) == (S.IN_TRANSIT, "arrived_at_facility", at(10))
    assert parcel.last_event_at == at(10) and parcel.last_location == BERLIN
    assert parcel.version == 1 and parcel.applied_events == 1 and parcel.updated_at == NOW
    assert [(c.at, c.status) for c in parcel.checkpoints] == [(at(10), S.IN_TRANSIT)]
    assert outcome.changed and outcome.events == ("shipment.updated",) and not outcome.kept_previous


def test_input_shipment_is_not_mutated():
    original = shipment()
    apply_update(original, update(S.IN_TRANSIT, 10), now=NOW)
    assert original.status == S.UNKNOWN and original.checkpoints == [] and original.version == 0


def test_out_of_order_event_goes_to_history_without_moving_the_status():
    parcel, (_, late) = run(
        shipment(), update(S.IN_TRANSIT, 10), update(S.PRE_TRANSIT, 5, detail="label_created")
    )
    assert not late.decision.apply and late.decision.reason == Reason.OLDER_EVENT
    assert (parcel.status, parcel.status_at, parcel.last_event_at) == (S.IN_TRANSIT, at(10), at(10))
    assert [c.status for c in parcel.checkpoints] == [S.PRE_TRANSIT, S.IN_TRANSIT]  # oldest first
    assert not late.changed and late.events == () and late.return_action is None
    # Still counted: each update is applied to the item exactly once.
    assert parcel.applied_events == 2 and parcel.version == 2


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_is_sticky_against_older_events(terminal):
    parcel, (_, older) = run(shipment(), update(terminal, 10), update(S.IN_TRANSIT, 5))
    assert parcel.status == terminal and not older.decision.apply and older.events == ()
    assert not parcel.needs_review  # an older scan after a terminal status is normal


def test_newer_non_terminal_after_terminal_goes_to_review_without_applying():
    parcel, (_, later) = run(shipment(), update(S.DELIVERED, 10), update(S.IN_TRANSIT, 20))
    assert parcel.status == S.DELIVERED and parcel.status_at == at(10)
    assert not later.decision.apply and later.decision.needs_review and later.events == ()
    assert parcel.needs_review and parcel.review_reason == Reason.NON_TERMINAL_AFTER_TERMINAL.value
    assert parcel.last_event_at == at(20)  # history moved on


def test_non_monotonic_newer_path_is_accepted():
    journey = [
        update(S.OUT_FOR_DELIVERY, 10),
        update(S.EXCEPTION, 20, detail="attempt_failed", action_required=True),
        update(S.IN_TRANSIT, 30, detail="arrived_at_facility"),
        update(S.OUT_FOR_DELIVERY, 40),
        update(S.DELIVERED, 50),
    ]
    parcel, outcomes = run(shipment(), *journey)
    assert all(o.decision.apply and not o.decision.needs_review for o in outcomes)
    assert [o.shipment.status for o in outcomes] == [u.status for u in journey]
    assert [o.events for o in outcomes] == [
        ("shipment.updated",),
        ("shipment.updated", "shipment.exception"),
        ("shipment.updated",),
        ("shipment.updated",),
        ("shipment.updated", "shipment.delivered"),
    ]
    assert parcel.status == S.DELIVERED and parcel.status_at == at(50) and not parcel.needs_review
    assert not parcel.action_required  # the newer status's flag, not a sticky one


def test_delivered_then_newer_return_to_sender_is_applied_and_flagged():
    parcel, (_, rts) = run(
        shipment(), update(S.DELIVERED, 10), update(S.RETURN_TO_SENDER, 20, detail="returning")
    )
    assert rts.decision.apply and rts.decision.needs_review
    assert rts.decision.reason == Reason.TERMINAL_AFTER_TERMINAL
    assert (parcel.status, parcel.detail) == (S.RETURN_TO_SENDER, "returning")
    assert parcel.needs_review and parcel.review_reason == Reason.TERMINAL_AFTER_TERMINAL.value
    assert rts.events == ("shipment.updated", "shipment.exception")


def test_review_reason_keeps_the_first_cause():
    parcel, _ = run(
        shipment(),
        update(S.DELIVERED, 10),
        update(S.RETURN_TO_SENDER, 20),
        update(S.FAILURE, 30, detail="lost"),
    )
    assert parcel.status == S.FAILURE and parcel.review_reason == Reason.TERMINAL_AFTER_TERMINAL.value


# --- unrecognized values (SM 2.5) ------------------------------------------------------------------


def test_unrecognized_unknown_keeps_the_previous_status():
    parcel, (_, odd) = run(
        shipment(),
        update(S.IN_TRANSIT, 10, detail="departed_facility", location=BERLIN),
        update(S.UNKNOWN, 20, detail="SOMETHING_NEW", recognized=False, raw_status="SOMETHING_NEW"),
    )
    assert odd.kept_previous and not odd.decision.apply and not odd.decision.needs_review
    assert (parcel.status, parcel.detail, parcel.status_at) == (S.IN_TRANSIT, "departed_facility", at(10))
    assert parcel.last_event_at == at(20)
    assert [(c.status, c.detail) for c in parcel.checkpoints][-1] == (S.UNKNOWN, "SOMETHING_NEW")
    assert not odd.changed and odd.events == () and parcel.applied_events == 2


def test_unrecognized_unknown_as_first_event_leaves_the_parcel_unknown():
    parcel, (odd,) = run(shipment(), update(S.UNKNOWN, 20, detail="???", recognized=False))
    assert odd.kept_previous and not odd.decision.apply
    assert parcel.status == S.UNKNOWN and parcel.status_at is None and parcel.detail is None
    # So an older recognized scan arriving afterwards still becomes the current status.
    parcel, (scan,) = run(parcel, update(S.IN_TRANSIT, 10))
    assert scan.decision.apply and parcel.status == S.IN_TRANSIT


def test_unrecognized_unknown_after_terminal_is_not_a_review():
    parcel, (_, odd) = run(shipment(), update(S.DELIVERED, 10), update(S.UNKNOWN, 20, recognized=False))
    assert parcel.status == S.DELIVERED and not parcel.needs_review and odd.events == ()


def test_unrecognized_but_current_event_still_refreshes_the_eta():
    parcel, (_, odd) = run(
        shipment(),
        update(S.IN_TRANSIT, 10, eta=at(3000)),
        update(S.UNKNOWN, 20, recognized=False, eta=at(4000)),
    )
    assert parcel.status == S.IN_TRANSIT and parcel.eta == at(4000)
    assert odd.changed and odd.events == ("shipment.updated",)
    # ... but not when it is older than the current status.
    parcel, (older,) = run(parcel, update(S.UNKNOWN, 5, recognized=False, eta=at(5000)))
    assert parcel.eta == at(4000) and older.events == ()


def test_recognized_unknown_is_a_normal_status():
    # AfterShip "Expired" maps to unknown/expired, recognized, flagged for action.
    parcel, (_, expired) = run(
        shipment(), update(S.IN_TRANSIT, 10), update(S.UNKNOWN, 20, detail="expired", action_required=True)
    )
    assert expired.decision.apply and not expired.kept_previous
    assert (parcel.status, parcel.detail) == (S.UNKNOWN, "expired")
    assert expired.events == ("shipment.updated", "shipment.exception")


# --- checkpoints -----------------------------------------------------------------------------------


def test_own_checkpoint_is_not_added_when_the_provider_sent_it():
    history = (
        Checkpoint(at=at(5), status=S.PRE_TRANSIT, detail="label_created", message="Label created"),
        Checkpoint(at=at(10), status=S.IN_TRANSIT, message="Arrived at facility", location=BERLIN),
    )
    parcel, _ = run(shipment(), update(S.IN_TRANSIT, 10, checkpoints=history, location=BERLIN))
    assert parcel.checkpoints == list(history)


def test_own_checkpoint_is_added_when_missing():
    history = (Checkpoint(at=at(5), status=S.PRE_TRANSIT, message="Label created"),)
    parcel, _ = run(
        shipment(), update(S.IN_TRANSIT, 10, detail="departed", location=HAMBURG, checkpoints=history)
    )
    assert parcel.checkpoints == [
        history[0],
        Checkpoint(at=at(10), status=S.IN_TRANSIT, detail="departed", location=HAMBURG),
    ]


def test_checkpoints_are_deduplicated_and_sorted_across_updates():
    a = Checkpoint(at=at(5), status=S.PRE_TRANSIT, message="Label created")
    b = Checkpoint(at=at(10), status=S.IN_TRANSIT, message="Picked up")
    c = Checkpoint(at=at(20), status=S.OUT_FOR_DELIVERY, message="On the van")
    parcel, outcomes = run(
        shipment(),
        update(S.OUT_FOR_DELIVERY, 20, checkpoints=(a, b, c)),
        update(S.IN_TRANSIT, 10, checkpoints=(a, b)),  # an older full history, again
        update(S.OUT_FOR_DELIVERY, 20, checkpoints=(c, a)),  # same, different order
    )
    assert parcel.checkpoints == [a, b, c]
    assert parcel.applied_events == 3
    # Same message, different detail: a different scan, kept.
    parcel, _ = run(
        parcel, update(S.IN_TRANSIT, 10, detail="x", checkpoints=(b.model_copy(update={"detail": "x"}),))
    )
    assert len(parcel.checkpoints) == 4


def test_checkpoints_are_capped_to_the_newest():
    many = tuple(
        Checkpoint(at=at(i), status=S.IN_TRANSIT, message=f"scan {i}") for i in range(MAX_CHECKPOINTS + 30)
    )
    parcel, _ = run(shipment(), update(S.IN_TRANSIT, MAX_CHECKPOINTS + 29, checkpoints=many))
    assert len(parcel.checkpoints) == MAX_CHECKPOINTS
    assert parcel.checkpoints == list(many[30:])
    # A very old scan arriving later does not push a newer one out.
    parcel, _ = run(parcel, update(S.PRE_TRANSIT, -100))
    assert parcel.checkpoints == list(many[30:]) and parcel.last_event_at == at(MAX_CHECKPOINTS + 29)


def test_merge_keeps_the_richer_copy_whatever_the_order():
    bare = Checkpoint(at=at(5), status=S.IN_TRANSIT)
    placed = Checkpoint(at=at(5), status=S.IN_TRANSIT, location=BERLIN)
    assert merge_checkpoints([bare], [placed]) == merge_checkpoints([placed], [bare]) == [placed]


def test_last_event_at_uses_the_newest_checkpoint():
    history = (Checkpoint(at=at(30), status=S.IN_TRANSIT, message="later scan"),)
    parcel, _ = run(shipment(), update(S.IN_TRANSIT, 20, checkpoints=history))
    assert parcel.last_event_at == at(30) and parcel.status_at == at(20)


# --- ETA and location --------------------------------------------------------------------------------


def test_eta_handling():
    parcel, outcomes = run(
        shipment(),
        update(S.IN_TRANSIT, 10, eta=at(3000)),
        update(S.IN_TRANSIT, 20),  # no ETA: keep the one we have
        update(S.PRE_TRANSIT, 5, eta=at(9000)),  # older: never overwrites
        update(S.IN_TRANSIT, 30, eta=at(4000)),  # eta-only change on a current event
    )
    assert [o.shipment.eta for o in outcomes] == [at(3000), at(3000), at(3000), at(4000)]
    assert [o.events for o in outcomes] == [("shipment.updated",), (), (), ("shipment.updated",)]
    assert [o.changed for o in outcomes] == [True, False, False, True]
    parcel, (delivered,) = run(parcel, update(S.DELIVERED, 40, eta=at(5000)))
    assert parcel.eta is None  # nothing left to estimate
    assert delivered.events == ("shipment.updated", "shipment.delivered")


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_eta_is_dropped_on_any_terminal_status(terminal):
    parcel, _ = run(shipment(), update(S.IN_TRANSIT, 10, eta=at(3000)), update(terminal, 20))
    assert parcel.eta is None


def test_location_changes_only_with_a_located_applied_event():
    parcel, outcomes = run(
        shipment(),
        update(S.IN_TRANSIT, 10, location=BERLIN),
        update(S.IN_TRANSIT, 20, location=Location()),  # empty: keep Berlin
        update(S.IN_TRANSIT, 5, location=HAMBURG),  # older: history only
        update(S.IN_TRANSIT, 30, location=HAMBURG),
    )
    assert [o.shipment.last_location for o in outcomes] == [BERLIN, BERLIN, BERLIN, HAMBURG]
    # A move alone is a change worth storing but not an event.
    assert outcomes[3].changed and outcomes[3].events == ()


# --- events -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "action_required", "expected"),
    [
        (S.PRE_TRANSIT, "label_created", False, ("shipment.updated",)),
        (S.IN_TRANSIT, None, False, ("shipment.updated",)),
        (S.OUT_FOR_DELIVERY, None, False, ("shipment.updated",)),
        (S.AVAILABLE_FOR_PICKUP, None, True, ("shipment.updated", "shipment.exception")),
        (S.EXCEPTION, "delayed", False, ("shipment.updated", "shipment.exception")),
        (S.DELIVERED, None, False, ("shipment.updated", "shipment.delivered")),
        (S.RETURN_TO_SENDER, "returning", False, ("shipment.updated", "shipment.exception")),
        (S.FAILURE, "lost", True, ("shipment.updated", "shipment.exception")),
        (S.CANCELLED, None, False, ("shipment.updated",)),
        (S.ERROR, None, True, ("shipment.updated", "shipment.exception")),
        (S.UNKNOWN, None, False, ()),  # unknown -> unknown: nothing changed
    ],
)
def test_events_per_new_status(status, detail, action_required, expected):
    start, _ = run(shipment(), update(S.PRE_TRANSIT, 0, detail="label"))
    if status == S.UNKNOWN:
        start = shipment()
    _, (outcome,) = run(start, update(status, 10, detail=detail, action_required=action_required))
    assert outcome.events == expected


def test_no_events_when_nothing_changed():
    _, outcomes = run(
        shipment(),
        update(S.EXCEPTION, 10, detail="held", action_required=True),
        update(S.EXCEPTION, 20, detail="held", action_required=True),  # same status and detail
        update(S.EXCEPTION, 30, detail="address_issue", action_required=True),  # a new problem
    )
    assert [o.events for o in outcomes] == [
        ("shipment.updated", "shipment.exception"),
        (),
        ("shipment.updated", "shipment.exception"),
    ]


def test_delivered_is_emitted_once_even_when_delivered_is_refined():
    _, outcomes = run(
        shipment(),
        update(S.DELIVERED, 10),
        update(S.DELIVERED, 10),  # another event id, same instant
        update(S.DELIVERED, 20, detail="signed"),  # refined later
    )
    assert [o.events for o in outcomes] == [
        ("shipment.updated", "shipment.delivered"),
        (),
        ("shipment.updated",),
    ]


# --- return actions -----------------------------------------------------------------------------------

RETURN_ACTIONS = {
    S.UNKNOWN: None,
    S.PRE_TRANSIT: None,
    S.IN_TRANSIT: "first_scan",
    S.OUT_FOR_DELIVERY: "first_scan",
    S.AVAILABLE_FOR_PICKUP: "first_scan",
    S.EXCEPTION: "first_scan",
    S.DELIVERED: "deliver",
    S.RETURN_TO_SENDER: "return_to_sender",
    S.FAILURE: "exception",
    S.CANCELLED: "exception",
    S.ERROR: "exception",
}


def test_return_action_table_covers_the_vocabulary():
    assert set(RETURN_ACTIONS) == set(S)


@pytest.mark.parametrize(("status", "expected"), RETURN_ACTIONS.items())
def test_return_action_from_the_tracking_status(status, expected):
    _, (returned,) = run(shipment(Direction.RETURN), update(status, 10))
    assert returned.return_action == expected
    _, (outbound,) = run(shipment(Direction.OUTBOUND), update(status, 10))
    assert outbound.return_action is None


def test_return_action_only_for_applied_updates():
    _, (_, older) = run(shipment(Direction.RETURN), update(S.IN_TRANSIT, 10), update(S.DELIVERED, 5))
    assert older.return_action is None
    _, (odd,) = run(shipment(Direction.RETURN), update(S.UNKNOWN, 10, recognized=False))
    assert odd.return_action is None


def test_delivered_after_return_to_sender_never_delivers_a_return():
    # In order: should_apply flags the terminal change; the return is only noted.
    parcel, (_, delivered) = run(
        shipment(Direction.RETURN), update(S.RETURN_TO_SENDER, 10), update(S.DELIVERED, 20)
    )
    assert delivered.decision.apply and delivered.return_action == "exception"
    assert parcel.needs_review
    # Delivered first, the older return_to_sender arriving afterwards: flag it for review.
    parcel, (first, late) = run(
        shipment(Direction.RETURN), update(S.DELIVERED, 20), update(S.RETURN_TO_SENDER, 10)
    )
    assert first.return_action == "deliver" and late.return_action is None
    assert parcel.needs_review and parcel.review_reason == DELIVERED_AFTER_RETURN_TO_SENDER
    # Once ops has cleared it, further scans do not raise it again.
    cleared = parcel.model_copy(update={"needs_review": False, "review_reason": None})
    parcel, _ = run(cleared, update(S.DELIVERED, 20, detail="signed"))
    assert not parcel.needs_review
    # A return_to_sender scan in the delivered update's own history.
    rts = Checkpoint(at=at(10), status=S.RETURN_TO_SENDER, message="Returning to sender")
    parcel, (outcome,) = run(shipment(Direction.RETURN), update(S.DELIVERED, 20, checkpoints=(rts,)))
    assert outcome.return_action == "exception" and parcel.review_reason == DELIVERED_AFTER_RETURN_TO_SENDER


def test_scan_after_failure_is_noted_not_transitioned():
    _, (_, moved_on) = run(shipment(Direction.RETURN), update(S.FAILURE, 10), update(S.IN_TRANSIT, 20))
    assert moved_on.decision.reason == Reason.FAILURE_REVERSED and moved_on.return_action == "exception"


@pytest.mark.parametrize("return_status", list(P))
@pytest.mark.parametrize("action", ["first_scan", "deliver", "return_to_sender", "exception", None, "bogus"])
def test_return_action_for(action, return_status):
    expected = {
        ("first_scan", P.APPROVED): "first_scan",
        ("first_scan", P.LABEL_ISSUED): "first_scan",
        ("deliver", P.LABEL_ISSUED): "deliver",  # straight to delivered, no first_scan needed
        ("deliver", P.IN_TRANSIT): "deliver",
    }.get((action, return_status))
    assert return_action_for(action, return_status) == expected
    if expected is not None:
        # Always a legal state-machine move for the carrier.
        next_state(return_status, expected, Actor.CARRIER)


def test_return_to_sender_never_maps_to_a_transition():
    assert all(return_action_for("return_to_sender", state) is None for state in P)
    assert all(return_action_for("exception", state) is None for state in P)


# --- stalls -------------------------------------------------------------------------------------------

DAY = timedelta(days=1)


def test_outbound_parcel_without_events_stalls_from_registration():
    parcel = shipment(now=T0)
    assert not is_stalled(parcel, now=T0 + 2 * DAY, stalled_after=2 * DAY)  # not older than yet
    assert is_stalled(parcel, now=T0 + 2 * DAY + timedelta(seconds=1), stalled_after=2 * DAY)


def test_stall_is_reported_once_per_stall():
    parcel, _ = run(shipment(now=T0), update(S.IN_TRANSIT, 10))
    later = at(10) + 3 * DAY
    assert is_stalled(parcel, now=later, stalled_after=2 * DAY)
    delayed = mark_delayed(parcel, now=later)
    assert (
        delayed.delayed_for == at(10)
        and delayed.version == parcel.version + 1
        and delayed.updated_at == later
    )
    assert not is_stalled(delayed, now=later + 5 * DAY, stalled_after=2 * DAY)
    # A new carrier event ends this stall; the next one is reported again.
    moved, _ = run(delayed, update(S.IN_TRANSIT, 60 * 24 * 4))
    assert not is_stalled(moved, now=at(60 * 24 * 5), stalled_after=2 * DAY)
    assert is_stalled(moved, now=at(60 * 24 * 7), stalled_after=2 * DAY)


def test_older_event_does_not_restart_a_reported_stall():
    parcel, _ = run(shipment(now=T0), update(S.IN_TRANSIT, 100))
    delayed = mark_delayed(parcel, now=at(100) + 3 * DAY)
    parcel, _ = run(delayed, update(S.PRE_TRANSIT, 5))
    assert not is_stalled(parcel, now=at(100) + 4 * DAY, stalled_after=2 * DAY)


def test_mark_delayed_without_events_uses_registration():
    parcel = shipment(now=T0)
    delayed = mark_delayed(parcel, now=T0 + 3 * DAY)
    assert delayed.delayed_for == T0
    assert not is_stalled(delayed, now=T0 + 9 * DAY, stalled_after=2 * DAY)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_parcels_never_stall(terminal):
    parcel, _ = run(shipment(now=T0), update(terminal, 10))
    assert not is_stalled(parcel, now=at(10) + 30 * DAY, stalled_after=DAY)


def test_return_parcels_without_scans_never_stall():
    parcel = shipment(Direction.RETURN, now=T0)
    assert not is_stalled(parcel, now=T0 + 60 * DAY, stalled_after=DAY)
    # A label-created event is not a scan either: label expiry handles it.
    parcel, _ = run(parcel, update(S.PRE_TRANSIT, 10, detail="label_created"))
    assert not is_stalled(parcel, now=T0 + 60 * DAY, stalled_after=DAY)
    parcel, _ = run(parcel, update(S.IN_TRANSIT, 20))
    assert is_stalled(parcel, now=T0 + 60 * DAY, stalled_after=DAY)


# --- views and documents ------------------------------------------------------------------------------


def test_parcel_view_lists_events_newest_first():
    parcel, _ = run(
        shipment(Direction.RETURN),
        update(S.OUT_FOR_DELIVERY, 30, location=HAMBURG),
        update(S.PRE_TRANSIT, 5, detail="label_created"),
        update(
            S.DELIVERED,
            40,
            location=HAMBURG,
            checkpoints=(
                Checkpoint(at=at(40), status=S.DELIVERED, message="Delivered", location=HAMBURG),
                Checkpoint(at=at(10), status=S.IN_TRANSIT, message="Picked up", location=BERLIN),
            ),
        ),
    )
    view = parcel_view(parcel)
    assert [e.at for e in view.events] == [at(40), at(30), at(10), at(5)]
    assert view.events[0].message == "Delivered" and view.events[2].location == BERLIN
    assert view.delivered and view.status == S.DELIVERED and view.status_at == at(40)
    assert (view.direction, view.tracking_number, view.rma, view.carrier) == (
        Direction.RETURN,
        TN,
        "RMA-1",
        "ups",
    )
    assert view.last_location == HAMBURG and view.eta is None
    assert not parcel_view(shipment()).delivered and parcel_view(shipment()).events == []


def test_carrier_is_filled_in_from_updates():
    parcel, _ = run(shipment(carrier=None), update(S.IN_TRANSIT, 10, carrier="dhl"))
    assert parcel.carrier == "dhl"
    parcel, _ = run(shipment(carrier="ups"), update(S.IN_TRANSIT, 10, carrier="dhl"))
    assert parcel.carrier == "ups"


def test_update_for_another_parcel_is_refused():
    with pytest.raises(ValueError):
        apply_update(shipment(), update(S.IN_TRANSIT, 10, tracking_number="OTHER1"), now=NOW)


def test_shipment_event_doc():
    parcel, _ = run(shipment(Direction.RETURN), update(S.IN_TRANSIT, 10, location=BERLIN, eta=at(3000)))
    doc = shipment_event_doc(parcel, "shipment.updated", at=NOW)
    assert doc == {
        "type": "shipment.updated",
        "at": NOW.isoformat(),
        "tracking_number": TN,
        "carrier": "ups",
        "direction": "return",
        "order_id": "ord_1",
        "rma": "RMA-1",
        "status": "in_transit",
        "detail": None,
        "status_at": at(10).isoformat(),
        "location": {"city": "Berlin", "country": "DE"},
        "eta": at(3000).isoformat(),
        "needs_review": False,
    }
    assert json.loads(json.dumps(doc)) == doc
    bare = shipment_event_doc(shipment(), "shipment.delayed", at=NOW)
    assert bare["status_at"] is None and bare["location"] is None and bare["eta"] is None


# --- properties: arrival order does not matter -------------------------------------------------------

# Realistic carrier paths between non-terminal statuses (SM 2.4: not a rank order).
NEXT: dict[TrackingStatus, tuple[TrackingStatus, ...]] = {
    S.UNKNOWN: (S.PRE_TRANSIT, S.IN_TRANSIT),
    S.PRE_TRANSIT: (S.PRE_TRANSIT, S.IN_TRANSIT),
    S.IN_TRANSIT: (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.EXCEPTION, S.AVAILABLE_FOR_PICKUP, S.ERROR),
    S.OUT_FOR_DELIVERY: (S.EXCEPTION, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.AVAILABLE_FOR_PICKUP),
    S.EXCEPTION: (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.EXCEPTION),
    S.AVAILABLE_FOR_PICKUP: (S.AVAILABLE_FOR_PICKUP, S.IN_TRANSIT, S.EXCEPTION),
    S.ERROR: (S.IN_TRANSIT, S.UNKNOWN),
}
DETAILS: dict[TrackingStatus, tuple[str | None, ...]] = {
    S.IN_TRANSIT: (None, "arrived_at_facility", "departed_facility"),
    S.EXCEPTION: ("attempt_failed", "delayed", "held"),
    S.RETURN_TO_SENDER: ("returning", "returned"),
    S.FAILURE: ("lost", "undeliverable"),
}
PLACES = (None, BERLIN, HAMBURG, Location(city="Leipzig", country="DE"))


@st.composite
def journeys(draw, end: st.SearchStrategy[TrackingStatus | None] | None = None) -> list[CarrierUpdate]:
    """Chronological updates of one parcel: a non-terminal path, maybe one terminal status last."""
    length = draw(st.integers(min_value=0, max_value=8))
    status = S.UNKNOWN
    statuses = []
    for _ in range(length):
        status = draw(st.sampled_from(NEXT[status]))
        statuses.append(status)
    final = draw(end if end is not None else st.one_of(st.none(), st.sampled_from(sorted(TERMINAL))))
    if final is not None:
        statuses.append(final)
    if not statuses:
        statuses.append(draw(st.sampled_from(NEXT[S.UNKNOWN])))
    gaps = draw(
        st.lists(st.integers(min_value=1, max_value=6 * 60), min_size=len(statuses), max_size=len(statuses))
    )
    minutes = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    scans = [
        Checkpoint(
            at=at(m),
            status=s,
            detail=draw(st.sampled_from(DETAILS.get(s, (None,)))),
            message=f"scan {i}",
            location=draw(st.sampled_from(PLACES)),
        )
        for i, (s, m) in enumerate(zip(statuses, minutes, strict=True))
    ]
    updates = []
    for i, scan in enumerate(scans):
        # Some providers resend the whole history (EasyPost), some only the latest status.
        history = tuple(scans[: i + 1]) if draw(st.booleans()) else ()
        eta = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=7).map(lambda d: at(60 * 24 * d))))
        updates.append(
            update(
                scan.status,
                minutes[i],
                detail=scan.detail,
                action_required=draw(st.booleans()),
                location=scan.location,
                eta=eta,
                checkpoints=history,
            )
        )
    return updates


@given(st.data(), journeys(), st.sampled_from(list(Direction)))
def test_any_arrival_order_ends_like_the_chronological_one(data, journey, direction):
    in_order, _ = run(shipment(direction), *journey)
    arrival = data.draw(st.permutations(journey))
    shuffled, outcomes = run(shipment(direction), *arrival)
    last = journey[-1]
    assert (in_order.status, in_order.detail, in_order.status_at) == (last.status, last.detail, last.event_at)
    assert (shuffled.status, shuffled.detail, shuffled.status_at) == (last.status, last.detail, last.event_at)
    assert shuffled.action_required == in_order.action_required == last.action_required
    assert shuffled.checkpoints == in_order.checkpoints
    assert shuffled.last_event_at == in_order.last_event_at == last.event_at
    assert shuffled.applied_events == in_order.applied_events == len(journey)
    # History-only arrivals never publish anything.
    assert all(o.events == () for o in outcomes if not o.decision.apply)
    # A chronological journey of this shape never needs a person.
    assert not in_order.needs_review and not shuffled.needs_review


@given(st.data(), journeys(end=st.just(S.DELIVERED)))
def test_delivered_is_published_exactly_once_in_any_arrival_order(data, journey):
    arrival = data.draw(st.permutations(journey))
    parcel, outcomes = run(shipment(), *arrival)
    assert sum(o.events.count("shipment.delivered") for o in outcomes) == 1
    assert parcel.status == S.DELIVERED and parcel.eta is None


@given(st.data(), journeys(end=st.just(S.DELIVERED)))
def test_a_delivered_return_ends_delivered_in_any_arrival_order(data, journey):
    """What the consumer does with return_action: never an illegal move, always ends delivered."""
    arrival = data.draw(st.permutations(journey))
    _, outcomes = run(shipment(Direction.RETURN), *arrival)
    state = P.LABEL_ISSUED
    for outcome in outcomes:
        action = return_action_for(outcome.return_action, state)
        if action is not None:
            state = next_state(state, action, Actor.CARRIER).target  # raises on an illegal move
    assert state == P.DELIVERED


@given(journeys())
def test_version_grows_by_one_per_update(journey):
    parcel = shipment()
    for item in journey:
        outcome = apply_update(parcel, item, now=NOW)
        assert outcome.shipment.version == parcel.version + 1
        assert outcome.shipment.applied_events == parcel.applied_events + 1
        parcel = outcome.shipment
    assert parcel.version == len(journey)
