"""Order models and rules: consistency checks, money totals, change detection, shopper view."""

from __future__ import annotations

import json

import pytest
from homeward.domain.orders import rules as orders
from homeward.domain.shared.pii import mask_email, mask_phone, mask_text
from homeward.errors import NotFound
from homeward.models.orders import Order, OrderIn
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.conftest import load_event

SAMPLE = json.loads(load_event("merchant_api.put_order")["body"])


def sample(**changes) -> dict:
    body = json.loads(json.dumps(SAMPLE))
    body.update(changes)
    return body


def stored(body: dict | None = None) -> Order:
    return Order.model_validate(
        {**(body or SAMPLE), "order_id": "ord_1001", "version": 1, "received_at": "2026-11-05T08:00:00Z"}
    )


def test_sample_total_matches_the_captured_payment():
    order = OrderIn.model_validate(SAMPLE)
    assert order.total == SAMPLE["payments"][0]["captured"] == 7136


def test_email_is_normalised_on_the_way_in():
    assert OrderIn.model_validate(SAMPLE).customer.email == "jane.doe@example.com"


@pytest.mark.parametrize(
    "body",
    [
        sample(currency="US"),
        sample(placed_at="2026-11-02T10:15:00"),  # naive timestamps are ambiguous
        sample(lines=[]),
        sample(customer={**SAMPLE["customer"], "email": "not-an-email"}),
        sample(customer={**SAMPLE["customer"], "phone": "555-0123"}),
        sample(lines=[{**SAMPLE["lines"][0], "discount": 999_999}]),
        sample(shipments=[{**SAMPLE["shipments"][0], "lines": [{"line_id": "L1", "quantity": 3}]}]),
        sample(shipments=SAMPLE["shipments"] * 2),
    ],
)
def test_inconsistent_orders_are_rejected(body):
    with pytest.raises(ValidationError):
        OrderIn.model_validate(body)


@pytest.mark.parametrize("typed", ["#1001", "1001", " #1001 ", "# 1001"])
def test_order_numbers_normalise(typed):
    assert orders.normalize_order_number(typed) == "1001"


def test_content_hash_ignores_updated_at_but_sees_real_changes():
    base = OrderIn.model_validate(SAMPLE)
    assert orders.content_hash(base) == orders.content_hash(
        OrderIn.model_validate(sample(updated_at="2027-01-01T00:00:00Z"))
    )
    assert orders.content_hash(base) != orders.content_hash(OrderIn.model_validate(sample(shipping=0)))


def test_shopper_view_projection():
    view = orders.shopper_view(stored())
    assert view.contact.email == "j***@example.com"
    assert view.contact.phone == "+1******0123"
    assert [line.final_sale for line in view.lines] == [False, True]
    dumped = view.model_dump_json()
    assert "pi_3Q" not in dumped and "payments" not in dumped


class FakeStore:
    def __init__(self, order):
        self.order = order

    def get_order(self, order_id):
        return self.order if self.order and self.order.order_id == order_id else None


def test_another_orders_id_is_not_found_without_a_lookup():
    store = FakeStore(stored())
    with pytest.raises(NotFound):
        orders.get_shopper_order("ord_other", token_order_id="ord_1001", store=store)
    assert orders.get_shopper_order("ord_1001", token_order_id="ord_1001", store=store).order_id == "ord_1001"


def test_a_deleted_order_is_not_found():
    with pytest.raises(NotFound):
        orders.get_shopper_order("ord_1001", token_order_id="ord_1001", store=FakeStore(None))


# ---- money: totals are exact integer arithmetic -------------------------------------------

line_strategy = st.builds(
    lambda i, qty, price, disc_pct, tax: {
        "line_id": f"L{i}",
        "sku": f"SKU{i}",
        "title": "Item",
        "quantity": qty,
        "unit_price": price,
        "discount": price * qty * disc_pct // 100,
        "tax": tax,
    },
    st.integers(0, 10_000),
    st.integers(1, 50),
    st.integers(0, 1_000_000),
    st.integers(0, 100),
    st.integers(0, 100_000),
)


@given(
    lines=st.lists(line_strategy, min_size=1, max_size=20, unique_by=lambda line: line["line_id"]),
    shipping=st.integers(0, 100_000),
    discount_pct=st.integers(0, 100),
)
def test_total_is_exact_and_never_negative(lines, shipping, discount_pct):
    merchandise = sum(line["unit_price"] * line["quantity"] - line["discount"] for line in lines)
    body = sample(
        lines=lines, shipments=[], shipping=shipping, order_discount=merchandise * discount_pct // 100
    )
    order = OrderIn.model_validate(body)
    assert isinstance(order.total, int)
    assert order.total == merchandise + sum(line["tax"] for line in lines) - body["order_discount"] + shipping
    assert order.total >= 0


# ---- PII masking ----------------------------------------------------------------------


@given(
    local=st.from_regex(r"[a-z0-9._%+\-]{1,30}", fullmatch=True),
    domain=st.sampled_from(["example.com", "x.io"]),
)
def test_masked_email_reveals_one_character_and_the_domain(local, domain):
    masked = mask_email(f"{local}@{domain}")
    assert masked == f"{local[0]}***@{domain}"


@given(digits=st.from_regex(r"[1-9][0-9]{7,13}", fullmatch=True))
def test_masked_phone_keeps_country_digit_and_last_four(digits):
    masked = mask_phone(f"+{digits}")
    assert masked == f"+{digits[0]}{'*' * (len(digits) - 5)}{digits[-4:]}"


def test_mask_text_masks_emails_and_e164_numbers_but_not_timestamps():
    line = '{"timestamp":"2026-11-22 14:42:37,123+0000","msg":"mail jane.doe@example.com or +1 415 555 0123"}'
    masked = mask_text(line)
    assert "jane.doe" not in masked and "j***@example.com" in masked
    assert "415 555" not in masked and "0123" in masked
    assert "2026-11-22 14:42:37,123+0000" in masked
