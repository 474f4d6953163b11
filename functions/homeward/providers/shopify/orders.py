"""A Shopify order (REST/webhook JSON, API 2026-07) as Homeward's order (`OrderIn`). Pure.

What the shopper paid, in the currency they paid in: every amount is read from the
`*_set.presentment_money` bag (the shop currency `shop_money` is the merchant's book, not the
shopper's charge), converted to integer minor units by the currency's ISO 4217 exponent
(`domain/shared/money.py`; more decimals than the exponent is refused, never rounded).

* lines: `price_set` per unit; `discount` = the line's `discount_allocations` (Shopify has
  already spread order-level discounts over the lines, so they are kept as allocated);
  `tax` = the line's `tax_lines` unless `taxes_included` (then the price already holds it).
  Every allocation, on lines and shipping, must sum exactly to `total_discounts_set`; an order
  that carries no allocation at all but a discount (older orders) keeps it as the order-level
  `order_discount`, which Homeward prorates on returns.
* shipping: `shipping_lines` price, less their discount allocations, plus their tax.
* ids: Shopify ids exceed 2^53 (`487817672276298554`). The raw body is parsed by Python's
  `json` (`load_json`), whose integers are exact, and ids are kept as strings: nothing goes
  through a float (a JavaScript-style parser would read 487817672276298560).
* customer: `email` (else `contact_email`, else the customer's), the name, `customer_locale`
  (a BCP 47 tag; anything else falls back to "en"), the shipping address when complete.
* payments: successful `sale`/`capture` transactions (when the caller has them: webhooks do not
  carry transactions) as `shopify` payments, gift cards included (`gateway` "gift_card").
* shipments: each fulfillment that is not cancelled/failed, one shipment per tracking number
  (the fulfilled lines on the first).
* cancelled orders keep their lines and carry the tag `cancelled`.

Sources: shopify.dev REST Order resource 2026-07 and the webhook sample payloads
(tests/fixtures/provider-samples/shopify/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from homeward.domain.orders.intake import FulfillmentChange
from homeward.domain.shared.json_input import load_json
from homeward.domain.shared.money import MoneyError, to_minor
from homeward.errors import MalformedRequest
from homeward.models.orders import OrderIn, Shipment

Json = dict[str, Any]

_LOCALE: Final = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TAG: Final = re.compile(r"^[A-Za-z0-9_\-:. ]{1,64}$")
_TRACKING: Final = re.compile(r"^[A-Za-z0-9\-]{4,64}$")
_CARRIER_CHARS: Final = re.compile(r"[^A-Za-z0-9_\- ]")
_DEAD_FULFILLMENT: Final = frozenset({"cancelled", "failure", "error"})
_PAYMENT_KINDS: Final = frozenset({"sale", "capture"})


class ShopifyOrderError(ValueError):
    """The order cannot be mapped exactly (a refused amount, discounts that do not add up)."""


def order_id(shopify_id: object) -> str:
    """Homeward's id of a Shopify order: "shopify-820982911946154508"."""
    return f"shopify-{_id(shopify_id)}"


def parse_order(body: bytes, *, transactions: Iterable[Json] = ()) -> tuple[str, OrderIn]:
    """(Homeward order id, order) from the raw body of an order webhook or REST order."""
    data = _object(body)
    return order_id(data.get("id")), map_order(data, transactions=transactions)


def parse_fulfillment(body: bytes) -> FulfillmentChange:
    """A `fulfillments/*` body: its order and its parcels (none when cancelled or failed)."""
    data = _object(body)
    numbers = _tracking_numbers(data)
    try:
        shipments = [Shipment.model_validate(s) for s in _shipments([data])]
    except ValidationError as exc:
        raise ShopifyOrderError(f"Shopify fulfillment {data.get('id')}: {exc}") from exc
    return FulfillmentChange(order_id(data.get("order_id")), shipments, numbers)


def _object(body: bytes) -> Json:
    try:
        data = load_json(bytes(body), what="Shopify webhook body")
    except MalformedRequest as exc:
        raise ShopifyOrderError(str(exc)) from exc
    if isinstance(data, dict) and isinstance(data.get("order"), dict):
        data = data["order"]
    if not isinstance(data, dict):
        raise ShopifyOrderError("not a JSON object")
    return data


