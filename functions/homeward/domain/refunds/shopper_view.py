"""The shopper's view of a refund: what they get, how, and by when the money should be back.

Before the trigger the amounts are an estimate (the preview's, priced by the same
`amounts.final_amount`); after it they are what was planned.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from homeward.domain.refunds.amounts import amounts_model
from homeward.domain.refunds.triggers import TRIGGER_STAGES, WITHDRAWN, stage_reached, trigger_for
from homeward.domain.returns.states import OPEN_MOVEMENT, ParcelState
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import MoneyMovement, RefundState, ShopperMovement, ShopperRefund
from homeward.models.returns import ReturnRecord


def _planned_date(state: RefundState, settle: timedelta) -> date | None:
    """After the trigger: the newest open movement's date plus the settle time, else when the
    money settled (None if nothing did)."""
    open_ = [m for m in state.movements if m.status in OPEN_MOVEMENT]
    if open_:
        return (max(m.created_at for m in open_) + settle).date()
    settled = [m.settled_at for m in state.movements if m.settled_at is not None]
    return max(settled).date() if settled else None


def _trigger_expected(
    record: ReturnRecord, policy: ReturnPolicy, stage: str, *, parcel_eta: datetime | None, now: datetime
) -> datetime:
    """When the trigger should be reached: the stages still ahead, each with its expected
    duration (delivery from the tracking ETA where there is one)."""
    at = now
    wanted = TRIGGER_STAGES.index(trigger_for(record, policy))
    for step in TRIGGER_STAGES[TRIGGER_STAGES.index(stage) + 1 : wanted + 1]:
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
    return at


def expected_refund_date(
    record: ReturnRecord, policy: ReturnPolicy, *, parcel_eta: datetime | None, now: datetime
) -> date | None:
    """When the money should be back: the trigger's expected date (from the tracking ETA where
    there is one) plus the provider's settle time. None for returns that will not be refunded."""
    settle = timedelta(days=policy.refund.settle_days)
    state = record.refund
    if state is not None and state.trigger is not None:
        return _planned_date(state, settle)
    stage = stage_reached(record)
    if stage is None:
        return None if ParcelState(record.status) in WITHDRAWN else (now + settle).date()
    return (_trigger_expected(record, policy, stage, parcel_eta=parcel_eta, now=now) + settle).date()


def _shopper_movement(m: MoneyMovement) -> ShopperMovement:
    return ShopperMovement(
        kind=m.kind,
        amount=m.amount,
        currency=m.currency,
        status=m.status,
        method="store_credit" if m.kind == "store_credit" else "original_payment",
        credit_code=m.credit_code,
        created_at=m.created_at,
        settled_at=m.settled_at,
    )


def shopper_refund(
    record: ReturnRecord, policy: ReturnPolicy, *, parcel_eta: datetime | None, now: datetime
) -> ShopperRefund | None:
    """The refund as its shopper sees it; before the trigger the amounts are the preview's."""
    state = record.refund
    planned = state.amounts if state is not None else None
    if planned is None and ParcelState(record.status) in WITHDRAWN:
        return None
    return ShopperRefund(
        money_status=record.money_status,
        trigger=state.trigger if state is not None and planned is not None else trigger_for(record, policy),
        estimated=planned is None,
        amounts=planned if planned is not None else amounts_model(record, policy, None, inspected=False),
        movements=[_shopper_movement(m) for m in (state.movements if state else [])],
        expected_by=expected_refund_date(record, policy, parcel_eta=parcel_eta, now=now),
    )
