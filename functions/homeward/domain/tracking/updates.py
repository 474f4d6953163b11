"""Applying carrier updates to a tracked parcel: the pure core of the tracking consumer.

Everything here is a function of its arguments (no I/O, no clock: `now` is passed in). The
consumer loads the `Shipment`, calls `apply_update` once per deduplicated `CarrierUpdate`
(status-map.md (SM) 2.1 happens before, on the provider event id), writes the result back
with an optimistic `version` check, publishes the returned domain events, and - for return
parcels - runs `return_action_for(outcome.return_action, return.status)` through the return
state machine.

Rules (SM 2.2-2.5; ordering itself is `tracking_status.should_apply`):
  * every update goes to the history (checkpoints), whatever its time;
  * only an update that `should_apply` accepts moves the current status;
  * an unrecognized provider value (`unknown` with `recognized=False`) never moves the
    current status (SM 2.5: keep the previous status). `TrackingOutcome.kept_previous` says
    so, and its `decision` has `apply=False`;
  * domain events are emitted only for real changes of the current status (or of the ETA),
    so notifications hanging off them fire once (carriers-and-refunds.md 6.3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from homeward.domain.returns.states import ParcelState
from homeward.domain.tracking.status import TERMINAL, Decision, TrackingStatus, should_apply
from homeward.models.tracking import (
    MAX_CHECKPOINTS,
    CarrierUpdate,
    Checkpoint,
    Direction,
    Location,
    ParcelEvent,
    ParcelView,
    Shipment,
    normalize_tracking_number,
)

S = TrackingStatus

# Domain event types (published on the domain events topic).
SHIPMENT_UPDATED = "shipment.updated"
SHIPMENT_EXCEPTION = "shipment.exception"
SHIPMENT_DELIVERED = "shipment.delivered"
SHIPMENT_DELAYED = "shipment.delayed"

# Return actions computed from the tracking status alone (`TrackingOutcome.return_action`).
FIRST_SCAN = "first_scan"
DELIVER = "deliver"
RETURN_TO_SENDER = "return_to_sender"
EXCEPTION = "exception"

# Statuses that tell ops something went wrong (with `action_required`, they emit shipment.exception).
EXCEPTION_STATUSES: frozenset[TrackingStatus] = frozenset(
    {S.EXCEPTION, S.FAILURE, S.RETURN_TO_SENDER, S.ERROR}
)

# The carrier has the parcel: any of these is the return's first scan. pre_transit (label
# created, carrier does not have it) and unknown are not scans.
SCAN_STATUSES: frozenset[TrackingStatus] = frozenset(
    {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.AVAILABLE_FOR_PICKUP, S.EXCEPTION}
)

# Review reason of our own (the others are `tracking_status.Reason` values): a parcel shown as
# delivered although its history says it was sent back - delivered to whom?
DELIVERED_AFTER_RETURN_TO_SENDER = "delivered_after_return_to_sender"

# Which return states each state-machine action may run from (states.TRANSITIONS sources).
_RETURN_ACTION_SOURCES: dict[str, frozenset[ParcelState]] = {
    FIRST_SCAN: frozenset({ParcelState.APPROVED, ParcelState.LABEL_ISSUED}),
    DELIVER: frozenset({ParcelState.LABEL_ISSUED, ParcelState.IN_TRANSIT}),
}


def register_shipment(
    tracking_number: str,
    *,
    carrier: str | None,
    direction: Direction,
    order_id: str,
    rma: str | None,
    now: datetime,
) -> Shipment:
    """A newly tracked parcel: no carrier data yet (status `unknown`), version 0."""
    return Shipment(
        tracking_number=normalize_tracking_number(tracking_number),
        carrier=carrier,
        direction=Direction(direction),
        order_id=order_id,
        rma=rma,
        registered_at=now,
        updated_at=now,
    )


@dataclass(frozen=True)
class TrackingOutcome:
    """What one carrier update did to a parcel.

    `decision` is `should_apply`'s verdict, except that for an unrecognized value
    (`kept_previous`) `apply` and `needs_review` are forced to False: the status did not move.
    `changed` is True when the current status, detail, ETA or location changed.
    `events` are the domain event types to publish, in order; empty for history-only updates.
    `return_action` is only set for return parcels; see `return_action_for`.
    """

    shipment: Shipment
    decision: Decision
    changed: bool
    events: tuple[str, ...]
    return_action: str | None
    kept_previous: bool = False

    @property
    def applied(self) -> bool:
        return self.decision.apply


def _checkpoint_key(checkpoint: Checkpoint) -> tuple[datetime, str, str, str]:
    return (checkpoint.at, checkpoint.status.value, checkpoint.detail or "", checkpoint.message or "")


def _location_rank(checkpoint: Checkpoint) -> tuple[int, str]:
    location = checkpoint.location
    if location is None or location.is_empty():
        return (0, "")
    return (1, location.model_dump_json())


def _own_checkpoint(update: CarrierUpdate) -> Checkpoint:
    return Checkpoint(
        at=update.event_at, status=update.status, detail=update.detail, location=update.location
    )


def _update_checkpoints(update: CarrierUpdate) -> list[Checkpoint]:
    """The provider's checkpoints plus one for the update itself, unless they already have it."""
    checkpoints = list(update.checkpoints)
    # Matched on (time, status) only: the provider's copy usually carries a message ours lacks.
    if not any(c.at == update.event_at and c.status == update.status for c in checkpoints):
        checkpoints.append(_own_checkpoint(update))
    return checkpoints


