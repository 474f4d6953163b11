"""Shopify order JSON -> Homeward order (providers/shopify/orders.py): the published samples and
properties that every mapped amount adds up exactly."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from homeward.domain.orders.intake import FulfillmentChange
from homeward.domain.shared.money import EXPONENTS, to_decimal
from homeward.providers.shopify.orders import ShopifyOrderError, map_order, parse_fulfillment, parse_order
from hypothesis import given
from hypothesis import strategies as st

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "shopify"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_the_order_webhook_sample_maps_to_the_expected_order():
    order_id, order = parse_order(sample("01-webhook-orders-create.json"))
    assert order_id == "shopify-820982911946154508"
    assert order.order_number == "#9999"
    assert order.currency == "USD"
    # ids beyond 2^53 kept exactly (a float would read 487817672276298560)
    assert [line.line_id for line in order.lines][:2] == ["487817672276298554", "789012345678901234"]
    assert [line.unit_price for line in order.lines] == [8999, 1999, 2499, 15999, 11999]
    assert order.shipping == 1000
    # the sample's lines carry no allocations but total_discounts 20.00: the order-level discount
    assert order.order_discount == 2000
    assert order.total == 40495  # total_price "404.95"
    assert order.customer.email == "jon@example.com"
    assert order.customer.name == "John Smith"
    assert order.customer.locale == "en"
    assert order.customer.address is not None and order.customer.address.country == "US"
    assert "cancelled" in order.tags and {"tag1", "tag2"} <= set(order.tags)
    assert order.updated_at is not None and order.updated_at.utcoffset() is not None


def test_the_rest_order_sample_keeps_allocations_taxes_and_totals():
    order_id, order = parse_order(sample("10-rest-order-get-2026-07.json"))  # {"order": {...}}
    assert order_id == "shopify-450789469"
    assert [(line.discount, line.tax) for line in order.lines] == [(334, 398), (333, 398), (333, 398)]
    assert order.order_discount == 0  # the allocations carry the 10.00 discount exactly
    assert order.total == 59894  # total_price "598.94"
    assert order.shipments == []  # its only fulfillment failed


def test_the_legacy_order_without_money_sets_maps():
    _, order = parse_order(sample("16-rest-order-legacy-python-sdk-fixture.json"))
    assert [line.unit_price for line in order.lines] == [19900, 19900, 19900]


def test_a_fulfillment_webhook_becomes_its_order_parcel():
    change = parse_fulfillment(sample("05-webhook-fulfillments-create.json"))
    assert isinstance(change, FulfillmentChange)
    assert change.order_id == "shopify-820982911946154508"
    assert change.tracking_numbers == ["1z827wk74630"]
    [shipment] = change.shipments
    assert shipment.carrier == "UPS"
    assert [line.line_id for line in shipment.lines][0] == "487817672276298554"


def test_transactions_and_gift_cards_become_payments():
    data = json.loads(sample("10-rest-order-get-2026-07.json"))["order"]
    transactions = [
        {
            "id": 1,
            "kind": "sale",
            "status": "success",
            "gateway": "gift_card",
            "amount": "100.00",
            "currency": "USD",
        },
        {
            "id": 2,
            "kind": "capture",
            "status": "success",
            "gateway": "bogus",
            "amount": "498.94",
            "currency": "USD",
        },
        {"id": 3, "kind": "authorization", "status": "success", "amount": "498.94", "currency": "USD"},
        {"id": 4, "kind": "sale", "status": "failure", "amount": "1.00", "currency": "USD"},
        {"id": 5, "kind": "refund", "status": "success", "amount": "209.00", "currency": "USD"},
    ]
    order = map_order(data, transactions=transactions)
    assert [(p.payment_id, p.provider, p.captured) for p in order.payments] == [
        ("shopify-1", "shopify", 10000),
        ("shopify-2", "shopify", 49894),
    ]
    assert sum(p.captured for p in order.payments) == order.total


def test_presentment_money_is_what_the_shopper_paid():
    data = json.loads(sample("10-rest-order-get-2026-07.json"))["order"]
    data = _in_currency(
        data, "JPY", {"199.00": "3000", "3.34": "50", "3.33": "50", "10.00": "150", "3.98": "60"}
    )
    order = map_order(data)
    assert order.currency == "JPY"
    assert [line.unit_price for line in order.lines] == [3000, 3000, 3000]
    assert [line.discount for line in order.lines] == [50, 50, 50]


def test_shop_currency_amounts_are_never_read_as_the_shopper_s():
    data = json.loads(sample("16-rest-order-legacy-python-sdk-fixture.json"))["order"]
    data["presentment_currency"] = "EUR"  # no *_set bags: only shop-currency (USD) amounts
    with pytest.raises(ShopifyOrderError, match="presentment"):
        map_order(data)


def test_allocations_that_do_not_add_up_are_refused():
    data = json.loads(sample("10-rest-order-get-2026-07.json"))["order"]
    data["total_discounts_set"]["presentment_money"]["amount"] = "10.01"
    with pytest.raises(ShopifyOrderError, match="allocations"):
        map_order(data)


def test_more_decimals_than_the_currency_has_is_refused():
    data = json.loads(sample("10-rest-order-get-2026-07.json"))["order"]
    data["line_items"][0]["price_set"]["presentment_money"]["amount"] = "199.001"
    with pytest.raises(ShopifyOrderError):
        map_order(data)


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"id": 1}', b""])
def test_unmappable_bodies_are_refused(body):
    with pytest.raises(ShopifyOrderError):
        parse_order(body)


def _money(amount: str, currency: str) -> dict:
    return {
        "shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency},
    }


def _in_currency(data: dict, currency: str, amounts: dict[str, str]) -> dict:
    """The order presented in another currency: every presentment amount mapped through `amounts`."""
    data = copy.deepcopy(data)
    data["presentment_currency"] = currency

    def walk(node):
        if isinstance(node, dict):
            bag = node.get("presentment_money")
            if isinstance(bag, dict):
                bag["currency_code"] = currency
                bag["amount"] = amounts.get(bag["amount"], "0")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return data


@st.composite
def shopify_orders(draw):
    """A Shopify order whose discount allocations and totals are consistent by construction."""
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    lines, total, discounts = [], 0, 0
    for index in range(draw(st.integers(1, 6))):
        quantity = draw(st.integers(1, 5))
        price = draw(st.integers(0, 10**7))
        discount = draw(st.integers(0, price * quantity))
        tax = draw(st.integers(0, 10**6))
        allocations = _split(draw, discount)
        lines.append(
            {
                "id": 2**60 + index,
                "title": f"Item {index}",
                "sku": f"SKU-{index}",
                "quantity": quantity,
                "price_set": _money(to_decimal(price, currency), currency),
                "discount_allocations": [
                    {"amount_set": _money(to_decimal(a, currency), currency)} for a in allocations
                ],
                "tax_lines": [{"price_set": _money(to_decimal(tax, currency), currency)}],
            }
        )
        total += price * quantity - discount + tax
        discounts += discount
    shipping = draw(st.integers(0, 10**5))
    order = {
        "id": 2**62 + 7,
        "name": "#1001",
        "email": "shopper@example.com",
        "created_at": "2026-07-01T10:00:00-04:00",
        "updated_at": "2026-07-01T10:05:00-04:00",
        "presentment_currency": currency,
        "currency": "USD",
        "line_items": lines,
        "shipping_lines": [{"price_set": _money(to_decimal(shipping, currency), currency)}],
        "total_discounts_set": _money(to_decimal(discounts, currency), currency),
        "total_price_set": _money(to_decimal(total + shipping, currency), currency),
    }
    return order, total + shipping


def _split(draw, amount: int) -> list[int]:
    """`amount` as one or two allocations (a line discount and its share of an order discount)."""
    first = draw(st.integers(0, amount))
    return [first, amount - first] if draw(st.booleans()) else [amount]


@given(shopify_orders())
def test_mapped_amounts_sum_exactly(case):
    data, expected_total = case
    order = map_order(data)
    assert order.total == expected_total
    assert order.order_discount == 0
    assert [line.line_id for line in order.lines] == [str(line["id"]) for line in data["line_items"]]
    assert (
        sum(line.subtotal - line.discount + line.tax for line in order.lines) + order.shipping
        == expected_total
    )


@given(shopify_orders())
def test_the_raw_body_keeps_ids_beyond_2_53(case):
    data, _ = case
    order_id, order = parse_order(json.dumps(data).encode())
    assert order_id == f"shopify-{2**62 + 7}"
    assert order.lines[0].line_id == str(2**60)


MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
ORDER_SAMPLES = [e for e in MANIFEST if e["kind"] == "webhook" and e["topic"].startswith("orders/")]


@pytest.mark.parametrize("entry", ORDER_SAMPLES, ids=[e["file"] for e in ORDER_SAMPLES])
def test_every_published_order_webhook_maps_with_its_manifest_ids_and_total(entry):
    order_id, order = parse_order(sample(entry["file"]))
    assert order_id == f"shopify-{entry['order_id_raw']}"
    assert len(order.lines) == entry["line_items_count"]
    raw = sample(entry["file"]).decode()
    for path in entry["integers_above_2^53"]:
        if path.startswith("line_items.") and path.endswith(".id"):
            line_id = order.lines[int(path.split(".")[1])].line_id
            assert int(line_id) > 2**53 and f'"id": {line_id},' in raw  # the digits as published
    [total] = [a for a in entry["amounts"] if a["label"] == "total_price_set.presentment_money"]
    assert order.total == int(json.loads(total["raw"]).replace(".", ""))
