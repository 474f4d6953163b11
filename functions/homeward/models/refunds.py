"""Refund models: money movements of a return, the refund state on the return, and the
inputs and views of the refund routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from homeward.models.common import Currency, ExternalId, MinorUnits, Strict

MovementKind = Literal["refund", "store_credit"]
MovementStatus = Literal["reserved", "pending", "requires_action", "succeeded", "failed", "canceled"]
RefundTriggerName = Literal["approval", "first_scan", "delivered", "inspected", "manual", "retry", "outside"]
# homeward: Homeward sent it to the provider; outside: made elsewhere (a provider's dashboard,
# the shop's admin, a bank transfer) and recorded so the per-payment cap counts it.
MovementSource = Literal["homeward", "outside"]


class MoneyMovement(BaseModel):
    """One movement of money for a return: a refund to one payment, or one store credit.

    `seq` is the n of the provider idempotency key `refund:{rma}:{n}`: fixed when the amount
    is reserved and sent unchanged on every attempt.
    """

    seq: int = Field(ge=1)
    kind: MovementKind
    trigger: RefundTriggerName
    amount: int = Field(gt=0)
    currency: str
    status: MovementStatus
    idempotency_key: str
    provider: str = Field(description="stripe, ledger, ... or store_credit")
    payment_id: str | None = None
    payment_reference: str | None = Field(default=None, description="e.g. the Stripe PaymentIntent id")
    provider_refund_id: str | None = None
    failure_reason: str | None = None
    credit_code: str | None = None
    reason: str | None = Field(default=None, description="Why ops refunded by hand")
    intent: str = Field(description="What asked for it: trigger, manual:<key>, retry:<seq>")
    retry_of: int | None = None
    actor: Literal["shopper", "ops", "carrier", "system"] = "system"
    actor_id: str | None = None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None
    source: MovementSource = Field(
        default="homeward", description="outside: refunded elsewhere and recorded (never sent by Homeward)"
    )


class RefundLine(BaseModel):
    """One line's final refund, in minor units, computed by the server (never sent by a client)."""

    line_id: str
    resolution: str
    accepted_units: int
    merchandise: int
    discount: int
    order_discount: int
    tax: int
    restocking_fee: int
    grade_deduction: int
    amount: int  # merchandise - discount - order_discount + tax - restocking_fee - grade_deduction


class RefundAmounts(BaseModel):
    """The final amount of a return, per line and per resolution, minor units."""

    currency: str
    inspected: bool = Field(description="Whether inspection results (received units, grades) applied")
    lines: list[RefundLine]
    return_shipping_fee: int
    refund_total: int
    store_credit_total: int
    store_credit_bonus: int
    exchange_value: int
    keep_item_total: int
    restocking_fees: int
    grade_deductions: int
    capped_by: int = Field(
        default=0, description="What could not be refunded because the payments had no more to give"
    )


class ExchangeSettlement(BaseModel):
    """The replacement order the shop made for the exchange lines, and the price difference."""

    replacement_order_id: str
    replacement_value: int
    exchange_value: int
    difference: int = Field(description="exchange_value - replacement_value: > 0 refunded, < 0 owed")
    settled_at: datetime


class RefundState(BaseModel):
    """The money side of a return, stored on the return."""

    trigger: RefundTriggerName | None = None
    triggered_at: datetime | None = None
    amounts: RefundAmounts | None = None
    movements: list[MoneyMovement] = Field(default_factory=list)
    exchange: ExchangeSettlement | None = None

    def next_seq(self) -> int:
        return max((m.seq for m in self.movements), default=0) + 1

    def movement(self, seq: int) -> MoneyMovement | None:
        return next((m for m in self.movements if m.seq == seq), None)


class LedgerBalance(BaseModel):
    """What one payment of an order can still give back (the per-payment ledger item)."""

    payment_id: str
    captured: int
    available: int
    reserved: int
    refunded: int
    currency: str


# ---- ops inputs ------------------------------------------------------------------------------


class ManualRefundRequest(Strict):
    """Body of `POST /ops/returns/{rma}/refunds`."""

    amount: MinorUnits = Field(gt=0, description="Minor units; at most what remains to be refunded")
    currency: Currency
    kind: MovementKind = "refund"
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class OutsideRefundRequest(Strict):
    """Body of `POST /ops/returns/{rma}/refunds/outside`: a refund made outside Homeward."""

    amount: MinorUnits = Field(gt=0, description="Minor units; at most what the payment can still give back")
    currency: Currency
    payment_id: ExternalId = Field(description="The order's payment that was refunded")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")] = (
        Field(description="The refund's id where it was made (re_..., a transfer reference): once per order")
    )
    refunded_on: date = Field(description="The day the money was refunded")
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ManualRefundDecision(Strict):
    """Body of `POST /ops/returns/{rma}/refunds/{seq}/confirm` (`reference` required) and `/fail`."""

    reference: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="Confirm: the transfer's reference, as the refund id"
    )
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ExchangeRequest(Strict):
    """Body of `POST /ops/returns/{rma}/exchange`: the shop's replacement order for the exchange lines."""

    replacement_order_id: ExternalId
    replacement_value: MinorUnits = Field(description="What the replacement costs, minor units, tax included")
    currency: Currency


class RetryRequest(Strict):
    """Body of `POST /ops/returns/{rma}/refunds/retry`."""

    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    as_store_credit: bool = Field(
        default=False, description="Issue store credit instead of refunding the payment again"
    )


class CreditRedemption(Strict):
    """Body of `POST /credits/{code}/redemptions`."""

    amount: MinorUnits = Field(gt=0)
    currency: Currency
    order_reference: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The shop's order paid with the credit"
    )


# ---- views -------------------------------------------------------------------------------------


class ShopperMovement(BaseModel):
    kind: MovementKind
    amount: int
    currency: str
    status: MovementStatus
    method: str = Field(description="original_payment or store_credit")
    credit_code: str | None = None
    created_at: datetime
    settled_at: datetime | None


class ShopperRefund(BaseModel):
    """The refund as the shopper sees it: status, amounts and when to expect the money."""

    money_status: str
    trigger: str = Field(description="When the refund is issued: approval, first_scan, delivered, inspected")
    estimated: bool = Field(description="True until the refund is issued: amounts are the preview's")
    amounts: RefundAmounts
    movements: list[ShopperMovement]
    expected_by: date | None = Field(description="When the money should be back (estimate)")


class StoreCredit(BaseModel):
    code: str
    currency: str
    issued: int
    balance: int
    rma: str
    order_id: str
    issued_at: datetime


class MoneyMovementAccepted(BaseModel):
    """Response of the ops refund routes (202): the return's money state after planning."""

    rma: str
    money_status: str
    movements: list[MoneyMovement]
    remaining: int = Field(description="What can still be refunded to the order's payments")