def map_order(data: Json, *, transactions: Iterable[Json] = ()) -> OrderIn:
    currency = _currency(data)
    try:
        included = bool(data.get("taxes_included"))
        lines = [_line(item, currency, taxes_included=included) for item in data.get("line_items") or []]
        shipping, shipping_discounts = _shipping(data.get("shipping_lines") or [], currency, included)
        order_discount = _order_discount(data, lines, shipping_discounts, currency)
        document = {
            "order_number": str(data.get("name") or data.get("order_number") or _id(data.get("id"))),
            "placed_at": data.get("processed_at") or data.get("created_at"),
            "updated_at": data.get("updated_at"),
            "currency": currency,
            "customer": _customer(data),
            "lines": lines,
            "order_discount": order_discount,
            "shipping": shipping,
            "payments": _payments(transactions, currency),
            "shipments": _shipments(data.get("fulfillments") or []),
            "tags": _tags(data),
        }
        return OrderIn.model_validate(document)
    except (MoneyError, ValidationError, TypeError, KeyError) as exc:
        raise ShopifyOrderError(f"Shopify order {data.get('id')}: {exc}") from exc


# ---- money -------------------------------------------------------------------------------


def _currency(data: Json) -> str:
    currency = data.get("presentment_currency") or data.get("currency")
    if not isinstance(currency, str):
        raise ShopifyOrderError("the order names no currency")
    if currency != data.get("currency") and not isinstance(data.get("total_price_set"), dict):
        # The plain amount fields are in the shop currency: without the *_set bags the shopper's
        # amounts are unknown, and reading shop amounts as presentment ones would be wrong.
        raise ShopifyOrderError(f"presented in {currency} but no presentment amounts")
    return currency


def presentment(money_set: Json | None, fallback: object, currency: str) -> int:
    """Minor units of a `*_set` bag's presentment amount (else the plain field, same currency)."""
    bag = (money_set or {}).get("presentment_money") if isinstance(money_set, dict) else None
    if isinstance(bag, dict):
        if bag.get("currency_code") not in (None, currency):
            raise ShopifyOrderError(f"presentment amount in {bag.get('currency_code')}, order in {currency}")
        return to_minor(str(bag.get("amount")), currency)
    if fallback is None:
        return 0
    return to_minor(str(fallback), currency)


def _allocated(entries: Iterable[Json], currency: str) -> int:
    return sum(presentment(entry.get("amount_set"), entry.get("amount"), currency) for entry in entries)


def _taxed(entries: Iterable[Json], currency: str) -> int:
    return sum(presentment(entry.get("price_set"), entry.get("price"), currency) for entry in entries)


def _shipping(shipping_lines: list[Json], currency: str, taxes_included: bool) -> tuple[int, int]:
    """(shipping charged, shipping discounts) over the shipping lines that were not removed."""
    charged = discounts = 0
    for line in shipping_lines:
        if line.get("is_removed"):
            continue
        discount = _allocated(line.get("discount_allocations") or [], currency)
        tax = 0 if taxes_included else _taxed(line.get("tax_lines") or [], currency)
        charged += presentment(line.get("price_set"), line.get("price"), currency) - discount + tax
        discounts += discount
    return charged, discounts


def _order_discount(data: Json, lines: list[Json], shipping_discounts: int, currency: str) -> int:
    """0 when the allocations carry the discounts (they must add up exactly), else the total."""
    total = presentment(data.get("total_discounts_set"), data.get("total_discounts"), currency)
    allocated = sum(line["discount"] for line in lines) + shipping_discounts
    if allocated == 0:
        return total
    if allocated != total:
        raise ShopifyOrderError(f"discount allocations sum to {allocated}, total_discounts is {total}")
    return 0


# ---- lines, customer, payments, shipments -------------------------------------------------


def _id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        raise ShopifyOrderError(f"not a Shopify id: {value!r}")
    return str(value)


