"""A PayPal-paid order refunded end to end through the real handlers on moto: RefundsFunction
refunds the capture once through PayPalProvider against infra/paypal_stub.py, and
PaymentWebhooksFunction applies PayPal's signed webhooks (certificate pinned from the stub)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from homeward.providers.payments import Providers

from infra.paypal_stub import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PayPalStub
from tests.conftest import invoke, load_event
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import PAYMENT_WEBHOOKS, deliver_message, ledger_items, move, record
from tests.integration.test_returns_flow import recent_order, start

CAPTURE = "2GG279541U471931P"
WEBHOOK_ID = "WH-HOMEWARD-LOCAL-7D2P"  # TEST_ENV's PAYPAL_WEBHOOK_SECRET (second of two)


@pytest.fixture
def paypal(aws, monkeypatch, tmp_path):
    """Live mode against the PayPal stub; the sample order paid by one PayPal capture."""
    from homeward.handlers import refunds
    from homeward.providers.paypal import webhooks
    from homeward.providers.paypal.payments import PayPalProvider

    order = recent_order()
    order["payments"] = [{"payment_id": "P1", "provider": "paypal", "reference": CAPTURE, "captured": 7136}]
    assert put_order(order).status == 201
    with PayPalStub(new_refund_status="PENDING") as stub:
        stub.add_capture(CAPTURE, 7136, "USD")
        stub.write_cert(tmp_path)
        providers = Providers(
            mode="live",
            ledger=refunds.providers.for_payment("ledger"),
            paypal=lambda: PayPalProvider(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_base=stub.url),
        )
        monkeypatch.setattr(refunds, "providers", providers)
        monkeypatch.setattr(webhooks.SOURCE, "certs", webhooks.CertStore(tmp_path))
        yield stub


def paypal_webhook(stub: PayPalStub, body: bytes, *, webhook_id: str = WEBHOOK_ID, at=None, headers=None):
    event = load_event("payment_webhooks.stripe_refund")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/webhooks/payments/paypal"
    event["pathParameters"] = {"provider": "paypal"}
    event["headers"] = {"content-type": "application/json"}
    signed = headers or stub.sign_event(body, webhook_id, when=at or datetime.now(UTC))
    event["headers"].update({k.lower(): v for k, v in signed.items()})
    event["body"] = body.decode()
    return invoke(PAYMENT_WEBHOOKS, event)


def test_a_paypal_capture_is_refunded_once_and_finalized_by_its_signed_webhook(paypal):
    token = sign_in().body["token"]
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    deliver_message(rma, "return.delivered", seq=8)  # a duplicate trigger refunds nothing more
    pending = record(rma)
    movement = pending.refund.movements[0]
    assert pending.money_status == "pending"
    assert paypal.refunds_created(CAPTURE) == 1
    sent = paypal.refund(movement.provider_refund_id)
    assert sent["custom_id"] == f"refund:{rma}:1" and sent["_minor"] == movement.amount

    paypal.set_refund_status(movement.provider_refund_id, "COMPLETED")
    body = paypal.event_for(movement.provider_refund_id, "PAYMENT.CAPTURE.REFUNDED")
    applied = paypal_webhook(paypal, body)
    assert applied.status == 200 and applied.body["status"] == "applied", applied.raw
    assert record(rma).money_status == "refunded"
    assert paypal_webhook(paypal, body).body["status"] == "unchanged"  # PayPal redelivers
    assert ledger_items()["P1"]["refunded"] == movement.amount


def test_paypal_webhooks_are_verified_before_anything_is_read(paypal):
    paypal.add_capture("FOREIGN", 500, "USD")
    foreign = paypal._create("FOREIGN", {"amount": {"currency_code": "USD", "value": "1.00"}}).body
    assert foreign is not None
    body = paypal.event_for(foreign["id"])
    assert paypal_webhook(paypal, body).body["status"] == "unknown"  # not made by Homeward
    assert paypal_webhook(paypal, body, webhook_id="WH-RETIRED-4KX90213").status == 200  # either id
    assert paypal_webhook(paypal, body, webhook_id="WH-SOMEONE-ELSE").status == 401
    assert paypal_webhook(paypal, body, at=datetime.now(UTC) - timedelta(minutes=6)).status == 401
    headers = paypal.sign_event(body, WEBHOOK_ID, when=datetime.now(UTC))
    assert paypal_webhook(paypal, body.replace(b"1.00", b"9.00"), headers=headers).status == 401
    off_host = {**headers, "PAYPAL-CERT-URL": "https://paypal.example.com/v1/notifications/certs/x"}
    assert paypal_webhook(paypal, body, headers=off_host).status == 401
    capture_event = json.dumps({"id": "WH-2", "event_type": "PAYMENT.CAPTURE.COMPLETED"}).encode()
    ignored = paypal_webhook(paypal, capture_event)
    assert ignored.status == 200 and ignored.body["status"] == "ignored"
