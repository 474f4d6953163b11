"""Refund rules, pure: when a refund is due, the plan and its ledger reservations, what a
provider report changes, manual refunds, retries, exchanges and the shopper's expected date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.refunds import destinations, plans, shopper_view, triggers
from homeward.domain.refunds.reports import Rejection, Report, apply_report
from homeward.domain.returns.states import MONEY_TRANSITIONS, MoneyState, ParcelState, money_state_for
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Payment
from homeward.models.refunds import ExchangeRequest, LedgerBalance, ManualRefundRequest
from homeward.models.returns import ReturnRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_returns_domain import POLICY, create, line, order, request

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(record: ReturnRecord, status: ParcelState, **changes) -> ReturnRecord:
    return record.model_copy(update={"status": status.value, **changes}, deep=True)


def sample(*lines_, **order_changes):
    o = order(**order_changes)
    return o, create(o, request(*(lines_ or (line(),)))).record


def balance(payment_id: str, captured: int, available: int) -> LedgerBalance:
    return LedgerBalance(
        payment_id=payment_id,
        captured=captured,
        available=available,
        reserved=0,
        refunded=captured - available,
        currency="USD",
    )


def two_payments():
    return [
        Payment(payment_id="P1", provider="stripe", reference="pi_1", captured=4000),
        Payment(payment_id="P2", provider="stripe", reference="pi_2", captured=3136),
    ]


# ---- when -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "due_from"),
    [
        ("approval", ParcelState.APPROVED),
        ("first_scan", ParcelState.IN_TRANSIT),
        ("delivered", ParcelState.DELIVERED),
        ("inspected", ParcelState.RECEIVED),
    ],
)
def test_a_refund_is_due_at_or_after_its_trigger_and_never_on_a_dead_return(trigger, due_from):
    _, record = sample()
    policy = POLICY.model_copy(update={"refund_trigger": trigger})
    path = [
        ParcelState.APPROVED,
        ParcelState.LABEL_ISSUED,
        ParcelState.IN_TRANSIT,
        ParcelState.DELIVERED,
        ParcelState.RECEIVED,
        ParcelState.CLOSED,
    ]
    due = [triggers.is_due(at(record, s), policy) for s in path]
    first = path.index(due_from)
    assert due == [i >= first for i in range(len(path))]
    for dead in (ParcelState.REJECTED, ParcelState.CANCELLED, ParcelState.EXPIRED, ParcelState.NEEDS_REVIEW):
        assert not triggers.is_due(at(record, dead), policy)


def test_keep_the_item_is_due_at_approval_whatever_the_policy_and_a_plan_happens_once():
    cheap = {"line_id": "L1", "sku": "S", "title": "Socks", "quantity": 1, "unit_price": 800}
    o, record = sample(line(resolution="keep_item"), lines=[cheap], order_discount=0, shipments=[])
    policy = POLICY.model_copy(update={"refund_trigger": "inspected"})
    assert triggers.trigger_for(record, policy) == "approval"
    assert triggers.is_due(record, policy)
    planned = plans.plan_automatic(record, o, {}, policy, now=NOW).record
    assert not triggers.is_due(planned, policy)


# ---- the plan ------------------------------------------------------------------------------------


def test_the_plan_reserves_the_final_amount_split_across_payments_with_fixed_keys():
    o, record = sample(line(quantity=2), payments=[p.model_dump() for p in two_payments()])
    change = plans.plan_automatic(at(record, ParcelState.DELIVERED), o, {}, POLICY, now=NOW)
    new = change.record
    assert new.money_status == "pending" and new.version == record.version + 1
    assert [e.type for e in change.events] == ["refund.requested"]
    movements = change.movements
    assert sum(m.amount for m in movements) == record.preview.refund_total
    assert [m.idempotency_key for m in movements] == [f"refund:{record.rma}:1", f"refund:{record.rma}:2"]
    assert {m.payment_id for m in movements} == {"P1", "P2"}
    assert [(op.op, op.amount) for op in change.ledger] == [("reserve", m.amount) for m in movements]
    # Proportional to what each payment can still give back.
    p1 = next(m.amount for m in movements if m.payment_id == "P1")
    assert abs(p1 - record.preview.refund_total * 4000 / 7136) <= 1


def test_a_refund_larger_than_what_the_payments_have_left_is_capped_and_noted():
    o, record = sample(line(quantity=2))
    ledger = {"P1": balance("P1", 7136, 1000)}
    change = plans.plan_automatic(at(record, ParcelState.DELIVERED), o, ledger, POLICY, now=NOW)
    assert [m.amount for m in change.movements] == [1000]
    assert change.record.refund.amounts.capped_by == record.preview.refund_total - 1000
    assert [e.type for e in change.events] == ["refund.requested", "return.note_added"]
    assert change.events[1].shopper_visible is False


def test_store_credit_is_issued_in_the_plan_itself_with_its_bonus_and_no_reservation():
    o, record = sample(line(resolution="store_credit"))
    change = plans.plan_automatic(
        at(record, ParcelState.DELIVERED), o, {}, POLICY, now=NOW, credit_code=lambda: "HW-AAAA-BBBB-CCCC"
    )
    (credit,) = change.movements
    assert credit.kind == "store_credit" and credit.status == "succeeded"
    assert credit.amount == record.preview.store_credit_total
    assert change.ledger == [] and change.credits[0].code == "HW-AAAA-BBBB-CCCC"
    assert change.record.money_status == "credited"
    assert [e.type for e in change.events] == ["refund.requested", "credit.issued"]


def test_credit_codes_are_random_and_well_formed():
    codes = {destinations.new_credit_code() for _ in range(500)}
    assert len(codes) == 500
    assert all(len(c) == 17 and c.startswith("HW-") and c[7] == "-" and c[12] == "-" for c in codes)


# ---- provider reports --------------------------------------------------------------------------


def planned(**order_changes):
    o, record = sample(**order_changes)
    return o, plans.plan_automatic(at(record, ParcelState.DELIVERED), o, {}, POLICY, now=NOW).record


def test_reports_move_a_movement_forward_only_and_settle_the_ledger_once():
    o, record = planned()
    pending = apply_report(record, 1, Report("pending", "re_1"), order=o, now=NOW)
    assert pending.ledger == [] and pending.movements[0].provider_refund_id == "re_1"
    assert [e.type for e in pending.events] == ["refund.pending"] and not pending.events[0].shopper_visible
    done = apply_report(pending.record, 1, Report("succeeded", "re_1"), order=o, now=NOW)
    assert [(op.op, op.amount) for op in done.ledger] == [("settle", record.preview.refund_total)]
    assert done.record.money_status == "refunded" and done.events[0].type == "refund.issued"
    # Duplicates and older statuses change nothing.
    for stale in (Report("succeeded", "re_1"), Report("pending", "re_1"), Report("requires_action", "re_1")):
        assert apply_report(done.record, 1, stale, order=o, now=NOW) is None
    # A late failure gives the money back.
    late = apply_report(done.record, 1, Report("failed", "re_1", "lost_or_stolen_card"), order=o, now=NOW)
    assert [(op.op, op.amount) for op in late.ledger] == [("unsettle", record.preview.refund_total)]
    assert late.record.money_status == "failed"
    assert late.events[0].data["after_success"] is True
    assert apply_report(late.record, 1, Report("succeeded", "re_1"), order=o, now=NOW) is None


def test_a_rejection_fails_the_movement_and_releases_the_reservation():
    o, record = planned()
    change = apply_report(record, 1, Rejection("charge_already_refunded", "x"), order=o, now=NOW)
    assert change.movements[0].status == "failed"
    assert change.movements[0].failure_reason == "charge_already_refunded"
    assert [op.op for op in change.ledger] == ["release"]
    assert apply_report(record, 99, Report("succeeded"), order=o, now=NOW) is None  # unknown movement


STATUSES = ["pending", "requires_action", "succeeded", "failed", "canceled"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_any_sequence_of_reports_keeps_the_ledger_arithmetic_consistent(reports):
    """Replaying the ledger ops of any report sequence: reserved and refunded never go
    negative, and they end where the movement's final status says."""
    o, record = planned()
    amount = record.refund.movements[0].amount
    reserved, refunded, available = amount, 0, 7136 - amount
    for status in reports:
        change = apply_report(record, 1, Report(status, "re_1"), order=o, now=NOW)
        if change is None:
            continue
        for op in change.ledger:
            if op.op == "settle":
                reserved, refunded = reserved - op.amount, refunded + op.amount
            elif op.op == "release":
                reserved, available = reserved - op.amount, available + op.amount
            elif op.op == "unsettle":
                refunded, available = refunded - op.amount, available + op.amount
            assert min(reserved, refunded, available) >= 0
        record = change.record
    final = record.refund.movements[0].status
    assert reserved + refunded + available == 7136
    assert refunded == (amount if final == "succeeded" else 0)
    assert reserved == (amount if final in ("reserved", "pending", "requires_action") else 0)
    assert MoneyState(record.money_status) in MONEY_TRANSITIONS


