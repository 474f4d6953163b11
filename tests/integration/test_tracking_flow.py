"""Carrier webhooks through the real handlers on moto: intake, the stream, parcels and returns.

Webhooks go to WebhooksFunction as API Gateway events signed like the providers sign them;
the table's stream then reaches TrackingFunction through the template's FilterCriteria.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import LabelClaims
from homeward.adapters.policy import bundled_policy
from homeward.adapters.storage import LabelFiles
from homeward.domain.labels import service as labels

from infra.webhook_signing import LOCAL_SECRETS, api_gateway_event, load_sample, retarget, signed_headers
from tests.conftest import MERCHANT_KEY, TABLE, TEST_ENV, LambdaContext, invoke, load_event
from tests.integration.streams import StreamDriver
from tests.integration.test_labels_flow import CountingCarrier
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_returns_flow import ops_get, recent_order, start

WEBHOOKS = "homeward.handlers.webhooks"
TRACKING = "homeward.handlers.tracking"
WATCH = "homeward.handlers.shipment_watch"
PORTAL = "homeward.handlers.portal_api"
OPS = "homeward.handlers.ops_api"
OUTBOUND = "9400111899223197428490"  # the sample order's shipment


def send(provider: str, body: bytes, *, secret: str | None = None, headers: dict | None = None, **kwargs):
    """POST a body to /webhooks/{provider}, signed with the local secret unless headers are given."""
    if headers is None:
        headers = signed_headers(provider, body, secret or LOCAL_SECRETS[provider])
    return invoke(WEBHOOKS, api_gateway_event(provider, body, headers, **kwargs))


def sample(provider: str, case: str, *, tracking_number: str, at: datetime) -> bytes:
    return retarget(load_sample(provider, case), provider, tracking_number=tracking_number, occurred_at=at)


def items(prefix: str) -> list[dict]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    return [i for page in pages for i in page["Items"] if i["pk"]["S"].startswith(prefix)]


def shipment(tracking_number: str) -> dict:
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"SHIPMENT#{tracking_number}"}, "sk": {"S": "SHIPMENT"}}
    )["Item"]
    return json.loads(item["doc"]["S"])


def shipment_events(tracking_number: str) -> list[str]:
    return [i["type"]["S"] for i in items(f"SHIPMENT#{tracking_number}") if i["sk"]["S"].startswith("EVENT#")]


def tracking_view(token: str, order_id: str = "ord_1001"):
    event = load_event("portal_api.get_order")
    event["headers"]["authorization"] = f"Bearer {token}"
    path = f"/portal/orders/{order_id}/tracking"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /portal/orders/{orderId}/tracking"
    event["pathParameters"] = {"orderId": order_id}
    return invoke(PORTAL, event)


def ops_webhooks(
    path: str = "", *, method: str = "GET", qs: dict | None = None, webhook_id: str | None = None
):
    event = load_event("ops_api.list_returns")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    full = "/ops/webhooks" + (f"/{webhook_id}" if webhook_id else "") + path
    event["rawPath"] = event["requestContext"]["http"]["path"] = full
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = {"webhookId": webhook_id} if webhook_id else {}
    event["queryStringParameters"] = qs or {}
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (qs or {}).items())
    event.pop("body", None)
    return invoke(OPS, event)


@pytest.fixture
def stream(aws):
    return StreamDriver("TrackingFunction", TRACKING)


@pytest.fixture
def return_parcel(aws, stream):
    """An approved return with a label bought: its parcel is registered for tracking."""
    assert put_order(recent_order()).status == 201
    token = sign_in().body["token"]
    rma = start(token).body["rma"]
    store = LabelClaims(client("dynamodb"), TABLE)
    outcome = labels.issue_label(
        rma,
        store=store,
        carrier=CountingCarrier(),
        files=LabelFiles(TEST_ENV["LABELS_BUCKET"]),
        policy=bundled_policy(),
        now=datetime.now(UTC),
    )
    assert outcome == "issued"
    tracking_number = store.get_return(rma)[0].label.tracking_number
    assert stream.drain() == []
    return rma, tracking_number, token


def return_status(rma: str) -> tuple[str, list[str]]:
    """The return's status and timeline event types, as ops see them."""
    view = ops_get(rma).body
    return view["record"]["status"], [e["type"] for e in view["timeline"]]


