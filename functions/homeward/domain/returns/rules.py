"""Returns: create from a shopper's (or ops') request, and move through the state machine.

Pure: the caller passes the order, what is already reserved, the policy and the clock; the
result is the new record plus the domain events to write atomically with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from homeward.domain.orders.rules import email_fingerprint
from homeward.domain.refunds.pricing import LineTerms, order_discount_shares, price_return, price_units
from homeward.domain.returns.eligibility import FULLY_RETURNED, line_eligibility
from homeward.domain.returns.states import (
    RELEASES_QUANTITIES,
    Actor,
    MoneyState,
    ParcelState,
    next_state,
)
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order
from homeward.models.policy import ReasonRule, ReturnPolicy
from homeward.models.returns import (
    Decision,
    LineEligibility,
    LineRefund,
    ReceiveRequest,
    RefundPreview,
    ReturnLine,
    ReturnLineIn,
    ReturnRecord,
    ReturnRequest,
    TimelineEntry,
    is_photo_of,
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


# The return's totals, priced with every other refund amount in `domain.refunds.pricing`
# (`labels.service` prices them again with the label's real cost).
price = price_return


@dataclass
class _CheckedLines:
    """A request's lines checked against the order and the policy: the priced lines, or why not."""

    lines: list[ReturnLine] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    over: list[dict] = field(default_factory=list)
    waives_fees: bool = False
    review_codes: list[str] = field(default_factory=list)


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
    _check_request(order, request, policy)
    checked = _check_lines(
        order, request, reserved=reserved, policy=policy, today=now.date(), preview=preview
    )
    totals = price_return(
        checked.lines, currency=order.currency, policy=policy, waive_shipping=checked.waives_fees
    )
    decision = _decide(order, policy, checked.review_codes, customer_returns_90_days, filed_by)
    record = _new_record(
        order, request, checked.lines, totals, decision, rma=rma, policy=policy, filed_by=filed_by, now=now
    )
    return _opened(record, decision, filed_by=filed_by, actor_id=actor_id, now=now)


def _check_request(order: Order, request: ReturnRequest, policy: ReturnPolicy) -> None:
    """Every line once and in the order, and a note the policy allows; 422 otherwise."""
    known = {line.line_id for line in order.lines}
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for item in request.lines:
        if item.line_id in seen:
            problems.setdefault(item.line_id, []).append("duplicate_line")
        seen.add(item.line_id)
        if item.line_id not in known:
            problems.setdefault(item.line_id, []).append("unknown_line")
    if problems:
        raise _reject_lines(problems)
    if request.note and len(request.note) > policy.note_max_length:
        raise Unprocessable(
            f"The note is longer than {policy.note_max_length} characters",
            details={"reason_codes": ["note_too_long"]},
        )


def _check_lines(
    order: Order,
    request: ReturnRequest,
    *,
    reserved: dict[str, int],
    policy: ReturnPolicy,
    today: date,
    preview: bool,
) -> _CheckedLines:
    """Each requested line: eligible, not more than remains, a reason the policy knows with what
    it needs; priced. 422 with every line's problems, 409 for lines asked more units than remain."""
    lines_by_id = {line.line_id: line for line in order.lines}
    shares = order_discount_shares(order)
    checked = _CheckedLines()
    for item in request.lines:
        line = lines_by_id[item.line_id]
        previous = reserved.get(line.line_id, 0)
        share = shares[line.line_id]
        verdict = line_eligibility(
            order, line, reserved=previous, policy=policy, order_discount_share=share, today=today
        )
        codes = [c for c in verdict.reason_codes if c != FULLY_RETURNED]
        if codes:
            checked.problems[line.line_id] = codes
        elif item.quantity > line.quantity - previous:
            checked.over.append(
                {
                    "line_id": line.line_id,
                    "requested": item.quantity,
                    "returnable": verdict.returnable_quantity,
                }
            )
        else:
            terms = LineTerms.of_order_line(line, order_discount_share=share, policy=policy)
            _check_item(
                checked,
                order,
                request,
                item,
                verdict,
                terms,
                previous=previous,
                policy=policy,
                preview=preview,
            )
    _refuse_unless_all_taken(checked)
    return checked


def _refuse_unless_all_taken(checked: _CheckedLines) -> None:
    if checked.problems:
        raise _reject_lines(checked.problems)
    if checked.over:
        raise Conflict(
            "More units requested than can be returned",
            details={"reason": "over_return", "lines": checked.over},
        )


def _check_item(
    checked: _CheckedLines,
    order: Order,
    request: ReturnRequest,
    item: ReturnLineIn,
    verdict: LineEligibility,
    terms: LineTerms,
    *,
    previous: int,
    policy: ReturnPolicy,
    preview: bool,
) -> None:
    """One eligible line: what its reason needs, then the line priced (or its problems noted)."""
    reason = policy.reason(item.reason)
    if reason is None:
        checked.problems.setdefault(item.line_id, []).append("unknown_reason")
        return
    problems = _item_problems(order, request, item, reason, verdict, policy=policy, preview=preview)
    if problems:
        checked.problems.setdefault(item.line_id, []).extend(problems)
        return
    checked.waives_fees = checked.waives_fees or reason.waives_fees
    if reason.requires_photo and policy.review.photo_reasons:
        checked.review_codes.append("photo_reason_review")
    checked.lines.append(
        _returned_line(item, verdict, terms, previous=previous, waives_fees=reason.waives_fees)
    )