def test_money_state_comes_from_the_movements_and_ignores_retried_failures():
    assert money_state_for([]) is MoneyState.NONE
    assert money_state_for([("refund", "succeeded"), ("refund", "pending")]) is MoneyState.PENDING
    assert money_state_for([("refund", "succeeded"), ("refund", "failed")]) is MoneyState.FAILED
    assert money_state_for([("store_credit", "succeeded")]) is MoneyState.CREDITED
    assert money_state_for([("store_credit", "succeeded"), ("refund", "succeeded")]) is MoneyState.REFUNDED


# ---- ops ---------------------------------------------------------------------------------------


def manual(amount=500, currency="USD", kind="refund"):
    return ManualRefundRequest(amount=amount, currency=currency, kind=kind, reason="Goodwill")


def test_manual_refunds_are_capped_once_per_key_and_in_the_return_currency():
    o, record = sample()
    ledger = {"P1": balance("P1", 7136, 700)}
    with pytest.raises(Conflict) as over:
        plans.plan_manual(record, o, ledger, manual(701), intent_key="k1", actor_id="ops", now=NOW)
    assert over.value.details == {"reason": "exceeds_remaining", "remaining": 700, "currency": "USD"}
    with pytest.raises(Unprocessable):
        plans.plan_manual(record, o, ledger, manual(currency="EUR"), intent_key="k1", actor_id="ops", now=NOW)
    change = plans.plan_manual(record, o, ledger, manual(700), intent_key="k1", actor_id="ops", now=NOW)
    assert change.movements[0].intent == "manual:k1" and change.movements[0].actor == "ops"
    again = plans.plan_manual(change.record, o, ledger, manual(700), intent_key="k1", actor_id="ops", now=NOW)
    assert again is None


