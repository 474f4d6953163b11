"""Orders from a shop connector's webhooks (Shopify first): what a stored delivery changes.

A connector reads a delivery into one of three changes; the stream consumer applies it:

* `OrderChange`: the shop's full order. Upserted like `PUT /orders/{id}`: an identical order
  changes nothing, and one older than the stored `source_updated_at` is refused (`stale`), so
  deliveries arriving out of order never regress an order.
* `FulfillmentChange`: one fulfillment's parcels. Merged into the stored order's shipments
  (its tracking numbers replaced), keeping the order's `updated_at`; an order not stored yet
  is skipped (`order_unknown`): its `orders/create` carries the fulfillments anyway.
* `StoredOnly`: kept in the inbox for another feature (a Shopify refund), not applied here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from homeward.domain.orders.rules import OrderStore, upsert_order
from homeward.errors import Conflict
from homeward.models.orders import OrderIn, Shipment


@dataclass(frozen=True)
class OrderChange:
    order_id: str
    order: OrderIn


@dataclass(frozen=True)
class FulfillmentChange:
    order_id: str
    shipments: list[Shipment]
    # The fulfillment's tracking numbers, also when it was cancelled (then shipments is empty).
    tracking_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredOnly:
    reason: str


ShopChange = OrderChange | FulfillmentChange | StoredOnly


@dataclass(frozen=True)
class Delivery:
    """What the headers of a verified delivery say."""

    topic: str
    shop: str
    webhook_id: str
    api_version: str
    triggered_at: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class ShopSource:
    """The port a shop connector package provides (`<package>.shop.SOURCE`, registry kind
    `shop_webhooks`): verify a delivery (WebhookSignatureInvalid, 401) and read a stored one."""

    name: str
    topics: frozenset[str]
    verify: Callable[[bytes, Mapping[str, str], Sequence[str]], Delivery]
    read: Callable[[str, bytes], ShopChange]


Outcome = Literal["created", "updated", "unchanged", "stale", "order_unknown", "stored"]


def apply_change(change: ShopChange, *, store: OrderStore, now: datetime) -> Outcome:
    if isinstance(change, OrderChange):
        return _upsert(change.order_id, change.order, store=store, now=now)
    if isinstance(change, FulfillmentChange):
        return _merge_fulfillment(change, store=store, now=now)
    return "stored"


def _upsert(order_id: str, order: OrderIn, *, store: OrderStore, now: datetime) -> Outcome:
    try:
        return upsert_order(order_id, order, store=store, now=now).result
    except Conflict as refused:
        if (refused.details or {}).get("reason") == "stale_update":
            return "stale"
        raise


def _merge_fulfillment(change: FulfillmentChange, *, store: OrderStore, now: datetime) -> Outcome:
    stored = store.get_order(change.order_id)
    if stored is None:
        return "order_unknown"
    replaced = set(change.tracking_numbers) | {s.tracking_number for s in change.shipments}
    kept = [s for s in stored.shipments if s.tracking_number not in replaced]
    document = stored.model_dump(exclude={"order_id", "version", "received_at"})
    document["shipments"] = [s.model_dump() for s in kept + change.shipments]
    return _upsert(change.order_id, OrderIn.model_validate(document), store=store, now=now)


__all__ = [
    "Delivery",
    "FulfillmentChange",
    "OrderChange",
    "Outcome",
    "ShopChange",
    "ShopSource",
    "StoredOnly",
    "apply_change",
]