def merge_checkpoints(existing: list[Checkpoint], new: list[Checkpoint]) -> list[Checkpoint]:
    """Union deduplicated on (at, status, detail, message), oldest first, newest MAX_CHECKPOINTS kept.

    The result does not depend on the order updates arrive in: the sort key is total, and of
    two copies of a key the one with the richer location is kept (by a fixed rule, not arrival).
    """
    by_key: dict[tuple[datetime, str, str, str], Checkpoint] = {}
    for checkpoint in (*existing, *new):
        key = _checkpoint_key(checkpoint)
        kept = by_key.get(key)
        if kept is None or _location_rank(checkpoint) > _location_rank(kept):
            by_key[key] = checkpoint
    return [by_key[key] for key in sorted(by_key)][-MAX_CHECKPOINTS:]


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _has_return_to_sender(checkpoints: list[Checkpoint]) -> bool:
    return any(c.status == S.RETURN_TO_SENDER for c in checkpoints)


def _return_action(status: TrackingStatus, *, suspicious: bool) -> str | None:
    """The return's action from the tracking status alone (the caller checks the return's state)."""
    if status == S.RETURN_TO_SENDER:
        # Going back to the shopper: noted on the timeline, never a transition, never a refund.
        return RETURN_TO_SENDER
    if status in (S.FAILURE, S.CANCELLED, S.ERROR):
        return EXCEPTION
    if status == S.DELIVERED or status in SCAN_STATUSES:
        # A progress status that needs review (e.g. delivered after return_to_sender or after a
        # failure) may trigger a refund downstream: note it for ops instead of transitioning.
        if suspicious:
            return EXCEPTION
        return DELIVER if status == S.DELIVERED else FIRST_SCAN
    return None  # unknown, pre_transit: not a scan


@dataclass(frozen=True)
class _Current:
    """A parcel's current-status fields, as an update leaves them (moved or kept)."""

    status: TrackingStatus
    detail: str | None
    action_required: bool
    status_at: datetime | None
    location: Location | None
    eta: datetime | None