def _item_problems(
    order: Order,
    request: ReturnRequest,
    item: ReturnLineIn,
    reason: ReasonRule,
    verdict: LineEligibility,
    *,
    policy: ReturnPolicy,
    preview: bool,
) -> list[str]:
    """Why a requested line cannot be taken as asked (its reason's needs, photos, resolution)."""
    problems = []
    if item.sub_reason and item.sub_reason not in {s.code for s in reason.sub_reasons}:
        problems.append("unknown_sub_reason")
    if reason.requires_photo and not item.photos and not preview:
        problems.append("photo_required")
    if reason.requires_note and not request.note and not preview:
        problems.append("note_required")
    if not all(is_photo_of(key, order.order_id) for key in item.photos):
        problems.append("photo_not_for_this_order")
    if len(item.photos) > policy.max_photos_per_line:
        problems.append("too_many_photos")
    if item.resolution not in verdict.allowed_resolutions:
        problems.append(f"{item.resolution}_not_allowed")
    if item.resolution == "exchange" and not item.exchange_variant:
        problems.append("exchange_variant_required")
    return problems


def _returned_line(
    item: ReturnLineIn, verdict: LineEligibility, terms: LineTerms, *, previous: int, waives_fees: bool
) -> ReturnLine:
    """The requested units of an order line, priced as the preview shows them."""
    priced = price_units(terms, previous=previous, units=item.quantity, waives_fees=waives_fees)
    return ReturnLine(
        line_id=verdict.line_id,
        sku=verdict.sku,
        title=verdict.title,
        variant=verdict.variant,
        quantity=item.quantity,
        previously_returned=previous,
        reason=item.reason,
        sub_reason=item.sub_reason,
        resolution=item.resolution,
        exchange_variant=item.exchange_variant,
        photos=list(item.photos),
        refund=LineRefund(
            merchandise=priced.amounts.merchandise,
            discount=priced.amounts.discount,
            order_discount=priced.amounts.order_discount,
            tax=priced.amounts.tax,
            restocking_fee=priced.restocking_fee,
            amount=priced.refund,
        ),
    )


def _decide(
    order: Order,
    policy: ReturnPolicy,
    review_codes: list[str],
    customer_returns_90_days: int,
    filed_by: Actor,
) -> Decision:
    """Approved, or waiting for a person with the reason codes that say why."""
    codes = list(review_codes)
    if not policy.review.auto_approve:
        codes.append("manual_review_policy")
    threshold = policy.review.order_total_over.get(order.currency)
    if threshold is not None and order.total > threshold:
        codes.append("order_value_over_threshold")
    limit = policy.review.customer_returns_in_90_days_over
    if limit is not None and customer_returns_90_days >= limit:
        codes.append("frequent_returner")
    if filed_by is Actor.OPS:
        codes = []  # staff filing on a shopper's behalf has already reviewed it
    return Decision(
        outcome="needs_review" if codes else "approved",
        reason_codes=sorted(set(codes)) or ["auto_approved"],
    )


def _new_record(
    order: Order,
    request: ReturnRequest,
    lines: list[ReturnLine],
    totals: RefundPreview,
    decision: Decision,
    *,
    rma: str,
    policy: ReturnPolicy,
    filed_by: Actor,
    now: datetime,
) -> ReturnRecord:
    warehouse = policy.warehouse_for(order.customer.address.country if order.customer.address else None)
    return ReturnRecord(
        rma=rma,
        order_id=order.order_id,
        order_number=order.order_number,
        status=ParcelState.REQUESTED.value,
        money_status=MoneyState.NONE.value,
        version=1,
        filed_by="ops" if filed_by is Actor.OPS else "shopper",
        policy_version=policy.version,
        currency=order.currency,
        lines=lines,
        note=request.note,
        preview=totals,
        decision=decision,
        warehouse_id=warehouse.id,
        destination=warehouse.address,
        created_at=now,
        updated_at=now,
        request_hash=request_hash(request),
        customer_fp=email_fingerprint(order.customer.email),
    )


def _opened(
    record: ReturnRecord, decision: Decision, *, filed_by: Actor, actor_id: str | None, now: datetime
) -> Change:
    """The new return's first two events: requested, then approved or sent to review."""
    requested = TimelineEntry(
        seq=1,
        at=now,
        type="return.requested",
        actor=filed_by.value,
        actor_id=actor_id,
        to_status=ParcelState.REQUESTED.value,
        data={
            "lines": [
                {"line_id": li.line_id, "quantity": li.quantity, "reason": li.reason} for li in record.lines
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
