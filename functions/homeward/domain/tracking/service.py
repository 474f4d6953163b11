"""Tracking use cases: apply a stored webhook, register parcels, re-drive parked events, watch.

Called by TrackingFunction (the table's stream) and ShipmentWatchFunction (schedule). The
store is `adapters.dynamodb.tracking.TrackingTable`; the rules are in `domain.tracking`.

Exactly-once: the inbox item's `received -> applied` change is in the same transaction as
the parcel, its events and any return change, so a redelivered stream record or a replay
finds the item applied and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from homeward.domain.returns import rules as return_rules
from homeward.domain.returns.states import Actor, ParcelState
from homeward.domain.tracking import updates as tracking
from homeward.domain.tracking.ports import Ignored, WebhookParser
from homeward.errors import Conflict, HomewardError
from homeward.models.returns import ReturnRecord, TimelineEntry
from homeward.models.tracking import CarrierUpdate, Direction, Shipment, normalize_tracking_number

# The parked sweep re-checks this many parked events per watch run.
PARKED_SWEEP_LIMIT = 200


class TrackingStore(Protocol):
    def get_shipment(self, tracking_number: str) -> Shipment | None: ...

    def get_return(self, rma: str) -> ReturnRecord | None: ...

    def park(self, wid: str, tracking_number: str, *, received_at: str, now: datetime) -> bool: ...

    def mark_failed(self, wid: str, error: str, *, now: datetime) -> bool: ...

    def record_update(
        self,
        wid: str,
        shipment: Shipment,
        *,
        expected_version: int,
        events: list[tuple[str, dict[str, Any]]],
        outcome: str,
        return_change: tuple[ReturnRecord, list[TimelineEntry], int] | None = None,
        now: datetime,
    ) -> None: ...

    def register_shipment(self, shipment: Shipment) -> str: ...

    def parked_for(self, tracking_number: str) -> list[str]: ...

    def redrive(
        self, wid: str, *, now: datetime, actor: str, from_statuses: tuple[str, ...] = ...
    ) -> bool: ...


@dataclass(frozen=True)
class StoredWebhook:
    """What the stream record carries of an inbox item."""

    webhook_id: str
    provider: str
    event_id: str
    body: str
    received_at: str


def apply_webhook(stored: StoredWebhook, *, store: TrackingStore, parse: WebhookParser, now: datetime) -> str:
    """Apply one stored event to its parcel. Returns the outcome (for logs and metrics).

    Raises DependencyFailed / Conflict(shipment_changed | return_changed) for the caller to
    retry; everything that a retry cannot fix ends in a terminal inbox status instead.
    """
    try:
        parsed = parse(
            stored.provider,
            stored.body.encode(),
            {"webhook-id": stored.event_id},
            received_at=datetime.fromisoformat(stored.received_at.replace("Z", "+00:00")),
            accept_test_events=True,  # stored, so intake accepted it (SHIPPO_ACCEPT_TEST_EVENTS)
        )
    except HomewardError as exc:
        # It parsed at intake, so the parser changed since: keep it for ops to look at.
        store.mark_failed(stored.webhook_id, f"{exc.code}: {exc.message}", now=now)
        return "failed"
    if isinstance(parsed, Ignored):
        store.mark_failed(stored.webhook_id, f"not a tracking event: {parsed.event_type}", now=now)
        return "failed"
    shipment = store.get_shipment(parsed.tracking_number)
    if shipment is None:
        parked = store.park(
            stored.webhook_id, parsed.tracking_number, received_at=stored.received_at, now=now
        )
        return "parked" if parked else "already_handled"
    return _apply(stored.webhook_id, shipment, parsed, store=store, now=now)


def _apply(
    wid: str, shipment: Shipment, update: CarrierUpdate, *, store: TrackingStore, now: datetime
) -> str:
    outcome = tracking.apply_update(shipment, update, now=now)
    events = [
        (event_type, tracking.shipment_event_doc(outcome.shipment, event_type, at=now))
        for event_type in outcome.events
    ]
    return_change = None
    if shipment.direction is Direction.RETURN and shipment.rma and outcome.return_action:
        return_change = _return_change(shipment.rma, outcome.return_action, update, store=store, now=now)
    try:
        store.record_update(
            wid,
            outcome.shipment,
            expected_version=shipment.version,
            events=events,
            outcome=outcome.decision.reason.value,
            return_change=return_change,
            now=now,
        )
    except Conflict as exc:
        if exc.details.get("reason") == "already_applied":
            return "already_handled"  # a redelivered stream record or a concurrent replay
        raise
    return "applied" if outcome.decision.apply else "history"


def _return_change(
    rma: str, action: str, update: CarrierUpdate, *, store: TrackingStore, now: datetime
) -> tuple[ReturnRecord, list[TimelineEntry], int] | None:
    record = store.get_return(rma)
    if record is None:
        return None
    data = {
        "tracking_number": update.tracking_number,
        "tracking_status": update.status.value,
        "detail": update.detail,
        "carrier_event_at": update.event_at.isoformat(),
        "provider": update.provider,
    }
    transition = tracking.return_action_for(action, ParcelState(record.status))
    if transition is not None:
        change = return_rules.apply_action(
            record, transition, actor=Actor.CARRIER, actor_id=update.provider, now=now, data=data
        )
    elif action in ("return_to_sender", "exception") and record.status not in _CLOSED:
        # The parcel is not coming (yet): tell ops on the timeline. Never a refund trigger.
        note = (
            "The carrier is sending the return parcel back to the shopper"
            if action == "return_to_sender"
            else f"Carrier problem with the return parcel: {update.detail or update.status.value}"
        )
        change = return_rules.add_note(
            record, note, shopper_visible=False, actor=Actor.CARRIER, actor_id=update.provider, now=now
        )
        change.events[0].data = data
    else:
        return None
    return change.record, change.events, record.version


_CLOSED = {s.value for s in (ParcelState.CLOSED, ParcelState.REJECTED, ParcelState.CANCELLED)}


def register_order_shipments(
    order_id: str, shipments: list[tuple[str, str | None]], *, store: TrackingStore, now: datetime
) -> dict[str, int]:
    """Register an order's outbound parcels (tracking number, carrier); known ones are left alone."""
    counts = {"registered": 0, "exists": 0, "taken": 0}
    for number, carrier in shipments:
        shipment = tracking.register_shipment(
            normalize_tracking_number(number),
            carrier=carrier,
            direction=Direction.OUTBOUND,
            order_id=order_id,
            rma=None,
            now=now,
        )
        counts[store.register_shipment(shipment)] += 1
    return counts


