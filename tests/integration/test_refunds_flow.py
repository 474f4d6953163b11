"""Refunds through the real handlers on moto: triggers from domain events (RefundsFunction),
the sweep, ops refunds by hand, retries and the CSV export, the shopper's view, store credit
at the merchant's checkout, and Stripe's refund webhooks (PaymentWebhooksFunction).

Payments are refunded through the ledger provider (TEST_ENV: REFUND_PROVIDER_MODE=ledger,
settled at once); tests that need a refund to stay pending swap in a ledger with a clock.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.domain.returns import service as return_service
from homeward.domain.returns.states import Actor
from homeward.providers.ledger.payments import LedgerProvider
from homeward.providers.payments import Providers

from infra.stripe_stub import StripeStub
from tests.conftest import MERCHANT_KEY, TABLE, LambdaContext, invoke, load_event
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_returns_flow import ops, ops_get, portal, recent_order, start

REFUNDS = "homeward.handlers.refunds"
SWEEP = "homeward.handlers.refund_sweep"
PAYMENT_WEBHOOKS = "homeward.handlers.payment_webhooks"
MERCHANT = "homeward.handlers.merchant_api"
OPS = "homeward.handlers.ops_api"
STRIPE_SECRET = "whsec_hw_local_stripe_webhook_secret"


# ---- helpers ---------------------------------------------------------------------------------


def refund_message(rma: str, event_type: str, *, seq: int = 6, receive_count: int = 1) -> dict:
    event = load_event("refunds.return_delivered")
    record = event["Records"][0]
    record["messageId"] = str(uuid.uuid4())
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    attributes = record["messageAttributes"]
    attributes["type"]["stringValue"] = event_type
    attributes["rma"]["stringValue"] = rma
    attributes["event_id"]["stringValue"] = f"{rma}:{seq:06d}"
    return event


def deliver_message(rma: str, event_type: str, **kwargs) -> dict:
    """What RefundsFunction answers to one domain event (its partial batch response)."""
    from homeward.handlers import refunds

    return refunds.lambda_handler(refund_message(rma, event_type, **kwargs), LambdaContext())


def move(rma: str, *actions: str) -> None:
    store = ReturnsTable(client("dynamodb"), TABLE)
    for action in actions:
        return_service.act(
            rma, action, store=store, actor=Actor.CARRIER, actor_id=None, now=datetime.now(UTC)
        )


def record(rma: str):
    return RefundsTable(client("dynamodb"), TABLE).get_return(rma)


def ledger_items(order_id: str = "ord_1001") -> dict[str, dict]:
    items = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}, ":p": {"S": "PAYMENT#"}},
    )["Items"]
    return {
        i["payment_id"]["S"]: {k: int(i[k]["N"]) for k in ("captured", "available", "reserved", "refunded")}
        for i in items
    }


def provider_refunds() -> list[dict]:
    """The refunds the ledger provider made (its own items in the table)."""
    return [
        i
        for i in boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
        if i["pk"]["S"].startswith("PSP#ledger#")
    ]


def manual(
    rma: str, body: dict, *, key: str | None = "ops-refund-5c2e9a71", actor: str = "alex@shop.example"
):
    event = load_event("ops_api.refund_by_hand")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["headers"]["x-actor"] = actor
    if key is None:
        event["headers"].pop("idempotency-key")
    else:
        event["headers"]["idempotency-key"] = key
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/ops/returns/{rma}/refunds"
    event["pathParameters"] = {"rma": rma}
    event["body"] = json.dumps(body)
    return invoke(OPS, event)


def retry(rma: str, body: dict | None = None):
    event = load_event("ops_api.retry_refunds")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/ops/returns/{rma}/refunds/retry"
    event["pathParameters"] = {"rma": rma}
    event["body"] = json.dumps(body or {})
    return invoke(OPS, event)


def export(since: str, until: str):
    event = load_event("ops_api.export_refunds")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["rawQueryString"] = f"from={since}&to={until}"
    event["queryStringParameters"] = {"from": since, "to": until}
    return invoke(OPS, event)


def credit_call(code: str, *, redeem: dict | None = None, key: str = "checkout-1042-credit"):
    event = load_event("merchant_api.redeem_credit" if redeem else "merchant_api.get_credit")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    path = f"/credits/{code}" + ("/redemptions" if redeem else "")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"code": code}
    if redeem:
        event["headers"]["idempotency-key"] = key
        event["body"] = json.dumps(redeem)
    return invoke(MERCHANT, event)


def shopper_view(token: str, rma: str) -> dict:
    return portal(
        "list_returns",
        token,
        path=f"/portal/orders/ord_1001/returns/{rma}",
        params={
            "orderId": "ord_1001",
            "rma": rma,
        },
    ).body


@pytest.fixture
def token(aws):
    assert put_order(recent_order()).status == 201
    return sign_in().body["token"]


@pytest.fixture
def slow_ledger(monkeypatch):
    """A ledger provider that keeps refunds pending until the test moves its clock."""
    from homeward.handlers import refund_sweep, refunds

    clock = [datetime.now(UTC)]
    ledger = LedgerProvider(client("dynamodb"), TABLE, settle_seconds=60, clock=lambda: clock[0])
    providers = Providers(mode="ledger", ledger=ledger)
    monkeypatch.setattr(refunds, "providers", providers)
    monkeypatch.setattr(refund_sweep, "providers", providers)
    return clock


# ---- triggers ----------------------------------------------------------------------------------


def test_delivered_trigger_refunds_once_when_the_parcel_arrives(token):
    rma = start(token).body["rma"]
    assert deliver_message(rma, "return.approved") == {"batchItemFailures": []}
    assert record(rma).money_status == "none"  # the policy waits for delivery
    move(rma, "first_scan")
    deliver_message(rma, "return.in_transit", seq=3)
    assert record(rma).refund is None
    move(rma, "deliver")
    deliver_message(rma, "return.delivered", seq=4)
    done = record(rma)
    assert done.money_status == "refunded"
    (movement,) = done.refund.movements
    assert movement.amount == done.preview.refund_total == done.refund.amounts.refund_total
    assert movement.idempotency_key == f"refund:{rma}:1"
    assert movement.trigger == "delivered" and movement.status == "succeeded"
    assert ledger_items()["P1"] == {
        "captured": 7136,
        "available": 7136 - movement.amount,
        "reserved": 0,
        "refunded": movement.amount,
    }
    # The same event again, a later event, the refund's own event: nothing moves twice.
    deliver_message(rma, "return.delivered", seq=4)
    deliver_message(rma, "refund.requested", seq=5)
    deliver_message(rma, "return.delivered", seq=9)
    assert len(provider_refunds()) == 1
    assert ledger_items()["P1"]["refunded"] == movement.amount
    types = [e["type"] for e in ops_get(rma).body["timeline"]]
    assert types.count("refund.requested") == 1 and types.count("refund.issued") == 1


def test_pending_refund_settles_through_the_sweep_and_the_return_closes_after_inspection(token, slow_ledger):
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    pending = record(rma)
    assert pending.money_status == "pending"
    assert pending.refund.movements[0].status == "pending"
    assert ledger_items()["P1"]["reserved"] == pending.refund.movements[0].amount
    # The sweep leaves recently touched refunds to their worker, then reads them back.
    sweep_event = load_event("refund_sweep.scheduled")
    from homeward.handlers import refund_sweep

    assert refund_sweep.lambda_handler(sweep_event, LambdaContext())["returns"] == 0
    slow_ledger[0] += timedelta(seconds=61)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            refund_sweep, "settings", refund_sweep.settings.model_copy(update={"sweep_quiet_seconds": 0})
        )
        totals = refund_sweep.lambda_handler(sweep_event, LambdaContext())
    assert totals["succeeded"] == 1
    settled = record(rma)
    assert settled.money_status == "refunded" and settled.status == "delivered"
    # Inspection (ops) then closes it: nothing left to do.
    received = ops(
        "receive",
        rma,
        action="receive",
        body={"lines": [{"line_id": "L1", "received_quantity": 1, "grade": "a", "disposition": "restock"}]},
    )
    assert received.status == 200
    deliver_message(rma, "return.received", seq=12)
    assert record(rma).status == "closed"


def test_inspection_before_the_trigger_refunds_accepted_units_minus_the_grade_deduction(token):
    lines = [{"line_id": "L1", "quantity": 2, "reason": "too_small", "resolution": "refund"}]
    rma = start(token, lines).body["rma"]
    inspection = {
        "lines": [{"line_id": "L1", "received_quantity": 1, "grade": "c", "disposition": "not_restock"}]
    }
    assert ops("receive", rma, action="receive", body=inspection).status == 200
    deliver_message(rma, "return.received")
    done = record(rma)
    (line,) = done.refund.amounts.lines
    assert line.accepted_units == 1
    net = line.merchandise - line.discount - line.order_discount
    assert line.grade_deduction == net * 25 // 100  # grade c: 25 %, rounded down (the shopper's favour)
    assert line.amount == net + line.tax - line.restocking_fee - line.grade_deduction
    assert done.refund.movements[0].amount == line.amount - done.refund.amounts.return_shipping_fee
    assert done.refund.movements[0].amount < done.preview.refund_total / 2
    assert done.status == "closed"  # received and refunded: nothing left to do


def test_returns_of_one_order_never_refund_more_than_its_payment_captured(aws):
    short = recent_order()
    short["payments"][0]["captured"] = 2500  # the rest was paid with a gift card the shop did not report
    assert put_order(short).status == 201
    token = sign_in().body["token"]
    first = start(token, key="first-return-0001").body["rma"]
    second = start(token, key="second-return-002").body["rma"]
    for rma in (first, second):
        move(rma, "first_scan", "deliver")
        deliver_message(rma, "return.delivered")
    paid = [record(rma).refund for rma in (first, second)]
    assert paid[0].movements[0].amount == record(first).preview.refund_total
    assert sum(m.amount for state in paid for m in state.movements) == 2500
    assert paid[1].amounts.capped_by == record(second).preview.refund_total - paid[1].movements[0].amount
    assert ledger_items()["P1"] == {"captured": 2500, "available": 0, "reserved": 0, "refunded": 2500}
    notes = [e for e in ops_get(second).body["timeline"] if e["type"] == "return.note_added"]
    assert notes and notes[0]["data"]["reason"] == "refund_capped"


def test_keep_the_item_returns_are_refunded_at_approval_and_closed(aws):
    cheap = recent_order(
        lines=[{"line_id": "L1", "sku": "SOCK", "title": "Socks", "quantity": 1, "unit_price": 800}],
        order_discount=0,
        shipments=[],
        payments=[{"payment_id": "P1", "provider": "stripe", "reference": "pi_3Socks", "captured": 800}],
    )
    assert put_order(cheap).status == 201
    lines = [{"line_id": "L1", "quantity": 1, "reason": "changed_mind", "resolution": "keep_item"}]
    rma = start(sign_in().body["token"], lines).body["rma"]
    deliver_message(rma, "return.approved", seq=2)
    done = record(rma)
    assert done.refund.trigger == "approval"
    assert done.money_status == "refunded" and done.status == "closed"
    assert done.refund.movements[0].amount == done.preview.keep_item_total


def test_store_credit_is_issued_once_with_the_bonus_and_redeemable_at_checkout(token):
    lines = [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "store_credit"}]
    rma = start(token, lines).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    deliver_message(rma, "return.delivered", seq=7)
    done = record(rma)
    assert done.money_status == "credited"
    (credit,) = done.refund.movements
    assert credit.kind == "store_credit" and credit.amount == done.preview.store_credit_total
    assert done.preview.store_credit_bonus > 0
    assert provider_refunds() == [] and ledger_items() == {}  # no card refund, no reservation
    code = credit.credit_code
    got = credit_call(code)
    assert got.status == 200 and got.body["balance"] == credit.amount and got.body["rma"] == rma
    spent = credit_call(code, redeem={"amount": 1000, "currency": "USD", "order_reference": "#1042"})
    assert spent.status == 200 and spent.body["balance"] == credit.amount - 1000
    again = credit_call(code, redeem={"amount": 1000, "currency": "USD", "order_reference": "#1042"})
    assert again.status == 200 and again.body["balance"] == credit.amount - 1000  # replayed, not spent twice
    too_much = credit_call(
        code, redeem={"amount": 10**6, "currency": "USD", "order_reference": "#1043"}, key="k-2-too-much"
    )
    assert too_much.status == 409 and too_much.body["details"]["balance"] == credit.amount - 1000
    other = credit_call(
        code, redeem={"amount": 1, "currency": "EUR", "order_reference": "#1044"}, key="k-3-euro-pay"
    )
    assert other.status == 422
    assert credit_call("HW-0000-0000-0000").status == 404
    view = shopper_view(token, rma)
    assert view["refund"]["movements"][0]["credit_code"] == code


def test_exchange_lines_ask_the_shop_for_a_replacement_order(token):
    lines = [
        {
            "line_id": "L1",
            "quantity": 1,
            "reason": "too_small",
            "resolution": "exchange",
            "exchange_variant": "M",
        }
    ]
    rma = start(token, lines).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    timeline = ops_get(rma).body["timeline"]
    (exchange,) = [e for e in timeline if e["type"] == "exchange.requested"]
    assert exchange["data"]["lines"] == [
        {
            "line_id": "L1",
            "sku": exchange["data"]["lines"][0]["sku"],
            "quantity": 1,
            "exchange_variant": "M",
            "value": record(rma).preview.exchange_value,
        }
    ]
    assert record(rma).money_status == "none" and provider_refunds() == []


def settle_exchange(rma: str, body: dict):
    event = load_event("ops_api.settle_exchange")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/ops/returns/{rma}/exchange"
    event["pathParameters"] = {"rma": rma}
    event["body"] = json.dumps(body)
    return invoke(OPS, event)


def test_exchange_difference_is_refunded_when_the_replacement_is_cheaper(token):
    lines = [
        {
            "line_id": "L1",
            "quantity": 1,
            "reason": "too_small",
            "resolution": "exchange",
            "exchange_variant": "M",
        }
    ]
    rma = start(token, lines).body["rma"]
    body = {"replacement_order_id": "ord_1001-x1", "replacement_value": 1000, "currency": "USD"}
    early = settle_exchange(rma, body)
    assert early.status == 409 and early.body["details"]["reason"] == "exchange_not_valued"
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    value = record(rma).refund.amounts.exchange_value
    settled = settle_exchange(rma, body)
    assert settled.status == 202, settled.body
    (movement,) = settled.body["movements"]
    assert movement["amount"] == value - 1000 and movement["status"] == "reserved"
    assert settle_exchange(rma, body).body == settled.body  # the same replacement again: nothing new
    other = settle_exchange(rma, {**body, "replacement_order_id": "ord_1001-x2"})
    assert other.status == 409 and other.body["details"]["reason"] == "exchange_settled"
    deliver_message(rma, "refund.requested", seq=9)
    assert record(rma).money_status == "refunded"
    assert ledger_items()["P1"]["refunded"] == value - 1000


def test_a_dearer_replacement_announces_what_the_shopper_owes(token):
    lines = [
        {
            "line_id": "L1",
            "quantity": 1,
            "reason": "too_small",
            "resolution": "exchange",
            "exchange_variant": "L",
        }
    ]
    rma = start(token, lines).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    value = record(rma).refund.amounts.exchange_value
    owed = settle_exchange(
        rma, {"replacement_order_id": "ord_1001-x3", "replacement_value": value + 750, "currency": "USD"}
    )
    assert owed.status == 202 and owed.body["movements"] == []
    (due,) = [e for e in ops_get(rma).body["timeline"] if e["type"] == "exchange.payment_due"]
    assert due["data"]["owed"] == 750
    assert (
        settle_exchange(rma, {"replacement_order_id": "x", "replacement_value": 1, "currency": "EUR"}).status
        == 422
    )


# ---- ops -------------------------------------------------------------------------------------------


def test_ops_refund_by_hand_is_capped_replayed_and_validated(token):
    rma = start(token).body["rma"]
    body = {"amount": 500, "currency": "USD", "kind": "refund", "reason": "Goodwill: late delivery"}
    first = manual(rma, body)
    assert first.status == 202, first.body
    assert first.body["remaining"] == 7136 - 500
    assert first.body["movements"][0]["status"] == "reserved"
    replay = manual(rma, body)
    assert replay.status == 202 and replay.body == first.body
    assert ledger_items()["P1"]["reserved"] == 500  # reserved once
    changed = manual(rma, {**body, "amount": 600})
    assert changed.status == 422 and changed.body["details"]["reason"] == "idempotency_key_reused"
    over = manual(rma, {**body, "amount": 7000}, key="ops-refund-too-much-1")
    assert over.status == 409 and over.body["details"] == {
        "reason": "exceeds_remaining",
        "remaining": 7136 - 500,
        "currency": "USD",
    }
    euro = manual(rma, {**body, "currency": "EUR"}, key="ops-refund-euro-01")
    assert euro.status == 422 and euro.body["details"]["reason_codes"] == ["currency_mismatch"]
    assert manual(rma, body, key=None).status == 422  # the key is required
    assert manual("R-0000-0000", body, key="ops-refund-nobody").status == 404
    # RefundsFunction sends it on its event.
    deliver_message(rma, "refund.requested", seq=3)
    settled = record(rma)
    assert (
        settled.money_status == "refunded" and settled.refund.movements[0].reason == "Goodwill: late delivery"
    )
    assert settled.refund.movements[0].actor_id == "alex@shop.example"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 6636, "reserved": 0, "refunded": 500}


def test_a_failed_refund_raises_the_alarm_metric_and_ops_retry_or_credit_completes_it(
    aws, monkeypatch, capsys
):
    failing = recent_order()
    failing["payments"][0]["reference"] = "fail_pi_3QhZ2hJ2eZvKYlo21ABCDEF"
    assert put_order(failing).status == 201
    token = sign_in().body["token"]
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    failed = record(rma)
    assert failed.money_status == "failed"
    assert failed.refund.movements[0].failure_reason == "declined"
    assert ledger_items()["P1"]["reserved"] == 0 and ledger_items()["P1"]["refunded"] == 0  # released
    assert '"RefundsFailed"' in capsys.readouterr().out  # the metric the alarm watches
    assert [e["type"] for e in ops_get(rma).body["timeline"]][-1] == "refund.failed"
    # Retry to the same card: a new key (the provider would replay the failure for the old one).
    again = retry(rma, {"reason": "Card replaced"})
    assert again.status == 202
    new = again.body["movements"][-1]
    assert new["idempotency_key"] == f"refund:{rma}:2" and new["retry_of"] == 1
    deliver_message(rma, "refund.retry_requested", seq=9)
    assert record(rma).money_status == "failed"  # the card still declines
    credit = retry(rma, {"reason": "Store credit instead", "as_store_credit": True})
    assert credit.status == 202 and credit.body["money_status"] == "credited"
    assert retry(rma).status == 409  # nothing left to retry
    assert ledger_items()["P1"]["refunded"] == 0


def test_export_lists_refunds_and_credits_of_the_range_as_csv(token):
    rma = start(token).body["rma"]
    manual(rma, {"amount": 500, "currency": "USD", "kind": "refund", "reason": '=HYPERLINK("x")'})
    manual(
        rma,
        {"amount": 300, "currency": "USD", "kind": "store_credit", "reason": "Sorry"},
        key="ops-credit-1b2c3d4e",
    )
    today = datetime.now(UTC).date()
    result = export((today - timedelta(days=1)).isoformat(), today.isoformat())
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.raw)))
    assert [(r["kind"], r["amount_minor"], r["currency"], r["rma"]) for r in rows] == [
        ("refund", "500", "USD", rma),
        ("store_credit", "300", "USD", rma),
    ]
    assert rows[0]["reason"].startswith("'=")  # never a formula in a spreadsheet
    assert rows[1]["credit_code"].startswith("HW-")
    earlier = export((today - timedelta(days=40)).isoformat(), (today - timedelta(days=2)).isoformat())
    assert list(csv.DictReader(io.StringIO(earlier.raw))) == []
    assert export(today.isoformat(), (today - timedelta(days=1)).isoformat()).status == 422


# ---- the shopper's view ------------------------------------------------------------------------


def test_the_shopper_sees_the_estimate_then_the_refund_with_its_breakdown(token):
    rma = start(token).body["rma"]
    before = shopper_view(token, rma)["refund"]
    assert before["estimated"] is True and before["trigger"] == "delivered"
    assert before["money_status"] == "none" and before["movements"] == []
    assert before["amounts"]["refund_total"] == record(rma).preview.refund_total
    assert before["expected_by"] is not None
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    after = shopper_view(token, rma)
    refund = after["refund"]
    assert refund["estimated"] is False and refund["money_status"] == "refunded"
    assert refund["movements"][0]["method"] == "original_payment"
    assert refund["movements"][0]["amount"] == refund["amounts"]["refund_total"]
    assert refund["expected_by"] == datetime.now(UTC).date().isoformat()  # settled today
    line = refund["amounts"]["lines"][0]
    assert line["amount"] == line["merchandise"] - line["discount"] - line["order_discount"] + line["tax"] - (
        line["restocking_fee"] + line["grade_deduction"]
    )
    # No payment references or provider ids reach the shopper.
    assert "pi_" not in json.dumps(after) and "lr_" not in json.dumps(after)
    assert "refund.issued" in [e["type"] for e in after["timeline"]]


# ---- Stripe -------------------------------------------------------------------------------------


def stripe_webhook(body: bytes, *, secret: str = STRIPE_SECRET, at: datetime | None = None, signature=None):
    event = load_event("payment_webhooks.stripe_refund")
    timestamp = int((at or datetime.now(UTC)).timestamp())
    event["headers"]["stripe-signature"] = signature or StripeStub.sign_event(body, secret, timestamp)
    event["body"] = body.decode()
    return invoke(PAYMENT_WEBHOOKS, event)


@pytest.fixture
def stripe(monkeypatch):
    """Live mode against the local Stripe stub: the sample order's payment is a Stripe PaymentIntent."""
    from homeward.handlers import refunds
    from homeward.providers.stripe.payments import StripeProvider

    with StripeStub(new_refund_status="pending") as stub:
        stub.add_payment_intent("pi_3QhZ2hJ2eZvKYlo21ABCDEF", 7136, "usd")
        providers = Providers(
            mode="live",
            ledger=refunds.providers.for_payment("ledger"),
            stripe=lambda: StripeProvider(stub.api_key, api_base=stub.url, max_network_retries=0),
        )
        monkeypatch.setattr(refunds, "providers", providers)
        yield stub