# ---- return parcels move the return --------------------------------------------------------


@pytest.mark.parametrize("provider", ["easypost", "shippo", "aftership", "generic"])
def test_each_provider_moves_a_return_to_in_transit_then_delivered(provider, return_parcel, stream):
    rma, number, token = return_parcel
    now = datetime.now(UTC)
    first = send(
        provider, sample(provider, "in_transit", tracking_number=number, at=now - timedelta(hours=5))
    )
    assert first.status == 200 and first.body["status"] == "accepted"
    assert stream.drain() == []
    assert return_status(rma)[0] == "in_transit"

    delivered = send(
        provider, sample(provider, "delivered", tracking_number=number, at=now - timedelta(hours=1))
    )
    assert delivered.status == 200 and delivered.body["status"] == "accepted"
    assert stream.drain() == []
    status, types = return_status(rma)
    assert status == "delivered"
    assert types.count("return.in_transit") == 1 and types.count("return.delivered") == 1
    assert shipment(number)["status"] == "delivered"
    assert "shipment.delivered" in shipment_events(number)

    parcels = tracking_view(token).body["parcels"]
    returned = next(p for p in parcels if p["direction"] == "return")
    assert returned["tracking_number"] == number and returned["rma"] == rma
    assert returned["status"] == "delivered" and returned["delivered"] is True
    assert returned["events"][0]["status"] == "delivered"  # newest first


def test_a_redelivered_webhook_is_acknowledged_and_changes_nothing(return_parcel, stream):
    rma, number, _ = return_parcel
    body = sample("easypost", "delivered", tracking_number=number, at=datetime.now(UTC) - timedelta(hours=1))
    assert send("easypost", body).body["status"] == "accepted"
    stream.drain()
    before = shipment(number)
    again = send("easypost", body)
    assert again.status == 200 and again.body["status"] == "duplicate"
    assert again.body["webhook_id"] == send("easypost", body).body["webhook_id"]
    assert stream.drain() == []
    after = shipment(number)
    assert after["version"] == before["version"] and after["applied_events"] == 1
    assert return_status(rma)[1].count("return.delivered") == 1
    assert len(items("WEBHOOK#")) == 1


def test_an_older_event_arriving_late_goes_to_history_only(return_parcel, stream):
    rma, number, _ = return_parcel
    now = datetime.now(UTC)
    send("shippo", sample("shippo", "delivered", tracking_number=number, at=now - timedelta(hours=1)))
    stream.drain()
    late = send(
        "shippo", sample("shippo", "out_for_delivery", tracking_number=number, at=now - timedelta(hours=4))
    )
    assert late.body["status"] == "accepted"
    stream.drain()
    parcel = shipment(number)
    assert parcel["status"] == "delivered"
    assert parcel["applied_events"] == 2
    assert "out_for_delivery" in {c["status"] for c in parcel["checkpoints"]}
    assert return_status(rma)[0] == "delivered"
    assert shipment_events(number).count("shipment.delivered") == 1


def test_return_to_sender_on_a_return_parcel_is_noted_and_never_delivers(return_parcel, stream):
    rma, number, _ = return_parcel
    now = datetime.now(UTC)
    send("aftership", sample("aftership", "in_transit", tracking_number=number, at=now - timedelta(hours=6)))
    send(
        "aftership",
        sample("aftership", "return_to_sender", tracking_number=number, at=now - timedelta(hours=2)),
    )
    stream.drain()
    status, types = return_status(rma)
    assert status == "in_transit"
    assert "return.delivered" not in types
    assert types[-1] == "return.note_added"
    assert shipment(number)["status"] == "return_to_sender"
    assert "shipment.exception" in shipment_events(number)


# ---- outbound parcels, parking and matching -------------------------------------------------


