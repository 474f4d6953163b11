"""Refunds made outside Homeward: in a provider's dashboard, the shop's admin, by bank transfer.

Pure. Such a refund is recorded as a money movement of the return (`source = outside`, never
sent to a provider) and counted on its payment's ledger item like Homeward's own, so the
per-payment cap (`refunded + reserved <= captured`) counts every refund wherever it was made.
It is recorded once per order and reference (the provider's refund id, or the reference ops
give): the `OutsideRecord` item is written with the change and refuses a second one.

Ops' records are checked (422 above what the payment can still give back); a provider's report
of a refund it already made is a fact and is counted whatever Homeward has reserved (the
provider refuses the reservation that no longer fits, which releases it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from homeward.domain import event_types as T
from homeward.domain.refunds.changes import LedgerOp, MoneyChange, OutsideRecord, Timeline
from homeward.domain.refunds.destinations import captured, refunded_so_far
from homeward.domain.returns.states import Actor
from homeward.errors import Conflict, NotFound, Unprocessable
from homeward.models.orders import Order, Payment
from homeward.models.refunds import LedgerBalance, MoneyMovement, RefundState
from homeward.models.returns import ReturnRecord

OPS = "ops"


@dataclass(frozen=True)
class OutsideRefund:
    """A refund made outside Homeward, as ops or a provider's webhook report it."""

    reference: str  # the refund's id where it was made (Stripe re_..., a transfer reference)
    payment_id: str
    amount: int  # minor units, > 0
    currency: str
    at: datetime  # when the money moved
    status: Literal["pending", "succeeded"] = "succeeded"
    source: str = OPS  # ops, or the provider that reported it (stripe)
    actor_id: str | None = None
    note: str | None = None

    @property
    def checked(self) -> bool:
        """Ops' records must fit what remains; a provider's report is a fact."""
        return self.source == OPS


def intent_of(reference: str) -> str:
    return f"outside:{reference}"


def _payment(order: Order, refund: OutsideRefund) -> Payment:
    payment = next((p for p in order.payments if p.payment_id == refund.payment_id), None)
    if payment is None:
        raise NotFound(
            "The order has no such payment",
            details={"reason": "unknown_payment", "payments": [p.payment_id for p in order.payments]},
        )
    if refund.currency != (payment.currency or order.currency):
        raise Unprocessable(
            f"The payment is in {payment.currency or order.currency}",
            details={"reason_codes": ["currency_mismatch"], "currency": payment.currency or order.currency},
        )
    return payment


def payment_remaining(payment: Payment, ledger: dict[str, LedgerBalance]) -> int:
    """What one payment can still give back: captured minus refunded and reserved anywhere."""
    return max(0, captured(payment, ledger) - refunded_so_far([payment], ledger)[payment.payment_id])


def _require_fits(refund: OutsideRefund, payment: Payment, ledger: dict[str, LedgerBalance]) -> None:
    left = payment_remaining(payment, ledger)
    if refund.checked and refund.amount > left:
        raise Unprocessable(
            "The refund is more than the payment can still give back",
            details={
                "reason_codes": ["exceeds_remaining"],
                "remaining": left,
                "currency": refund.currency,
                "payment_id": payment.payment_id,
            },
        )


def outside_record(order_id: str, refund: OutsideRefund, provider: str, rma: str | None, seq: int | None):
    return OutsideRecord(
        order_id=order_id,
        reference=refund.reference,
        payment_id=refund.payment_id,
        provider=provider,
        amount=refund.amount,
        currency=refund.currency,
        source=refund.source,
        at=refund.at,
        rma=rma,
        seq=seq,
        status=refund.status,
    )


def _ledger_op(refund: OutsideRefund, payment: Payment, ledger: dict[str, LedgerBalance]) -> LedgerOp:
    return LedgerOp(
        payment_id=payment.payment_id,
        op="record" if refund.status == "succeeded" else "reserve",
        amount=refund.amount,
        captured=captured(payment, ledger),
        currency=refund.currency,
        checked=refund.checked,
    )


def _movement(record: ReturnRecord, refund: OutsideRefund, payment: Payment, *, seq: int, now: datetime):
    by_ops = refund.source == OPS
    return MoneyMovement(
        seq=seq,
        kind="refund",
        trigger="outside",
        amount=refund.amount,
        currency=refund.currency,
        status=refund.status,
        idempotency_key=f"refund:{record.rma}:{seq}",
        provider=payment.provider,
        payment_id=payment.payment_id,
        payment_reference=payment.reference,
        provider_refund_id=refund.reference,
        reason=refund.note,
        intent=intent_of(refund.reference),
        actor=Actor.OPS.value if by_ops else Actor.SYSTEM.value,
        actor_id=refund.actor_id,
        created_at=now,
        updated_at=now,
        settled_at=refund.at if refund.status == "succeeded" else None,
        source="outside",
    )


def already_recorded(record: ReturnRecord, refund: OutsideRefund) -> MoneyMovement | None:
    """This return's movement for the reference, if recorded; 409 if it was other money."""
    state = record.refund or RefundState()
    found = next((m for m in state.movements if m.intent == intent_of(refund.reference)), None)
    if found is not None and (found.payment_id, found.amount, found.currency) != (
        refund.payment_id,
        refund.amount,
        refund.currency,
    ):
        raise Conflict(
            "This reference was recorded with another payment, amount or currency",
            details={"reason": "outside_reference_reused", "reference": refund.reference, "seq": found.seq},
        )
    return found


def plan_outside(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    refund: OutsideRefund,
    *,
    now: datetime,
) -> MoneyChange | None:
    """The movement, ledger count, timeline entry and exactly-once item of an outside refund;
    None if this return already has it. 404 unknown payment, 422 other currency or (ops) more
    than the payment can still give back, 409 the reference with other money."""
    if already_recorded(record, refund) is not None:
        return None
    payment = _payment(order, refund)
    _require_fits(refund, payment, ledger)
    timeline = Timeline(record, now)
    seq = timeline.refund.next_seq()
    movement = _movement(record, refund, payment, seq=seq, now=now)
    timeline.refund.movements.append(movement)
    timeline.add(
        T.REFUND_RECORDED_OUTSIDE,
        actor=Actor.OPS if refund.source == OPS else Actor.SYSTEM,
        actor_id=refund.actor_id,
        note=refund.note,
        data={
            "seq": seq,
            "amount": refund.amount,
            "currency": refund.currency,
            "provider": payment.provider,
            "payment_id": payment.payment_id,
            "reference": refund.reference,
            "status": refund.status,
            "source": refund.source,
            "refunded_at": refund.at.isoformat(),
        },
        shopper_visible=False,  # ops' note is internal; the shopper sees the movement in the refund view
    )
    change = timeline.finish(
        movements=[movement],
        ledger=[_ledger_op(refund, payment, ledger)],
        learnt_refund_ids=[movement],
    )
    change.outside.append(outside_record(record.order_id, refund, payment.provider, record.rma, seq))
    return change


def ledger_only(
    order: Order, ledger: dict[str, LedgerBalance], refund: OutsideRefund
) -> tuple[OutsideRecord, LedgerOp]:
    """An outside refund of an order without a return to show it on: only the cap counts it."""
    payment = _payment(order, refund)
    _require_fits(refund, payment, ledger)
    return outside_record(order.order_id, refund, payment.provider, None, None), _ledger_op(
        refund, payment, ledger
    )
