"""When money moves, as planned changes: the return's own refund at its trigger, a refund or
store credit ops asked for, a retry of failed refunds, and the settlement of an exchange.

Pure: the caller passes the return, the order, the payment ledger and the clock, and writes
the resulting `MoneyChange` in one transaction (see `changes` for what makes it exactly-once).
How much comes from `amounts`, to where from `destinations`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from homeward.domain.refunds.amounts import amounts_model, was_inspected
from homeward.domain.refunds.changes import CreditIssue, LedgerOp, MoneyChange, Timeline, movement_data
from homeward.domain.refunds.destinations import (
    Intent,
    credit_movement,
    left_to_refund,
    new_credit_code,
    refund_movements,
)
from homeward.domain.refunds.pricing import SplitRule
from homeward.domain.refunds.triggers import trigger_for
from homeward.domain.returns.states import Actor
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import (
    ExchangeRequest,
    ExchangeSettlement,
    LedgerBalance,
    ManualRefundRequest,
    MoneyMovement,
    RefundAmounts,
    RefundState,
)
from homeward.models.returns import ReturnRecord

CreditCode = Callable[[], str]


def _require_currency(record: ReturnRecord, currency: str) -> None:
    if currency != record.currency:
        raise Unprocessable(
            f"This return is in {record.currency}",
            details={"reason_codes": ["currency_mismatch"], "currency": record.currency},
        )


def _require_remaining(amount: int, order: Order, ledger: dict[str, LedgerBalance], currency: str) -> None:
    left = left_to_refund(order, ledger)
    if amount > left:
        raise Conflict(
            "The refund is more than remains to be refunded",
            details={"reason": "exceeds_remaining", "remaining": left, "currency": currency},
        )


def _refund_requested(
    timeline: Timeline, trigger: str, total: int, movements: list[MoneyMovement], **extra: Any
) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "currency": timeline.record.currency,
        "refund_total": total,
        **extra,
        "movements": movement_data(movements),
    }


# ---- the return's own refund --------------------------------------------------------------


def refunded_outside(state: RefundState) -> int:
    """What this return's refunds made outside Homeward moved (or are moving): part of its own
    refund, so the automatic refund sends only the rest."""
    return sum(
        m.amount for m in state.movements if m.source == "outside" and m.status not in ("failed", "canceled")
    )


def plan_automatic(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    policy: ReturnPolicy,
    *,
    now: datetime,
    credit_code: CreditCode = new_credit_code,
) -> MoneyChange:
    """The return's own refund, at its trigger: the final amount to the payments (less what was
    refunded for it outside Homeward, capped at what they can still give back), store credit
    with its bonus, and the exchange request. Movements made before (by hand, outside) stay."""
    why = Intent(trigger=trigger_for(record, policy), intent="trigger", now=now)
    amounts = amounts_model(record, policy, order, inspected=was_inspected(record))
    before = record.refund or RefundState()  # refunds made by hand or outside before the trigger
    due = max(0, amounts.refund_total - refunded_outside(before))
    to_refund = min(due, left_to_refund(order, ledger))
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    if to_refund > 0:
        movements, ops = refund_movements(
            record, order, ledger, to_refund, why, rule=policy.refund.split_rule, first_seq=before.next_seq()
        )
    credits: list[CreditIssue] = []
    if amounts.store_credit_total > 0:
        seq = before.next_seq() + len(movements)
        credit, issue = credit_movement(record, amounts.store_credit_total, why, seq=seq, code=credit_code())
        movements.append(credit)
        credits.append(issue)
    capped = due - to_refund
    timeline = Timeline(record, now)
    timeline.record.refund = before.model_copy(
        update={
            "trigger": why.trigger,
            "triggered_at": now,
            "amounts": amounts.model_copy(update={"capped_by": capped}),
            "movements": [*before.movements, *movements],
        }
    )
    _announce_automatic(timeline, why.trigger, amounts, to_refund, capped, movements)
    for issue in credits:
        timeline.credit_issued(issue)
    _request_exchange(timeline, amounts)
    return timeline.finish(movements=movements, ledger=ops, credits=credits)


def _announce_automatic(
    timeline: Timeline,
    trigger: str,
    amounts: RefundAmounts,
    to_refund: int,
    capped: int,
    movements: list[MoneyMovement],
) -> None:
    refunds = [m for m in movements if m.kind == "refund"]
    data = _refund_requested(
        timeline,
        trigger,
        to_refund,
        refunds,
        store_credit_total=amounts.store_credit_total,
        exchange_value=amounts.exchange_value,
        capped_by=capped,
    )
    timeline.add("refund.requested", data=data)
    if capped:
        timeline.add(
            "return.note_added",
            data={"reason": "refund_capped", "capped_by": capped},
            note=(
                f"{capped} {timeline.record.currency} minor units could not be refunded: the order's "
                "payments have nothing more to give back (refund it by hand if it is owed)"
            ),
            shopper_visible=False,
        )


def _request_exchange(timeline: Timeline, amounts: RefundAmounts) -> None:
    record = timeline.record
    exchange_lines = [line for line in record.lines if line.resolution == "exchange"]
    if not exchange_lines:
        return
    by_line = {line.line_id: line for line in amounts.lines}
    lines = [
        {
            "line_id": line.line_id,
            "sku": line.sku,
            "quantity": by_line[line.line_id].accepted_units,
            "exchange_variant": line.exchange_variant,
            "value": by_line[line.line_id].amount,
        }
        for line in exchange_lines
    ]
    timeline.add(
        "exchange.requested",
        data={
            "order_id": record.order_id,
            "currency": record.currency,
            "exchange_value": amounts.exchange_value,
            "lines": lines,
        },
    )


# ---- ops: by hand, retries ---------------------------------------------------------------------


def plan_manual(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    request: ManualRefundRequest,
    *,
    intent_key: str,
    actor_id: str | None,
    now: datetime,
    rule: SplitRule = "proportional",
    credit_code: CreditCode = new_credit_code,
) -> MoneyChange | None:
    """A refund or store credit ops asked for, with a reason. None if this intent was already
    planned (a retried request). 422 on another currency, 409 above what remains."""
    _require_currency(record, request.currency)
    why = Intent(
        trigger="manual",
        intent=f"manual:{intent_key}",
        now=now,
        actor=Actor.OPS,
        actor_id=actor_id,
        reason=request.reason,
    )
    state = record.refund or RefundState()
    if any(m.intent == why.intent for m in state.movements):
        return None
    _require_remaining(request.amount, order, ledger, record.currency)
    timeline = Timeline(record, now)
    timeline.record.refund = state.model_copy(deep=True)
    if request.kind != "refund":
        credit, issue = credit_movement(record, request.amount, why, seq=state.next_seq(), code=credit_code())
        timeline.refund.movements.append(credit)
        timeline.credit_issued(issue, actor=Actor.OPS, actor_id=actor_id, note=request.reason)
        return timeline.finish(movements=[credit], credits=[issue])
    movements, ops = refund_movements(
        record, order, ledger, request.amount, why, rule=rule, first_seq=state.next_seq()
    )
    timeline.refund.movements += movements
    timeline.add(
        "refund.requested",
        actor=Actor.OPS,
        actor_id=actor_id,
        note=request.reason,
        data=_refund_requested(timeline, "manual", request.amount, movements),
    )
    return timeline.finish(movements=movements, ledger=ops)


def _failed_not_retried(state: RefundState) -> list[MoneyMovement]:
    retried = {m.retry_of for m in state.movements if m.retry_of is not None}
    return [m for m in state.movements if m.status in ("failed", "canceled") and m.seq not in retried]


def _retry_intent(old: MoneyMovement, *, actor_id: str | None, note: str | None, now: datetime) -> Intent:
    """Ops' retry of one failed movement: its own intent, so it is planned once."""
    return Intent(
        trigger="retry",
        intent=f"retry:{old.seq}",
        now=now,
        actor=Actor.OPS,
        actor_id=actor_id,
        reason=note,
        retry_of=old.seq,
    )


