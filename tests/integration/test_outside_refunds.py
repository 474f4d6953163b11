"""Refunds made outside Homeward, through the real handlers on moto: recorded by ops, reported
by Stripe's dashboard (a signed event without Homeward's metadata), and `manual` payments that
ops confirm by hand. Each is recorded once, and the per-payment cap counts every one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.refunds import RefundsTable

from infra.stripe_stub import StripeStub
from tests.conftest import MERCHANT_KEY, TABLE, invoke, load_event
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import (
    OPS,
    deliver_message,
    ledger_items,
    move,
    record,
    stripe_webhook,
)
from tests.integration.test_returns_flow import recent_order, start

PI = "pi_3QhZ2hJ2eZvKYlo21ABCDEF"  # the sample order's Stripe payment (P1, 7136 USD)
SAMPLE = Path(__file__).resolve().parents[2] / "events" / "payments" / "stripe.refund_created_pending.json"


def ops_post(path: str, body: dict, *, actor: str = "alex@shop.example"):
    event = load_event("ops_api.retry_refunds")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["headers"]["x-actor"] = actor
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["body"] = json.dumps(body)
    return invoke(OPS, event)


def outside(rma: str, **changes):
    body = {
        "amount": 1500,
        "currency": "USD",
        "payment_id": "P1",
        "reference": "BANK-2026-0042",
        "refunded_on": datetime.now(UTC).date().isoformat(),
        "note": "Refunded by bank transfer after a phone call",
    }
    return ops_post(f"/ops/returns/{rma}/refunds/outside", {**body, **changes})


def dashboard_refund(
    refund_id: str, amount: int, *, status: str = "succeeded", pi: str = PI, currency: str = "usd"
) -> bytes:
    """Stripe's refund.created sample as a refund made in the dashboard: no Homeward metadata."""
    event = json.loads(SAMPLE.read_text())
    refund = event["data"]["object"]
    refund.update(
        id=refund_id, amount=amount, status=status, payment_intent=pi, metadata={}, currency=currency
    )
    event["id"] = f"evt_{refund_id}_{status}"
    event["created"] = int(datetime.now(UTC).timestamp())
    event.pop("request", None)
    return json.dumps(event).encode()


def movements_of(rma: str):
    refund = record(rma).refund
    return refund.movements if refund else []


def timeline_types(rma: str) -> list[str]:
    _, timeline = RefundsTable(client("dynamodb"), TABLE)._returns.get_return(rma, with_timeline=True)
    return [e.type for e in timeline]


def outside_items(order_id: str = "ord_1001") -> list[dict]:
    return boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}, ":p": {"S": "OUTSIDE#"}},
    )["Items"]


@pytest.fixture
def token(aws):
    assert put_order(recent_order()).status == 201
    return sign_in().body["token"]


@pytest.fixture
def live_stripe(monkeypatch, token):
    from homeward.handlers import refunds
    from homeward.providers.payments import Providers
    from homeward.providers.stripe.payments import StripeProvider

    with StripeStub(new_refund_status="pending") as stub:
        stub.add_payment_intent(PI, 7136, "usd")
        providers = Providers(
            mode="live",
            ledger=refunds.providers.for_payment("ledger"),
            stripe=lambda: StripeProvider(stub.api_key, api_base=stub.url, max_network_retries=0),
        )
        monkeypatch.setattr(refunds, "providers", providers)
        yield stub


# ---- ops record a refund made outside Homeward ------------------------------------------------


def test_ops_record_an_outside_refund_once_and_the_cap_counts_it(token):
    rma = start(token).body["rma"]
    first = outside(rma)
    assert first.status == 201, first.raw
    assert first.body["remaining"] == 7136 - 1500
    [movement] = first.body["movements"]
    assert movement["source"] == "outside" and movement["status"] == "succeeded"
    assert movement["provider_refund_id"] == "BANK-2026-0042" and movement["actor_id"] == "alex@shop.example"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 5636, "reserved": 0, "refunded": 1500}
    # A double click: the same data answers 200 and records nothing twice.
    again = outside(rma)
    assert again.status == 200 and len(again.body["movements"]) == 1
    assert ledger_items()["P1"]["refunded"] == 1500 and len(outside_items()) == 1
    # The reference with other money is refused; so is more than the payment has left.
    assert outside(rma, amount=1600).status == 409
    over = outside(rma, reference="BANK-2026-0043", amount=5637)
    assert over.status == 422 and over.body["details"]["remaining"] == 5636
    assert outside(rma, reference="BANK-2026-0044", currency="EUR").status == 422
    assert outside(rma, reference="BANK-2026-0045", payment_id="P9").status == 404
    assert timeline_types(rma).count("refund.recorded_outside") == 1
    assert record(rma).money_status == "refunded"


