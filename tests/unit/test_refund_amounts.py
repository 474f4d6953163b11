"""Final refund amounts after inspection, and splitting a refund across payments."""

from __future__ import annotations

import pytest
from homeward.domain.refunds.amounts import accepted_units, final_amount
from homeward.domain.refunds.destinations import Allocation, remaining, split_across_payments
from homeward.domain.refunds.pricing import RefundRules
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Payment
from homeward.models.returns import ReturnRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_returns_domain import POLICY, SAMPLE, create, line, order, policy, request

PHOTO = "photos/ord_1001/" + "a" * 32 + ".jpg"


def inspect(record: ReturnRecord, **by_line: tuple[int, str]) -> ReturnRecord:
    """The record as `receive` leaves it: received quantity and grade per inspected line."""
    updated = record.model_copy(deep=True)
    for item in updated.lines:
        if item.line_id in by_line:
            item.received_quantity, item.grade = by_line[item.line_id]
    return updated


def pay(payment_id: str, captured: int, currency: str | None = None) -> Payment:
    return Payment(
        payment_id=payment_id,
        provider="stripe",
        reference=f"pi_{payment_id}",
        captured=captured,
        currency=currency,
    )


def two_tees(**extra):
    """The sample order, both tees returned in one go (units 1..2 of L1)."""
    o = order(**extra)
    return o, create(o, request(line(quantity=2))).record


# ---- accepted units ---------------------------------------------------------------------------


def test_accepted_units_uses_received_quantity_only_for_inspected_lines():
    _, record = two_tees()
    assert accepted_units(record.lines[0]) == 2  # not inspected yet
    graded = inspect(record, L1=(1, "a")).lines[0]
    assert accepted_units(graded) == 1
    assert accepted_units(graded, inspected=False) == 2
    assert accepted_units(inspect(record, L1=(0, "d")).lines[0]) == 0


# ---- final amount ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_order", [True, False])
def test_full_acceptance_equals_the_preview(with_order):
    o, record = two_tees()
    result = final_amount(
        inspect(record, L1=(2, "a")), POLICY, inspected=True, order=o if with_order else None
    )
    (got,) = result.lines
    stored = record.lines[0].refund
    assert (got.merchandise, got.discount, got.order_discount, got.tax, got.restocking_fee, got.amount) == (
        stored.merchandise,
        stored.discount,
        stored.order_discount,
        stored.tax,
        stored.restocking_fee,
        stored.amount,
    )
    assert (got.amount, got.grade_deduction) == (5000 - 385 + 413, 0)
    assert result.refund_total == record.preview.refund_total
    assert result.return_shipping_fee == record.preview.return_shipping_fee == 595


def test_partial_acceptance_prices_the_first_units_like_creation():
    o, record = two_tees()
    result = final_amount(inspect(record, L1=(1, "a")), POLICY, inspected=True, order=o)
    # Same as a one-unit return made at the start: 2500 - 193 + 206 (see test_returns_domain).
    single = create(o, request(line(quantity=1))).record.lines[0].refund
    got = result.lines[0]
    assert (got.accepted_units, got.merchandise, got.discount + got.order_discount, got.tax) == (
        1,
        2500,
        193,
        206,
    )
    assert got.amount == single.amount
    assert result.refund_total == single.amount - 595
    assert result.refund_total < record.preview.refund_total


def test_second_return_of_a_line_continues_the_telescope():
    o = order()
    record = create(o, request(line(quantity=1)), reserved={"L1": 1}).record
    got = final_amount(inspect(record, L1=(1, "a")), POLICY, inspected=True, order=o).lines[0]
    assert (got.order_discount, got.tax) == (385 - 193, 413 - 206)
    assert got.amount == record.lines[0].refund.amount


def test_nothing_received_refunds_nothing_and_fee_cannot_go_negative():
    o, record = two_tees()
    result = final_amount(inspect(record, L1=(0, "a")), POLICY, inspected=True, order=o)
    assert (result.lines[0].amount, result.refund_total, result.return_shipping_fee) == (0, 0, 0)