def redrive_parked(
    tracking_number: str, *, store: TrackingStore, now: datetime, actor: str = "system"
) -> int:
    """A parcel with this number now exists: send its parked events through again."""
    return sum(
        store.redrive(wid, now=now, actor=actor, from_statuses=("parked",))
        for wid in store.parked_for(tracking_number)
    )


class ParkedEvent(Protocol):
    """What the watch needs of a parked inbox entry."""

    @property
    def webhook_id(self) -> str: ...

    @property
    def tracking_number(self) -> str: ...


class WatchStore(Protocol):
    def active_since_before(self, cutoff: datetime, *, limit: int) -> list[str]: ...

    def shipments(self, tracking_numbers: list[str]) -> list[Shipment]: ...

    def record_delay(
        self, shipment: Shipment, *, expected_version: int, events: list[tuple[str, dict[str, Any]]]
    ) -> None: ...

    def list_webhooks(self, status: str, *, limit: int) -> tuple[Sequence[ParkedEvent], str | None]: ...

    def redrive(
        self, wid: str, *, now: datetime, actor: str, from_statuses: tuple[str, ...] = ...
    ) -> bool: ...


def watch(*, store: WatchStore, stalled_after: timedelta, now: datetime, limit: int = 500) -> dict[str, int]:
    """Flag parcels silent for `stalled_after` (shipment.delayed, once per silence) and re-drive
    parked events whose parcel has been registered since (a safety net for index lag)."""
    counts = {"delayed": 0, "redriven": 0, "busy": 0}
    numbers = store.active_since_before(now - stalled_after, limit=limit)
    for shipment in store.shipments(numbers) if numbers else []:
        if not tracking.is_stalled(shipment, now=now, stalled_after=stalled_after):
            continue
        flagged = tracking.mark_delayed(shipment, now=now)
        event = ("shipment.delayed", tracking.shipment_event_doc(flagged, "shipment.delayed", at=now))
        try:
            store.record_delay(flagged, expected_version=shipment.version, events=[event])
            counts["delayed"] += 1
        except Conflict:
            counts["busy"] += 1  # a carrier event arrived meanwhile: not silent any more
    parked, _ = store.list_webhooks("parked", limit=PARKED_SWEEP_LIMIT)
    numbers = sorted({entry.tracking_number for entry in parked})
    known = {s.tracking_number for s in store.shipments(numbers)} if numbers else set()
    for entry in parked:
        if entry.tracking_number in known:
            counts["redriven"] += store.redrive(
                entry.webhook_id, now=now, actor="system:watch", from_statuses=("parked",)
            )
    return counts