def test_stripe_refund_is_created_once_then_finalized_by_its_signed_webhook(token, stripe):
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    deliver_message(rma, "return.delivered", seq=8)
    pending = record(rma)
    movement = pending.refund.movements[0]
    assert pending.money_status == "pending" and movement.provider_refund_id.startswith("re_")
    assert stripe.refunds_created("pi_3QhZ2hJ2eZvKYlo21ABCDEF") == 1
    sent = stripe.refund(movement.provider_refund_id)
    assert sent["metadata"]["homeward_key"] == f"refund:{rma}:1" and sent["amount"] == movement.amount
    stripe.set_refund_status(movement.provider_refund_id, "succeeded")
    body = stripe.event_for(movement.provider_refund_id, "refund.updated")
    applied = stripe_webhook(body)
    assert applied.status == 200 and applied.body["status"] == "applied"
    assert record(rma).money_status == "refunded"
    assert stripe_webhook(body).body["status"] == "unchanged"  # Stripe redelivers
    # An older `pending` arriving late changes nothing either.
    stripe.set_refund_status(movement.provider_refund_id, "pending")
    assert (
        stripe_webhook(stripe.event_for(movement.provider_refund_id, "refund.updated")).body["status"]
        == "unchanged"
    )
    # A late failure after success gives the money back to the ledger and flags the return.
    stripe.set_refund_status(movement.provider_refund_id, "failed", failure_reason="lost_or_stolen_card")
    late = stripe_webhook(stripe.event_for(movement.provider_refund_id, "refund.failed"))
    assert late.body["status"] == "applied"
    assert record(rma).money_status == "failed"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 7136, "reserved": 0, "refunded": 0}


