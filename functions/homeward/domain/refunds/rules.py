"""Refund rules: when a return's money moves, how much, to where, and what a provider report
changes. Pure: the caller passes the return, the order, the payment ledger and the clock, and
writes the resulting `MoneyChange` in one transaction.

Exactly-once rests on three things decided here and written atomically by the adapter:
  * a refund is planned once per intent: the automatic one when `record.refund.trigger` is
    still unset, a manual one per ops Idempotency-Key, a retry per failed movement;
  * every planned refund reserves its amount on the payment's ledger item (the write fails if
    `available < amount`), so all refunds of an order together never exceed what was captured;
  * every movement has its provider idempotency key `refund:{rma}:{n}` fixed at planning and
    a status that only moves along `states.MOVEMENT_TRANSITIONS`, so a duplicated or late
    provider report changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from homeward.domain.refunds.amounts import RefundRules, final_amount, split_across_payments
from homeward.domain.returns import rules as return_rules
from homeward.domain.returns.states import (
    OPEN_MOVEMENT,
    Actor,
    MoneyState,
    ParcelState,
    money_state_for,
    movement_may_move,
    next_money_state,
)
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order, Payment
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import (
    ExchangeRequest,
    ExchangeSettlement,
    LedgerBalance,
    ManualRefundRequest,
    MoneyMovement,
    RefundAmounts,
    RefundState,
    ShopperMovement,
    ShopperRefund,
)
from homeward.models.returns import ReturnRecord, TimelineEntry

TRIGGER_STAGES = ("approval", "first_scan", "delivered", "inspected")
# How far a return has come, as a refund trigger sees it.
_STAGE_OF_STATUS = {
    ParcelState.APPROVED: "approval",
    ParcelState.NEEDS_ATTENTION: "approval",
    ParcelState.LABEL_ISSUED: "approval",
    ParcelState.IN_TRANSIT: "first_scan",
    ParcelState.DELIVERED: "delivered",
    ParcelState.RECEIVED: "inspected",
    ParcelState.CLOSED: "inspected",
}
STORE_CREDIT = "store_credit"
# A refund reported succeeded is read back once more after this: a provider can still fail it
# later (Stripe's refund.failed), and its webhook is retried for about three days only.
LATE_FAILURE_RECHECK = timedelta(days=3)
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

LedgerOpKind = Literal["reserve", "settle", "release", "unsettle"]


@dataclass(frozen=True)
class LedgerOp:
    """A change to one payment's ledger item.

    reserve: available -= amount, reserved += amount (only if available >= amount; the first
             reserve creates the item with `captured`);
    settle: reserved -> refunded; release: reserved -> available; unsettle: refunded -> available
    (the provider failed a refund it had reported as succeeded).
    """

    payment_id: str
    op: LedgerOpKind
    amount: int
    captured: int
    currency: str


@dataclass(frozen=True)
class CreditIssue:
    """A new store credit: a redeemable code with its balance."""

    code: str
    amount: int
    currency: str
    rma: str
    order_id: str
    customer_fp: str
    issued_at: datetime


@dataclass
class MoneyChange:
    """The new return plus everything written with it in one transaction."""

    record: ReturnRecord
    events: list[TimelineEntry]
    expected_version: int
    movements: list[MoneyMovement] = field(default_factory=list)  # created or changed
    ledger: list[LedgerOp] = field(default_factory=list)
    credits: list[CreditIssue] = field(default_factory=list)
    # Movements that learnt their provider refund id in this change (stored for lookups).
    learnt_refund_ids: list[MoneyMovement] = field(default_factory=list)


@dataclass(frozen=True)
class Rejection:
    """A provider's permanent refusal, as a report on the movement."""

    code: str
    message: str


@dataclass(frozen=True)
class Report:
    """What a provider says about one refund (from its answer, a lookup or a webhook)."""

    status: str
    refund_id: str | None = None
    failure_reason: str | None = None


# ---- when ---------------------------------------------------------------------------------


def trigger_for(record: ReturnRecord, policy: ReturnPolicy) -> str:
    """The stage that releases this return's refund: keep-the-item returns have nothing to wait
    for, so they are refunded at approval; others follow the policy."""
    if all(line.resolution == "keep_item" for line in record.lines):
        return "approval"
    return policy.refund_trigger