def test_the_automatic_refund_sends_only_what_was_not_refunded_outside(token):
    rma = start(token).body["rma"]
    assert outside(rma, amount=1000).status == 201
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    done = record(rma)
    own = [m for m in done.refund.movements if m.source == "homeward"]
    assert [m.seq for m in done.refund.movements] == [1, 2]  # the outside movement is kept
    assert sum(m.amount for m in own) == done.refund.amounts.refund_total - 1000
    ledger = ledger_items()["P1"]
    assert ledger["refunded"] + ledger["reserved"] == done.refund.amounts.refund_total <= 7136


def test_an_outside_refund_on_another_return_of_the_order_is_the_same_reference(token):
    first = start(token).body["rma"]
    second = start(
        token,
        lines=[{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}],
        key="checkout-second-return",
    ).body["rma"]
    assert outside(first).status == 201
    assert outside(second).status == 200  # recorded once per order and reference
    assert outside(second, amount=999).status == 409
    assert movements_of(second) == []  # shown on the return it was recorded on
    assert ledger_items()["P1"]["refunded"] == 1500


# ---- Stripe's dashboard ------------------------------------------------------------------------


def test_a_stripe_dashboard_refund_is_matched_by_its_payment_intent_and_recorded_once(token):
    rma = start(token).body["rma"]
    created = stripe_webhook(dashboard_refund("re_dash_1", 2000, status="pending"))
    assert created.status == 200 and created.body["status"] == "recorded", created.raw
    [movement] = movements_of(rma)
    assert (movement.source, movement.status, movement.amount) == ("outside", "pending", 2000)
    assert ledger_items()["P1"] == {"captured": 7136, "available": 5136, "reserved": 2000, "refunded": 0}
    assert stripe_webhook(dashboard_refund("re_dash_1", 2000, status="pending")).body["status"] == "unchanged"
    # Its later update moves it on (found by its refund id, like Homeward's own refunds).
    settled = stripe_webhook(dashboard_refund("re_dash_1", 2000, status="succeeded"))
    assert settled.body["status"] == "applied"
    assert movements_of(rma)[0].status == "succeeded"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 5136, "reserved": 0, "refunded": 2000}
    assert (
        stripe_webhook(dashboard_refund("re_dash_1", 2000, status="succeeded")).body["status"] == "unchanged"
    )
    # Ops typing the same Stripe refund id in by hand do not count it twice.
    assert outside(rma, amount=2000, reference="re_dash_1").status == 200
    assert ledger_items()["P1"]["refunded"] == 2000 and len(outside_items()) == 1
    assert "refund.recorded_outside" in timeline_types(rma)


def test_a_dashboard_refund_of_an_order_without_a_return_still_counts_against_its_payment(token):
    assert stripe_webhook(dashboard_refund("re_dash_2", 7000)).body["status"] == "recorded"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 136, "reserved": 0, "refunded": 7000}
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    done = record(rma)
    assert sum(m.amount for m in done.refund.movements if m.kind == "refund") == 136
    assert done.refund.amounts.capped_by == done.refund.amounts.refund_total - 136


def test_a_pending_dashboard_refund_without_a_return_is_released_when_it_fails(token):
    assert stripe_webhook(dashboard_refund("re_dash_6", 3000, status="pending")).body["status"] == "recorded"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 4136, "reserved": 3000, "refunded": 0}
    assert stripe_webhook(dashboard_refund("re_dash_6", 3000, status="failed")).body["status"] == "applied"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 7136, "reserved": 0, "refunded": 0}
    assert (
        stripe_webhook(dashboard_refund("re_dash_6", 3000, status="succeeded")).body["status"] == "unchanged"
    )
    assert stripe_webhook(dashboard_refund("re_dash_7", 1000, status="pending")).body["status"] == "recorded"
    assert stripe_webhook(dashboard_refund("re_dash_7", 1000)).body["status"] == "applied"
    assert ledger_items()["P1"] == {"captured": 7136, "available": 6136, "reserved": 0, "refunded": 1000}