def test_an_unknown_tracking_number_is_parked_then_matched_when_the_order_registers_it(aws, stream):
    now = datetime.now(UTC)
    body = sample("generic", "in_transit", tracking_number=OUTBOUND, at=now - timedelta(hours=3))
    assert send("generic", body).body["status"] == "accepted"
    stream.drain()
    [inbox] = items("WEBHOOK#")
    assert inbox["status"]["S"] == "parked"
    parked = ops_webhooks(qs={"status": "parked"})
    assert parked.status == 200 and parked.body["items"][0]["tracking_number"] == OUTBOUND

    assert put_order(recent_order()).status == 201  # the order carries the parcel's number
    assert stream.drain() == []
    [inbox] = items("WEBHOOK#")
    assert inbox["status"]["S"] == "applied" and inbox["replays"]["N"] == "1"
    parcel = shipment(OUTBOUND)
    assert parcel["direction"] == "outbound" and parcel["status"] == "in_transit"
    assert ops_webhooks(qs={"status": "parked"}).body["items"] == []

    token = sign_in().body["token"]
    [view] = tracking_view(token).body["parcels"]
    assert view["tracking_number"] == OUTBOUND and view["status"] == "in_transit"
    assert view["last_location"] is not None


def test_re_sending_an_order_does_not_register_its_parcel_twice(aws, stream):
    assert put_order(recent_order()).status == 201
    stream.drain()
    registered = shipment(OUTBOUND)
    assert put_order(recent_order(tags=["web", "vip"])).status == 200
    stream.drain()
    assert shipment(OUTBOUND) == registered


def test_tracking_view_is_scoped_to_the_token_order(aws, stream):
    assert put_order(recent_order()).status == 201
    stream.drain()
    token = sign_in().body["token"]
    assert tracking_view(token, "ord_other").status == 404
    assert tracking_view("not-a-token").status == 401


# ---- intake: what is refused, and how ---------------------------------------------------------


def test_bad_missing_and_stale_signatures_are_401_and_store_nothing(aws):
    body = load_sample("easypost", "in_transit")
    assert send("easypost", body, secret="wrong").status == 401
    assert send("easypost", body, headers={}).body["details"]["reason"] == "missing_header"
    stale = signed_headers(
        "generic",
        load_sample("generic", "in_transit"),
        LOCAL_SECRETS["generic"],
        now=datetime.now(UTC) - timedelta(minutes=6),
    )
    refused = send("generic", load_sample("generic", "in_transit"), headers=stale)
    assert refused.status == 401 and refused.body["details"]["reason"] == "stale_timestamp"
    assert items("WEBHOOK#") == []


def test_the_retired_secret_still_verifies_during_rotation(aws):
    body = load_sample("aftership", "in_transit")
    assert send("aftership", body, secret="retired_aftership_secret").body["status"] == "accepted"


def test_base64_body_and_lower_case_header_and_shippo_url_token(aws):
    body = load_sample("shippo", "in_transit")
    headers = {k.lower(): v for k, v in signed_headers("shippo", body, LOCAL_SECRETS["shippo"]).items()}
    assert send("shippo", body, headers=headers, base64=True).body["status"] == "accepted"
    other = load_sample("shippo", "delivered")
    assert send("shippo", other, headers={}, query={"token": LOCAL_SECRETS["shippo"]}).status == 200
    assert send("shippo", other, headers={}, query={"token": "guess"}).status == 401


def test_malformed_and_wrong_shape_bodies_are_400_and_422(aws):
    garbage = b'{"description": "tracker.updated", '
    assert send("easypost", garbage).status == 400
    wrong = json.dumps({"description": "tracker.updated", "id": "evt_1", "result": {"status": 5}}).encode()
    answer = send("easypost", wrong)
    assert answer.status == 422 and answer.body["details"]
    assert send("unknown", b"{}", headers={}).status == 404
    assert items("WEBHOOK#") == []


def test_non_tracking_events_are_acknowledged_as_ignored(aws):
    answer = send("easypost", load_sample("easypost", "batch_created"))
    assert answer.status == 200 and answer.body["status"] == "ignored"
    assert items("WEBHOOK#") == []


def test_a_provider_without_a_secret_is_refused(aws, monkeypatch):
    import homeward.handlers.webhooks as webhooks

    monkeypatch.setitem(webhooks._ENV_SECRETS, "aftership", None)
    refused = send("aftership", load_sample("aftership", "in_transit"))
    assert refused.status == 401 and refused.body["details"]["reason"] == "not_configured"