def test_before_inspection_the_requested_quantity_counts():
    o, record = two_tees()
    graded = inspect(record, L1=(1, "d"))
    result = final_amount(graded, POLICY, inspected=False, order=o)
    assert (result.lines[0].accepted_units, result.lines[0].grade_deduction) == (2, 0)
    assert result.refund_total == record.preview.refund_total


@pytest.mark.parametrize(("grade", "percent"), [("a", 0), ("b", 10), ("c", 25), ("d", 50)])
def test_grade_deductions_are_a_percent_of_merchandise_after_discounts_rounded_down(grade, percent):
    o, record = two_tees()
    got = final_amount(inspect(record, L1=(2, grade)), POLICY, inspected=True, order=o).lines[0]
    net = 5000 - 385
    assert got.grade_deduction == net * percent // 100
    assert got.amount == net + 413 - got.grade_deduction


def test_grade_deduction_rounds_in_the_shoppers_favour():
    o, record = two_tees()
    rules = RefundRules(grade_deduction_percent={"b": 33})
    got = final_amount(inspect(record, L1=(1, "b")), POLICY, rules, inspected=True, order=o).lines[0]
    assert got.grade_deduction == (2500 - 193) * 33 // 100 == 761  # 761.31 -> 761


def test_grade_deductions_can_be_switched_off_and_are_waived_with_fees():
    o, record = two_tees()
    off = RefundRules(deduct_for_grade=False)
    assert (
        final_amount(inspect(record, L1=(2, "d")), POLICY, off, inspected=True, order=o).grade_deductions == 0
    )
    damaged = create(o, request(line(quantity=2, reason="damaged", photos=[PHOTO]))).record
    result = final_amount(inspect(damaged, L1=(2, "d")), POLICY, inspected=True, order=o)
    assert (result.grade_deductions, result.return_shipping_fee) == (0, 0)
    charged = RefundRules(waive_grade_deduction_with_fees=False)
    assert final_amount(
        inspect(damaged, L1=(2, "d")), POLICY, charged, inspected=True, order=o
    ).grade_deductions


def test_restocking_fee_is_recomputed_for_accepted_units():
    gadget = order(lines=[{**SAMPLE["lines"][0], "category": "electronics"}, SAMPLE["lines"][1]])
    record = create(gadget, request(line(quantity=2))).record
    full = final_amount(inspect(record, L1=(2, "a")), POLICY, inspected=True, order=gadget).lines[0]
    assert full.restocking_fee == record.lines[0].refund.restocking_fee == (5000 - 385) * 15 // 100
    half = final_amount(inspect(record, L1=(1, "a")), POLICY, inspected=True, order=gadget).lines[0]
    assert half.restocking_fee == (2500 - 193) * 15 // 100
    assert half.amount == 2500 - 193 + 206 - half.restocking_fee


def test_a_policy_change_never_raises_the_previewed_restocking_fee():
    gadget = order(lines=[{**SAMPLE["lines"][0], "category": "electronics"}, SAMPLE["lines"][1]])
    record = create(gadget, request(line(quantity=2))).record
    dearer = policy(restocking_fee_percent_by_category={"electronics": 40})
    got = final_amount(inspect(record, L1=(2, "a")), dearer, inspected=True, order=gadget).lines[0]
    assert got.restocking_fee == record.lines[0].refund.restocking_fee


