"""Use cases over returns: start one, act on one, read them. Storage comes in as a port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from homeward.domain.orders.rules import email_fingerprint
from homeward.domain.returns import rules as returns
from homeward.domain.returns.eligibility import GIFT_RESOLUTION, eligibility, for_gift_recipient
from homeward.domain.returns.states import SHOPPER_CAN_CANCEL, Actor, ParcelState
from homeward.errors import Conflict, NotFound, Unprocessable
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import (
    Eligibility,
    GiftRecipient,
    ReceiveRequest,
    ReturnLabel,
    ReturnLine,
    ReturnRecord,
    ReturnRequest,
    TimelineEntry,
)

PREVIEW_RMA = "R-0000-0000-0000-0000"  # never stored: previews write nothing
# Optimistic reservation: a concurrent return on the same lines makes us re-read and retry.
_RESERVATION_ATTEMPTS = 3


@dataclass(frozen=True)
class KeyedSubmit:
    """What an Idempotency-Key created: stored at `IDEMP#<order>#<key>`, written in the same
    transaction as the return, so one (order, key) pair names exactly one return."""

    order_id: str
    idempotency_key: str
    rma: str
    request_hash: str


class ReturnStore(Protocol):
    def order_with_reservations(self, order_id: str) -> tuple[Order, dict[str, int]] | None: ...

    def customer_returns_since(self, customer_fp: str, since: datetime) -> int: ...

    def get_return(
        self, rma: str, *, with_timeline: bool = False
    ) -> tuple[ReturnRecord, list[TimelineEntry]] | None: ...

    def returns_for_order(self, order_id: str) -> list[ReturnRecord]: ...

    def keyed_submit(self, order_id: str, idempotency_key: str) -> KeyedSubmit | None: ...

    def create_return(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        reserved_before: dict[str, int],
        *,
        idempotency_key: str | None = None,
    ) -> None: ...

    def save_change(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
    ) -> None: ...


def order_eligibility(
    order_id: str, *, store: ReturnStore, policy: ReturnPolicy, now: datetime, gift: bool = False
) -> Eligibility:
    found = store.order_with_reservations(order_id)
    if found is None:
        raise NotFound("Order not found")
    order, reserved = found
    result = eligibility(order, reserved=reserved, policy=policy, now=now)
    return for_gift_recipient(result) if gift else result


def preview_return(
    order_id: str, request: ReturnRequest, *, store: ReturnStore, policy: ReturnPolicy, now: datetime
) -> ReturnRecord:
    """What this request would refund, priced exactly as a submit would, without writing anything.
    Errors are the submit's (409 over-return, 422 ineligible), bar missing photos or note."""
    found = store.order_with_reservations(order_id)
    if found is None:
        raise NotFound("Order not found")
    order, reserved = found
    change = returns.create_return(
        order,
        request,
        rma=PREVIEW_RMA,
        reserved=reserved,
        policy=policy,
        customer_returns_90_days=0,
        filed_by=Actor.SHOPPER,
        actor_id=None,
        now=now,
        preview=True,
    )
    return change.record


def visible_to(record: ReturnRecord, gift) -> bool:
    """Whether a portal session sees this return. A gift's return is its recipient's alone (the
    buyer must not find out), and a recipient (`gift`: their claim) sees only their own returns."""
    if gift is None:
        return record.gift is None
    return record.gift is not None and record.gift.email.lower() == gift.email.lower()


def check_gift_request(request: ReturnRequest) -> None:
    """A gift's recipient returns for store credit only: never money to the buyer's card."""
    wrong = [line.line_id for line in request.lines if line.resolution != GIFT_RESOLUTION]
    if wrong:
        raise Unprocessable(
            "A gift can be returned for store credit only",
            details={"reason_codes": ["gift_store_credit_only"], "lines": wrong},
        )