def test_deployed_secrets_come_from_secrets_manager(aws, monkeypatch):
    import homeward.adapters.secrets as secrets
    import homeward.handlers.webhooks as webhooks

    boto3.client("secretsmanager").create_secret(
        Name="homeward/test/webhooks", SecretString=json.dumps({"aftership": "from_secrets_manager"})
    )
    monkeypatch.setitem(webhooks._ENV_SECRETS, "aftership", None)
    monkeypatch.setattr(
        webhooks,
        "settings",
        webhooks.settings.model_copy(update={"webhook_secrets_secret": "homeward/test/webhooks"}),
    )
    secrets._provider.cache_clear()
    body = load_sample("aftership", "in_transit")
    assert send("aftership", body, secret="from_secrets_manager").body["status"] == "accepted"


# ---- ops replay and the watch ------------------------------------------------------------------


def test_ops_replay_of_a_failed_event_applies_it_once_and_refuses_applied_ones(return_parcel, stream):
    _, number, _ = return_parcel
    body = sample("easypost", "in_transit", tracking_number=number, at=datetime.now(UTC) - timedelta(hours=2))
    wid = send("easypost", body).body["webhook_id"]
    # Simulate an event that could not be applied (e.g. a parser bug fixed since).
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"WEBHOOK#{wid}"}, "sk": {"S": "WEBHOOK"}},
        UpdateExpression="SET #s = :f, gsi2pk = :g",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": "failed"}, ":g": {"S": "WEBHOOKS#failed"}},
    )
    stream.drain()
    assert shipment(number)["applied_events"] == 0
    listed = ops_webhooks(qs={"status": "failed"}).body["items"]
    assert [e["webhook_id"] for e in listed] == [wid]

    replayed = ops_webhooks("/replay", method="POST", webhook_id=wid)
    assert replayed.status == 202 and replayed.body["status"] == "received"
    stream.drain()
    assert shipment(number)["applied_events"] == 1
    assert ops_webhooks(webhook_id=wid).body["status"] == "applied"
    again = ops_webhooks("/replay", method="POST", webhook_id=wid)
    assert again.status == 409 and again.body["details"]["reason"] == "not_replayable"
    assert ops_webhooks(webhook_id="easypost-" + "0" * 32).status == 404


def test_the_watch_flags_a_silent_parcel_once(aws, stream):
    import homeward.handlers.shipment_watch as watch

    assert put_order(recent_order()).status == 201
    stream.drain()
    long_ago = datetime.now(UTC) - timedelta(days=9)
    send("easypost", sample("easypost", "in_transit", tracking_number=OUTBOUND, at=long_ago))
    stream.drain()
    first = watch.lambda_handler({}, LambdaContext())
    assert first["delayed"] == 1
    assert shipment_events(OUTBOUND).count("shipment.delayed") == 1
    assert watch.lambda_handler({}, LambdaContext())["delayed"] == 0
    assert shipment_events(OUTBOUND).count("shipment.delayed") == 1


def test_the_raw_body_is_stored_exactly_as_signed(aws):
    body = load_sample("aftership", "delivered")
    wid = send("aftership", body).body["webhook_id"]
    stored = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"WEBHOOK#{wid}"}, "sk": {"S": "WEBHOOK"}}
    )["Item"]["body"]["S"]
    assert stored.encode() == body
    assert base64.b64encode(stored.encode()) == base64.b64encode(body)


def test_an_unreadable_secret_is_a_503_not_a_500(aws, monkeypatch):
    import homeward.adapters.secrets as secrets
    import homeward.handlers.webhooks as webhooks

    monkeypatch.setitem(webhooks._ENV_SECRETS, "aftership", None)
    monkeypatch.setattr(
        webhooks,
        "settings",
        webhooks.settings.model_copy(update={"webhook_secrets_secret": "no/such/secret"}),
    )
    secrets._provider.cache_clear()
    answer = send("aftership", load_sample("aftership", "in_transit"))
    assert answer.status == 503 and answer.body["details"]["reason"] == "secret_unavailable"
