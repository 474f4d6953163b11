"""Return labels: what we ask a carrier for and what it sells us."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

LabelFormat = Literal["PDF", "PNG", "ZPL"]
CarrierName = Literal["sandbox", "easypost", "shippo"]


class LabelAddress(BaseModel):
    name: str
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    phone: str | None = None
    email: str | None = None


class Parcel(BaseModel):
    """Package dimensions in inches and weight in ounces (what US carriers price by)."""

    length_in: float = 12
    width_in: float = 9
    height_in: float = 4
    weight_oz: float = 16


class LabelRequest(BaseModel):
    """Buy a return label from the shopper (`from_address`) to the warehouse (`to_address`)."""

    rma: str
    order_id: str
    from_address: LabelAddress
    to_address: LabelAddress
    parcel: Parcel = Field(default_factory=Parcel)
    service_level: str = "ground"
    label_format: LabelFormat = "PDF"
    qr_code: bool = True
    reference: str = Field(description="Idempotency reference sent to the carrier, e.g. label:R-7K3M-9QXA")


class PurchasedLabel(BaseModel):
    """A label the carrier sold us. `provider_id` is what voiding and re-fetching need."""

    carrier: CarrierName
    provider_id: str = Field(description="EasyPost shipment id, Shippo transaction id, sandbox id")
    tracking_number: str
    carrier_service: str = Field(description="e.g. USPS GroundAdvantage, UPS Ground")
    cost: int = Field(ge=0, description="What the label cost, in minor units")
    currency: str
    label_format: LabelFormat
    label_url: str | None = Field(default=None, description="Where the carrier serves the file, if it does")
    qr_code_url: str | None = None
    reference: str
    purchased_at: datetime
    content: LabelContent | None = Field(
        default=None,
        description="What the label shows, when the carrier adapter draws the file itself (the sandbox); "
        "None for EasyPost and Shippo, which serve their own files",
    )


class VoidResult(BaseModel):
    voided: bool
    status: str = Field(description="The carrier's refund/void status, e.g. submitted, refunded, rejected")


class LabelContent(BaseModel):
    """Everything printed on a 4x6 in return label (homeward.domain.labels.render draws it).

    The parcel goes from the shopper (`sender`) to the warehouse (`recipient`). Text is drawn
    in fonts with Latin coverage: other scripts are transliterated (e.g. Cyrillic to Latin).
    """

    sender: LabelAddress = Field(description="The shopper sending the parcel back")
    recipient: LabelAddress = Field(description="The warehouse receiving it")
    rma: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(pattern=r"^[A-Za-z0-9]{4,34}$", description="Encoded as Code 128")
    carrier_service: str = Field(min_length=1, description="e.g. Homeward Sandbox Ground")
    carrier_display_name: str = Field(min_length=1, description="e.g. Homeward Sandbox")
    qr_payload: str = Field(
        min_length=1, max_length=300, description="URL or code for printerless drop-off, drawn as a QR code"
    )
    weight_oz: float = Field(gt=0)
    created: date
    reason_summary: str | None = Field(default=None, description="e.g. Too small (2 items)")
