"""An Adyen-paid return end to end (moto + infra/adyen_stub.py): the refund is asked for once,
stays pending (Adyen answers `received`), and its signed standard notification, through the real
PaymentWebhooksFunction, finalizes it; the answer is Adyen's `[accepted]`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.domain.refunds import service as refund_service
from homeward.domain.refunds.reports import LATE_FAILURE_RECHECK
from homeward.providers.payments import Providers

from infra.adyen_stub import AdyenStub, sign_item
from tests.conftest import TABLE, invoke, load_event
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import PAYMENT_WEBHOOKS, deliver_message, ledger_items, move, record
from tests.integration.test_returns_flow import recent_order, start

PSP = "993617894903480A"
MERCHANT = "HomewardLocalECOM"  # tests/conftest.py ADYEN_MERCHANT_ACCOUNT
HMAC_KEY = "686f6d65776172642d6c6f63616c2d616479656e2d686d61632d6b65792d3332"
RETIRED_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def adyen_webhook(body: bytes):
    event = load_event("payment_webhooks.stripe_refund")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/webhooks/payments/adyen"
    event["pathParameters"] = {"provider": "adyen"}
    event["headers"].pop("stripe-signature")
    event["headers"]["user-agent"] = "Adyen HttpClient 1.0"
    event["body"] = body.decode()
    return invoke(PAYMENT_WEBHOOKS, event)


@pytest.fixture
def adyen(aws, monkeypatch):
    """Live mode against the Adyen stub; the sample order is paid through Adyen."""
    from homeward.handlers import refunds
    from homeward.providers.adyen.payments import AdyenProvider

    payment = {"payment_id": "P1", "provider": "adyen", "reference": PSP, "captured": 7136}
    assert put_order(recent_order(payments=[payment])).status == 201
    with AdyenStub(merchant_account=MERCHANT) as stub:
        stub.add_payment(PSP, 7136, "USD")
        providers = Providers(
            mode="live",
            ledger=refunds.providers.for_payment("ledger"),
            adyen=lambda: AdyenProvider(stub.api_key, MERCHANT, api_base=stub.url, timeout_seconds=1),
        )
        monkeypatch.setattr(refunds, "providers", providers)
        yield stub


def test_an_adyen_refund_is_asked_once_and_finalized_by_its_notification(adyen):
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    deliver_message(rma, "return.delivered", seq=8)
    pending = record(rma)
    movement = pending.refund.movements[0]
    assert pending.money_status == "pending"
    (sent,) = adyen.refunds_for(PSP)
    assert sent["pspReference"] == movement.provider_refund_id
    assert sent["reference"] == f"refund:{rma}:1" and sent["amount"] == {
        "currency": "USD",
        "value": movement.amount,
    }
    body = adyen.notification_for(movement.provider_refund_id, HMAC_KEY)
    applied = adyen_webhook(body)
    assert applied.status == 200 and applied.raw == "[accepted]", applied.raw
    assert applied.headers["content-type"].startswith("text/plain")
    assert record(rma).money_status == "refunded"
    assert adyen_webhook(body).raw == "[accepted]"  # Adyen redelivers: nothing moves twice
    assert ledger_items()["P1"]["refunded"] == movement.amount
    # Adyen cannot be asked about a refund: the late-failure recheck is done, not due forever.
    from homeward.handlers import refunds

    store = RefundsTable(client("dynamodb"), TABLE)
    later = datetime.now(UTC) + LATE_FAILURE_RECHECK + timedelta(hours=1)
    assert (rma, 1) in list(store.rechecks_due(now=later, limit=50))
    assert (
        refund_service.recheck_settled(rma, 1, store=store, providers=refunds.providers, now=later)
        == "rechecked"
    )
    assert (rma, 1) not in list(store.rechecks_due(now=later, limit=50))
    assert record(rma).money_status == "refunded"
    # A later REFUNDED_REVERSED gives the money back to the ledger and flags the return.
    reversed_ = adyen.notification_for(movement.provider_refund_id, HMAC_KEY, event_code="REFUNDED_REVERSED")
    assert adyen_webhook(reversed_).raw == "[accepted]"
    assert record(rma).money_status == "failed"
    assert ledger_items()["P1"]["refunded"] == 0


def test_a_batch_is_applied_item_by_item_and_matched_by_refund_id(adyen):
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    movement = record(rma).refund.movements[0]
    data = json.loads(adyen.notification_for(movement.provider_refund_id, HMAC_KEY))
    item = data["notificationItems"][0]["NotificationRequestItem"]
    # A reference that is not ours (e.g. set in the Customer Area): the pspReference stored at
    # creation still finds the movement. An AUTHORISATION rides along and is acknowledged.
    item["merchantReference"] = "order-1001"
    item["additionalData"]["hmacSignature"] = sign_item(item, RETIRED_KEY)  # the rotated-out key
    other = {**item, "eventCode": "AUTHORISATION", "pspReference": PSP, "originalReference": ""}
    other["additionalData"] = {"hmacSignature": sign_item(other, HMAC_KEY)}
    data["notificationItems"] = [{"NotificationRequestItem": other}, {"NotificationRequestItem": item}] * 2
    answer = adyen_webhook(json.dumps(data).encode())
    assert answer.status == 200 and answer.raw == "[accepted]"
    assert record(rma).money_status == "refunded"


def test_unsigned_tampered_or_unreadable_notifications_are_refused(adyen):
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    movement = record(rma).refund.movements[0]
    body = adyen.notification_for(movement.provider_refund_id, HMAC_KEY)
    assert adyen_webhook(body.replace(b'"success": "true"', b'"success": "false"')).status == 401
    unsigned = json.loads(body)
    unsigned["notificationItems"][0]["NotificationRequestItem"].pop("additionalData")
    assert adyen_webhook(json.dumps(unsigned).encode()).status == 401
    assert adyen_webhook(b"not json").status == 401  # no readable signature in it
    assert record(rma).money_status == "pending"


def test_a_lost_answer_is_replayed_under_the_same_key_never_a_second_refund(adyen):
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    adyen.crash_next_creates()  # Adyen makes the refund; the Lambda never hears back
    with pytest.raises(BatchProcessingError, match="All records failed"):  # SQS will redeliver
        deliver_message(rma, "return.delivered")
    assert len(adyen.refunds_for(PSP)) == 1
    assert record(rma).refund.movements[0].status == "reserved"
    adyen.fail_next_creates(status=503)
    with pytest.raises(BatchProcessingError):
        deliver_message(rma, "return.delivered", receive_count=2)  # SQS redelivers: Adyen is down
    again = deliver_message(rma, "return.delivered", receive_count=3)
    (refund,) = adyen.refunds_for(PSP)  # one refund, whatever the retries
    movement = record(rma).refund.movements[0]
    assert movement.status == "pending" and movement.provider_refund_id == refund["pspReference"]
    assert again == {"batchItemFailures": []}
    assert adyen_webhook(adyen.notification_for(refund["pspReference"], HMAC_KEY)).raw == "[accepted]"
    assert record(rma).money_status == "refunded"
    assert ledger_items()["P1"]["refunded"] == movement.amount == refund["amount"]["value"]


def test_a_refusal_fails_the_movement_and_releases_the_money(adyen):
    adyen.add_payment(PSP, 7136, "EUR")  # the payment is in another currency: Adyen refuses (422)
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    failed = record(rma)
    assert failed.money_status == "failed" and failed.refund.movements[0].failure_reason == "adyen_137"
    assert adyen.refunds_for(PSP) == []
    assert ledger_items()["P1"] == {"captured": 7136, "available": 7136, "reserved": 0, "refunded": 0}