def start_return(
    order_id: str,
    request: ReturnRequest,
    *,
    idempotency_key: str | None,
    store: ReturnStore,
    policy: ReturnPolicy,
    filed_by: Actor,
    actor_id: str | None,
    now: datetime,
    gift: GiftRecipient | None = None,
) -> tuple[ReturnRecord, list[TimelineEntry], bool]:
    """Create a return: (record, timeline, created). A repeated Idempotency-Key gives the first one.
    `gift`: filed by a gift's recipient (store credit only; told to them, never to the buyer)."""
    if gift is not None:
        check_gift_request(request)
    if idempotency_key:
        # Before any rule: a replay must get the first answer even if that return used up the units.
        earlier = _keyed_replay(order_id, idempotency_key, request, store)
        if earlier is not None:
            return earlier
    for _attempt in range(_RESERVATION_ATTEMPTS):
        created = _create_once(
            order_id,
            request,
            idempotency_key=idempotency_key,
            store=store,
            policy=policy,
            filed_by=filed_by,
            actor_id=actor_id,
            now=now,
            gift=gift,
        )
        if created is not None:
            return created
    raise Conflict("The order is being changed by another request; try again", details={"reason": "busy"})


def _create_once(
    order_id: str,
    request: ReturnRequest,
    *,
    idempotency_key: str | None,
    store: ReturnStore,
    policy: ReturnPolicy,
    filed_by: Actor,
    actor_id: str | None,
    now: datetime,
    gift: GiftRecipient | None,
) -> tuple[ReturnRecord, list[TimelineEntry], bool] | None:
    """One attempt at reserving the units: the new return (or the return a concurrent submit
    with the same key made), or None to re-read and try again."""
    found = store.order_with_reservations(order_id)
    if found is None:
        raise NotFound("Order not found")
    order, reserved = found
    recent = store.customer_returns_since(email_fingerprint(order.customer.email), now - timedelta(days=90))
    change = returns.create_return(
        order,
        request,
        rma=returns.new_rma(),
        reserved=reserved,
        policy=policy,
        customer_returns_90_days=recent,
        filed_by=filed_by,
        actor_id=actor_id,
        now=now,
    )
    if gift is not None:
        change.record.gift = gift
    try:
        store.create_return(change.record, change.events, reserved, idempotency_key=idempotency_key)
    except Conflict as exc:
        reason = exc.details.get("reason")
        if reason == "idempotency_key_used" and idempotency_key:
            # A concurrent submit with this key won the race.
            winner = _keyed_replay(order_id, idempotency_key, request, store)
            if winner is not None:
                return winner
        if reason in ("quantities_changed", "return_exists"):
            # Someone else reserved units meanwhile (re-read and re-check), or the random
            # RMA is taken (the conditional put refused to overwrite): draw another one.
            return None
        raise
    return change.record, change.events, True


def _keyed_replay(
    order_id: str, idempotency_key: str, request: ReturnRequest, store: ReturnStore
) -> tuple[ReturnRecord, list[TimelineEntry], bool] | None:
    """The return this (order, key) created, or None. Everything is checked before anything is
    returned: the key item's order and key, the return's order, the request fingerprint."""
    submit = store.keyed_submit(order_id, idempotency_key)
    if submit is None:
        return None
    if submit.order_id != order_id or submit.idempotency_key != idempotency_key:
        raise Conflict(
            "This Idempotency-Key cannot be replayed", details={"reason": "idempotency_key_mismatch"}
        )
    if submit.request_hash != returns.request_hash(request):
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request",
            details={"reason": "idempotency_key_reused", "rma": submit.rma},
        )
    found = store.get_return(submit.rma, with_timeline=True)
    if found is None or found[0].order_id != order_id:
        raise Conflict(
            "This Idempotency-Key cannot be replayed", details={"reason": "idempotency_key_mismatch"}
        )
    return found[0], found[1], False


def get_for_order(order_id: str, rma: str, *, store: ReturnStore) -> tuple[ReturnRecord, list[TimelineEntry]]:
    """A return of this order with its timeline; another order's return is simply not found."""
    found = store.get_return(rma, with_timeline=True)
    if found is None or found[0].order_id != order_id:
        raise NotFound("Return not found")
    return found


def get_return(rma: str, *, store: ReturnStore) -> tuple[ReturnRecord, list[TimelineEntry]]:
    found = store.get_return(rma, with_timeline=True)
    if found is None:
        raise NotFound("Return not found")
    return found