def apply_update(shipment: Shipment, update: CarrierUpdate, *, now: datetime) -> TrackingOutcome:
    """Apply one (already deduplicated) carrier update: history always, current status if newer."""
    if normalize_tracking_number(update.tracking_number) != shipment.tracking_number:
        raise ValueError(f"update for {update.tracking_number!r} applied to {shipment.tracking_number!r}")

    incoming = _update_checkpoints(update)
    checkpoints = merge_checkpoints(shipment.checkpoints, incoming)
    ordering = should_apply(
        shipment.status if shipment.status_at else None, shipment.status_at, update.status, update.event_at
    )
    # SM 2.5: an unrecognized value keeps the previous status (history only), whatever its time.
    kept_previous = update.status == S.UNKNOWN and not update.recognized
    decision = replace(ordering, apply=False, needs_review=False) if kept_previous else ordering
    current = _current_after(shipment, update, decision, eta_still_current=kept_previous and ordering.apply)
    needs_review, review_reason = _review_flag(shipment, current.status, checkpoints, decision)

    status_changed = (current.status, current.detail) != (shipment.status, shipment.detail)
    eta_changed = current.eta != shipment.eta
    updated = shipment.model_copy(
        update={
            "carrier": shipment.carrier or update.carrier,
            "status": current.status,
            "detail": current.detail,
            "action_required": current.action_required,
            "status_at": current.status_at,
            "last_event_at": _latest(shipment.last_event_at, update.event_at, *(c.at for c in incoming)),
            "last_location": current.location,
            "eta": current.eta,
            "checkpoints": checkpoints,
            "applied_events": shipment.applied_events + 1,
            "needs_review": needs_review,
            "review_reason": review_reason,
            "updated_at": now,
            "version": shipment.version + 1,
        }
    )
    return TrackingOutcome(
        shipment=updated,
        decision=decision,
        changed=status_changed or eta_changed or current.location != shipment.last_location,
        events=_domain_events(shipment, current, status_changed=status_changed, eta_changed=eta_changed),
        return_action=_parcel_return_action(shipment, current.status, checkpoints, decision),
        kept_previous=kept_previous,
    )


def _current_after(
    shipment: Shipment, update: CarrierUpdate, decision: Decision, *, eta_still_current: bool
) -> _Current:
    """The current status moves to the update's when `decision` applies it; otherwise it stays."""
    if decision.apply:
        location = shipment.last_location
        if update.location is not None and not update.location.is_empty():
            location = update.location
        eta = update.eta if update.eta is not None else shipment.eta  # no ETA keeps the one we have
        if update.status in TERMINAL:
            eta = None  # nothing left to estimate
        return _Current(update.status, update.detail, update.action_required, update.event_at, location, eta)
    eta = shipment.eta
    if eta_still_current and shipment.status not in TERMINAL and update.eta is not None:
        # The status is unusable but the event is current: its ETA still is (e.g. a UPS
        # "updated delivery date" that maps to no status).
        eta = update.eta
    return _Current(
        shipment.status,
        shipment.detail,
        shipment.action_required,
        shipment.status_at,
        shipment.last_location,
        eta,
    )


def _review_reason(
    shipment: Shipment, status: TrackingStatus, checkpoints: list[Checkpoint], decision: Decision
) -> str | None:
    """Why this update needs a person to look at the parcel, if it does."""
    if decision.needs_review:
        return decision.reason.value
    was_suspicious = shipment.status == S.DELIVERED and _has_return_to_sender(shipment.checkpoints)
    if status == S.DELIVERED and _has_return_to_sender(checkpoints) and not was_suspicious:
        # Also when the return_to_sender scan arrives after (but is dated before) delivered.
        # Only when this update makes it so: a flag ops cleared is not raised again.
        return DELIVERED_AFTER_RETURN_TO_SENDER
    return None


def _review_flag(
    shipment: Shipment, status: TrackingStatus, checkpoints: list[Checkpoint], decision: Decision
) -> tuple[bool, str | None]:
    """The parcel's (needs_review, review_reason): the first reason stays until ops clears the flag."""
    review = _review_reason(shipment, status, checkpoints, decision)
    if review is None or shipment.needs_review:
        return shipment.needs_review, shipment.review_reason
    return True, review


