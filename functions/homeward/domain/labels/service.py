"""Buying, storing, expiring and voiding return labels - exactly once per return.

The purchase is a small protocol around a claim item (`LABEL`) next to the return:

1. claim   - a conditional write takes a lease on `label:<rma>`; a concurrent duplicate
             message finds the lease held and is retried later;
2. buy     - the carrier is called with the reference `label:<rma>`; if an earlier attempt
             held the claim (it crashed after the carrier accepted?), the carrier is first
             asked for a label with that reference, and only bought from if there is none;
3. store   - the files go to the private labels bucket;
4. record  - one transaction marks the claim purchased, moves the return to `label_issued`
             (only if it is still at the version read) and writes `return.label_issued`.

Whatever fails when, a retry can never buy a second label: either the claim is held, or
the carrier already knows the reference. A carrier refusal (bad address) moves the return
to `needs_attention` with the carrier's message; transient failures propagate so the queue
retries them with backoff and finally dead-letters them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from homeward.domain.labels.ports import Carrier, CarrierRejected
from homeward.domain.returns import rules as return_rules
from homeward.domain.returns.states import Actor, ParcelState
from homeward.errors import Conflict, DependencyFailed
from homeward.models.labels import LabelAddress, LabelFormat, LabelRequest, PurchasedLabel
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import ReturnLabel, ReturnRecord, TimelineEntry

if TYPE_CHECKING:
    from homeward.domain.returns.rules import Change

FORMATS: tuple[LabelFormat, ...] = ("PDF", "PNG", "ZPL")
LEASE = timedelta(minutes=2)


def reference_for(rma: str) -> str:
    """The idempotency reference a return's label is bought with, whichever carrier."""
    return f"label:{rma}"


@dataclass(frozen=True)
class Claim:
    state: Literal["claimed", "busy", "purchased"]
    recovered: bool = False  # an earlier attempt held it: the carrier may already have sold the label


class LabelStore(Protocol):
    def get_return(
        self, rma: str, *, with_timeline: bool = False
    ) -> tuple[ReturnRecord, list[TimelineEntry]] | None: ...

    def order_with_reservations(self, order_id: str) -> tuple[Order, dict[str, int]] | None: ...

    def claim_label(self, rma: str, reference: str, *, now: datetime, lease_until: datetime) -> Claim: ...

    def record_label(
        self, record: ReturnRecord, events: list[TimelineEntry], *, expected_version: int, reference: str
    ) -> None: ...

    def release_label_claim(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
    ) -> None: ...

    def save_change(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
    ) -> None: ...

    def label_issued_before(self, created_before: datetime) -> list[str]: ...


class LabelFiles(Protocol):
    def store(self, rma: str, files: dict[str, bytes]) -> dict[str, str]: ...


def label_request(record: ReturnRecord, order: Order, policy: ReturnPolicy) -> LabelRequest:
    """From the shopper's address to the warehouse the policy routed the return to."""
    customer = order.customer
    if customer.address is None:
        raise CarrierRejected("The order has no shipping address to send a return label from")
    source = customer.address
    destination = record.destination
    return LabelRequest(
        rma=record.rma,
        order_id=record.order_id,
        from_address=LabelAddress(
            name=source.name or customer.name or "Customer",
            line1=source.line1,
            line2=source.line2,
            city=source.city,
            region=source.region,
            postal_code=source.postal_code,
            country=source.country,
            phone=customer.phone,
            email=customer.email,
        ),
        to_address=LabelAddress(
            name=destination.name,
            line1=destination.line1,
            line2=destination.line2,
            city=destination.city,
            region=destination.region,
            postal_code=destination.postal_code,
            country=destination.country,
        ),
        service_level=policy.label.service_level,
        reference=reference_for(record.rma),
    )


