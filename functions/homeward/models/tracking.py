"""Tracking models: one carrier update in the normalized vocabulary, and a tracked parcel.

`CarrierUpdate` is what every provider's webhook body becomes (homeward/providers/*/tracking.py);
`Shipment` is the parcel as Homeward knows it (one item per tracking number);
`ParcelView` is what a shopper sees on `GET /portal/orders/{orderId}/tracking`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


# The normalized vocabulary every provider's statuses map to (domain/tracking/status.py). No
# docstring: it would become the schema's description in openapi.json.
class TrackingStatus(StrEnum):
    UNKNOWN = "unknown"
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    DELIVERED = "delivered"
    RETURN_TO_SENDER = "return_to_sender"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    ERROR = "error"


# A tracking source's registered name (homeward/providers/registry.py lists them; models do
# not import it, the webhook intake only builds updates for registered sources).
Provider = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

# Checkpoints kept per parcel: carriers rarely send more than ~40; the cap bounds item size.
MAX_CHECKPOINTS = 100

_TRACKING_NOISE = re.compile(r"[\s\-]")


def normalize_tracking_number(value: str) -> str:
    """Tracking numbers compare without spaces or dashes and in upper case, everywhere."""
    return _TRACKING_NOISE.sub("", value).upper()


class Direction(StrEnum):
    OUTBOUND = "outbound"  # shop -> shopper (the order's shipments)
    RETURN = "return"  # shopper -> warehouse (a return label)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Location(Frozen):
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        return not any((self.city, self.region, self.postal_code, self.country))


class Checkpoint(Frozen):
    """One carrier scan, normalized."""

    at: AwareDatetime
    status: TrackingStatus
    detail: str | None = None
    message: str | None = None
    location: Location | None = None


class CarrierUpdate(Frozen):
    """One tracking webhook, whatever the provider, in Homeward's vocabulary.

    `event_at` is the carrier's time of `status` (the latest checkpoint), never the arrival
    time; `checkpoints` is the history the provider sent with it, oldest first.
    """

    provider: Provider
    event_id: str = Field(description="The provider's event id, or the documented fallback")
    tracking_number: str = Field(description="Normalized with normalize_tracking_number")
    carrier: str | None = None
    status: TrackingStatus
    detail: str | None = None
    action_required: bool = False
    recognized: bool = True
    raw_status: str | None = Field(default=None, description="The provider's own status value, for logs")
    event_at: AwareDatetime
    location: Location | None = None
    eta: AwareDatetime | None = None
    checkpoints: tuple[Checkpoint, ...] = ()
    is_return: bool | None = Field(default=None, description="The provider says it is a return parcel")


class Shipment(BaseModel):
    """A tracked parcel: registered by an order (outbound) or a return label (return)."""

    tracking_number: str
    carrier: str | None = None
    direction: Direction
    order_id: str
    rma: str | None = None
    status: TrackingStatus = TrackingStatus.UNKNOWN
    detail: str | None = None
    action_required: bool = False
    status_at: datetime | None = Field(default=None, description="Carrier time of the current status")
    last_event_at: datetime | None = Field(default=None, description="Latest carrier time seen in any event")
    last_location: Location | None = None
    eta: datetime | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    applied_events: int = Field(default=0, description="Webhook events applied (each exactly once)")
    needs_review: bool = False
    review_reason: str | None = None
    delayed_for: datetime | None = Field(
        default=None, description="last_event_at for which shipment.delayed was emitted"
    )
    registered_at: datetime
    updated_at: datetime
    version: int = 0


class ParcelEvent(BaseModel):
    at: datetime
    status: TrackingStatus
    detail: str | None = None
    message: str | None = None
    location: Location | None = None


class ParcelView(BaseModel):
    """One parcel on the shopper's tracking page."""

    direction: Direction
    tracking_number: str
    carrier: str | None = None
    rma: str | None = Field(default=None, description="The return this parcel belongs to")
    status: TrackingStatus
    detail: str | None = None
    status_at: datetime | None = None
    last_location: Location | None = None
    eta: datetime | None = Field(default=None, description="Estimated delivery, when the carrier gives one")
    delivered: bool
    events: list[ParcelEvent] = Field(description="Newest first")


class OrderTracking(BaseModel):
    order_id: str
    parcels: list[ParcelView]


class WebhookAck(BaseModel):
    """The answer to a carrier: any 2xx stops its retries."""

    status: Literal["accepted", "duplicate", "ignored"] = Field(
        description="accepted: stored for processing; duplicate: seen before, nothing done; "
        "ignored: not a tracking event"
    )
    webhook_id: str | None = Field(default=None, description="Homeward's id of the stored event")


class WebhookEntry(BaseModel):
    """A stored webhook event as ops see it (the raw body stays in the table)."""

    webhook_id: str
    provider: str
    event_id: str
    tracking_number: str
    status: Literal["received", "applied", "parked", "failed"]
    received_at: str
    tracking_status: str | None = None
    event_at: str | None = None
    error: str | None = None
    replays: int = 0


class WebhookPage(BaseModel):
    items: list[WebhookEntry]
    next_cursor: str | None = None