def _domain_events(
    shipment: Shipment, current: _Current, *, status_changed: bool, eta_changed: bool
) -> tuple[str, ...]:
    """The domain events of a real change of the current status or ETA, in publishing order."""
    events: list[str] = []
    if status_changed or eta_changed:
        events.append(SHIPMENT_UPDATED)
    if status_changed and (current.status in EXCEPTION_STATUSES or current.action_required):
        events.append(SHIPMENT_EXCEPTION)
    if status_changed and current.status == S.DELIVERED and shipment.status != S.DELIVERED:
        events.append(SHIPMENT_DELIVERED)
    return tuple(events)


def _parcel_return_action(
    shipment: Shipment, status: TrackingStatus, checkpoints: list[Checkpoint], decision: Decision
) -> str | None:
    """The return action of an applied update to a return parcel (None for outbound or history)."""
    if shipment.direction != Direction.RETURN or not decision.apply:
        return None
    suspicious = decision.needs_review or (status == S.DELIVERED and _has_return_to_sender(checkpoints))
    return _return_action(status, suspicious=suspicious)


def return_action_for(action: str | None, return_status: ParcelState) -> str | None:
    """The state-machine action ("first_scan" / "deliver") to run on a return in `return_status`.

    None when there is nothing to do: the return is already there or past it, or the tracking
    action is not a transition at all (`return_to_sender` and `exception` are only noted).
    """
    sources = _RETURN_ACTION_SOURCES.get(action or "")
    if sources is None or return_status not in sources:
        return None
    return action


def _stall_reference(shipment: Shipment) -> datetime | None:
    """The time a stall is measured from, or None when this parcel cannot stall."""
    if shipment.direction == Direction.OUTBOUND:
        return shipment.last_event_at or shipment.registered_at
    # A return the carrier never scanned is waiting for drop-off: label expiry handles it.
    if not any(c.status not in (S.UNKNOWN, S.PRE_TRANSIT) for c in shipment.checkpoints):
        return None
    return shipment.last_event_at


def is_stalled(shipment: Shipment, *, now: datetime, stalled_after: timedelta) -> bool:
    """No carrier news for `stalled_after` on a non-terminal parcel, not yet reported for this stall."""
    if shipment.status in TERMINAL:
        return False
    reference = _stall_reference(shipment)
    if reference is None or reference >= now - stalled_after:
        return False
    # One shipment.delayed per stall: a new carrier event starts a new one.
    return shipment.delayed_for != reference


def mark_delayed(shipment: Shipment, *, now: datetime) -> Shipment:
    """Record that shipment.delayed was emitted for the current stall."""
    return shipment.model_copy(
        update={
            "delayed_for": shipment.last_event_at or shipment.registered_at,
            "version": shipment.version + 1,
            "updated_at": now,
        }
    )


def parcel_view(shipment: Shipment) -> ParcelView:
    """What the shopper sees for one parcel: current status and the history, newest first."""
    events = [
        ParcelEvent(at=c.at, status=c.status, detail=c.detail, message=c.message, location=c.location)
        for c in reversed(shipment.checkpoints)
    ]
    return ParcelView(
        direction=shipment.direction,
        tracking_number=shipment.tracking_number,
        carrier=shipment.carrier,
        rma=shipment.rma,
        status=shipment.status,
        detail=shipment.detail,
        status_at=shipment.status_at,
        last_location=shipment.last_location,
        eta=shipment.eta,
        delivered=shipment.status == S.DELIVERED,
        events=events,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _location_doc(location: Location | None) -> dict[str, str] | None:
    if location is None or location.is_empty():
        return None
    return location.model_dump(exclude_none=True)


def shipment_event_doc(shipment: Shipment, event_type: str, *, at: datetime) -> dict[str, Any]:
    """The JSON-able document of a shipment domain event (times as ISO 8601 strings)."""
    return {
        "type": event_type,
        "at": at.isoformat(),
        "tracking_number": shipment.tracking_number,
        "carrier": shipment.carrier,
        "direction": shipment.direction.value,
        "order_id": shipment.order_id,
        "rma": shipment.rma,
        "status": shipment.status.value,
        "detail": shipment.detail,
        "status_at": _iso(shipment.status_at),
        "location": _location_doc(shipment.last_location),
        "eta": _iso(shipment.eta),
        "needs_review": shipment.needs_review,
    }