def plan_retry(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    *,
    as_store_credit: bool,
    actor_id: str | None,
    now: datetime,
    note: str | None = None,
    credit_code: CreditCode = new_credit_code,
) -> MoneyChange:
    """New movements for every failed refund not yet retried: to the same payment with a new
    idempotency key (the provider would replay the failure for the old one), or as store
    credit. 409 when nothing failed."""
    state = record.refund or RefundState()
    failed = _failed_not_retried(state)
    if not failed:
        raise Conflict(
            "No failed refund to retry",
            details={"reason": "nothing_to_retry", "money_status": record.money_status},
        )
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    credits: list[CreditIssue] = []
    for old in failed:
        why = _retry_intent(old, actor_id=actor_id, note=note, now=now)
        seq = state.next_seq() + len(movements)
        if as_store_credit or old.kind == "store_credit":
            credit, issue = credit_movement(record, old.amount, why, seq=seq, code=credit_code())
            movements.append(credit)
            credits.append(issue)
            continue
        new, new_ops = refund_movements(
            record,
            order,
            ledger,
            old.amount,
            why,
            rule="sequential",
            first_seq=seq,
            only_payment=old.payment_id,
        )
        movements += new
        ops += new_ops
    return _retry_change(record, now, failed, movements, ops, credits, actor_id=actor_id, note=note)


