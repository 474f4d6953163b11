"""To where: how a refund is spread over the order's payments, what they can still give back,
and the movements (a refund to one payment, or a store credit) that carry it.

Pure: the ledger (`LedgerBalance` per payment) says what each payment already gave back; a
payment never gets more than captured minus that.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from homeward.domain.refunds.changes import CreditIssue, LedgerOp
from homeward.domain.refunds.money import allocate
from homeward.domain.refunds.pricing import SPLIT_RULES, SplitRule
from homeward.domain.returns.states import Actor
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order, Payment
from homeward.models.refunds import LedgerBalance, MoneyMovement, MovementKind, MovementStatus
from homeward.models.returns import ReturnRecord

STORE_CREDIT = "store_credit"
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class Allocation:
    """The part of a refund sent back to one payment."""

    payment_id: str
    provider: str
    reference: str
    amount: int


# ---- splitting one amount over payments ------------------------------------------------------


def _capacity(payment: Payment, already_refunded: Mapping[str, int]) -> int:
    return max(0, payment.captured - already_refunded.get(payment.payment_id, 0))


def remaining(payments: list[Payment], already_refunded: Mapping[str, int]) -> int:
    """What can still be refunded: captured minus already refunded, summed over payments."""
    return sum(_capacity(p, already_refunded) for p in payments)


def _check_splittable(amount: int, payments: list[Payment], capacities: list[int], currency: str) -> None:
    foreign = [p.payment_id for p in payments if p.currency not in (None, currency)]
    if foreign:
        raise Unprocessable(
            f"Payments are not in {currency}",
            details={"reason_codes": ["currency_mismatch"], "payments": foreign, "currency": currency},
        )
    left = sum(capacities)
    if amount > left:
        raise Conflict(
            "The refund is more than remains to be refunded",
            details={"reason": "exceeds_remaining", "remaining": left, "currency": currency},
        )


def _fill_in_order(amount: int, capacities: list[int]) -> list[int]:
    parts, rest = [], amount
    for cap in capacities:
        take = min(cap, rest)
        parts.append(take)
        rest -= take
    return parts


def split_across_payments(
    amount: int,
    payments: list[Payment],
    already_refunded: Mapping[str, int],
    *,
    currency: str,
    rule: SplitRule = "proportional",
) -> list[Allocation]:
    """Spread `amount` over the order's payments; zero-amount parts are left out.

    proportional: in proportion to each payment's remaining capacity (largest remainder, ties
    by position, so deterministic); sequential: fill payments in the order given. Either way
    no payment gets more than captured minus already refunded.

    Raises Unprocessable (422) if a payment is in another currency, Conflict (409) with the
    remaining amount if `amount` is more than can still be refunded.
    """
    if amount < 0:
        raise ValueError("refund amount must not be negative")
    if amount == 0:
        return []
    capacities = [_capacity(p, already_refunded) for p in payments]
    _check_splittable(amount, payments, capacities, currency)
    if rule not in SPLIT_RULES:
        raise ValueError(f"unknown split rule {rule!r}")
    # amount <= sum(capacities), so largest remainder never pushes a part past its weight.
    parts = allocate(amount, capacities) if rule == "proportional" else _fill_in_order(amount, capacities)
    return [
        Allocation(payment_id=p.payment_id, provider=p.provider, reference=p.reference, amount=part)
        for p, part in zip(payments, parts, strict=True)
        if part > 0
    ]


# ---- the order's payments as the ledger sees them ---------------------------------------------


def refunded_so_far(payments: list[Payment], ledger: dict[str, LedgerBalance]) -> dict[str, int]:
    """Per payment, what is refunded or reserved already (captured minus available)."""
    return {
        p.payment_id: (ledger[p.payment_id].captured - ledger[p.payment_id].available)
        if p.payment_id in ledger
        else 0
        for p in payments
    }


def captured(payment: Payment, ledger: dict[str, LedgerBalance]) -> int:
    """The captured amount the ledger item keeps from the first refund (the order may change later)."""
    return ledger[payment.payment_id].captured if payment.payment_id in ledger else payment.captured


def left_to_refund(order: Order, ledger: dict[str, LedgerBalance]) -> int:
    """What the order's payments can still give back."""
    done = refunded_so_far(order.payments, ledger)
    return sum(max(0, captured(p, ledger) - done[p.payment_id]) for p in order.payments)


def _payments_as_ledger_sees_them(order: Order, ledger: dict[str, LedgerBalance]) -> list[Payment]:
    return [p.model_copy(update={"captured": captured(p, ledger)}) for p in order.payments]


# ---- movements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """Why money moves, and who asked: written on every movement it plans."""

    trigger: str  # approval ... inspected, manual, retry
    intent: str  # trigger, manual:<key>, retry:<seq>, exchange:<order>
    now: datetime
    actor: Actor = Actor.SYSTEM
    actor_id: str | None = None
    reason: str | None = None
    retry_of: int | None = None


def _movement(
    record: ReturnRecord,
    why: Intent,
    *,
    seq: int,
    kind: MovementKind,
    amount: int,
    status: MovementStatus,
    provider: str,
    payment: Allocation | None = None,
    credit_code: str | None = None,
) -> MoneyMovement:
    return MoneyMovement(
        seq=seq,
        kind=kind,
        trigger=why.trigger,
        amount=amount,
        currency=record.currency,
        status=status,
        idempotency_key=f"refund:{record.rma}:{seq}",
        provider=provider,
        payment_id=payment.payment_id if payment else None,
        payment_reference=payment.reference if payment else None,
        credit_code=credit_code,
        reason=why.reason,
        intent=why.intent,
        retry_of=why.retry_of,
        actor=why.actor.value,
        actor_id=why.actor_id,
        created_at=why.now,
        updated_at=why.now,
        settled_at=why.now if status == "succeeded" else None,
    )


def refund_movements(
    record: ReturnRecord,
    order: Order,
    ledger: dict[str, LedgerBalance],
    amount: int,
    why: Intent,
    *,
    rule: SplitRule,
    first_seq: int,
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
    movements = [
        _movement(
            record,
            why,
            seq=first_seq + offset,
            kind="refund",
            amount=part.amount,
            status="reserved",
            provider=part.provider,
            payment=part,
        )
        for offset, part in enumerate(allocations)
    ]
    ops = [
        LedgerOp(
            payment_id=part.payment_id,
            op="reserve",
            amount=part.amount,
            captured=by_id[part.payment_id].captured,
            currency=record.currency,
        )
        for part in allocations
    ]
    return movements, ops


def new_credit_code() -> str:
    """A store-credit code such as HW-7K3M-9QXA-D2PV: 60 random bits, unguessable."""
    number = secrets.randbits(60)
    chars = []
    for _ in range(12):
        number, index = divmod(number, 32)
        chars.append(_CODE_ALPHABET[index])
    return f"HW-{''.join(chars[:4])}-{''.join(chars[4:8])}-{''.join(chars[8:])}"


def credit_movement(
    record: ReturnRecord, amount: int, why: Intent, *, seq: int, code: str
) -> tuple[MoneyMovement, CreditIssue]:
    """Store credit needs no provider: it is issued in the same write that plans it."""
    movement = _movement(
        record,
        why,
        seq=seq,
        kind="store_credit",
        amount=amount,
        status="succeeded",
        provider=STORE_CREDIT,
        credit_code=code,
    )
    issue = CreditIssue(
        code=code,
        amount=amount,
        currency=record.currency,
        rma=record.rma,
        order_id=record.order_id,
        customer_fp=record.customer_fp,
        issued_at=why.now,
    )
    return movement, issue