def stage_reached(record: ReturnRecord) -> str | None:
    return _STAGE_OF_STATUS.get(ParcelState(record.status))


def is_due(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """Whether the automatic refund should be planned now (it is planned only once)."""
    if record.refund is not None and record.refund.trigger is not None:
        return False
    stage = stage_reached(record)
    if stage is None:
        return False
    return TRIGGER_STAGES.index(stage) >= TRIGGER_STAGES.index(trigger_for(record, policy))


def rules_from(policy: ReturnPolicy) -> RefundRules:
    return RefundRules(
        grade_deduction_percent=dict(policy.refund.grade_deduction_percent),
        deduct_for_grade=policy.refund.deduct_for_grade,
        split_rule=policy.refund.split_rule,
    )


# ---- how much, to where ---------------------------------------------------------------------


def new_credit_code() -> str:
    """A store-credit code such as HW-7K3M-9QXA-D2PV: 60 random bits, unguessable."""
    number = secrets.randbits(60)
    chars = []
    for _ in range(12):
        number, index = divmod(number, 32)
        chars.append(_CODE_ALPHABET[index])
    return f"HW-{''.join(chars[:4])}-{''.join(chars[4:8])}-{''.join(chars[8:])}"


def refunded_so_far(payments: list[Payment], ledger: dict[str, LedgerBalance]) -> dict[str, int]:
    """Per payment, what is refunded or reserved already (captured minus available)."""
    return {
        p.payment_id: (ledger[p.payment_id].captured - ledger[p.payment_id].available)
        if p.payment_id in ledger
        else 0
        for p in payments
    }


def remaining(order: Order, ledger: dict[str, LedgerBalance]) -> int:
    """What the order's payments can still give back."""
    done = refunded_so_far(order.payments, ledger)
    return sum(max(0, _captured(p, ledger) - done[p.payment_id]) for p in order.payments)


def _captured(payment: Payment, ledger: dict[str, LedgerBalance]) -> int:
    # The ledger item keeps the captured amount of the first refund (the order may change later).
    return ledger[payment.payment_id].captured if payment.payment_id in ledger else payment.captured


def _payments_as_ledger_sees_them(order: Order, ledger: dict[str, LedgerBalance]) -> list[Payment]:
    return [p.model_copy(update={"captured": _captured(p, ledger)}) for p in order.payments]


def _refund_movements(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    amount: int,
    *,
    rule: str,
    first_seq: int,
    trigger: str,
    intent: str,
    now: datetime,
    actor: Actor = Actor.SYSTEM,
    actor_id: str | None = None,
    reason: str | None = None,
    retry_of: int | None = None,
    only_payment: str | None = None,
) -> tuple[list[MoneyMovement], list[LedgerOp]]:
    """Movements (reserved) and their ledger reservations for `amount` over the payments.
    Raises Conflict(exceeds_remaining) / Unprocessable(currency_mismatch) from the split."""
    payments = _payments_as_ledger_sees_them(order, ledger)
    if only_payment is not None:
        payments = [p for p in payments if p.payment_id == only_payment]
    allocations = split_across_payments(
        amount, payments, refunded_so_far(payments, ledger), currency=record.currency, rule=rule
    )
    by_id = {p.payment_id: p for p in payments}
    movements, ops = [], []
    for offset, part in enumerate(allocations):
        seq = first_seq + offset
        movements.append(
            MoneyMovement(
                seq=seq,
                kind="refund",
                trigger=trigger,
                amount=part.amount,
                currency=record.currency,
                status="reserved",
                idempotency_key=f"refund:{record.rma}:{seq}",
                provider=part.provider,
                payment_id=part.payment_id,
                payment_reference=part.reference,
                reason=reason,
                intent=intent,
                retry_of=retry_of,
                actor=actor.value,
                actor_id=actor_id,
                created_at=now,
                updated_at=now,
            )
        )
        ops.append(
            LedgerOp(
                payment_id=part.payment_id,
                op="reserve",
                amount=part.amount,
                captured=by_id[part.payment_id].captured,
                currency=record.currency,
            )
        )
    return movements, ops


def _credit_movement(
    record: ReturnRecord,
    amount: int,
    *,
    seq: int,
    trigger: str,
    intent: str,
    now: datetime,
    code: str,
    actor: Actor = Actor.SYSTEM,
    actor_id: str | None = None,
    reason: str | None = None,
    retry_of: int | None = None,
) -> tuple[MoneyMovement, CreditIssue]:
    """Store credit needs no provider: it is issued in the same write that plans it."""
    movement = MoneyMovement(
        seq=seq,
        kind="store_credit",
        trigger=trigger,
        amount=amount,
        currency=record.currency,
        status="succeeded",
        idempotency_key=f"refund:{record.rma}:{seq}",
        provider=STORE_CREDIT,
        credit_code=code,
        reason=reason,
        intent=intent,
        retry_of=retry_of,
        actor=actor.value,
        actor_id=actor_id,
        created_at=now,
        updated_at=now,
        settled_at=now,
    )
    issue = CreditIssue(
        code=code,
        amount=amount,
        currency=record.currency,
        rma=record.rma,
        order_id=record.order_id,
        customer_fp=record.customer_fp,
        issued_at=now,
    )
    return movement, issue


def amounts_model(record: ReturnRecord, policy: ReturnPolicy, order: Order | None, *, inspected: bool):
    breakdown = final_amount(record, policy, rules_from(policy), inspected=inspected, order=order)
    return RefundAmounts(
        currency=breakdown.currency,
        inspected=inspected,
        lines=list(breakdown.lines),
        return_shipping_fee=breakdown.return_shipping_fee,
        refund_total=breakdown.refund_total,
        store_credit_total=breakdown.store_credit_total,
        store_credit_bonus=breakdown.store_credit_bonus,
        exchange_value=breakdown.exchange_value,
        keep_item_total=breakdown.keep_item_total,
        restocking_fees=breakdown.restocking_fees,
        grade_deductions=breakdown.grade_deductions,
    )


def _inspected(record: ReturnRecord) -> bool:
    return any(line.grade is not None for line in record.lines)


class _Timeline:
    """Builds a change's events with consecutive seqs after the record's version."""

    def __init__(self, record: ReturnRecord, now: datetime) -> None:
        self.record = record.model_copy(deep=True)
        self.before = record
        self.now = now
        self.events: list[TimelineEntry] = []

    def add(self, event_type: str, *, data: dict, actor: Actor = Actor.SYSTEM, actor_id=None, **kw) -> None:
        self.record.version += 1
        self.events.append(
            TimelineEntry(
                seq=self.record.version,
                at=self.now,
                type=event_type,
                actor=actor.value,
                actor_id=actor_id,
                from_status=self.before.status,
                to_status=self.record.status,
                data=data,
                **kw,
            )
        )

    def credit_issued(
        self, issue: CreditIssue, *, actor: Actor = Actor.SYSTEM, actor_id=None, note=None
    ) -> None:
        self.add(
            "credit.issued",
            actor=actor,
            actor_id=actor_id,
            note=note,
            data={"code": issue.code, "amount": issue.amount, "currency": issue.currency},
        )

    def finish(self, **extra) -> MoneyChange:
        state = self.record.refund or RefundState()
        current = MoneyState(self.before.money_status)
        target = money_state(state)
        if target != current:
            next_money_state(current, target)  # raises Conflict on a transition the table forbids
        self.record.money_status = target.value
        self.record.updated_at = self.now
        return MoneyChange(
            record=self.record, events=self.events, expected_version=self.before.version, **extra
        )


def _require_currency(record: ReturnRecord, currency: str) -> None:
    if currency != record.currency:
        raise Unprocessable(
            f"This return is in {record.currency}",
            details={"reason_codes": ["currency_mismatch"], "currency": record.currency},
        )


def money_state(state: RefundState) -> MoneyState:
    """The money state of a return: failed movements that were retried no longer count."""
    retried = {m.retry_of for m in state.movements if m.retry_of is not None}
    return money_state_for([(m.kind, m.status) for m in state.movements if m.seq not in retried])


def _movement_data(movements: list[MoneyMovement]) -> list[dict]:
    return [
        {
            "seq": m.seq,
            "kind": m.kind,
            "amount": m.amount,
            "currency": m.currency,
            "status": m.status,
            **({"credit_code": m.credit_code} if m.credit_code else {}),
        }
        for m in movements
    ]


def plan_automatic(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    policy: ReturnPolicy,
    *,
    now: datetime,
    credit_code=new_credit_code,
) -> MoneyChange:
    """The return's own refund, at its trigger: the final amount to the payments (capped at
    what they can still give back), store credit with its bonus, and the exchange request."""
    trigger = trigger_for(record, policy)
    amounts = amounts_model(record, policy, order, inspected=_inspected(record))
    timeline = _Timeline(record, now)
    state = RefundState(trigger=trigger, triggered_at=now, amounts=amounts)
    seq = 1
    to_refund = min(amounts.refund_total, remaining(order, ledger))
    capped = amounts.refund_total - to_refund
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    if to_refund > 0:
        movements, ops = _refund_movements(
            record,
            order,
            ledger,
            to_refund,
            rule=policy.refund.split_rule,
            first_seq=seq,
            trigger=trigger,
            intent="trigger",
            now=now,
        )
        seq += len(movements)
    credits: list[CreditIssue] = []
    if amounts.store_credit_total > 0:
        credit, issue = _credit_movement(
            record,
            amounts.store_credit_total,
            seq=seq,
            trigger=trigger,
            intent="trigger",
            now=now,
            code=credit_code(),
        )
        movements.append(credit)
        credits.append(issue)
    state.movements = movements
    state.amounts = amounts.model_copy(update={"capped_by": capped})
    timeline.record.refund = state
    timeline.add(
        "refund.requested",
        data={
            "trigger": trigger,
            "currency": record.currency,
            "refund_total": to_refund,
            "store_credit_total": amounts.store_credit_total,
            "exchange_value": amounts.exchange_value,
            "capped_by": capped,
            "movements": _movement_data([m for m in movements if m.kind == "refund"]),
        },
    )
    if capped:
        timeline.add(
            "return.note_added",
            data={"reason": "refund_capped", "capped_by": capped},
            note=(
                f"{capped} {record.currency} minor units could not be refunded: the order's payments "
                "have nothing more to give back (refund it by hand if it is owed)"
            ),
            shopper_visible=False,
        )
    for issue in credits:
        timeline.credit_issued(issue)
    exchange_lines = [line for line in record.lines if line.resolution == "exchange"]
    if exchange_lines:
        by_line = {line.line_id: line for line in amounts.lines}
        timeline.add(
            "exchange.requested",
            data={
                "order_id": record.order_id,
                "currency": record.currency,
                "exchange_value": amounts.exchange_value,
                "lines": [
                    {
                        "line_id": line.line_id,
                        "sku": line.sku,
                        "quantity": by_line[line.line_id].accepted_units,
                        "exchange_variant": line.exchange_variant,
                        "value": by_line[line.line_id].amount,
                    }
                    for line in exchange_lines
                ],
            },
        )
    return timeline.finish(movements=movements, ledger=ops, credits=credits)


def plan_manual(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    request: ManualRefundRequest,
    *,
    intent_key: str,
    actor_id: str | None,
    now: datetime,
    rule: str = "proportional",
    credit_code=new_credit_code,
) -> MoneyChange | None:
    """A refund or store credit ops asked for, with a reason. None if this intent was already
    planned (a retried request). 422 on another currency, 409 above what remains."""
    _require_currency(record, request.currency)
    intent = f"manual:{intent_key}"
    state = record.refund or RefundState()
    if any(m.intent == intent for m in state.movements):
        return None
    left = remaining(order, ledger)
    if request.amount > left:
        raise Conflict(
            "The refund is more than remains to be refunded",
            details={"reason": "exceeds_remaining", "remaining": left, "currency": record.currency},
        )
    timeline = _Timeline(record, now)
    seq = state.next_seq()
    ops: list[LedgerOp] = []
    credits: list[CreditIssue] = []
    if request.kind == "refund":
        movements, ops = _refund_movements(
            record,
            order,
            ledger,
            request.amount,
            rule=rule,
            first_seq=seq,
            trigger="manual",
            intent=intent,
            now=now,
            actor=Actor.OPS,
            actor_id=actor_id,
            reason=request.reason,
        )
    else:
        credit, issue = _credit_movement(
            record,
            request.amount,
            seq=seq,
            trigger="manual",
            intent=intent,
            now=now,
            code=credit_code(),
            actor=Actor.OPS,
            actor_id=actor_id,
            reason=request.reason,
        )
        movements, credits = [credit], [issue]
    new_state = state.model_copy(deep=True)
    new_state.movements += movements
    timeline.record.refund = new_state
    if request.kind == "refund":
        timeline.add(
            "refund.requested",
            actor=Actor.OPS,
            actor_id=actor_id,
            note=request.reason,
            data={
                "trigger": "manual",
                "currency": record.currency,
                "refund_total": request.amount,
                "movements": _movement_data(movements),
            },
        )
    else:
        timeline.credit_issued(credits[0], actor=Actor.OPS, actor_id=actor_id, note=request.reason)
    return timeline.finish(movements=movements, ledger=ops, credits=credits)


def plan_retry(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    *,
    as_store_credit: bool,
    actor_id: str | None,
    now: datetime,
    note: str | None = None,
    credit_code=new_credit_code,
) -> MoneyChange:
    """New movements for every failed refund not yet retried: to the same payment with a new
    idempotency key (the provider would replay the failure for the old one), or as store
    credit. 409 when nothing failed."""
    state = record.refund or RefundState()
    retried = {m.retry_of for m in state.movements if m.retry_of is not None}
    failed = [m for m in state.movements if m.status in ("failed", "canceled") and m.seq not in retried]
    if not failed:
        raise Conflict(
            "No failed refund to retry",
            details={"reason": "nothing_to_retry", "money_status": record.money_status},
        )
    timeline = _Timeline(record, now)
    seq = state.next_seq()
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    credits: list[CreditIssue] = []
    for old in failed:
        if as_store_credit or old.kind == "store_credit":
            credit, issue = _credit_movement(
                record,
                old.amount,
                seq=seq,
                trigger="retry",
                intent=f"retry:{old.seq}",
                now=now,
                code=credit_code(),
                actor=Actor.OPS,
                actor_id=actor_id,
                reason=note,
                retry_of=old.seq,
            )
            movements.append(credit)
            credits.append(issue)
            seq += 1
            continue
        new, new_ops = _refund_movements(
            record,
            order,
            ledger,
            old.amount,
            rule="sequential",
            first_seq=seq,
            trigger="retry",
            intent=f"retry:{old.seq}",
            now=now,
            actor=Actor.OPS,
            actor_id=actor_id,
            reason=note,
            retry_of=old.seq,
            only_payment=old.payment_id,
        )
        movements += new
        ops += new_ops
        seq += len(new)
    new_state = state.model_copy(deep=True)
    new_state.movements += movements
    timeline.record.refund = new_state
    timeline.add(
        "refund.retry_requested",
        actor=Actor.OPS,
        actor_id=actor_id,
        note=note,
        data={"retried": [m.seq for m in failed], "movements": _movement_data(movements)},
        shopper_visible=False,
    )
    for issue in credits:
        timeline.credit_issued(issue)
    return timeline.finish(movements=movements, ledger=ops, credits=credits)


def settle_exchange(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    request: ExchangeRequest,
    *,
    actor_id: str | None,
    now: datetime,
    rule: str = "proportional",
) -> MoneyChange | None:
    """The shop made the replacement order: refund the difference if it costs less than the
    exchanged items were worth, or announce what the shopper owes if it costs more.
    None if this replacement was already settled; 409 before the exchange is valued (the
    refund trigger) or for a second, different replacement."""
    _require_currency(record, request.currency)
    state = record.refund
    if not any(line.resolution == "exchange" for line in record.lines):
        raise Conflict("This return has no exchange", details={"reason": "no_exchange"})
    if state is None or state.amounts is None:
        raise Conflict(
            "The exchanged items are valued at the refund trigger; settle the exchange after it",
            details={
                "reason": "exchange_not_valued",
                "trigger": record.refund.trigger if record.refund else None,
            },
        )
    if state.exchange is not None:
        if state.exchange.replacement_order_id == request.replacement_order_id:
            return None
        raise Conflict(
            "The exchange was already settled with another replacement order",
            details={
                "reason": "exchange_settled",
                "replacement_order_id": state.exchange.replacement_order_id,
            },
        )
    value = state.amounts.exchange_value
    difference = value - request.replacement_value
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    refundable = min(difference, remaining(order, ledger)) if difference > 0 else 0
    if refundable > 0:
        movements, ops = _refund_movements(
            record,
            order,
            ledger,
            refundable,
            rule=rule,
            first_seq=state.next_seq(),
            trigger="manual",
            intent=f"exchange:{request.replacement_order_id}",
            now=now,
            actor=Actor.OPS,
            actor_id=actor_id,
            reason=f"Exchange difference (replacement {request.replacement_order_id})",
        )
    timeline = _Timeline(record, now)
    new_state = state.model_copy(deep=True)
    new_state.movements += movements
    new_state.exchange = ExchangeSettlement(
        replacement_order_id=request.replacement_order_id,
        replacement_value=request.replacement_value,
        exchange_value=value,
        difference=difference,
        settled_at=now,
    )
    timeline.record.refund = new_state
    data = {
        "replacement_order_id": request.replacement_order_id,
        "replacement_value": request.replacement_value,
        "exchange_value": value,
        "currency": record.currency,
    }
    if difference < 0:
        timeline.add(
            "exchange.payment_due", actor=Actor.OPS, actor_id=actor_id, data={**data, "owed": -difference}
        )
    else:
        timeline.add(
            "exchange.settled",
            actor=Actor.OPS,
            actor_id=actor_id,
            data={**data, "refund_total": refundable, "movements": _movement_data(movements)},
        )
    if movements:
        timeline.add(
            "refund.requested",
            actor=Actor.OPS,
            actor_id=actor_id,
            data={
                "trigger": "manual",
                "currency": record.currency,
                "refund_total": refundable,
                "movements": _movement_data(movements),
            },
        )
    return timeline.finish(movements=movements, ledger=ops)


# ---- provider reports -------------------------------------------------------------------------


def _ledger_effect(before: str, after: str) -> LedgerOpKind | None:
    if before in OPEN_MOVEMENT and after == "succeeded":
        return "settle"
    if before in OPEN_MOVEMENT and after in ("failed", "canceled"):
        return "release"
    if before == "succeeded" and after == "failed":
        return "unsettle"
    return None


def apply_report(
    record: ReturnRecord, seq: int, report: Report | Rejection, *, order: Order | None, now: datetime
) -> MoneyChange | None:
    """What a provider answer, lookup or webhook changes for movement `seq`; None if nothing
    (a duplicate, a status older than the one we have, an unknown movement)."""
    state = record.refund
    movement = state.movement(seq) if state else None
    if movement is None or movement.kind != "refund":
        return None
    if isinstance(report, Rejection):
        target, refund_id, failure = "failed", movement.provider_refund_id, report.code
    else:
        target, refund_id, failure = (
            report.status,
            report.refund_id or movement.provider_refund_id,
            report.failure_reason,
        )
    moves = movement_may_move(movement.status, target)
    learns_id = refund_id is not None and movement.provider_refund_id is None
    if not moves and not learns_id:
        return None
    timeline = _Timeline(record, now)
    new_state = timeline.record.refund
    changed = new_state.movement(seq)
    before = changed.status
    changed.provider_refund_id = refund_id
    changed.updated_at = now
    ops: list[LedgerOp] = []
    if moves:
        changed.status = target
        if target in ("failed", "canceled"):
            changed.failure_reason = failure or target
        if target == "succeeded":
            changed.settled_at = now
        effect = _ledger_effect(before, target)
        if effect and changed.payment_id:
            captured = (
                next((p.captured for p in order.payments if p.payment_id == changed.payment_id), 0)
                if order
                else 0
            )
            ops.append(
                LedgerOp(
                    payment_id=changed.payment_id,
                    op=effect,
                    amount=changed.amount,
                    captured=captured,
                    currency=changed.currency,
                )
            )
    data = {
        "seq": seq,
        "amount": changed.amount,
        "currency": changed.currency,
        "provider": changed.provider,
        "provider_refund_id": refund_id,
    }
    if moves and target == "succeeded":
        timeline.add("refund.issued", data=data)
    elif moves and target in ("failed", "canceled"):
        timeline.add(
            "refund.failed",
            data={**data, "reason": changed.failure_reason, "after_success": before == "succeeded"},
        )
    else:
        timeline.add(f"refund.{target if moves else before}", data=data, shopper_visible=False)
    return timeline.finish(movements=[changed], ledger=ops, learnt_refund_ids=[changed] if learns_id else [])


def close_if_settled(record: ReturnRecord, policy: ReturnPolicy, *, now: datetime):
    """`close` (system) once nothing is left to do: the money moved and the items are back
    (received), or the shopper keeps everything. A `returns.Change`, or None."""
    if not policy.refund.close_when_settled or record.refund is None or record.refund.trigger is None:
        return None
    if MoneyState(record.money_status) not in (MoneyState.REFUNDED, MoneyState.CREDITED, MoneyState.NONE):
        return None
    status = ParcelState(record.status)
    keeps_all = all(line.resolution == "keep_item" for line in record.lines)
    if not (status is ParcelState.RECEIVED or (status is ParcelState.APPROVED and keeps_all)):
        return None
    return return_rules.apply_action(
        record, "close", actor=Actor.SYSTEM, actor_id=None, now=now, note="Refund settled"
    )


# ---- what the shopper sees ---------------------------------------------------------------------


def expected_refund_date(
    record: ReturnRecord, policy: ReturnPolicy, *, parcel_eta: datetime | None, now: datetime
) -> date | None:
    """When the money should be back: the trigger's expected date (from the tracking ETA where
    there is one) plus the provider's settle time. None for returns that will not be refunded."""
    settle = timedelta(days=policy.refund.settle_days)
    state = record.refund
    if state is not None and state.trigger is not None:
        open_ = [m for m in state.movements if m.status in OPEN_MOVEMENT]
        if open_:
            return (max(m.created_at for m in open_) + settle).date()
        settled = [m.settled_at for m in state.movements if m.settled_at is not None]
        return max(settled).date() if settled else None
    status = ParcelState(record.status)
    stage = stage_reached(record)
    if stage is None:
        return (
            None
            if status in (ParcelState.REJECTED, ParcelState.CANCELLED, ParcelState.EXPIRED)
            else (now + settle).date()
        )
    trigger = trigger_for(record, policy)
    wanted = TRIGGER_STAGES.index(trigger)
    at = now
    reached = TRIGGER_STAGES.index(stage)
    # Walk the stages still ahead, each with its expected duration.
    for index in range(reached + 1, wanted + 1):
        step = TRIGGER_STAGES[index]
        if step == "first_scan":
            at += timedelta(days=policy.refund.dropoff_days)
        elif step == "delivered":
            at = (
                parcel_eta
                if parcel_eta and parcel_eta > at
                else at + timedelta(days=policy.transit_buffer_days)
            )
        elif step == "inspected":
            at += timedelta(days=policy.refund.inspection_days)
    return (at + settle).date()


def shopper_refund(
    record: ReturnRecord, policy: ReturnPolicy, *, parcel_eta: datetime | None, now: datetime
) -> ShopperRefund | None:
    """The refund as its shopper sees it; before the trigger the amounts are the preview's."""
    state = record.refund
    planned = state is not None and state.amounts is not None
    if not planned and ParcelState(record.status) in (
        ParcelState.REJECTED,
        ParcelState.CANCELLED,
        ParcelState.EXPIRED,
    ):
        return None
    amounts = state.amounts if planned else amounts_model(record, policy, None, inspected=False)
    movements = [
        ShopperMovement(
            kind=m.kind,
            amount=m.amount,
            currency=m.currency,
            status=m.status,
            method="store_credit" if m.kind == "store_credit" else "original_payment",
            credit_code=m.credit_code,
            created_at=m.created_at,
            settled_at=m.settled_at,
        )
        for m in (state.movements if state else [])
    ]
    return ShopperRefund(
        money_status=record.money_status,
        trigger=state.trigger if planned else trigger_for(record, policy),
        estimated=not planned,
        amounts=amounts,
        movements=movements,
        expected_by=expected_refund_date(record, policy, parcel_eta=parcel_eta, now=now),
    )
