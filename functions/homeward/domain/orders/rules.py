"""Order rules: identity of an order number, change detection and the shopper's view."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

from homeward.domain.shared.pii import mask_email, mask_phone
from homeward.errors import NotFound
from homeward.models.orders import (
    Order,
    OrderIn,
    ShopperContact,
    ShopperLine,
    ShopperOrder,
    ShopperShipment,
    UpsertOutcome,
)

FINAL_SALE_TAGS = frozenset({"final_sale", "final-sale", "no_returns"})


class OrderStore(Protocol):
    """What the order rules need from storage (implemented in adapters/dynamodb/orders.py)."""

    def upsert_order(
        self, order_id: str, order: OrderIn, *, content_hash: str, now: datetime
    ) -> UpsertOutcome: ...

    def get_order(self, order_id: str) -> Order | None: ...


def normalize_order_number(value: str) -> str:
    """Shoppers type `#1001`, `1001 ` or `1001`: all name the same order."""
    return value.strip().lstrip("#").strip().upper()


def email_fingerprint(email: str) -> str:
    """A stable digest of a normalised email, stored in the sign-in index instead of the address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def content_hash(order: OrderIn) -> str:
    """Digest of the shop's document; an identical re-send is recognised and changes nothing."""
    return hashlib.sha256(order.model_dump_json(exclude={"updated_at"}).encode()).hexdigest()[:32]


def upsert_order(order_id: str, order: OrderIn, *, store: OrderStore, now: datetime) -> UpsertOutcome:
    """Create or replace an order from the shop; idempotent for identical bodies."""
    return store.upsert_order(order_id, order, content_hash=content_hash(order), now=now)


def shopper_view(order: Order) -> ShopperOrder:
    """Project a stored order to what its shopper may see: no payments, tags or internal fields."""
    customer = order.customer
    return ShopperOrder(
        order_id=order.order_id,
        order_number=order.order_number,
        placed_at=order.placed_at,
        currency=order.currency,
        contact=ShopperContact(
            name=customer.name,
            email=mask_email(customer.email),
            phone=mask_phone(customer.phone) if customer.phone else None,
            locale=customer.locale,
        ),
        lines=[
            ShopperLine(
                line_id=line.line_id,
                sku=line.sku,
                title=line.title,
                variant=line.variant,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                tax=line.tax,
                image_url=line.image_url,
                final_sale=bool(FINAL_SALE_TAGS.intersection(t.lower() for t in line.tags)),
            )
            for line in order.lines
        ],
        shipments=[
            ShopperShipment(
                carrier=s.carrier,
                tracking_number=s.tracking_number,
                service=s.service,
                lines=s.lines,
                shipped_at=s.shipped_at,
                delivered_at=s.delivered_at,
            )
            for s in order.shipments
        ],
        order_discount=order.order_discount,
        shipping=order.shipping,
        total=order.total,
    )


def get_shopper_order(order_id: str, *, token_order_id: str, store: OrderStore) -> ShopperOrder:
    """The shopper's view of their one order. Any other order id is simply 'not found'."""
    if order_id != token_order_id:
        # Same answer as a missing order: a token must not reveal whether other orders exist.
        raise NotFound("Order not found")
    order = store.get_order(order_id)
    if order is None:
        raise NotFound("Order not found")
    return shopper_view(order)


def for_gift_recipient(view: ShopperOrder, gift) -> ShopperOrder:
    """A gift recipient sees the order, but not who bought it: the contact is their own."""
    contact = ShopperContact(
        name=None, email=mask_email(gift.email), phone=None, locale=gift.locale or view.contact.locale
    )
    return view.model_copy(update={"contact": contact, "gift": True})
