"""Policy engine, eligibility and return creation with a fixed clock and in-memory state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from homeward.domain.returns import eligibility as elig
from homeward.domain.returns import rules as returns
from homeward.domain.returns.states import TERMINAL, Actor, ParcelState
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import InspectedLine, ReceiveRequest, ReturnRequest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.conftest import load_event

POLICY = ReturnPolicy.model_validate_json(
    (Path(__file__).resolve().parents[2] / "functions/homeward/policy/return-policy.json").read_text()
)
SAMPLE = json.loads(load_event("merchant_api.put_order")["body"])
DELIVERED = datetime(2026, 11, 6, 12, 30, tzinfo=UTC)
NOW = DELIVERED + timedelta(days=5)


def order(**changes) -> Order:
    body = json.loads(json.dumps(SAMPLE))
    body.update(changes)
    return Order.model_validate({**body, "order_id": "ord_1001", "version": 1, "received_at": NOW})


def policy(**changes) -> ReturnPolicy:
    return POLICY.model_copy(update=changes)


def request(*lines, note=None) -> ReturnRequest:
    return ReturnRequest.model_validate({"lines": list(lines), "note": note})


def line(line_id="L1", quantity=1, reason="too_small", resolution="refund", **extra) -> dict:
    return {"line_id": line_id, "quantity": quantity, "reason": reason, "resolution": resolution, **extra}


def create(
    order_=None, req=None, *, reserved=None, policy_=POLICY, now=NOW, past_returns=0, by=Actor.SHOPPER
):
    return returns.create_return(
        order_ or order(),
        req or request(line()),
        rma="R-TEST-0001",
        reserved=reserved or {},
        policy=policy_,
        customer_returns_90_days=past_returns,
        filed_by=by,
        actor_id=None,
        now=now,
    )


# ---- eligibility --------------------------------------------------------------------------


def test_eligibility_per_line():
    result = elig.eligibility(order(), reserved={"L1": 1}, policy=POLICY, now=NOW)
    tee, mug = result.lines
    assert (tee.returnable, tee.returnable_quantity, tee.reason_codes) == (True, 1, [])
    assert tee.deadline == (DELIVERED + timedelta(days=30)).date()
    assert "keep_item" not in tee.allowed_resolutions  # a 24.66 tee is above the keep-item limit
    assert (mug.returnable, mug.reason_codes, mug.allowed_reasons) == (False, ["final_sale"], [])


def test_window_counts_from_delivery_then_ship_date_then_order_date():
    late = NOW + timedelta(days=30)
    assert elig.eligibility(order(), reserved={}, policy=POLICY, now=late).lines[0].reason_codes == [
        "window_expired"
    ]
    undelivered = order(shipments=[{**SAMPLE["shipments"][0], "delivered_at": None}])
    line0 = elig.eligibility(undelivered, reserved={}, policy=POLICY, now=NOW).lines[0]
    assert line0.deadline == (datetime(2026, 11, 3, 16, tzinfo=UTC) + timedelta(days=7 + 30)).date()
    no_shipments = elig.eligibility(order(shipments=[]), reserved={}, policy=POLICY, now=NOW).lines[0]
    assert no_shipments.deadline == (datetime(2026, 11, 2, tzinfo=UTC) + timedelta(days=37)).date()


def test_unshipped_line_is_not_returnable():
    partial = order(shipments=[{**SAMPLE["shipments"][0], "lines": [{"line_id": "L2", "quantity": 1}]}])
    assert elig.eligibility(partial, reserved={}, policy=POLICY, now=NOW).lines[0].reason_codes == [
        "not_shipped"
    ]


def test_category_and_sku_exclusions():
    p = policy(non_returnable_categories=["apparel"], non_returnable_skus=["TEE-BLK-M"])
    assert elig.eligibility(order(), reserved={}, policy=p, now=NOW).lines[0].reason_codes == [
        "category_excluded",
        "sku_excluded",
    ]


def test_fully_returned_line():
    result = elig.eligibility(order(), reserved={"L1": 2}, policy=POLICY, now=NOW).lines[0]
    assert (result.returnable_quantity, result.reason_codes) == (0, ["fully_returned"])


def test_keep_item_offered_only_under_the_value_limit():
    cheap = order(lines=[{**SAMPLE["lines"][0], "unit_price": 800, "tax": 0}], order_discount=0, shipments=[])
    assert (
        "keep_item"
        in elig.eligibility(cheap, reserved={}, policy=POLICY, now=NOW).lines[0].allowed_resolutions
    )


# ---- creation ---------------------------------------------------------------------------


def test_refund_preview_prorates_discount_and_tax_and_deducts_shipping_fee():
    change = create(req=request(line(quantity=1)))
    refund = change.record.lines[0].refund
    # Tee: 2 x 25.00, tax 4.13; the 5.00 order discount splits 50.00 : 15.00 -> 3.85 to the tees.
    assert (refund.merchandise, refund.discount, refund.order_discount, refund.tax) == (2500, 0, 193, 206)
    assert refund.amount == 2500 - 193 + 206
    preview = change.record.preview
    assert preview.return_shipping_fee == 595
    assert preview.refund_total == refund.amount - 595


def test_second_unit_gets_the_rest_of_the_line():
    first = create(req=request(line(quantity=1))).record.lines[0].refund
    second = create(req=request(line(quantity=1)), reserved={"L1": 1}).record.lines[0].refund
    assert first.amount + second.amount == 5000 - 385 + 413


def test_fee_waiving_reason_and_photo_review():
    change = create(req=request(line(reason="damaged", photos=["photos/ord_1001/" + "a" * 32 + ".jpg"])))
    assert change.record.preview.return_shipping_fee == 0
    assert change.record.decision.outcome == "needs_review"
    assert change.record.decision.reason_codes == ["photo_reason_review"]
    assert change.record.status == "needs_review"


def test_store_credit_bonus():
    change = create(req=request(line(resolution="store_credit")))
    amount = change.record.lines[0].refund.amount
    preview = change.record.preview
    assert preview.refund_total == 0
    assert preview.store_credit_bonus == (amount - 595) * 10 // 100
    assert preview.store_credit_total == amount - 595 + preview.store_credit_bonus


def test_restocking_fee_by_category():
    gadget = order(lines=[{**SAMPLE["lines"][0], "category": "electronics"}, SAMPLE["lines"][1]])
    refund = create(gadget).record.lines[0].refund
    assert refund.restocking_fee == (2500 - 193) * 15 // 100
    assert refund.amount == 2500 - 193 + 206 - refund.restocking_fee


def test_auto_approval_and_events():
    change = create()
    assert change.record.status == "approved" and change.record.version == 2
    assert [e.type for e in change.events] == ["return.requested", "return.approved"]
    assert change.record.decision.reason_codes == ["auto_approved"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"past_returns": 3}, "frequent_returner"),
        (
            {"policy_": policy(review=POLICY.review.model_copy(update={"auto_approve": False}))},
            "manual_review_policy",
        ),
        (
            {
                "order_": order(
                    lines=[{**SAMPLE["lines"][0], "unit_price": 30000}], order_discount=0, shipments=[]
                )
            },
            "order_value_over_threshold",
        ),
    ],
)
def test_review_rules(kwargs, code):
    change = create(**kwargs)
    assert change.record.status == "needs_review"
    assert code in change.record.decision.reason_codes


def test_staff_filed_returns_skip_review():
    assert create(past_returns=10, by=Actor.OPS).record.status == "approved"


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (request(line("L9")), "unknown_line"),
        (request(line("L2")), "final_sale"),
        (request(line(), line()), "duplicate_line"),
        (request(line(reason="bored")), "unknown_reason"),
        (request(line(reason="not_as_described", sub_reason="smell")), "unknown_sub_reason"),
        (request(line(reason="damaged")), "photo_required"),
        (request(line(reason="defective", photos=["photos/ord_1001/" + "b" * 32 + ".png"])), "note_required"),
        (request(line(photos=["photos/ord_9999/" + "c" * 32 + ".png"])), "photo_not_for_this_order"),
        (request(line(resolution="exchange")), "exchange_variant_required"),
        (request(line(resolution="keep_item")), "keep_item_not_allowed"),
    ],
)
def test_rule_violations_are_422_with_reason_codes(req, code):
    with pytest.raises(Unprocessable) as caught:
        create(req=req)
    assert code in json.dumps(caught.value.details)


def test_over_return_is_409_with_the_returnable_quantity():
    with pytest.raises(Conflict) as caught:
        create(req=request(line(quantity=2)), reserved={"L1": 1})
    assert caught.value.details["lines"] == [{"line_id": "L1", "requested": 2, "returnable": 1}]


def test_rma_is_random_and_never_derived_from_the_request():
    import re

    drawn = {returns.new_rma() for _ in range(2000)}
    assert len(drawn) == 2000  # 80 random bits: no repeats in a small sample
    assert all(re.fullmatch(r"R(-[0-9A-HJKMNP-TV-Z]{4}){4}", rma) for rma in drawn)
    # Every position takes most of the 32 symbols: all 80 bits are random, none stuck by the encoding.
    digits = [rma[2:].replace("-", "") for rma in drawn]
    assert all(len({d[i] for d in digits}) > 16 for i in range(16))


def test_receive_records_inspection_per_line():
    record = create().record
    change = returns.receive(
        record,
        ReceiveRequest(
            lines=[InspectedLine(line_id="L1", received_quantity=1, grade="b", disposition="restock")]
        ),
        actor_id="ops@example.com",
        now=NOW,
    )
    assert change.record.status == "received"
    assert (change.record.lines[0].received_quantity, change.record.lines[0].grade) == (1, "b")
    with pytest.raises(Unprocessable):
        returns.receive(
            record,
            ReceiveRequest(
                lines=[InspectedLine(line_id="L1", received_quantity=5, grade="a", disposition="restock")]
            ),
            actor_id=None,
            now=NOW,
        )


# ---- property: random sequences keep every invariant -------------------------------------


class ReturnsLifecycle(RuleBasedStateMachine):
    """Random create / approve / reject / cancel / receive against an in-memory reservation ledger."""

    def __init__(self):
        super().__init__()
        lines = [
            {
                "line_id": f"L{i}",
                "sku": f"S{i}",
                "title": "x",
                "quantity": q,
                "unit_price": p,
                "discount": d,
                "tax": t,
            }
            for i, (q, p, d, t) in enumerate([(3, 2500, 100, 413), (1, 999, 0, 80), (5, 120, 50, 0)])
        ]
        self.order = order(lines=lines, order_discount=333, shipments=[], payments=[])
        self.reserved: dict[str, int] = {}
        self.records: dict[str, object] = {}
        self.counter = 0

    @rule(
        picks=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5)), min_size=1, max_size=3),
        resolution=st.sampled_from(["refund", "store_credit"]),
    )
    def create(self, picks, resolution):
        req_lines = {f"L{i}": q for i, q in picks}
        req = request(*[line(lid, q, resolution=resolution) for lid, q in req_lines.items()])
        self.counter += 1
        try:
            change = returns.create_return(
                self.order,
                req,
                rma=f"R-{self.counter:04d}-TEST",
                reserved=dict(self.reserved),
                policy=POLICY,
                customer_returns_90_days=self.counter % 5,
                filed_by=Actor.SHOPPER,
                actor_id=None,
                now=NOW,
            )
        except Conflict:
            assert any(
                q
                > next(li.quantity for li in self.order.lines if li.line_id == lid)
                - self.reserved.get(lid, 0)
                for lid, q in req_lines.items()
            )
            return
        for returned in change.record.lines:
            self.reserved[returned.line_id] = self.reserved.get(returned.line_id, 0) + returned.quantity
        self.records[change.record.rma] = change.record

    def _act(self, rma_index, action, actor, **kwargs):
        if not self.records:
            return
        rma = sorted(self.records)[rma_index % len(self.records)]
        record = self.records[rma]
        try:
            if action == "receive":
                change = returns.receive(
                    record,
                    ReceiveRequest(
                        lines=[
                            InspectedLine(
                                line_id=li.line_id,
                                received_quantity=li.quantity,
                                grade="a",
                                disposition="restock",
                            )
                            for li in record.lines
                        ]
                    ),
                    actor_id=None,
                    now=NOW,
                )
            else:
                change = returns.apply_action(record, action, actor=actor, actor_id=None, now=NOW, **kwargs)
        except Conflict:
            assert ParcelState(record.status) in TERMINAL or action in (
                "approve",
                "receive",
                "cancel",
                "reject",
            )
            return
        assert change.record.version == record.version + 1
        for line_id, qty in change.release.items():
            self.reserved[line_id] -= qty
        self.records[rma] = change.record

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50))
    def approve(self, i):
        self._act(i, "approve", Actor.OPS)

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50))
    def reject(self, i):
        self._act(i, "reject", Actor.OPS, note="no")

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50))
    def cancel(self, i):
        self._act(i, "cancel", Actor.SHOPPER)

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50))
    def receive(self, i):
        self._act(i, "receive", Actor.OPS)

    @invariant()
    def never_over_returned(self):
        for li in self.order.lines:
            active = sum(
                rl.quantity
                for r in self.records.values()
                if r.status not in ("rejected", "cancelled", "expired")
                for rl in r.lines
                if rl.line_id == li.line_id
            )
            assert active == self.reserved.get(li.line_id, 0) <= li.quantity

    @invariant()
    def states_are_legal(self):
        assert all(r.status in {s.value for s in ParcelState} for r in self.records.values())

    @invariant()
    def refunds_never_exceed_what_was_paid(self):
        active = [r for r in self.records.values() if r.status not in ("rejected", "cancelled", "expired")]
        for li in self.order.lines:
            refunded = sum(rl.refund.amount for r in active for rl in r.lines if rl.line_id == li.line_id)
            assert 0 <= refunded <= li.subtotal - li.discount + li.tax
        assert sum(r.preview.refund_total for r in active) <= self.order.total


TestReturnsLifecycle = ReturnsLifecycle.TestCase
TestReturnsLifecycle.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