def issue_label(
    rma: str, *, store: LabelStore, carrier: Carrier, files: LabelFiles, policy: ReturnPolicy, now: datetime
) -> str:
    """Buy, store and record the label of an approved return. Returns what happened."""
    found = store.get_return(rma)
    if found is None:
        return "unknown_return"
    record = found[0]
    no_label = _no_label_needed(record)
    if no_label is not None:
        return no_label
    reference = reference_for(rma)
    claim = store.claim_label(rma, reference, now=now, lease_until=now + LEASE)
    if claim.state == "purchased":
        return "nothing_to_do"
    if claim.state == "busy":
        raise DependencyFailed("Another attempt is buying this label", details={"reason": "label_claim_busy"})

    order_found = store.order_with_reservations(record.order_id)
    if order_found is None:
        raise DependencyFailed("The return's order is missing")
    try:
        request = label_request(record, order_found[0], policy)
        purchased = _buy_once(carrier, request, reference, recovered=claim.recovered)
    except CarrierRejected as refusal:
        _park_refused(record, refusal, store=store, carrier=carrier, now=now)
        return "needs_attention"

    stored = files.store(rma, _label_files(carrier, purchased))
    label = _return_label(purchased, stored, reference=reference, policy=policy, now=now)
    change = _label_issued(record, label, actor_id=carrier.name, policy=policy, now=now)
    try:
        store.record_label(change.record, change.events, expected_version=record.version, reference=reference)
    except Conflict:
        # The return changed while we bought (e.g. the shopper cancelled): do not leave a paid label behind.
        current = store.get_return(rma)
        if current is not None and current[0].status != ParcelState.APPROVED:
            carrier.void_label(purchased)
            return "voided_after_change"
        raise
    return "issued"


def _no_label_needed(record: ReturnRecord) -> str | None:
    """Why this return gets no label now (None: it needs one)."""
    if record.status != ParcelState.APPROVED or record.label is not None:
        return "nothing_to_do"  # a duplicate event, or the return moved on (cancelled, ...)
    if all(line.resolution == "keep_item" for line in record.lines):
        return "not_needed"  # returnless: nothing travels back
    return None


def _buy_once(carrier: Carrier, request: LabelRequest, reference: str, *, recovered: bool) -> PurchasedLabel:
    """Buy the label, unless an earlier attempt (that held the claim) already did: the carrier
    knows the reference then, and that label is the one."""
    purchased = carrier.find_by_reference(reference) if recovered else None
    if purchased is None:
        purchased = carrier.buy_return_label(request)
    return purchased


def _park_refused(
    record: ReturnRecord, refusal: CarrierRejected, *, store: LabelStore, carrier: Carrier, now: datetime
) -> None:
    """A refusal a retry will not fix: the return waits for a person, with the carrier's message."""
    change = return_rules.apply_action(
        record, "label_failed", actor=Actor.SYSTEM, actor_id=carrier.name, now=now, note=refusal.message
    )
    change.record.label_error = refusal.message
    store.release_label_claim(change.record, change.events, expected_version=record.version, release={})


def _return_label(
    purchased: PurchasedLabel, stored: dict[str, str], *, reference: str, policy: ReturnPolicy, now: datetime
) -> ReturnLabel:
    """The return's record of its bought label; it expires `policy.label.expiry_days` from now."""
    return ReturnLabel(
        carrier=purchased.carrier,
        provider_id=purchased.provider_id,
        tracking_number=purchased.tracking_number,
        carrier_service=purchased.carrier_service,
        cost=purchased.cost,
        currency=purchased.currency,
        reference=reference,
        purchased_at=purchased.purchased_at,
        expires_at=now + timedelta(days=policy.label.expiry_days),
        files=stored,
        qr_payload=purchased.content.qr_payload if purchased.content else None,
        qr_code_url=purchased.qr_code_url,
    )


def _label_issued(
    record: ReturnRecord, label: ReturnLabel, *, actor_id: str, policy: ReturnPolicy, now: datetime
) -> Change:
    """The return moved to `label_issued`; with `deduct_actual_cost`, repriced at the label's cost."""
    change = return_rules.apply_action(
        record,
        "issue_label",
        actor=Actor.SYSTEM,
        actor_id=actor_id,
        now=now,
        data={
            "tracking_number": label.tracking_number,
            "carrier_service": label.carrier_service,
            "cost": label.cost,
        },
    )
    change.record.label = label
    change.record.label_error = None
    if policy.label.deduct_actual_cost:
        change.record.preview = return_rules.price(
            change.record.lines,
            currency=record.currency,
            policy=policy,
            waive_shipping=False,
            shipping_fee=label.cost if record.preview.return_shipping_fee else 0,
        )
    return change


