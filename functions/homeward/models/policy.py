"""The return policy: a validated, versioned document the merchant owns.

It ships as homeward/policy/return-policy.json (the default, used locally and on a fresh
deploy) and can be replaced without a redeploy by an SSM parameter (see docs/policy.md).
Every decision the engine takes from it carries a machine-readable reason code.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from homeward.models.common import Currency, MinorUnits, Strict

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Resolution = Literal["refund", "store_credit", "exchange", "keep_item"]
RefundTrigger = Literal["approval", "first_scan", "delivered", "inspected"]
Percent = Annotated[int, Field(ge=0, le=100)]
Grade = Literal["a", "b", "c", "d"]

# Percent of a line kept back per inspection grade when the policy document names none. The one
# copy: `RefundPolicy` and the pricing rules (`domain.refunds.pricing.RefundRules`) both start here.
DEFAULT_GRADE_DEDUCTION_PERCENT: Mapping[Grade, int] = MappingProxyType({"a": 0, "b": 10, "c": 25, "d": 50})
DEFAULT_RESOLUTIONS: tuple[Resolution, ...] = ("refund", "store_credit", "exchange")


def _default_grade_deductions() -> dict[Grade, int]:
    return dict(DEFAULT_GRADE_DEDUCTION_PERCENT)


def _default_resolutions() -> list[Resolution]:
    return list(DEFAULT_RESOLUTIONS)


class SubReason(Strict):
    code: Code
    label: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class ReasonRule(Strict):
    code: Code
    label: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    sub_reasons: list[SubReason] = Field(default_factory=list, max_length=20)
    requires_photo: bool = False
    requires_note: bool = False
    waives_fees: bool = Field(
        default=False, description="Merchant at fault: no restocking or return-shipping fee"
    )


class ReviewRules(Strict):
    """When a return waits for a person instead of being approved automatically."""

    auto_approve: bool = True
    order_total_over: dict[Currency, MinorUnits] = Field(default_factory=dict)
    customer_returns_in_90_days_over: int | None = Field(default=None, ge=0)
    photo_reasons: bool = True


class Address(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    line1: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    line2: Annotated[str, StringConstraints(max_length=100)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    region: Annotated[str, StringConstraints(max_length=64)] | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Warehouse(Strict):
    id: Code
    address: Address
    countries: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, description="Shopper countries routed here; empty = any"
    )


class LabelSettings(Strict):
    carrier: Literal["sandbox", "easypost", "shippo"] = "sandbox"
    service_level: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "ground"
    expiry_days: int = Field(default=28, ge=1, le=90)
    reminder_days_before_expiry: int = Field(default=3, ge=0, le=30)
    deduct_actual_cost: bool = Field(
        default=False, description="Charge the label's real cost instead of the flat return_shipping_fee"
    )


class TrackingPolicy(Strict):
    stalled_after_days: int = Field(
        default=4, ge=1, le=60, description="A parcel with no carrier event for this long is delayed"
    )


class GiftReturns(Strict):
    """Returns by a gift's recipient, without the buyer's email: always as store credit for them."""

    enabled: bool = True
    verify_by: Literal["gift_code", "postal_code"] = Field(
        default="gift_code",
        description="What the recipient proves besides the order number: the gift receipt's code "
        "(`gift_receipt_code` on the order) or the postcode the order was shipped to",
    )


class RefundPolicy(Strict):
    """How the money goes back (the trigger is `refund_trigger` on the policy itself)."""

    grade_deduction_percent: dict[Grade, Percent] = Field(
        default_factory=_default_grade_deductions,
        description="Percent of a line kept back per inspection grade (after refund_trigger=inspected)",
    )
    deduct_for_grade: bool = True
    split_rule: Literal["proportional", "sequential"] = Field(
        default="proportional", description="How one refund is spread over several payments"
    )
    settle_days: int = Field(default=5, ge=0, le=30, description="Days a card refund takes to show")
    dropoff_days: int = Field(default=3, ge=0, le=30, description="Expected days from label to first scan")
    inspection_days: int = Field(
        default=2, ge=0, le=30, description="Expected days from delivery to inspection"
    )
    close_when_settled: bool = Field(
        default=True, description="Close a received (or keep-the-item) return once its money has moved"
    )


class ReturnPolicy(Strict):
    version: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    window_days: int = Field(default=30, ge=0, le=730)
    transit_buffer_days: int = Field(
        default=7, ge=0, le=60, description="Added to the ship (or order) date when there is no delivery date"
    )
    non_returnable_tags: list[str] = Field(default_factory=lambda: ["final_sale"])
    non_returnable_categories: list[str] = Field(default_factory=list)
    non_returnable_skus: list[str] = Field(default_factory=list)
    reasons: list[ReasonRule] = Field(min_length=1, max_length=50)
    resolutions: list[Resolution] = Field(default_factory=_default_resolutions)
    resolutions_by_category: dict[str, list[Resolution]] = Field(default_factory=dict)
    store_credit_bonus_percent: Percent = 0
    keep_item_max_unit_value: dict[Currency, MinorUnits] = Field(
        default_factory=dict, description="keep_item is offered for lines whose unit refund is at most this"
    )
    restocking_fee_percent: Percent = 0
    restocking_fee_percent_by_category: dict[str, Percent] = Field(default_factory=dict)
    return_shipping_fee: dict[Currency, MinorUnits] = Field(default_factory=dict)
    refund_trigger: RefundTrigger = "delivered"
    review: ReviewRules = Field(default_factory=ReviewRules)
    warehouses: list[Warehouse] = Field(min_length=1)
    label: LabelSettings = Field(default_factory=LabelSettings)
    tracking: TrackingPolicy = Field(default_factory=TrackingPolicy)
    refund: RefundPolicy = Field(default_factory=RefundPolicy)
    gift_returns: GiftReturns = Field(default_factory=GiftReturns)
    note_max_length: int = Field(default=500, ge=0, le=2000)
    max_photos_per_line: int = Field(default=5, ge=0, le=10)

    @model_validator(mode="after")
    def _consistent(self) -> ReturnPolicy:
        codes = [r.code for r in self.reasons]
        if len(set(codes)) != len(codes):
            raise ValueError("reasons: codes must be unique")
        ids = [w.id for w in self.warehouses]
        if len(set(ids)) != len(ids):
            raise ValueError("warehouses: ids must be unique")
        return self

    def reason(self, code: str) -> ReasonRule | None:
        return next((r for r in self.reasons if r.code == code), None)

    def resolutions_for(self, category: str | None) -> list[Resolution]:
        return self.resolutions_by_category.get(category or "", self.resolutions)

    def restocking_percent(self, category: str | None) -> int:
        return self.restocking_fee_percent_by_category.get(category or "", self.restocking_fee_percent)

    def warehouse_for(self, country: str | None) -> Warehouse:
        for warehouse in self.warehouses:
            if country and country in warehouse.countries:
                return warehouse
        return next((w for w in self.warehouses if not w.countries), self.warehouses[0])
