"""Shopify order intake through the real handlers on moto: the published webhook bodies, signed
as Shopify signs them (base64 HMAC-SHA256 of the exact bytes with the test's own secret),
stored once by ShopWebhooksFunction and applied by ShopOrdersFunction from the stream."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import uuid
from pathlib import Path

import boto3
import pytest
from homeward.adapters.dynamodb import keys

from infra.webhook_signing import api_gateway_event
from tests.conftest import TABLE, TEST_ENV, invoke
from tests.integration.streams import StreamDriver

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "shopify"
SECRETS = TEST_ENV["SHOPIFY_WEBHOOK_SECRET"].split(",")  # [retired, current]
ORDER_ID = "shopify-820982911946154508"
RECEIVER = "homeward.handlers.shop_webhooks"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def shopify_headers(
    body: bytes, topic: str, *, secret: str = SECRETS[1], webhook_id: str | None = None
) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "linen-and-loom.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Triggered-At": "2026-07-10T16:15:47.000000Z",
        "X-Shopify-Event-Id": str(uuid.uuid4()),
    }


def shop_event(body: bytes, headers: dict, provider: str = "shopify") -> dict:
    event = api_gateway_event(provider, body, headers)
    path = f"/webhooks/shops/{provider}"
    event.update(rawPath=path, routeKey="POST /webhooks/shops/{provider}")
    event["requestContext"].update(routeKey="POST /webhooks/shops/{provider}")
    event["requestContext"]["http"]["path"] = path
    return event


def post(body: bytes, topic: str, **options):
    return invoke(RECEIVER, shop_event(body, shopify_headers(body, topic, **options)))


def with_updated_at(body: bytes, updated_at: str, **changes) -> bytes:
    data = json.loads(body)
    data.update(updated_at=updated_at, **changes)
    return json.dumps(data).encode()


@pytest.fixture
def stream(aws):
    return StreamDriver("ShopOrdersFunction", "homeward.handlers.shop_orders")


def stored_order(order_id: str = ORDER_ID) -> dict | None:
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key=keys.order(order_id)).get("Item")
    return (
        None if item is None else {"doc": json.loads(item["doc"]["S"]), "version": int(item["version"]["N"])}
    )


def inbox_item(delivery_id: str) -> dict:
    return boto3.client("dynamodb").get_item(TableName=TABLE, Key=keys.shop_webhook("shopify", delivery_id))[
        "Item"
    ]


def test_the_published_order_webhook_is_stored_once_and_applied(stream):
    body = sample("01-webhook-orders-create.json")
    result = post(body, "orders/create", webhook_id="wh-create-1")
    assert result.status == 200, result.body
    assert result.body == {"status": "accepted", "webhook_id": "shopify-wh-create-1"}
    assert stream.drain() == []
    order = stored_order()
    assert order is not None and order["version"] == 1
    assert order["doc"]["lines"][0]["line_id"] == "487817672276298554"
    assert order["doc"]["currency"] == "USD" and order["doc"]["shipping"] == 1000
    item = inbox_item("wh-create-1")
    assert (item["status"]["S"], item["outcome"]["S"], item["topic"]["S"]) == (
        "applied",
        "created",
        "orders/create",
    )
    assert item["body"]["S"].encode() == body  # the exact bytes, as signed


def test_a_redelivery_answers_duplicate_and_changes_nothing(stream):
    body = sample("01-webhook-orders-create.json")
    assert post(body, "orders/create", webhook_id="wh-dup").body["status"] == "accepted"
    again = post(body, "orders/create", webhook_id="wh-dup")
    assert again.status == 200 and again.body["status"] == "duplicate"
    stream.drain()
    assert stored_order()["version"] == 1
    assert sum(i["records"] for i in stream.invocations) == 1


def test_out_of_order_updates_never_regress_the_order(stream):
    base = sample("02-webhook-orders-updated.json")
    newer = with_updated_at(base, "2026-07-02T10:00:00-04:00", email="newer@example.com")
    older = with_updated_at(base, "2026-07-01T10:00:00-04:00", email="older@example.com")
    assert post(newer, "orders/updated", webhook_id="wh-newer").status == 200
    assert post(older, "orders/updated", webhook_id="wh-older").status == 200
    assert stream.drain() == []
    assert stored_order()["doc"]["customer"]["email"] == "newer@example.com"
    assert inbox_item("wh-older")["outcome"]["S"] == "stale"


VERSIONS = [
    ("2026-07-01T10:00:00-04:00", "v1"),
    ("2026-07-01T12:00:00-04:00", "v2"),
    ("2026-07-02T09:00:00+02:00", "v3"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_whatever_the_arrival_order_the_newest_update_wins(stream, order):
    """Each permutation of three updates, applied one stream batch at a time: the stored order is
    always the newest seen so far, and ends as the newest of all."""
    base = sample("02-webhook-orders-updated.json")
    newest_seen = -1
    for index in order:
        updated_at, tag = VERSIONS[index]
        post(with_updated_at(base, updated_at, email=f"{tag}@example.com"), "orders/updated")
        assert stream.drain() == []
        newest_seen = max(newest_seen, index)
        assert stored_order()["doc"]["customer"]["email"] == f"{VERSIONS[newest_seen][1]}@example.com"
    assert stored_order()["doc"]["customer"]["email"] == "v3@example.com"


def test_a_fulfillment_adds_its_parcel_to_the_stored_order(stream):
    post(sample("01-webhook-orders-create.json"), "orders/create")
    stream.drain()
    result = post(sample("05-webhook-fulfillments-create.json"), "fulfillments/create", webhook_id="wh-ful")
    assert result.status == 200
    assert stream.drain() == []
    shipments = stored_order()["doc"]["shipments"]
    assert [(s["carrier"], s["tracking_number"]) for s in shipments] == [("UPS", "1z827wk74630")]
    assert inbox_item("wh-ful")["outcome"]["S"] == "updated"
    # fulfillments/update with the same parcel: nothing changes
    post(sample("06-webhook-fulfillments-update.json"), "fulfillments/update", webhook_id="wh-ful-2")
    stream.drain()
    assert inbox_item("wh-ful-2")["outcome"]["S"] == "unchanged"


def test_a_fulfillment_before_its_order_is_kept_and_skipped(stream):
    post(sample("05-webhook-fulfillments-create.json"), "fulfillments/create", webhook_id="wh-early")
    assert stream.drain() == []
    assert stored_order() is None
    assert inbox_item("wh-early")["outcome"]["S"] == "order_unknown"


def test_a_cancelled_order_and_a_refund_are_stored(stream):
    assert post(sample("04-webhook-orders-cancelled.json"), "orders/cancelled").status == 200
    assert (
        post(sample("07-webhook-refunds-create.json"), "refunds/create", webhook_id="wh-refund").status == 200
    )
    assert stream.drain() == []
    assert "cancelled" in stored_order()["doc"]["tags"]
    item = inbox_item("wh-refund")
    assert (item["status"]["S"], item["outcome"]["S"]) == ("applied", "stored")


def test_an_order_that_cannot_be_mapped_is_marked_failed_not_retried(stream):
    body = json.dumps({"id": 5, "name": "#5", "line_items": []}).encode()
    assert post(body, "orders/create", webhook_id="wh-bad").status == 200
    assert stream.drain() == []
    item = inbox_item("wh-bad")
    assert item["status"]["S"] == "failed" and "currency" in item["error"]["S"]


def test_the_retired_secret_still_verifies_during_rotation(aws):
    result = post(sample("01-webhook-orders-create.json"), "orders/create", secret=SECRETS[0])
    assert result.status == 200 and result.body["status"] == "accepted"


def _scan_count() -> int:
    return boto3.client("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"]


@pytest.mark.parametrize(
    "tamper",
    [
        "body",
        "wrong_secret",
        "hex_digest",
        "no_signature",
        "no_topic",
        "no_shop",
        "no_webhook_id",
        "no_version",
        "bad_shop",
    ],
)
def test_tampered_or_incomplete_deliveries_are_401_and_store_nothing(aws, tamper):
    body = sample("01-webhook-orders-create.json")
    headers = shopify_headers(
        body, "orders/create", secret="not-the-secret" if tamper == "wrong_secret" else SECRETS[1]
    )
    if tamper == "body":
        body = body.replace(b"404.95", b"004.95", 1)
    if tamper == "hex_digest":
        headers["X-Shopify-Hmac-Sha256"] = hmac.new(SECRETS[1].encode(), body, hashlib.sha256).hexdigest()
    if tamper == "bad_shop":
        headers["X-Shopify-Shop-Domain"] = "evil.example.com"
    missing = {
        "no_signature": "X-Shopify-Hmac-Sha256",
        "no_topic": "X-Shopify-Topic",
        "no_shop": "X-Shopify-Shop-Domain",
        "no_webhook_id": "X-Shopify-Webhook-Id",
        "no_version": "X-Shopify-API-Version",
    }
    headers.pop(missing.get(tamper, ""), None)
    result = invoke(RECEIVER, shop_event(body, headers))
    assert result.status == 401, result.body
    assert result.body["details"]["provider"] == "shopify", result.body
    assert _scan_count() == 0


def test_lower_case_and_unprefixed_headers_and_base64_bodies_are_accepted(aws):
    body = sample("05-webhook-fulfillments-create.json")
    headers = {
        k.lower().removeprefix("x-"): v for k, v in shopify_headers(body, "fulfillments/create").items()
    }
    event = api_gateway_event("shopify", body, headers, base64=True)
    event.update(rawPath="/webhooks/shops/shopify", routeKey="POST /webhooks/shops/{provider}")
    event["requestContext"]["http"]["path"] = "/webhooks/shops/shopify"
    assert invoke(RECEIVER, event).body["status"] == "accepted"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"a": NaN}'])
def test_malformed_bodies_are_400(aws, body):
    result = post(body, "orders/create")
    assert result.status == 400, result.body
    assert _scan_count() == 0


def test_an_unknown_topic_is_acknowledged_and_ignored(aws):
    result = post(sample("03-webhook-orders-paid.json"), "orders/paid")
    assert (result.status, result.body["status"]) == (200, "ignored")
    assert _scan_count() == 0


def test_an_unknown_connector_is_404(aws):
    body = b"{}"
    result = invoke(
        RECEIVER, shop_event(body, shopify_headers(body, "orders/create"), provider="woocommerce")
    )
    assert result.status == 404


def test_a_connector_without_a_secret_is_refused(aws, monkeypatch):
    import homeward.handlers.shop_webhooks as receiver

    monkeypatch.setattr(receiver, "webhook_secrets", lambda provider: [])
    result = post(sample("01-webhook-orders-create.json"), "orders/create")
    assert result.status == 401 and result.body["details"]["reason"] == "not_configured"


def test_aws_calls_per_shopify_webhook(stream):
    """One PutItem to receive; one UpdateItem (the order) + one UpdateItem (the inbox) to apply an
    order, plus one GetItem for a fulfillment."""
    import homeward.handlers.shop_orders as consumer
    import homeward.handlers.shop_webhooks as receiver

    calls: list[str] = []

    def count(event_name, **_):
        calls.append(event_name.split(".")[-1])

    clients = {id(c): c for c in (receiver.inbox._ddb, consumer.orders._ddb, consumer.inbox._ddb)}.values()
    for ddb in clients:
        ddb.meta.events.register("before-call.dynamodb", count)
    try:
        post(sample("01-webhook-orders-create.json"), "orders/create")
        receive = list(calls)
        stream.drain()
        apply_order = calls[len(receive) :]
        calls.clear()
        post(sample("05-webhook-fulfillments-create.json"), "fulfillments/create")
        stream.drain()
        fulfillment = list(calls)
    finally:
        for ddb in clients:
            ddb.meta.events.unregister("before-call.dynamodb", count)
    assert receive == ["PutItem"]
    assert apply_order == ["UpdateItem", "UpdateItem"]
    assert fulfillment == ["PutItem", "GetItem", "UpdateItem", "UpdateItem"]