def test_a_dashboard_refund_of_an_unknown_payment_is_acknowledged(token):
    unknown = stripe_webhook(dashboard_refund("re_dash_3", 500, pi="pi_not_ours"))
    assert unknown.status == 200 and unknown.body["status"] == "unknown"
    failed = stripe_webhook(dashboard_refund("re_dash_4", 500, status="failed"))
    assert failed.status == 200 and failed.body["status"] == "unknown"  # no money moved
    foreign = stripe_webhook(dashboard_refund("re_dash_5", 500, currency="eur"))
    assert foreign.status == 200 and foreign.body["status"] == "unknown"  # logged for ops, not retried
    assert ledger_items() == {}


def test_homeward_own_stripe_refund_cannot_be_recorded_again_as_outside(token, live_stripe):
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    own = movements_of(rma)[0]
    answer = outside(rma, amount=own.amount, reference=own.provider_refund_id)
    assert answer.status == 409 and answer.body["details"]["reason"] == "homeward_refund"


# ---- manual payments ---------------------------------------------------------------------------


@pytest.fixture
def manual_order(aws, monkeypatch):
    from homeward.handlers import refunds
    from homeward.providers import registry
    from homeward.providers.payments import Providers

    order = recent_order()
    order["payments"] = [
        {"payment_id": "M1", "provider": "manual", "reference": "till-0042", "captured": 7136}
    ]
    assert put_order(order).status == 201
    manual = registry.load("manual", registry.PAYMENT_PROVIDER)  # the registered package
    providers = Providers(
        mode="live",
        ledger=refunds.providers.for_payment("ledger"),
        manual=lambda: manual.make_provider(refunds.settings),
    )
    monkeypatch.setattr(refunds, "providers", providers)
    return sign_in().body["token"]


def decide(rma: str, seq: int, action: str, body: dict):
    return ops_post(f"/ops/returns/{rma}/refunds/{seq}/{action}", body)


def test_a_manual_refund_waits_for_ops_then_is_confirmed_and_the_return_closes(manual_order):
    rma = start(manual_order).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    waiting = movements_of(rma)[0]
    assert (waiting.provider, waiting.status) == ("manual", "requires_action")
    assert record(rma).money_status == "pending"
    deliver_message(rma, "return.delivered", seq=9)  # a duplicate changes nothing
    assert movements_of(rma)[0].status == "requires_action"
    # The sweep leaves it to ops: nothing to re-send or read back, and it is not in its index.
    from homeward.adapters.policy import bundled_policy
    from homeward.domain.refunds import service
    from homeward.handlers import refunds

    later = datetime.now(UTC) + timedelta(days=5)
    store = RefundsTable(client("dynamodb"), TABLE)
    swept = service.sweep(
        store=store,
        providers=refunds.providers,
        policy=bundled_policy(),
        now=later,
        quiet_for=timedelta(minutes=2),
    )
    assert swept["returns"] == 0 and movements_of(rma)[0].status == "requires_action"
    confirmed = decide(rma, 1, "confirm", {"reference": "SEPA-77781"})
    assert confirmed.status == 200, confirmed.raw
    done = record(rma)
    assert done.money_status == "refunded" and done.refund.movements[0].provider_refund_id == "SEPA-77781"
    assert ledger_items()["M1"]["refunded"] == waiting.amount
    assert decide(rma, 1, "confirm", {"reference": "SEPA-77781"}).status == 200  # replay
    assert decide(rma, 1, "fail", {"note": "bounced"}).status == 409
    assert decide(rma, 1, "confirm", {}).status == 422


def test_a_failed_manual_refund_gives_its_reservation_back(manual_order):
    rma = start(manual_order).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    assert decide(rma, 1, "fail", {"note": "no bank details"}).status == 200
    assert record(rma).money_status == "failed"
    assert ledger_items()["M1"] == {"captured": 7136, "available": 7136, "reserved": 0, "refunded": 0}
    assert decide(rma, 9, "confirm", {"reference": "x"}).status == 404


def test_confirming_a_stripe_refund_by_hand_is_refused(token, live_stripe):
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    refused = decide(rma, 1, "confirm", {"reference": "x"})
    assert refused.status == 409 and refused.body["details"]["reason"] == "not_by_hand"