def test_store_credit_bonus_and_label_cost_fee():
    o = order()
    record = create(o, request(line(quantity=2, resolution="store_credit"))).record
    result = final_amount(inspect(record, L1=(1, "b")), POLICY, inspected=True, order=o)
    base = (2500 - 193 + 206) - (2500 - 193) * 10 // 100 - 595
    assert (result.refund_total, result.store_credit_bonus) == (0, base * 10 // 100)
    assert result.store_credit_total == base + base * 10 // 100
    cheaper = final_amount(inspect(record, L1=(1, "a")), POLICY, inspected=True, order=o, shipping_fee=410)
    assert cheaper.return_shipping_fee == 410


def test_exchange_value():
    o = order()
    record = create(o, request(line(quantity=2, resolution="exchange", exchange_variant="TEE-BLK-L"))).record
    result = final_amount(inspect(record, L1=(2, "a")), POLICY, inspected=True, order=o)
    assert (result.exchange_value, result.refund_total) == (record.preview.exchange_value, 0)


def test_changed_order_falls_back_to_the_stored_record():
    o, record = two_tees()
    repriced = order(lines=[{**SAMPLE["lines"][0], "unit_price": 9000}, SAMPLE["lines"][1]])
    result = final_amount(inspect(record, L1=(2, "a")), POLICY, inspected=True, order=repriced)
    assert result.lines[0].amount == record.lines[0].refund.amount


# ---- splitting across payments ----------------------------------------------------------------


def test_sequential_fills_payments_in_order():
    payments = [pay("P1", 1000), pay("P2", 5000)]
    got = split_across_payments(3000, payments, {"P1": 400}, currency="USD", rule="sequential")
    assert got == [Allocation("P1", "stripe", "pi_P1", 600), Allocation("P2", "stripe", "pi_P2", 2400)]


def test_proportional_follows_remaining_capacity():
    payments = [pay("P1", 1000), pay("P2", 5000), pay("P3", 300)]
    got = split_across_payments(1000, payments, {"P2": 2000, "P3": 300}, currency="USD", rule="proportional")
    assert [(a.payment_id, a.amount) for a in got] == [("P1", 250), ("P2", 750)]  # 1000 : 3000; P3 is used up


def test_proportional_largest_remainder_is_exact():
    got = split_across_payments(100, [pay("A", 100), pay("B", 100), pay("C", 100)], {}, currency="USD")
    assert [a.amount for a in got] == [34, 33, 33]


def test_zero_amount_and_remaining():
    payments = [pay("P1", 1000), pay("P2", 500)]
    assert split_across_payments(0, payments, {}, currency="USD") == []
    assert remaining(payments, {"P1": 1000, "P2": 100}) == 400
    assert remaining(payments, {"P1": 1200}) == 500  # over-refunded payments count as zero, not negative


def test_more_than_remains_is_409_with_the_remaining_amount():
    with pytest.raises(Conflict) as caught:
        split_across_payments(501, [pay("P1", 1000)], {"P1": 500}, currency="USD")
    assert caught.value.details["reason"] == "exceeds_remaining"
    assert caught.value.details["remaining"] == 500
    assert split_across_payments(500, [pay("P1", 1000)], {"P1": 500}, currency="USD")[0].amount == 500


def test_currency_mismatch_is_422():
    with pytest.raises(Unprocessable) as caught:
        split_across_payments(100, [pay("P1", 1000, "EUR")], {}, currency="USD")
    assert caught.value.details["payments"] == ["P1"]
    assert split_across_payments(100, [pay("P1", 1000, "USD")], {}, currency="USD")[0].amount == 100


def test_negative_amount_and_unknown_rule_are_programming_errors():
    with pytest.raises(ValueError):
        split_across_payments(-1, [pay("P1", 10)], {}, currency="USD")
    with pytest.raises(ValueError):
        split_across_payments(1, [pay("P1", 10)], {}, currency="USD", rule="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RefundRules(grade_deduction_percent={"b": 101})


# ---- properties ---------------------------------------------------------------------------------

captures = st.lists(st.integers(0, 100_000), min_size=1, max_size=6)


@st.composite
def split_cases(draw):
    caps = draw(captures)
    payments = [pay(f"P{i}", c) for i, c in enumerate(caps)]
    refunded = {p.payment_id: draw(st.integers(0, p.captured)) for p in payments}
    amount = draw(st.integers(0, remaining(payments, refunded)))
    return amount, payments, refunded, draw(st.sampled_from(["proportional", "sequential"]))


@settings(max_examples=300, deadline=None)
@given(split_cases())
def test_allocations_sum_exactly_stay_within_capacity_and_are_deterministic(case):
    amount, payments, refunded, rule = case
    got = split_across_payments(amount, payments, refunded, currency="USD", rule=rule)
    assert sum(a.amount for a in got) == amount
    by_id = {p.payment_id: p for p in payments}
    for a in got:
        assert 0 < a.amount <= by_id[a.payment_id].captured - refunded[a.payment_id]
    assert got == split_across_payments(amount, payments, refunded, currency="USD", rule=rule)


@settings(max_examples=200, deadline=None)
@given(
    captures,
    st.lists(st.integers(0, 200_000), max_size=12),
    st.sampled_from(["proportional", "sequential"]),
)
def test_any_sequence_of_partial_refunds_never_exceeds_captured(caps, asks, rule):
    payments = [pay(f"P{i}", c) for i, c in enumerate(caps)]
    refunded: dict[str, int] = {}
    for ask in asks:
        try:
            parts = split_across_payments(ask, payments, refunded, currency="USD", rule=rule)
        except Conflict as refused:
            assert ask > refused.details["remaining"] == remaining(payments, refunded)
            continue
        for a in parts:
            refunded[a.payment_id] = refunded.get(a.payment_id, 0) + a.amount
        assert all(refunded.get(p.payment_id, 0) <= p.captured for p in payments)
    assert sum(refunded.values()) <= sum(caps)


@st.composite
def returns_cases(draw):
    quantity = draw(st.integers(1, 12))
    unit_price = draw(st.integers(1, 20_000))
    discount = draw(st.integers(0, unit_price * quantity))
    order_discount = draw(st.integers(0, unit_price * quantity - discount + 1500))
    tax = draw(st.integers(0, 5_000))
    previous = draw(st.integers(0, quantity - 1))
    units = draw(st.integers(1, quantity - previous))
    tee = {
        **SAMPLE["lines"][0],
        "quantity": quantity,
        "unit_price": unit_price,
        "discount": discount,
        "tax": tax,
        "category": draw(st.sampled_from(["apparel", "electronics"])),
    }
    o = order(lines=[tee, SAMPLE["lines"][1]], order_discount=order_discount, shipments=[])
    resolution = draw(st.sampled_from(["refund", "store_credit", "exchange"]))
    extra = {"exchange_variant": "X"} if resolution == "exchange" else {}
    reason = draw(st.sampled_from(["too_small", "wrong_item"]))
    req = request(line(quantity=units, reason=reason, resolution=resolution, **extra))
    record = create(o, req, reserved={"L1": previous} if previous else None).record
    accepted = draw(st.integers(0, units))
    grade = draw(st.sampled_from(["a", "b", "c", "d"]))
    return o, record, accepted, grade


@settings(max_examples=300, deadline=None)
@given(returns_cases(), st.booleans())
def test_full_grade_a_acceptance_equals_and_partial_never_exceeds_the_preview(case, with_order):
    o, record, accepted, grade = case
    given_order = o if with_order else None
    stored = record.lines[0].refund
    full = final_amount(
        inspect(record, L1=(record.lines[0].quantity, "a")), POLICY, inspected=True, order=given_order
    )
    got = full.lines[0]
    assert (got.merchandise, got.discount, got.order_discount, got.tax, got.restocking_fee, got.amount) == (
        stored.merchandise,
        stored.discount,
        stored.order_discount,
        stored.tax,
        stored.restocking_fee,
        stored.amount,
    )
    totals = (full.refund_total, full.store_credit_total, full.exchange_value, full.return_shipping_fee)
    preview = record.preview
    assert totals == (
        preview.refund_total,
        preview.store_credit_total,
        preview.exchange_value,
        preview.return_shipping_fee,
    )

    partial = final_amount(inspect(record, L1=(accepted, grade)), POLICY, inspected=True, order=given_order)
    part = partial.lines[0]
    assert 0 <= part.amount <= stored.amount
    assert part.merchandise - part.discount - part.order_discount >= 0
    assert partial.refund_total <= preview.refund_total
    assert partial.store_credit_total <= preview.store_credit_total
    assert partial.exchange_value <= preview.exchange_value
