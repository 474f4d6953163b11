"""A money change: the new return plus everything written with it in one transaction.

Exactly-once rests on three things decided by the planners and written atomically by the
adapter:
  * a refund is planned once per intent: the automatic one when `record.refund.trigger` is
    still unset, a manual one per ops Idempotency-Key, a retry per failed movement;
  * every planned refund reserves its amount on the payment's ledger item (the write fails if
    `available < amount`), so all refunds of an order together never exceed what was captured;
  * every movement has its provider idempotency key `refund:{rma}:{n}` fixed at planning and
    a status that only moves along `states.MOVEMENT_TRANSITIONS`, so a duplicated or late
    provider report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from homeward.domain.returns.states import Actor, MoneyState, money_state_for, next_money_state
from homeward.models.refunds import MoneyMovement, RefundState
from homeward.models.returns import ReturnRecord, TimelineEntry

LedgerOpKind = Literal["reserve", "settle", "release", "unsettle", "record"]


@dataclass(frozen=True)
class LedgerOp:
    """A change to one payment's ledger item.

    reserve: available -= amount, reserved += amount (only if available >= amount; the first
             reserve creates the item with `captured`);
    settle: reserved -> refunded; release: reserved -> available; unsettle: refunded -> available
    (the provider failed a refund it had reported as succeeded); record: available -> refunded
    at once (a refund made outside Homeward, already done).

    `checked=False` (reserve and record only): a refund a provider reports it already made
    outside Homeward is a fact; it is counted even when Homeward's own reservations leave less
    available (the provider refuses the reservation that no longer fits, which releases it).
    """

    payment_id: str
    op: LedgerOpKind
    amount: int
    captured: int
    currency: str
    checked: bool = True


@dataclass(frozen=True)
class OutsideRecord:
    """A refund made outside Homeward, once per order and reference (the exactly-once item)."""

    order_id: str
    reference: str
    payment_id: str
    provider: str
    amount: int
    currency: str
    source: str  # ops, or the provider whose webhook reported it
    at: datetime  # when the money moved
    rma: str | None
    seq: int | None
    status: str = "succeeded"  # pending until the provider settles it (then succeeded, failed)

    def same_refund(self, other: OutsideRecord) -> bool:
        """The same money: a replay or a double click, not another refund under the reference."""
        return (self.payment_id, self.amount, self.currency) == (
            other.payment_id,
            other.amount,
            other.currency,
        )


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
    # Refunds made outside Homeward, recorded once each (the write fails on a second one).
    outside: list[OutsideRecord] = field(default_factory=list)


def money_state(state: RefundState) -> MoneyState:
    """The money state of a return: failed movements that were retried no longer count."""
    retried = {m.retry_of for m in state.movements if m.retry_of is not None}
    return money_state_for([(m.kind, m.status) for m in state.movements if m.seq not in retried])


def movement_data(movements: list[MoneyMovement]) -> list[dict[str, Any]]:
    """Movements as a timeline event's data shows them."""
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


class Timeline:
    """Builds a change: a copy of the return to change, and its events with consecutive seqs
    after the record's version."""

    def __init__(self, record: ReturnRecord, now: datetime) -> None:
        self.record = record.model_copy(deep=True)
        self.before = record
        self.now = now
        self.events: list[TimelineEntry] = []

    @property
    def refund(self) -> RefundState:
        """The refund state being changed (set on the copy when the return had none)."""
        if self.record.refund is None:
            self.record.refund = RefundState()
        return self.record.refund

    def add(
        self,
        event_type: str,
        *,
        data: dict[str, Any],
        actor: Actor = Actor.SYSTEM,
        actor_id: str | None = None,
        **kw: Any,
    ) -> None:
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
        self,
        issue: CreditIssue,
        *,
        actor: Actor = Actor.SYSTEM,
        actor_id: str | None = None,
        note: str | None = None,
    ) -> None:
        self.add(
            "credit.issued",
            actor=actor,
            actor_id=actor_id,
            note=note,
            data={"code": issue.code, "amount": issue.amount, "currency": issue.currency},
        )

    def finish(
        self,
        *,
        movements: list[MoneyMovement] | None = None,
        ledger: list[LedgerOp] | None = None,
        credits: list[CreditIssue] | None = None,
        learnt_refund_ids: list[MoneyMovement] | None = None,
    ) -> MoneyChange:
        state = self.record.refund or RefundState()
        current = MoneyState(self.before.money_status)
        target = money_state(state)
        if target != current:
            next_money_state(current, target)  # raises Conflict on a transition the table forbids
        self.record.money_status = target.value
        self.record.updated_at = self.now
        return MoneyChange(
            record=self.record,
            events=self.events,
            expected_version=self.before.version,
            movements=movements or [],
            ledger=ledger or [],
            credits=credits or [],
            learnt_refund_ids=learnt_refund_ids or [],
        )
