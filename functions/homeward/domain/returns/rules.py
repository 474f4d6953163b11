"""Returns: create from a shopper's (or ops') request, and move through the state machine.

Pure: the caller passes the order, what is already reserved, the policy and the clock; the
result is the new record plus the domain events to write atomically with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from homeward.domain.orders.rules import email_fingerprint
from homeward.domain.refunds.money import line_amounts, percent_of
from homeward.domain.returns.eligibility import line_eligibility, order_discount_shares
from homeward.domain.returns.states import (
    RELEASES_QUANTITIES,
    Actor,
    MoneyState,
    ParcelState,
    next_state,
)
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import (
    Decision,
    LineRefund,
    ReceiveRequest,
    RefundPreview,
    ReturnLine,
    ReturnRecord,
    ReturnRequest,
    TimelineEntry,
)

_RMA_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_rma() -> str:
    """A readable RMA such as R-7K3M-9QXA-2B4C-XY7Z: 80 random bits from the OS's cryptographic
    source, in four groups of Crockford base32.

    Never derived from the request. The RMA is an address, not a credential (every route also
    checks the caller's order or staff key); 80 bits keep accidental collisions out of reach
    (~1 in 10^14 at a billion returns), and the conditional create still refuses a taken one
    (the caller draws again). An Idempotency-Key is honoured through its own item,
    `IDEMP#<order>#<key>`, that records which return the key created. Returns made before RMAs
    had 80 bits keep their 40-bit numbers (`R-XXXX-XXXX`), which every route still accepts.
    """
    number = secrets.randbits(80)
    chars = []
    for _ in range(16):
        number, index = divmod(number, 32)
        chars.append(_RMA_ALPHABET[index])
    return "R-" + "-".join("".join(chars[i : i + 4]) for i in range(0, 16, 4))


def request_hash(request: ReturnRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:32]


@dataclass
class Change:
    """A new or updated return plus the events (timeline entries) written with it."""

    record: ReturnRecord
    events: list[TimelineEntry]
    release: dict[str, int] = field(default_factory=dict)  # line_id -> units given back to the order


def _reject_lines(problems: dict[str, list[str]]) -> Unprocessable:
    return Unprocessable(
        "Some lines cannot be returned",
        details={"lines": [{"line_id": k, "reason_codes": v} for k, v in problems.items()]},
    )


def create_return(
    order: Order,
    request: ReturnRequest,
    *,
    rma: str,
    reserved: dict[str, int],
    policy: ReturnPolicy,
    customer_returns_90_days: int,
    filed_by: Actor,
    actor_id: str | None,
    now: datetime,
    preview: bool = False,
) -> Change:
    """Validate a request against the policy, price it, decide approval, and describe the writes.

    `preview`: the shopper is still filling in the form; photos and a note a reason needs are
    asked for on submit, so their absence does not stop the price from being shown."""
    lines_by_id = {line.line_id: line for line in order.lines}
    shares = order_discount_shares(order)
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for item in request.lines:
        if item.line_id in seen:
            problems.setdefault(item.line_id, []).append("duplicate_line")
        seen.add(item.line_id)
        if item.line_id not in lines_by_id:
            problems.setdefault(item.line_id, []).append("unknown_line")
    if problems:
        raise _reject_lines(problems)
    if request.note and len(request.note) > policy.note_max_length:
        raise Unprocessable(
            f"The note is longer than {policy.note_max_length} characters",
            details={"reason_codes": ["note_too_long"]},
        )

    today = now.date()
    over: list[dict] = []
    returned_lines: list[ReturnLine] = []
    review_codes: list[str] = []
    waives = False
    for item in request.lines:
        line = lines_by_id[item.line_id]
        previous = reserved.get(line.line_id, 0)
        verdict = line_eligibility(
            order,
            line,
            reserved=previous,
            policy=policy,
            order_discount_share=shares[line.line_id],
            today=today,
        )
        codes = [c for c in verdict.reason_codes if c != "fully_returned"]
        if codes:
            problems[line.line_id] = codes
            continue
        remaining = line.quantity - previous
        if item.quantity > remaining:
            over.append(
                {
                    "line_id": line.line_id,
                    "requested": item.quantity,
                    "returnable": verdict.returnable_quantity,
                }
            )
            continue
        reason = policy.reason(item.reason)
        if reason is None:
            problems.setdefault(line.line_id, []).append("unknown_reason")
            continue
        if item.sub_reason and item.sub_reason not in {s.code for s in reason.sub_reasons}:
            problems.setdefault(line.line_id, []).append("unknown_sub_reason")
        if reason.requires_photo and not item.photos and not preview:
            problems.setdefault(line.line_id, []).append("photo_required")
        if reason.requires_note and not request.note and not preview:
            problems.setdefault(line.line_id, []).append("note_required")
        if any(not p.startswith(f"photos/{order.order_id}/") for p in item.photos):
            problems.setdefault(line.line_id, []).append("photo_not_for_this_order")
        if len(item.photos) > policy.max_photos_per_line:
            problems.setdefault(line.line_id, []).append("too_many_photos")
        if item.resolution not in verdict.allowed_resolutions:
            problems.setdefault(line.line_id, []).append(f"{item.resolution}_not_allowed")
        if item.resolution == "exchange" and not item.exchange_variant:
            problems.setdefault(line.line_id, []).append("exchange_variant_required")
        if line.line_id in problems:
            continue
        waives = waives or reason.waives_fees
        if reason.requires_photo and policy.review.photo_reasons:
            review_codes.append("photo_reason_review")
        amounts = line_amounts(
            unit_price=line.unit_price,
            quantity=line.quantity,
            line_discount=line.discount,
            line_order_discount=shares[line.line_id],
            line_tax=line.tax,
            previous=previous,
            units=item.quantity,
        )
        restocking = (
            0
            if reason.waives_fees
            else percent_of(amounts.net_of_tax, policy.restocking_percent(line.category))
        )
        returned_lines.append(
            ReturnLine(
                line_id=line.line_id,
                sku=line.sku,
                title=line.title,
                variant=line.variant,
                quantity=item.quantity,
                previously_returned=previous,
                reason=item.reason,
                sub_reason=item.sub_reason,
                resolution=item.resolution,
                exchange_variant=item.exchange_variant,
                photos=list(item.photos),
                refund=LineRefund(
                    merchandise=amounts.merchandise,
                    discount=amounts.discount,
                    order_discount=amounts.order_discount,
                    tax=amounts.tax,
                    restocking_fee=restocking,
                    amount=amounts.paid - restocking,
                ),
            )
        )
    if problems:
        raise _reject_lines(problems)
    if over:
        raise Conflict(
            "More units requested than can be returned", details={"reason": "over_return", "lines": over}
        )

    preview = price(returned_lines, currency=order.currency, policy=policy, waive_shipping=waives)
    threshold = policy.review.order_total_over.get(order.currency)
    if not policy.review.auto_approve:
        review_codes.append("manual_review_policy")
    if threshold is not None and order.total > threshold:
        review_codes.append("order_value_over_threshold")
    limit = policy.review.customer_returns_in_90_days_over
    if limit is not None and customer_returns_90_days >= limit:
        review_codes.append("frequent_returner")
    if filed_by is Actor.OPS:
        review_codes = []  # staff filing on a shopper's behalf has already reviewed it
    decision = Decision(
        outcome="needs_review" if review_codes else "approved",
        reason_codes=sorted(set(review_codes)) or ["auto_approved"],
    )
    warehouse = policy.warehouse_for(order.customer.address.country if order.customer.address else None)
    record = ReturnRecord(
        rma=rma,
        order_id=order.order_id,
        order_number=order.order_number,
        status=ParcelState.REQUESTED.value,
        money_status=MoneyState.NONE.value,
        version=1,
        filed_by="ops" if filed_by is Actor.OPS else "shopper",
        policy_version=policy.version,
        currency=order.currency,
        lines=returned_lines,
        note=request.note,
        preview=preview,
        decision=decision,
        warehouse_id=warehouse.id,
        destination=warehouse.address,
        created_at=now,
        updated_at=now,
        request_hash=request_hash(request),
        customer_fp=email_fingerprint(order.customer.email),
    )
    requested = TimelineEntry(
        seq=1,
        at=now,
        type="return.requested",
        actor=filed_by.value,
        actor_id=actor_id,
        to_status=ParcelState.REQUESTED.value,
        data={
            "lines": [
                {"line_id": li.line_id, "quantity": li.quantity, "reason": li.reason} for li in returned_lines
            ]
        },
    )
    action = "auto_approve" if decision.outcome == "approved" else "flag_for_review"
    decided = next_state(ParcelState.REQUESTED, action, Actor.SYSTEM)
    record.status = decided.target.value
    record.version = 2
    decision_event = TimelineEntry(
        seq=2,
        at=now,
        type=decided.event,
        actor="system",
        from_status=ParcelState.REQUESTED.value,
        to_status=decided.target.value,
        data={"reason_codes": decision.reason_codes},
    )
    return Change(record=record, events=[requested, decision_event])


def price(
    lines: list[ReturnLine],
    *,
    currency: str,
    policy: ReturnPolicy,
    waive_shipping: bool,
    shipping_fee: int | None = None,
) -> RefundPreview:
    """Totals per resolution. The return-shipping fee (the policy's flat fee, or `shipping_fee`
    such as the label's real cost) comes off the refund, then off store credit."""
    by = {"refund": 0, "store_credit": 0, "exchange": 0, "keep_item": 0}
    for line in lines:
        by[line.resolution] += line.refund.amount
    ships_back = any(line.resolution != "keep_item" for line in lines)
    flat = policy.return_shipping_fee.get(currency, 0) if shipping_fee is None else shipping_fee
    fee = 0 if waive_shipping or not ships_back else flat
    from_refund = min(fee, by["refund"])
    from_credit = min(fee - from_refund, by["store_credit"])
    credit_base = by["store_credit"] - from_credit
    bonus = percent_of(credit_base, policy.store_credit_bonus_percent)
    return RefundPreview(
        currency=currency,
        refund_total=by["refund"] - from_refund + by["keep_item"],
        store_credit_total=credit_base + bonus,
        store_credit_bonus=bonus,
        exchange_value=by["exchange"],
        keep_item_total=by["keep_item"],
        return_shipping_fee=from_refund + from_credit,
        restocking_fees=sum(line.refund.restocking_fee for line in lines),
    )


def apply_action(
    record: ReturnRecord,
    action: str,
    *,
    actor: Actor,
    actor_id: str | None,
    now: datetime,
    note: str | None = None,
    data: dict | None = None,
) -> Change:
    """Move a return through one legal transition; the caller writes it with a version condition."""
    transition = next_state(ParcelState(record.status), action, actor)
    if action in ("reject", "cancel") and record.money_status != MoneyState.NONE.value:
        # With a refund already planned (e.g. policy refund_trigger "approval"), withdrawing the
        # return would leave money paid out for a return that no longer exists.
        raise Conflict(
            f"Cannot {action} a return whose refund has started",
            details={"reason": "refund_started", "money_status": record.money_status},
        )
    updated = record.model_copy(deep=True)
    updated.status = transition.target.value
    updated.version = record.version + 1
    updated.updated_at = now
    if action == "reject":
        updated.rejection_reason = note
    release = {}
    if action in RELEASES_QUANTITIES:
        release = {line.line_id: line.quantity for line in record.lines}
    event = TimelineEntry(
        seq=updated.version,
        at=now,
        type=transition.event,
        actor=actor.value,
        actor_id=actor_id,
        from_status=record.status,
        to_status=updated.status,
        note=note,
        data=data or {},
    )
    return Change(record=updated, events=[event], release=release)


def receive(
    record: ReturnRecord, inspection: ReceiveRequest, *, actor_id: str | None, now: datetime
) -> Change:
    """Inspection: received quantity, grade and disposition per line, then `received`."""
    by_id = {line.line_id: line for line in record.lines}
    problems: dict[str, list[str]] = {}
    for item in inspection.lines:
        line = by_id.get(item.line_id)
        if line is None:
            problems.setdefault(item.line_id, []).append("not_in_return")
        elif item.received_quantity > line.quantity:
            problems.setdefault(item.line_id, []).append("received_more_than_returned")
    if len({i.line_id for i in inspection.lines}) != len(inspection.lines):
        problems.setdefault("*", []).append("duplicate_line")
    if problems:
        raise _reject_lines(problems)
    change = apply_action(
        record,
        "receive",
        actor=Actor.OPS,
        actor_id=actor_id,
        now=now,
        data={"lines": [i.model_dump() for i in inspection.lines]},
    )
    for item in inspection.lines:
        line = next(li for li in change.record.lines if li.line_id == item.line_id)
        line.received_quantity = item.received_quantity
        line.grade = item.grade
        line.disposition = item.disposition
        line.inspection_note = item.note
    return change


def add_note(
    record: ReturnRecord,
    note: str,
    *,
    shopper_visible: bool,
    actor: Actor,
    actor_id: str | None,
    now: datetime,
    event_type: str = "return.note_added",
    data: dict | None = None,
) -> Change:
    """A note on the timeline (`return.note_added`, or another informational `event_type`
    such as `notification.failed`); no state change, but the version moves so writes stay
    ordered."""
    updated = record.model_copy(deep=True)
    updated.version = record.version + 1
    updated.updated_at = now
    event = TimelineEntry(
        seq=updated.version,
        at=now,
        type=event_type,
        actor=actor.value,
        actor_id=actor_id,
        note=note,
        data=data or {},
        shopper_visible=shopper_visible,
    )
    return Change(record=updated, events=[event])
