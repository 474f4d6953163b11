"""Money arithmetic: exact integer proration, allocation, fees."""

from __future__ import annotations

import pytest
from homeward.domain.refunds.money import allocate, percent_of
from homeward.domain.refunds.pricing import line_amounts
from hypothesis import assume, given
from hypothesis import strategies as st


def test_allocate_examples():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(500, [5000, 1500]) == [385, 115]
    assert allocate(7, [0, 0]) == [4, 3]
    assert allocate(0, [3, 4]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(-1, [1])


@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=30))
def test_allocate_is_exact_and_proportional(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    whole = sum(weights) or len(weights)
    for part, weight in zip(parts, weights or [1] * len(weights), strict=True):
        ideal = total * (weight if sum(weights) else 1) / whole
        assert abs(part - ideal) < 1


def test_partial_returns_add_up_to_the_line():
    # 3 units at 10.00 with a 1.00 line discount, 0.50 of the order discount, 2.00 tax.
    kwargs = dict(unit_price=1000, quantity=3, line_discount=100, line_order_discount=50, line_tax=200)
    bands = [line_amounts(previous=0, units=1, **kwargs), line_amounts(previous=1, units=2, **kwargs)]
    assert [b.paid for b in bands] == [1000 - 50 + 66, 2000 - 100 + 134]
    assert sum(b.paid for b in bands) == 3000 - 150 + 200


def test_units_out_of_range_are_refused():
    with pytest.raises(ValueError):
        line_amounts(
            unit_price=1, quantity=2, line_discount=0, line_order_discount=0, line_tax=0, previous=1, units=2
        )


line = st.tuples(
    st.integers(1, 500),  # quantity
    st.integers(0, 10**6),  # unit price
    st.integers(0, 100),  # line discount %
    st.integers(0, 100),  # order discount % of what is left
    st.integers(0, 10**6),  # tax
)


@given(spec=line, cuts=st.lists(st.integers(1, 500), max_size=20))
def test_any_split_into_partial_returns_refunds_exactly_what_was_paid(spec, cuts):
    quantity, price, disc_pct, od_pct, tax = spec
    discount = price * quantity * disc_pct // 100
    order_discount = (price * quantity - discount) * od_pct // 100
    # Cut the quantity into bands at arbitrary points.
    points = sorted({c for c in cuts if c < quantity}) + [quantity]
    previous, bands = 0, []
    for point in points:
        bands.append(
            line_amounts(
                unit_price=price,
                quantity=quantity,
                line_discount=discount,
                line_order_discount=order_discount,
                line_tax=tax,
                previous=previous,
                units=point - previous,
            )
        )
        previous = point
    assert sum(b.paid for b in bands) == price * quantity - discount - order_discount + tax
    assert sum(b.discount + b.order_discount for b in bands) == discount + order_discount
    assert sum(b.tax for b in bands) == tax
    for band in bands:
        assert band.net_of_tax >= 0 and band.tax >= 0


@given(amount=st.integers(0, 10**9), percent=st.integers(0, 100))
def test_percent_of_rounds_down_and_stays_in_range(amount, percent):
    fee = percent_of(amount, percent)
    assume(percent)
    assert 0 <= fee <= amount
    assert fee * 100 <= amount * percent < (fee + 1) * 100