def test_retry_plans_a_new_key_per_failed_refund_or_store_credit_instead():
    o, record = planned()
    failed = apply_report(record, 1, Rejection("declined", "x"), order=o, now=NOW).record
    retried = plans.plan_retry(failed, o, {}, as_store_credit=False, actor_id="ops", now=NOW)
    (new,) = retried.movements
    assert (new.seq, new.retry_of, new.payment_id, new.amount) == (
        2,
        1,
        "P1",
        failed.refund.movements[0].amount,
    )
    assert new.idempotency_key == f"refund:{record.rma}:2"
    assert retried.record.money_status == "pending"  # the failed one was retried: it no longer counts
    with pytest.raises(Conflict):
        plans.plan_retry(retried.record, o, {}, as_store_credit=False, actor_id="ops", now=NOW)
    credit = plans.plan_retry(failed, o, {}, as_store_credit=True, actor_id="ops", now=NOW)
    assert credit.movements[0].kind == "store_credit" and credit.record.money_status == "credited"


def test_exchange_difference_refunded_or_owed_once_after_the_trigger():
    o, record = sample(line(resolution="exchange", exchange_variant="M"))
    cheaper = ExchangeRequest(replacement_order_id="x1", replacement_value=1000, currency="USD")
    with pytest.raises(Conflict):
        plans.settle_exchange(record, o, {}, cheaper, actor_id=None, now=NOW)
    valued = plans.plan_automatic(at(record, ParcelState.DELIVERED), o, {}, POLICY, now=NOW).record
    value = valued.refund.amounts.exchange_value
    change = plans.settle_exchange(valued, o, {}, cheaper, actor_id=None, now=NOW)
    assert [m.amount for m in change.movements] == [value - 1000]
    assert [e.type for e in change.events] == ["exchange.settled", "refund.requested"]
    assert plans.settle_exchange(change.record, o, {}, cheaper, actor_id=None, now=NOW) is None
    dearer = ExchangeRequest(replacement_order_id="x2", replacement_value=value + 300, currency="USD")
    owed = plans.settle_exchange(valued, o, {}, dearer, actor_id=None, now=NOW)
    assert owed.movements == [] and owed.events[0].data["owed"] == 300


