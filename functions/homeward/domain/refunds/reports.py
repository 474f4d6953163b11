"""Provider reports: what a provider's answer, lookup or webhook about one refund changes.

A movement's status only moves along `states.MOVEMENT_TRANSITIONS`, so a duplicated or late
report changes nothing; the payment's ledger item follows the movement (settle, release, or
unsettle on a late failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from homeward.domain.refunds.changes import LedgerOp, LedgerOpKind, MoneyChange, Timeline
from homeward.domain.returns.states import OPEN_MOVEMENT, movement_may_move
from homeward.models.orders import Order
from homeward.models.refunds import MoneyMovement, MovementStatus
from homeward.models.returns import ReturnRecord

# A refund reported succeeded is read back once more after this: a provider can still fail it
# later (Stripe's refund.failed), and its webhook is retried for about three days only.
LATE_FAILURE_RECHECK = timedelta(days=3)
_ENDED = ("failed", "canceled")


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


@dataclass(frozen=True)
class _Reading:
    """A report as it applies to one movement: where it goes, under which provider id, why."""

    target: str
    refund_id: str | None
    failure: str | None


def _read(report: Report | Rejection, movement: MoneyMovement) -> _Reading:
    if isinstance(report, Rejection):
        return _Reading("failed", movement.provider_refund_id, report.code)
    return _Reading(report.status, report.refund_id or movement.provider_refund_id, report.failure_reason)


def _ledger_effect(before: str, after: str) -> LedgerOpKind | None:
    if before in OPEN_MOVEMENT and after == "succeeded":
        return "settle"
    if before in OPEN_MOVEMENT and after in _ENDED:
        return "release"
    if before == "succeeded" and after == "failed":
        return "unsettle"
    return None


def _captured(order: Order | None, payment_id: str) -> int:
    if order is None:
        return 0
    return next((p.captured for p in order.payments if p.payment_id == payment_id), 0)


def _move(changed: MoneyMovement, reading: _Reading, *, order: Order | None, now: datetime) -> list[LedgerOp]:
    """Move the movement to the report's status; the ledger change that goes with it."""
    before = changed.status
    changed.status = cast(MovementStatus, reading.target)  # a status movement_may_move accepted
    if reading.target in _ENDED:
        changed.failure_reason = reading.failure or reading.target
    if reading.target == "succeeded":
        changed.settled_at = now
    effect = _ledger_effect(before, reading.target)
    if not effect or not changed.payment_id:
        return []
    return [
        LedgerOp(
            payment_id=changed.payment_id,
            op=effect,
            amount=changed.amount,
            captured=_captured(order, changed.payment_id),
            currency=changed.currency,
        )
    ]


def _announce(
    timeline: Timeline, changed: MoneyMovement, reading: _Reading, *, before: str, moves: bool
) -> None:
    data: dict[str, Any] = {
        "seq": changed.seq,
        "amount": changed.amount,
        "currency": changed.currency,
        "provider": changed.provider,
        "provider_refund_id": reading.refund_id,
    }
    if moves and reading.target == "succeeded":
        timeline.add("refund.issued", data=data)
    elif moves and reading.target in _ENDED:
        failed = {**data, "reason": changed.failure_reason, "after_success": before == "succeeded"}
        timeline.add("refund.failed", data=failed)
    else:
        timeline.add(f"refund.{reading.target if moves else before}", data=data, shopper_visible=False)


def apply_report(
    record: ReturnRecord, seq: int, report: Report | Rejection, *, order: Order | None, now: datetime
) -> MoneyChange | None:
    """What a provider answer, lookup or webhook changes for movement `seq`; None if nothing
    (a duplicate, a status older than the one we have, an unknown movement)."""
    movement = record.refund.movement(seq) if record.refund else None
    if movement is None or movement.kind != "refund":
        return None
    reading = _read(report, movement)
    moves = movement_may_move(movement.status, reading.target)
    learns_id = reading.refund_id is not None and movement.provider_refund_id is None
    if not moves and not learns_id:
        return None
    timeline = Timeline(record, now)
    changed = timeline.refund.movement(seq)
    if changed is None:  # never: the copy of `movement`
        return None
    changed.provider_refund_id = reading.refund_id
    changed.updated_at = now
    ops = _move(changed, reading, order=order, now=now) if moves else []
    _announce(timeline, changed, reading, before=movement.status, moves=moves)
    return timeline.finish(movements=[changed], ledger=ops, learnt_refund_ids=[changed] if learns_id else [])