def _line(item: Json, currency: str, *, taxes_included: bool) -> Json:
    line_id = _id(item.get("id"))
    tags = ["gift_card"] if item.get("gift_card") else []
    return {
        "line_id": line_id,
        "sku": (str(item.get("sku") or "").strip() or f"shopify-{item.get('variant_id') or line_id}")[:64],
        "title": str(item.get("title") or item.get("name") or "Item")[:200],
        "variant": (str(item["variant_title"])[:200] or None) if item.get("variant_title") else None,
        "quantity": item.get("quantity"),
        "unit_price": presentment(item.get("price_set"), item.get("price"), currency),
        "discount": _allocated(item.get("discount_allocations") or [], currency),
        "tax": 0 if taxes_included else _taxed(item.get("tax_lines") or [], currency),
        "tags": tags,
    }


def _customer(data: Json) -> Json:
    person = data.get("customer") or {}
    email = data.get("email") or data.get("contact_email") or person.get("email")
    name = " ".join(part for part in (person.get("first_name"), person.get("last_name")) if part)
    locale = str(data.get("customer_locale") or "")
    return {
        "email": email,
        "name": name[:200] or None,
        "locale": locale if _LOCALE.match(locale) else "en",
        "address": _address(data.get("shipping_address")),
    }


def _address(address: Json | None) -> Json | None:
    if not isinstance(address, dict):
        return None
    fields = {
        "name": address.get("name") or None,
        "line1": address.get("address1"),
        "line2": address.get("address2") or None,
        "city": address.get("city"),
        "region": address.get("province_code") or None,
        "postal_code": address.get("zip"),
        "country": address.get("country_code"),
    }
    required = ("line1", "city", "postal_code", "country")
    return fields if all(fields[key] for key in required) else None


def _payments(transactions: Iterable[Json], currency: str) -> list[Json]:
    payments = []
    for txn in transactions:
        if txn.get("kind") not in _PAYMENT_KINDS or txn.get("status") != "success":
            continue
        if txn.get("currency") not in (None, currency):
            raise ShopifyOrderError(
                f"transaction {txn.get('id')} in {txn.get('currency')}, order in {currency}"
            )
        payments.append(
            {
                "payment_id": f"shopify-{_id(txn.get('id'))}",
                "provider": "shopify",
                "reference": _id(txn.get("id")),
                "captured": to_minor(str(txn.get("amount")), currency),
                "currency": currency,
            }
        )
    return payments


def _shipments(fulfillments: list[Json]) -> list[Json]:
    shipments: list[Json] = []
    seen: set[str] = set()
    for fulfillment in fulfillments:
        if fulfillment.get("status") in _DEAD_FULFILLMENT:
            continue
        numbers = [n for n in _tracking_numbers(fulfillment) if n not in seen]
        for index, number in enumerate(numbers):
            seen.add(number)
            shipments.append(_shipment(fulfillment, number, with_lines=index == 0))
    return shipments


def _tracking_numbers(fulfillment: Json) -> list[str]:
    numbers = fulfillment.get("tracking_numbers") or [fulfillment.get("tracking_number")]
    return list(dict.fromkeys(str(n).strip() for n in numbers if n and _TRACKING.match(str(n).strip())))


def _shipment(fulfillment: Json, number: str, *, with_lines: bool) -> Json:
    carrier = _CARRIER_CHARS.sub("", str(fulfillment.get("tracking_company") or ""))[:32].strip()
    lines = [
        {"line_id": _id(item.get("id")), "quantity": item.get("quantity")}
        for item in (fulfillment.get("line_items") or [])
        if with_lines and (item.get("quantity") or 0) > 0
    ]
    return {
        "carrier": carrier or "other",
        "tracking_number": number,
        "service": None,
        "lines": lines,
        "shipped_at": fulfillment.get("created_at"),
    }


def _tags(data: Json) -> list[str]:
    tags = [tag.strip() for tag in str(data.get("tags") or "").split(",")]
    kept = [tag for tag in dict.fromkeys(tags) if _TAG.match(tag)][:31]
    if data.get("cancelled_at"):
        kept.append("cancelled")
    return kept


def updated_at(data: Json) -> datetime | None:
    """The order's `updated_at` (what orders from Shopify are ordered by)."""
    value = data.get("updated_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


__all__ = ["ShopifyOrderError", "map_order", "order_id", "parse_fulfillment", "parse_order", "presentment"]