def test_stripe_webhooks_are_verified_and_foreign_refunds_ignored(token, stripe):
    body = (
        b'{"id": "evt_1", "object": "event", "type": "refund.updated", "created": 1795358557, '
        b'"data": {"object": {"id": "re_x", "object": "refund", "amount": 100, "currency": "usd", '
        b'"status": "succeeded", "payment_intent": "pi_y", "metadata": {}}}}'
    )
    assert stripe_webhook(body).body["status"] == "unknown"  # made in the dashboard, not by us
    assert stripe_webhook(body, secret="whsec_retired_stripe_secret").status == 200  # rotation
    assert stripe_webhook(body, secret="whsec_wrong").status == 401
    assert stripe_webhook(body, at=datetime.now(UTC) - timedelta(minutes=6)).status == 401
    assert stripe_webhook(body + b" ", signature=None).status == 200  # whitespace is part of what is signed
    tampered = stripe_webhook(
        body.replace(b"100", b"999"),
        signature=StripeStub.sign_event(body, STRIPE_SECRET, int(datetime.now(UTC).timestamp())),
    )
    assert tampered.status == 401
    assert stripe_webhook(b"not json").status == 400
    ignored = stripe_webhook(
        json.dumps(
            {
                "id": "evt_2",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": 1,
                "data": {"object": {}},
            }
        ).encode()
    )
    assert ignored.status == 200 and ignored.body["status"] == "ignored"


def test_a_stripe_event_without_our_metadata_is_matched_by_its_refund_id(token, stripe):
    # Stripe sends some events of a refund without the metadata it was created with (a late
    # failure, a refund edited in the dashboard): the refund id, stored when Homeward created
    # the refund, finds the movement, so the failure is never lost.
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    movement = record(rma).refund.movements[0]
    stripe.set_refund_status(movement.provider_refund_id, "failed", failure_reason="expired_or_canceled_card")
    event = json.loads(stripe.event_for(movement.provider_refund_id, "refund.failed"))
    event["data"]["object"]["metadata"] = {}
    failed = stripe_webhook(json.dumps(event).encode())
    assert failed.status == 200 and failed.body["status"] == "applied", failed.raw
    assert record(rma).money_status == "failed"