def _retry_change(
    record: ReturnRecord,
    now: datetime,
    failed: list[MoneyMovement],
    movements: list[MoneyMovement],
    ops: list[LedgerOp],
    credits: list[CreditIssue],
    *,
    actor_id: str | None,
    note: str | None,
) -> MoneyChange:
    timeline = Timeline(record, now)
    timeline.refund.movements += movements
    timeline.add(
        "refund.retry_requested",
        actor=Actor.OPS,
        actor_id=actor_id,
        note=note,
        data={"retried": [m.seq for m in failed], "movements": movement_data(movements)},
        shopper_visible=False,
    )
    for issue in credits:
        timeline.credit_issued(issue)
    return timeline.finish(movements=movements, ledger=ops, credits=credits)


# ---- exchanges ----------------------------------------------------------------------------------


def _valued_exchange(
    record: ReturnRecord, request: ExchangeRequest
) -> tuple[RefundState, RefundAmounts] | None:
    """The refund state with the exchange's value, or None if this replacement was settled
    already. 409 without an exchange, before it is valued, or for another replacement."""
    state = record.refund
    if not any(line.resolution == "exchange" for line in record.lines):
        raise Conflict("This return has no exchange", details={"reason": "no_exchange"})
    if state is None or state.amounts is None:
        raise Conflict(
            "The exchanged items are valued at the refund trigger; settle the exchange after it",
            details={"reason": "exchange_not_valued", "trigger": state.trigger if state else None},
        )
    if state.exchange is None:
        return state, state.amounts
    if state.exchange.replacement_order_id == request.replacement_order_id:
        return None
    raise Conflict(
        "The exchange was already settled with another replacement order",
        details={"reason": "exchange_settled", "replacement_order_id": state.exchange.replacement_order_id},
    )


def settle_exchange(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    request: ExchangeRequest,
    *,
    actor_id: str | None,
    now: datetime,
    rule: SplitRule = "proportional",
) -> MoneyChange | None:
    """The shop made the replacement order: refund the difference if it costs less than the
    exchanged items were worth, or announce what the shopper owes if it costs more.
    None if this replacement was already settled; 409 before the exchange is valued (the
    refund trigger) or for a second, different replacement."""
    _require_currency(record, request.currency)
    valued = _valued_exchange(record, request)
    if valued is None:
        return None
    state, amounts = valued
    difference = amounts.exchange_value - request.replacement_value
    refundable = min(difference, left_to_refund(order, ledger)) if difference > 0 else 0
    movements: list[MoneyMovement] = []
    ops: list[LedgerOp] = []
    if refundable > 0:
        why = Intent(
            trigger="manual",
            intent=f"exchange:{request.replacement_order_id}",
            now=now,
            actor=Actor.OPS,
            actor_id=actor_id,
            reason=f"Exchange difference (replacement {request.replacement_order_id})",
        )
        movements, ops = refund_movements(
            record, order, ledger, refundable, why, rule=rule, first_seq=state.next_seq()
        )
    timeline = Timeline(record, now)
    timeline.refund.movements += movements
    timeline.refund.exchange = ExchangeSettlement(
        replacement_order_id=request.replacement_order_id,
        replacement_value=request.replacement_value,
        exchange_value=amounts.exchange_value,
        difference=difference,
        settled_at=now,
    )
    _announce_settlement(timeline, request, amounts.exchange_value, refundable, movements, actor_id=actor_id)
    return timeline.finish(movements=movements, ledger=ops)


def _announce_settlement(
    timeline: Timeline,
    request: ExchangeRequest,
    value: int,
    refundable: int,
    movements: list[MoneyMovement],
    *,
    actor_id: str | None,
) -> None:
    data = {
        "replacement_order_id": request.replacement_order_id,
        "replacement_value": request.replacement_value,
        "exchange_value": value,
        "currency": timeline.record.currency,
    }
    difference = value - request.replacement_value
    if difference < 0:
        timeline.add(
            "exchange.payment_due", actor=Actor.OPS, actor_id=actor_id, data={**data, "owed": -difference}
        )
    else:
        settled = {**data, "refund_total": refundable, "movements": movement_data(movements)}
        timeline.add("exchange.settled", actor=Actor.OPS, actor_id=actor_id, data=settled)
    if movements:
        timeline.add(
            "refund.requested",
            actor=Actor.OPS,
            actor_id=actor_id,
            data=_refund_requested(timeline, "manual", refundable, movements),
        )
