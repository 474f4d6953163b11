"""Shopify webhooks (HTTPS delivery, API 2026-07): who signed them and what they carry.

Signature: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(key = the app's client secret as UTF-8,
message = the raw body)), compared in constant time with every active secret (after a rotation
Shopify signs with the new secret only after up to an hour, so both stay active meanwhile).
Required with it, as `shopify-app-js` `checkWebhooksHeaders` requires them: `X-Shopify-Topic`,
`X-Shopify-Shop-Domain`, `X-Shopify-Webhook-Id` (unique per delivery: the de-duplication key)
and `X-Shopify-API-Version`. Header names are case-insensitive; the newer unprefixed
`shopify-*` form is read too. Sources: shopify.dev "Verify webhook deliveries" and the 2026-07
webhooks reference; `Shopify/shopify-app-js` `lib/utils/hmac-validator.ts`, `lib/webhooks/types.ts`.

Bodies are bare resource objects (an Order, a Fulfillment, a Refund), never wrapped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Final

from homeward.domain.orders.intake import Delivery, OrderChange, ShopChange, ShopSource, StoredOnly
from homeward.domain.shared.webhook_signatures import (
    b64decode,
    check_inputs,
    equal,
    find_header,
    mac,
    malformed,
    mismatch,
    missing,
    to_bytes,
)

NAME: Final = "shopify"
HMAC_HEADER: Final = "x-shopify-hmac-sha256"
TOPIC_HEADER: Final = "x-shopify-topic"
SHOP_HEADER: Final = "x-shopify-shop-domain"
WEBHOOK_ID_HEADER: Final = "x-shopify-webhook-id"
API_VERSION_HEADER: Final = "x-shopify-api-version"
TRIGGERED_AT_HEADER: Final = "x-shopify-triggered-at"
EVENT_ID_HEADER: Final = "x-shopify-event-id"

ORDER_TOPICS: Final = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
FULFILLMENT_TOPICS: Final = frozenset({"fulfillments/create", "fulfillments/update"})
# Stored for the outside-refunds work; not applied to orders here.
REFUND_TOPICS: Final = frozenset({"refunds/create"})
TOPICS: Final = ORDER_TOPICS | FULFILLMENT_TOPICS | REFUND_TOPICS

_SHOP: Final = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}\.myshopify\.com$")
_WEBHOOK_ID: Final = re.compile(r"^[A-Za-z0-9\-_.:]{1,100}$")
_TOPIC: Final = re.compile(r"^[a-z_]{1,40}/[a-z_]{1,40}$")
_API_VERSION: Final = re.compile(r"^(\d{4}-\d{2}|unstable)$")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`X-Shopify-Topic`, or the unprefixed `shopify-topic` of the newer delivery format."""
    return find_header(headers, name) or find_header(headers, name.removeprefix("x-"))


def signature(body: bytes, secret: str) -> str:
    """The header value Shopify sends for `body` signed with `secret` (base64)."""
    return base64.b64encode(mac(to_bytes(secret), bytes(body))).decode()


def verify_shopify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> Delivery:
    """The delivery, or WebhookSignatureInvalid (401). Signature first: nothing else of an
    unsigned request is read."""
    check_inputs(body, secrets)
    header = _header(headers, HMAC_HEADER)
    if header is None:
        raise missing(NAME, "X-Shopify-Hmac-Sha256")
    claimed = b64decode(header.strip())
    if claimed is None or len(claimed) != 32:
        raise malformed(NAME, "X-Shopify-Hmac-Sha256")
    if not any(equal(mac(to_bytes(secret), bytes(body)), claimed) for secret in secrets):
        raise mismatch(NAME)
    return _delivery(headers)


def _delivery(headers: Mapping[str, str]) -> Delivery:
    values = {}
    for name, label, pattern in (
        (TOPIC_HEADER, "X-Shopify-Topic", _TOPIC),
        (SHOP_HEADER, "X-Shopify-Shop-Domain", _SHOP),
        (WEBHOOK_ID_HEADER, "X-Shopify-Webhook-Id", _WEBHOOK_ID),
        (API_VERSION_HEADER, "X-Shopify-API-Version", _API_VERSION),
    ):
        value = _header(headers, name)
        if value is None:
            raise missing(NAME, label)
        value = value.strip()
        if not pattern.match(value.lower() if name == SHOP_HEADER else value):
            raise malformed(NAME, label)
        values[name] = value
    return Delivery(
        topic=values[TOPIC_HEADER],
        shop=values[SHOP_HEADER].lower(),
        webhook_id=values[WEBHOOK_ID_HEADER],
        api_version=values[API_VERSION_HEADER],
        triggered_at=_header(headers, TRIGGERED_AT_HEADER),
        event_id=_header(headers, EVENT_ID_HEADER),
    )


def read_shopify(topic: str, body: bytes) -> ShopChange:
    """A stored delivery's change. ShopifyOrderError (a ValueError) when it cannot be mapped."""
    from homeward.providers.shopify import orders

    if topic in ORDER_TOPICS:
        order_id, order = orders.parse_order(body)
        return OrderChange(order_id, order)
    if topic in FULFILLMENT_TOPICS:
        return orders.parse_fulfillment(body)
    return StoredOnly(f"{topic} is stored, not applied to orders")


SOURCE: Final = ShopSource(NAME, TOPICS, verify_shopify, read_shopify)

__all__ = [
    "FULFILLMENT_TOPICS",
    "NAME",
    "ORDER_TOPICS",
    "REFUND_TOPICS",
    "TOPICS",
    "SOURCE",
    "read_shopify",
    "signature",
    "verify_shopify",
]
