"""Order models: what the shop sends, what we store, and what a shopper may see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from homeward.models.common import (
    Currency,
    Email,
    ExternalId,
    Locale,
    MinorUnits,
    PhoneE164,
    SingleLine,
    Strict,
    TimeZone,
)

ShortText = Annotated[SingleLine, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:. ]{1,64}$")]
PaymentProvider = Literal["stripe", "shopify", "paypal", "adyen", "ledger", "manual"]


class Address(Strict):
    name: ShortText | None = None
    line1: ShortText
    line2: ShortText | None = None
    city: ShortText
    region: Annotated[str, StringConstraints(max_length=64)] | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country code"
    )


class Customer(Strict):
    email: Email
    phone: PhoneE164 | None = None
    name: ShortText | None = None
    locale: Locale = "en"
    address: Address | None = None
    time_zone: TimeZone | None = Field(
        default=None,
        description="IANA zone, e.g. Europe/Berlin: SMS wait out quiet hours (21:00-08:00) there",
    )
    sms_opt_in: bool = Field(default=False, description="The shopper agreed at checkout to updates by SMS")


class OrderLine(Strict):
    line_id: ExternalId
    sku: Annotated[SingleLine, StringConstraints(min_length=1, max_length=64)]
    title: ShortText
    variant: ShortText | None = None
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    unit_price: MinorUnits = Field(description="Price of one unit before discounts, in minor units")
    discount: MinorUnits = Field(default=0, description="Line-level discount for the whole line, minor units")
    tax: MinorUnits = Field(default=0, description="Tax charged for the whole line, minor units")
    currency: Currency | None = Field(default=None, description="Defaults to the order currency")
    tags: list[Tag] = Field(default_factory=list, max_length=32, description="e.g. final_sale")
    category: Annotated[str, StringConstraints(max_length=64)] | None = None
    image_url: Annotated[str, StringConstraints(pattern=r"^https://", max_length=2048)] | None = None

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity


class Payment(Strict):
    payment_id: ExternalId
    provider: PaymentProvider
    reference: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The provider's id, e.g. a Stripe PaymentIntent id"
    )
    captured: MinorUnits
    currency: Currency | None = None


class ShipmentLine(Strict):
    line_id: ExternalId
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class Shipment(Strict):
    carrier: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\- ]{1,32}$")]
    tracking_number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-]{4,64}$")]
    service: ShortText | None = None
    lines: list[ShipmentLine] = Field(default_factory=list, max_length=250)
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None


class OrderIn(Strict):
    """Body of `PUT /orders/{orderId}`: the shop's full view of one order."""

    order_number: Annotated[SingleLine, StringConstraints(min_length=1, max_length=64)] = Field(
        description="What the shopper sees and types on the portal, e.g. #1001"
    )
    placed_at: AwareDatetime
    updated_at: AwareDatetime | None = Field(
        default=None,
        description="The shop's last-modified time; an update older than the stored one is refused (409)",
    )
    currency: Currency
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1, max_length=250)
    order_discount: MinorUnits = Field(default=0, description="Order-level discount, prorated on returns")
    shipping: MinorUnits = Field(default=0, description="Shipping charged to the shopper")
    payments: list[Payment] = Field(default_factory=list, max_length=10)
    shipments: list[Shipment] = Field(default_factory=list, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    gift_receipt_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-]{4,32}$")] | None = Field(
        default=None,
        description="The code printed on the gift receipt: with the order number it lets the recipient "
        "return a gift for store credit without the buyer's email",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        self._check_lines()
        self._check_payments()
        self._check_shipments()
        merchandise = sum(line.subtotal - line.discount for line in self.lines)
        if self.order_discount > merchandise:
            raise ValueError("order_discount exceeds the merchandise total")
        return self

    def _check_lines(self) -> None:
        line_ids = [line.line_id for line in self.lines]
        if len(set(line_ids)) != len(line_ids):
            raise ValueError("lines: line_id values must be unique")
        for line in self.lines:
            if line.currency not in (None, self.currency):
                raise ValueError(
                    f"lines: line {line.line_id} currency {line.currency} != order {self.currency}"
                )
            if line.discount > line.subtotal:
                raise ValueError(f"lines: line {line.line_id} discount exceeds its subtotal")

    def _check_payments(self) -> None:
        for payment in self.payments:
            if payment.currency not in (None, self.currency):
                raise ValueError(f"payments: {payment.payment_id} currency differs from the order currency")

    def _check_shipments(self) -> None:
        """Unique tracking numbers; every shipped line ordered, never more units than ordered."""
        ordered = {line.line_id: line.quantity for line in self.lines}
        shipped: dict[str, int] = {}
        tracking = [s.tracking_number for s in self.shipments]
        if len(set(tracking)) != len(tracking):
            raise ValueError("shipments: tracking_number values must be unique")
        for shipment in self.shipments:
            for item in shipment.lines:
                if item.line_id not in ordered:
                    raise ValueError(f"shipments: unknown line_id {item.line_id}")
                shipped[item.line_id] = shipped.get(item.line_id, 0) + item.quantity
        for line_id, qty in shipped.items():
            if qty > ordered[line_id]:
                raise ValueError(f"shipments: line {line_id} ships {qty} but only {ordered[line_id]} ordered")

    @property
    def total(self) -> int:
        """What the shopper was charged: lines net of discounts, plus tax and shipping."""
        lines = sum(line.subtotal - line.discount + line.tax for line in self.lines)
        return lines - self.order_discount + self.shipping


class Order(OrderIn):
    """An order as stored: the shop's document plus our bookkeeping."""

    order_id: ExternalId
    version: int = Field(ge=1)
    received_at: datetime


class UpsertOutcome(BaseModel):
    """Response of `PUT /orders/{orderId}`."""

    order_id: str
    version: int
    result: Literal["created", "updated", "unchanged"]


# ---- what a shopper sees ----------------------------------------------------------------


class ShopperLine(BaseModel):
    line_id: str
    sku: str
    title: str
    variant: str | None
    quantity: int
    unit_price: int
    discount: int
    tax: int
    image_url: str | None
    final_sale: bool


class ShopperShipment(BaseModel):
    carrier: str
    tracking_number: str
    service: str | None
    lines: list[ShipmentLine]
    shipped_at: datetime | None
    delivered_at: datetime | None


class ShopperContact(BaseModel):
    name: str | None
    email: str = Field(description="Masked, e.g. j***@example.com")
    phone: str | None = Field(description="Masked, e.g. +1*******0123")
    locale: str


class ShopperOrder(BaseModel):
    """Response of `GET /portal/orders/{orderId}`: no payment references, no internal fields."""

    order_id: str
    order_number: str
    placed_at: datetime
    currency: str
    contact: ShopperContact
    lines: list[ShopperLine]
    shipments: list[ShopperShipment]
    order_discount: int
    shipping: int
    total: int
    gift: bool = Field(default=False, description="Seen by a gift's recipient (the buyer's contact hidden)")


class SignInRequest(Strict):
    order_number: Annotated[SingleLine, StringConstraints(min_length=1, max_length=64)]
    email: Annotated[SingleLine, StringConstraints(min_length=3, max_length=320)] = Field(
        description="Compared trimmed and case-insensitively"
    )


class PortalSession(BaseModel):
    """Response of `POST /portal/session`."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`; opens this one order only")
    token_type: Literal["Bearer"] = "Bearer"
    order_id: str
    expires_at: datetime
    gift: bool = Field(
        default=False, description="A gift recipient's session: returns become their store credit"
    )