def act(
    rma: str,
    action: str,
    *,
    store: ReturnStore,
    actor: Actor,
    actor_id: str | None,
    now: datetime,
    note: str | None = None,
    order_id: str | None = None,
) -> tuple[ReturnRecord, list[TimelineEntry]]:
    """Apply one state-machine action, written only if nobody changed the return meanwhile."""
    record, timeline = get_for_order(order_id, rma, store=store) if order_id else get_return(rma, store=store)
    change = returns.apply_action(record, action, actor=actor, actor_id=actor_id, now=now, note=note)
    _save(store, change, record)
    return change.record, timeline + change.events


def receive(
    rma: str, inspection: ReceiveRequest, *, store: ReturnStore, actor_id: str | None, now: datetime
) -> tuple[ReturnRecord, list[TimelineEntry]]:
    record, timeline = get_return(rma, store=store)
    change = returns.receive(record, inspection, actor_id=actor_id, now=now)
    _save(store, change, record)
    return change.record, timeline + change.events


def add_note(
    rma: str, note: str, *, shopper_visible: bool, store: ReturnStore, actor_id: str | None, now: datetime
) -> tuple[ReturnRecord, list[TimelineEntry]]:
    record, timeline = get_return(rma, store=store)
    change = returns.add_note(
        record, note, shopper_visible=shopper_visible, actor=Actor.OPS, actor_id=actor_id, now=now
    )
    _save(store, change, record)
    return change.record, timeline + change.events


def _save(store: ReturnStore, change: returns.Change, before: ReturnRecord) -> None:
    try:
        store.save_change(
            change.record, change.events, expected_version=before.version, release=change.release
        )
    except Conflict as exc:
        if exc.details.get("reason") != "version_changed":
            raise
        current = store.get_return(before.rma)
        status = current[0].status if current else before.status
        raise Conflict(
            "The return changed meanwhile; reload it and try again",
            details={"reason": "concurrent_change", "current_status": status},
        ) from exc


def shopper_timeline(timeline: list[TimelineEntry]) -> list[TimelineEntry]:
    """What a shopper may see: state changes and notes meant for them.

    Staff identities, review reason codes and inspection details are internal: only the
    requested lines survive from an entry's data.
    """
    return [
        e.model_copy(
            update={
                "actor_id": None,
                "data": {k: v for k, v in e.data.items() if k == "lines"}
                if e.type == "return.requested"
                else {},
            }
        )
        for e in timeline
        if e.shopper_visible
    ]


def shopper_lines(record: ReturnRecord) -> list[ReturnLine]:
    """The return's lines without the warehouse's grade, disposition and inspection note."""
    return [
        line.model_copy(update={"grade": None, "disposition": None, "inspection_note": None})
        for line in record.lines
    ]


def label_status(record: ReturnRecord) -> str:
    """Where the label stands, for the shopper: none yet, pending purchase, issued, ..."""
    status = ParcelState(record.status)
    if status is ParcelState.NEEDS_ATTENTION:
        return "failed"
    if record.label is not None:
        if record.label.voided:
            return "voided"
        return "expired" if status is ParcelState.EXPIRED else "issued"
    if status is ParcelState.APPROVED and any(line.resolution != "keep_item" for line in record.lines):
        return "pending"
    return "none"


def usable_label(record: ReturnRecord) -> ReturnLabel:
    """The return's label while the shopper can still use it, or 409 saying why not."""
    label = record.label
    if label is None or label.voided or ParcelState(record.status) is ParcelState.EXPIRED:
        raise Conflict(
            "This return has no usable label",
            details={"reason": "no_label", "label_status": label_status(record)},
        )
    return label


def label_file(record: ReturnRecord, label_format: str) -> str:
    """The stored file of the return's label in a format, or why there is none."""
    label = usable_label(record)
    if label_format not in label.files:
        raise Unprocessable(
            f"The carrier provides this label as {', '.join(sorted(label.files))} only",
            details={"reason": "format_not_available", "formats": sorted(label.files)},
        )
    return label.files[label_format]


def drop_off_code(record: ReturnRecord) -> str:
    """What the drop-off point scans instead of a printed label, or why there is none."""
    label = usable_label(record)
    if not label.qr_payload:
        raise Conflict(
            "This carrier's label has no drop-off code; print the label instead",
            details={"reason": "no_drop_off_code", "label_status": label_status(record)},
        )
    return label.qr_payload


def can_shopper_cancel(record: ReturnRecord) -> bool:
    return ParcelState(record.status) in SHOPPER_CAN_CANCEL and record.money_status == "none"