def _label_files(carrier: Carrier, purchased: PurchasedLabel) -> dict[str, bytes]:
    """Every format the carrier can give for this label (some sell only the one bought)."""
    files: dict[str, bytes] = {}
    for label_format in FORMATS:
        try:
            files[label_format] = carrier.fetch_label(purchased, label_format)
        except CarrierRejected:
            continue
    if not files:
        raise DependencyFailed("The carrier returned no label file")
    return files


def void_cancelled(
    rma: str, *, store: LabelStore, carrier_for: Callable[[str], Carrier], now: datetime
) -> str:
    """A cancelled return with a label: void the label (with the carrier that sold it)."""
    found = store.get_return(rma)
    if found is None:
        return "unknown_return"
    record = found[0]
    if record.status != ParcelState.CANCELLED or record.label is None or record.label.voided:
        return "nothing_to_do"
    carrier = carrier_for(record.label.carrier)
    result = carrier.void_label(_purchased(record.label))
    updated = record.model_copy(deep=True)
    updated.version = record.version + 1
    updated.updated_at = now
    _label_of(updated).voided = result.voided
    event = TimelineEntry(
        seq=updated.version,
        at=now,
        type="return.label_voided",
        actor="system",
        actor_id=carrier.name,
        data={"voided": result.voided, "carrier_status": result.status},
    )
    store.save_change(updated, [event], expected_version=record.version, release={})
    return "voided" if result.voided else "void_refused"


def expire_labels(
    *, store: LabelStore, carrier_for: Callable[[str], Carrier], policy: ReturnPolicy, now: datetime
) -> dict[str, int]:
    """Remind shoppers of labels about to expire; void and expire labels never scanned."""
    counts = {"reminded": 0, "expired": 0}
    reminder = timedelta(days=policy.label.reminder_days_before_expiry)
    # A label is bought after its return is created, so every label older than the expiry
    # window belongs to a return created before `now - window` (the index is by creation).
    oldest_relevant = now - timedelta(days=policy.label.expiry_days) + reminder
    for rma in store.label_issued_before(oldest_relevant):
        found = store.get_return(rma)
        if found is None:
            continue
        record = found[0]
        if record.status != ParcelState.LABEL_ISSUED or record.label is None:
            continue
        label = record.label
        if label.expires_at <= now:
            _expire(record, label, store=store, carrier_for=carrier_for, now=now)
            counts["expired"] += 1
        elif label.expires_at - reminder <= now and not label.reminder_sent:
            _remind(record, label, store=store, now=now)
            counts["reminded"] += 1
    return counts


def _expire(
    record: ReturnRecord,
    label: ReturnLabel,
    *,
    store: LabelStore,
    carrier_for: Callable[[str], Carrier],
    now: datetime,
) -> None:
    """A label never scanned before it expired: void it with its carrier, expire the return."""
    voided = carrier_for(label.carrier).void_label(_purchased(label)).voided
    change = return_rules.apply_action(
        record,
        "expire",
        actor=Actor.SYSTEM,
        actor_id="label-expiry",
        now=now,
        data={"tracking_number": label.tracking_number, "voided": voided},
    )
    _label_of(change.record).voided = voided
    store.save_change(change.record, change.events, expected_version=record.version, release=change.release)


def _remind(record: ReturnRecord, label: ReturnLabel, *, store: LabelStore, now: datetime) -> None:
    """Mark the label reminded and write `return.label_expiring` (the shopper is told once)."""
    updated = record.model_copy(deep=True)
    updated.version = record.version + 1
    updated.updated_at = now
    _label_of(updated).reminder_sent = True
    event = TimelineEntry(
        seq=updated.version,
        at=now,
        type="return.label_expiring",
        actor="system",
        actor_id="label-expiry",
        data={"expires_at": label.expires_at.isoformat(), "tracking_number": label.tracking_number},
    )
    store.save_change(updated, [event], expected_version=record.version, release={})


def _label_of(record: ReturnRecord) -> ReturnLabel:
    """The label of a return known to have one."""
    if record.label is None:
        raise ValueError(f"return {record.rma} has no label")
    return record.label


def _purchased(label: ReturnLabel) -> PurchasedLabel:
    """The carrier's view of a label we recorded (to void it)."""
    return PurchasedLabel(
        carrier=label.carrier,
        provider_id=label.provider_id,
        tracking_number=label.tracking_number,
        carrier_service=label.carrier_service,
        cost=label.cost,
        currency=label.currency,
        label_format="PDF",
        reference=label.reference,
        purchased_at=label.purchased_at,
    )
