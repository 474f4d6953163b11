"""Return models: what the shopper asks for, what eligibility answers, what we store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from homeward.models.common import ExternalId, Strict
from homeward.models.policy import Address, Code, Grade, ReasonRule, Resolution
from homeward.models.refunds import RefundState, ShopperRefund

Disposition = Literal["restock", "not_restock", "refurbish", "dispose"]
# A return photo's object key, `photos/<order_id>/<32 hex>.<ext>` (built by adapters/storage.py).
PHOTOS_PREFIX = "photos/"
PhotoKey = Annotated[
    str, StringConstraints(pattern=r"^photos/[A-Za-z0-9._:\-]{1,64}/[0-9a-f]{32}\.(jpg|png|webp|heic)$")
]


def is_photo_of(key: str, order_id: str) -> bool:
    """Whether a photo key is one of this order's uploads (the shopper of an order may upload
    only under its prefix, so a key under another order's is someone else's photo)."""
    return key.startswith(f"{PHOTOS_PREFIX}{order_id}/")


# R-XXXX-XXXX-XXXX-XXXX (80 bits); R-XXXX-XXXX for returns made before RMAs had 80 bits.
Rma = Annotated[
    str,
    StringConstraints(
        pattern=r"^R-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){0,2}$"
    ),
]


# ---- eligibility -------------------------------------------------------------------------


class FeePreview(BaseModel):
    restocking_fee_percent: int
    return_shipping_fee: int = Field(description="Per return, unless a chosen reason waives fees")


class LineEligibility(BaseModel):
    line_id: str
    sku: str
    title: str
    variant: str | None
    ordered_quantity: int
    returnable_quantity: int
    returnable: bool
    reason_codes: list[str] = Field(description="Why the line cannot be returned (empty when it can)")
    deadline: date | None = Field(description="Last day to start a return for this line")
    unit_refund: int = Field(description="Refund for one more unit before fees, minor units")
    allowed_reasons: list[str]
    allowed_resolutions: list[Resolution]
    fees: FeePreview


class Eligibility(BaseModel):
    order_id: str
    currency: str
    policy_version: str
    lines: list[LineEligibility]
    store_credit_bonus_percent: int
    reasons: list[ReasonRule] = Field(
        default_factory=list, description="The policy's reasons (codes in `allowed_reasons`) with labels"
    )
    gift: bool = Field(
        default=False, description="A gift recipient's view: store credit is the only resolution"
    )


# ---- request ----------------------------------------------------------------------------


class ReturnLineIn(Strict):
    line_id: ExternalId
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    reason: Code
    sub_reason: Code | None = None
    resolution: Resolution
    exchange_variant: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, description="For exchanges: the SKU or variant wanted instead"
    )
    photos: list[PhotoKey] = Field(default_factory=list, max_length=10)


class ReturnRequest(Strict):
    """Body of `POST /portal/orders/{orderId}/returns` (and of the ops on-behalf route)."""

    lines: list[ReturnLineIn] = Field(min_length=1, max_length=50)
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


# ---- stored return ---------------------------------------------------------------------


class LineRefund(BaseModel):
    merchandise: int
    discount: int
    order_discount: int
    tax: int
    restocking_fee: int
    amount: int = Field(description="merchandise - discounts + tax - restocking fee")


class RefundPreview(BaseModel):
    currency: str
    refund_total: int = Field(description="To the original payment, after the return-shipping fee")
    store_credit_total: int = Field(description="Store credit including the bonus")
    store_credit_bonus: int
    exchange_value: int = Field(description="Value credited towards exchanges")
    keep_item_total: int
    return_shipping_fee: int
    restocking_fees: int


class ReturnLine(BaseModel):
    line_id: str
    sku: str
    title: str
    variant: str | None
    quantity: int
    previously_returned: int = Field(
        description="Units of this line in earlier returns when this one was made"
    )
    reason: str
    sub_reason: str | None
    resolution: Resolution
    exchange_variant: str | None
    photos: list[str]
    refund: LineRefund
    received_quantity: int = 0
    grade: Grade | None = None
    disposition: Disposition | None = None
    inspection_note: str | None = None


class Decision(BaseModel):
    outcome: Literal["approved", "needs_review"]
    reason_codes: list[str]


class ReturnLabel(BaseModel):
    """The carrier label of a return; files live in the private labels bucket."""

    carrier: str
    provider_id: str
    tracking_number: str
    carrier_service: str
    cost: int
    currency: str
    reference: str
    purchased_at: datetime
    expires_at: datetime
    files: dict[str, str] = Field(default_factory=dict, description="Format (PDF, PNG, ZPL) -> S3 key")
    qr_payload: str | None = Field(default=None, description="What the drop-off QR code on our label encodes")
    qr_code_url: str | None = Field(
        default=None, description="The carrier's own QR code image, if it makes one"
    )
    reminder_sent: bool = False
    voided: bool = False


class GiftRecipient(BaseModel):
    """Who returns a gift: their store credit and every message about the return go to them,
    and none to the buyer (it would spoil the gift)."""

    email: str
    locale: str | None = None


class ReturnRecord(BaseModel):
    rma: str
    order_id: str
    order_number: str
    status: str
    money_status: str
    version: int
    filed_by: Literal["shopper", "ops"]
    policy_version: str
    currency: str
    lines: list[ReturnLine]
    note: str | None
    preview: RefundPreview
    decision: Decision
    warehouse_id: str
    destination: Address
    created_at: datetime
    updated_at: datetime
    request_hash: str
    customer_fp: str
    rejection_reason: str | None = None
    label: ReturnLabel | None = None
    label_error: str | None = Field(
        default=None, description="The carrier's message when it refused the label"
    )
    refund: RefundState | None = Field(default=None, description="The money side, once a refund is planned")
    gift: GiftRecipient | None = Field(default=None, description="Returned by a gift's recipient")


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    type: str
    actor: Literal["shopper", "ops", "carrier", "system"]
    actor_id: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None
    data: dict = Field(default_factory=dict)
    shopper_visible: bool = True


# ---- ops inputs --------------------------------------------------------------------------


class RejectRequest(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class InspectedLine(Strict):
    line_id: ExternalId
    received_quantity: Annotated[int, Field(ge=0, le=10_000)]
    grade: Grade
    disposition: Disposition
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ReceiveRequest(Strict):
    lines: list[InspectedLine] = Field(min_length=1, max_length=50)


class NoteRequest(Strict):
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    shopper_visible: bool = False


class CancelRequest(Strict):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


# ---- responses -----------------------------------------------------------------------------


class PreviewLine(BaseModel):
    line_id: str
    quantity: int
    refund: LineRefund


class ReturnPreview(BaseModel):
    """`POST .../returns/preview`: what the request would refund, nothing written."""

    currency: str
    preview: RefundPreview
    decision: Literal["approved", "needs_review"] = Field(
        description="Whether it would be approved at once or wait for the shop's review"
    )
    lines: list[PreviewLine]


class ShopperLabel(BaseModel):
    tracking_number: str
    carrier_service: str
    expires_at: datetime
    formats: list[str] = Field(description="Download with GET .../returns/{rma}/label?format=")
    qr_payload: str | None = Field(description="Show this QR code at the drop-off point instead of printing")
    qr_code_url: str | None = Field(
        default=None, description="Or the carrier's QR code image, where it makes one"
    )


class LabelLink(BaseModel):
    """A short-lived link to the label file."""

    url: str
    format: str
    expires_in_seconds: int
    tracking_number: str


class ShopperReturn(BaseModel):
    """A return as its shopper sees it."""

    rma: str
    order_id: str
    status: str
    money_status: str
    created_at: datetime
    updated_at: datetime
    lines: list[ReturnLine]
    preview: RefundPreview
    destination: Address
    can_cancel: bool
    rejection_reason: str | None
    label: ShopperLabel | None = None
    label_status: Literal["none", "pending", "issued", "failed", "expired", "voided"]
    label_error: str | None = None
    refund: ShopperRefund | None = Field(default=None, description="Refund status, amounts and expected date")
    timeline: list[TimelineEntry]


class ShopperReturnList(BaseModel):
    returns: list[ShopperReturn]


class OpsReturn(BaseModel):
    """Everything about a return, for ops: the record and the full audit timeline."""

    record: ReturnRecord
    timeline: list[TimelineEntry]


class ReturnSummary(BaseModel):
    rma: str
    order_id: str
    order_number: str
    status: str
    money_status: str
    created_at: datetime
    updated_at: datetime
    currency: str
    refund_total: int
    units: int


class ReturnPage(BaseModel):
    returns: list[ReturnSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class PhotoUploadRequest(Strict):
    content_type: Literal["image/jpeg", "image/png", "image/webp", "image/heic"]


class PhotoUpload(BaseModel):
    """A presigned S3 POST: send the file as multipart/form-data with these fields, then `file`."""

    url: str
    fields: dict[str, str]
    key: str = Field(description="Reference this key in the return request's `photos`")
    max_bytes: int
    expires_in_seconds: int