# ---- the shopper's expected date --------------------------------------------------------------


def test_expected_date_walks_the_stages_ahead_and_prefers_the_tracking_eta():
    _, record = sample()
    settle = POLICY.refund.settle_days
    labelled = at(record, ParcelState.LABEL_ISSUED)
    no_eta = shopper_view.expected_refund_date(labelled, POLICY, parcel_eta=None, now=NOW)
    days = POLICY.refund.dropoff_days + POLICY.transit_buffer_days + settle
    assert no_eta == (NOW + timedelta(days=days)).date()
    eta = NOW + timedelta(days=2)
    in_transit = at(record, ParcelState.IN_TRANSIT)
    assert (
        shopper_view.expected_refund_date(in_transit, POLICY, parcel_eta=eta, now=NOW)
        == (eta + timedelta(days=settle)).date()
    )
    assert (
        shopper_view.expected_refund_date(at(record, ParcelState.CANCELLED), POLICY, parcel_eta=None, now=NOW)
        is None
    )
    o, done = planned()
    settled = apply_report(done, 1, Report("succeeded", "re_1"), order=o, now=NOW + timedelta(days=1))
    assert (
        shopper_view.expected_refund_date(settled.record, POLICY, parcel_eta=None, now=NOW)
        == (NOW + timedelta(days=1)).date()
    )


def test_the_shopper_view_shows_the_preview_until_the_trigger_then_the_final_amounts():
    o, record = sample()
    before = shopper_view.shopper_refund(record, POLICY, parcel_eta=None, now=NOW)
    assert before.estimated and before.amounts.refund_total == record.preview.refund_total
    assert before.movements == []
    _, done = planned()
    after = shopper_view.shopper_refund(done, POLICY, parcel_eta=None, now=NOW)
    assert not after.estimated and after.movements[0].method == "original_payment"
    assert (
        shopper_view.shopper_refund(at(record, ParcelState.REJECTED), POLICY, parcel_eta=None, now=NOW)
        is None
    )


def test_a_return_whose_refund_started_can_no_longer_be_cancelled_or_rejected():
    from homeward.domain.returns import rules as return_rules
    from homeward.domain.returns import service as return_service
    from homeward.domain.returns.states import Actor

    policy = POLICY.model_copy(update={"refund_trigger": "approval"})
    o, record = sample()
    assert return_service.can_shopper_cancel(record)
    paid = plans.plan_automatic(record, o, {}, policy, now=NOW).record
    assert not return_service.can_shopper_cancel(paid)
    for action, actor in (("cancel", Actor.SHOPPER), ("cancel", Actor.OPS), ("reject", Actor.OPS)):
        with pytest.raises(Conflict) as refused:
            return_rules.apply_action(paid, action, actor=actor, actor_id=None, now=NOW)
        assert refused.value.details["reason"] == "refund_started"
