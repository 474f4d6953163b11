"""Returns through the real handlers on moto: eligibility, start, idempotency, races, ops, events."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.conftest import MERCHANT_KEY, TABLE, TEST_ENV, invoke, load_event
from tests.integration.test_orders_slice import SAMPLE_ORDER, put_order, sign_in

PORTAL_RETURNS = "homeward.handlers.portal_returns"
OPS = "homeward.handlers.ops_api"
EVENTS = "homeward.handlers.domain_events"


def recent_order(days_since_delivery: int = 5, **changes) -> dict:
    """The sample order, delivered a few days ago whatever today's date is."""
    now = datetime.now(UTC)
    body = json.loads(json.dumps(SAMPLE_ORDER))
    body["placed_at"] = (now - timedelta(days=days_since_delivery + 4)).isoformat()
    body["updated_at"] = (now - timedelta(days=days_since_delivery)).isoformat()
    body["shipments"][0]["shipped_at"] = (now - timedelta(days=days_since_delivery + 3)).isoformat()
    body["shipments"][0]["delivered_at"] = (now - timedelta(days=days_since_delivery)).isoformat()
    body.update(changes)
    return body


@pytest.fixture
def token(aws):
    assert put_order(recent_order()).status == 201
    return sign_in().body["token"]


def portal(name: str, token: str, *, path=None, body=None, headers=None, params=None, method=None):
    event = load_event(f"portal_returns.{name}")
    if method:
        event["requestContext"]["http"]["method"] = method
    event["headers"]["authorization"] = f"Bearer {token}"
    event["headers"].update(headers or {})
    if path:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = json.dumps(body)
    return invoke(PORTAL_RETURNS, event)


def start(token, lines=None, *, key="checkout-7f3a9c1e", note=None):
    body = {
        "lines": lines or [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]
    }
    if note:
        body["note"] = note
    headers = {"idempotency-key": key} if key else {}
    event = load_event("portal_returns.start_return")
    if not key:
        event["headers"].pop("idempotency-key")
    event["headers"]["authorization"] = f"Bearer {token}"
    event["headers"].update(headers)
    event["body"] = json.dumps(body)
    return invoke(PORTAL_RETURNS, event)


def ops(
    name: str, rma: str | None = None, *, body=None, method="POST", action=None, qs=None, key=MERCHANT_KEY
):
    event = load_event(f"ops_api.{name}")
    event["headers"]["authorization"] = f"Bearer {key}"
    if rma:
        path = f"/ops/returns/{rma}" + (f"/{action}" if action else "")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["pathParameters"] = {"rma": rma}
    if body is not None:
        event["body"] = json.dumps(body)
    if qs is not None:
        event["rawQueryString"] = qs
        event["queryStringParameters"] = dict(p.split("=", 1) for p in qs.split("&")) if qs else None
    return invoke(OPS, event)


def ops_get(rma: str):
    return ops("approve", rma, method="GET")  # GET /ops/returns/{rma}


def reserved(line_id="L1"):
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": "ORDER#ord_1001"}, "sk": {"S": "ORDER"}}
    )["Item"]
    return int(item.get(f"reserved_{line_id}", {"N": "0"})["N"])


# ---- eligibility ---------------------------------------------------------------------------


def test_eligibility_lists_lines_with_reasons(token):
    result = portal("eligibility", token)
    assert result.status == 200, result.raw
    tee, mug = result.body["lines"]
    assert (tee["returnable_quantity"], tee["reason_codes"]) == (2, [])
    assert tee["unit_refund"] == 2500 - 193 + 206
    assert (mug["returnable"], mug["reason_codes"]) == (False, ["final_sale"])
    assert result.body["policy_version"] == "2026-11-01"


def test_eligibility_of_another_order_is_404(token):
    put_order(recent_order(order_number="#3003"), order_id="ord_3003")
    result = portal(
        "eligibility", token, path="/portal/orders/ord_3003/eligibility", params={"orderId": "ord_3003"}
    )
    assert result.status == 404


def test_window_closed_order(aws):
    put_order(recent_order(days_since_delivery=45))
    token = sign_in().body["token"]
    assert portal("eligibility", token).body["lines"][0]["reason_codes"] == ["window_expired"]
    result = start(token)
    assert result.status == 422
    assert result.body["details"]["lines"] == [{"line_id": "L1", "reason_codes": ["window_expired"]}]


# ---- start -----------------------------------------------------------------------------------


def test_start_return_reserves_prices_and_approves(token):
    result = start(token)
    assert result.status == 201, result.raw
    body = result.body
    assert body["status"] == "approved" and body["rma"].startswith("R-")
    assert body["lines"][0]["refund"]["amount"] == 2500 - 193 + 206
    assert body["preview"]["refund_total"] == 2500 - 193 + 206 - 595
    assert body["destination"]["city"] == "Columbus"
    assert [e["type"] for e in body["timeline"]] == ["return.requested", "return.approved"]
    assert reserved() == 1
    assert portal("eligibility", token).body["lines"][0]["returnable_quantity"] == 1


def test_client_amounts_are_never_trusted(token):
    result = start(
        token,
        [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund", "amount": 999999}],
    )
    assert result.status == 422  # unknown field refused; the price is always computed


def test_same_idempotency_key_returns_the_first_result(token):
    first = start(token)
    second = start(token)
    assert (first.status, second.status) == (201, 200)
    assert first.body["rma"] == second.body["rma"]
    assert reserved() == 1


def test_same_idempotency_key_with_other_body_is_422(token):
    start(token)
    other = start(token, [{"line_id": "L1", "quantity": 2, "reason": "too_small", "resolution": "refund"}])
    assert other.status == 422
    assert other.body["details"]["reason"] == "idempotency_key_reused"


def second_order_token(order_id="ord_2002", order_number="#2002", email="sam.roe@example.com"):
    body = recent_order(order_number=order_number)
    body["customer"]["email"] = email
    assert put_order(body, order_id=order_id).status == 201
    return sign_in(order_number, email).body["token"]


def start_for(token, order_id, lines=None, *, key):
    event = load_event("portal_returns.start_return")
    event["headers"]["authorization"] = f"Bearer {token}"
    event["headers"]["idempotency-key"] = key
    event["pathParameters"] = {"orderId": order_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/portal/orders/{order_id}/returns"
    body = {
        "lines": lines or [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]
    }
    event["body"] = json.dumps(body)
    return invoke(PORTAL_RETURNS, event)


def test_same_key_on_two_orders_gives_two_returns_each_replaying_its_own(token):
    other = second_order_token()
    mine = start_for(token, "ord_1001", key="shared-key-0001")
    theirs = start_for(other, "ord_2002", key="shared-key-0001")
    assert (mine.status, theirs.status) == (201, 201)
    assert mine.body["rma"] != theirs.body["rma"]
    assert start_for(token, "ord_1001", key="shared-key-0001").body["rma"] == mine.body["rma"]
    replay = start_for(other, "ord_2002", key="shared-key-0001")
    assert (replay.status, replay.body["rma"], replay.body["order_id"]) == (
        200,
        theirs.body["rma"],
        "ord_2002",
    )


def test_a_forced_rma_collision_never_crosses_orders(token, monkeypatch):
    # Both orders' submits draw the same RMA: the second one's conditional put is refused and it
    # draws again, so each (order, key) keeps its own return and replays only that one.
    from homeward.domain.returns import rules as return_rules

    drawn = iter(["R-AAAA-AAAA", "R-AAAA-AAAA", "R-BBBB-BBBB"])
    monkeypatch.setattr(return_rules, "new_rma", lambda: next(drawn))
    other = second_order_token()
    mine = start_for(token, "ord_1001", key="collide-key-01")
    theirs = start_for(other, "ord_2002", key="collide-key-02")
    assert (mine.status, mine.body["rma"], mine.body["order_id"]) == (201, "R-AAAA-AAAA", "ord_1001")
    assert (theirs.status, theirs.body["rma"], theirs.body["order_id"]) == (201, "R-BBBB-BBBB", "ord_2002")
    for tok, order_id, key, rma in (
        (token, "ord_1001", "collide-key-01", "R-AAAA-AAAA"),
        (other, "ord_2002", "collide-key-02", "R-BBBB-BBBB"),
    ):
        replay = start_for(tok, order_id, key=key)
        assert (replay.status, replay.body["rma"], replay.body["order_id"]) == (200, rma, order_id)


def test_a_key_item_naming_another_orders_return_is_never_replayed(token):
    # Even if the key item pointed at another order's return (a corrupted or forged row), the
    # replay checks the return's order and answers 409 without any of its data.
    other = second_order_token()
    theirs = start_for(other, "ord_2002", key="their-key-0001")
    assert theirs.status == 201
    from homeward.domain.returns.rules import request_hash
    from homeward.models.returns import ReturnRequest

    body = {"lines": [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]}
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "IDEMP#ord_1001#my-key-00001"},
            "sk": {"S": "IDEMP"},
            "order_id": {"S": "ord_1001"},
            "idempotency_key": {"S": "my-key-00001"},
            "rma": {"S": theirs.body["rma"]},
            "request_hash": {"S": request_hash(ReturnRequest.model_validate(body))},
        },
    )
    result = start_for(token, "ord_1001", body["lines"], key="my-key-00001")
    assert result.status == 409
    assert result.body["details"]["reason"] == "idempotency_key_mismatch"
    assert theirs.body["rma"] not in result.raw and "ord_2002" not in result.raw


def test_concurrent_submits_with_one_key_make_one_return(token, serializable_dynamodb):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(start(token, key="same-tab-key-1"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == [200, 200, 201]
    assert len({r.body["rma"] for r in results}) == 1
    assert reserved() == 1


def test_replay_still_answers_after_the_line_is_used_up(token):
    everything = [{"line_id": "L1", "quantity": 2, "reason": "too_large", "resolution": "store_credit"}]
    assert start(token, everything, key="all-of-it-0001").status == 201
    assert start(token, everything, key="all-of-it-0001").status == 200


def test_over_return_is_409_with_returnable_quantity(token):
    start(token, key="first-return-01")
    result = start(
        token, [{"line_id": "L1", "quantity": 2, "reason": "too_small", "resolution": "refund"}], key=None
    )
    assert result.status == 409
    assert result.body["details"]["lines"] == [{"line_id": "L1", "requested": 2, "returnable": 1}]
    assert reserved() == 1


def test_unknown_line_and_bad_reason_are_422(token):
    result = start(token, [{"line_id": "L9", "quantity": 1, "reason": "too_small", "resolution": "refund"}])
    assert result.status == 422 and "unknown_line" in result.raw
    result = start(
        token, [{"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "refund"}], key=None
    )
    assert result.status == 422 and "photo_required" in result.raw
    assert reserved() == 0


@pytest.fixture
def serializable_dynamodb(monkeypatch):
    """moto runs requests from several threads without isolation; DynamoDB applies each write
    atomically. A lock around moto's write and read paths restores that, so these tests
    exercise our conditions rather than moto's missing locking."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "update_item", "put_item", "get_item", "query"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def test_concurrent_returns_never_exceed_what_was_bought(token, serializable_dynamodb):
    # Two shoppers' tabs each ask for both units at once: exactly one may win.
    results = []

    def go(key):
        results.append(
            start(
                token,
                [{"line_id": "L1", "quantity": 2, "reason": "too_small", "resolution": "refund"}],
                key=key,
            )
        )

    threads = [threading.Thread(target=go, args=(f"tab-{i}-abcdef",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == [201, 409]
    assert reserved() == 2


def test_photo_upload_is_presigned_for_this_order_only(token):
    result = portal("photo_upload", token)
    assert result.status == 200, result.raw
    body = result.body
    assert body["key"].startswith("photos/ord_1001/") and body["key"].endswith(".jpg")
    assert body["fields"]["Content-Type"] == "image/jpeg"
    policy = json.loads(__import__("base64").b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    bad = portal("photo_upload", token, body={"content_type": "application/pdf"})
    assert bad.status == 422


def test_damaged_with_photo_goes_to_review_then_ops_approves(token):
    photo = portal("photo_upload", token).body["key"]
    created = start(
        token,
        [{"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "refund", "photos": [photo]}],
    )
    assert created.status == 201
    assert created.body["status"] == "needs_review"
    assert created.body["preview"]["return_shipping_fee"] == 0
    rma = created.body["rma"]

    listed = ops("list_returns", qs="status=needs_review&limit=20")
    assert listed.status == 200, listed.raw
    assert [r["rma"] for r in listed.body["returns"]] == [rma]

    approved = ops("approve", rma, action="approve")
    assert approved.status == 200, approved.raw
    assert approved.body["record"]["status"] == "approved"
    assert approved.body["timeline"][-1]["actor_id"] == "alex@shop.example"
    assert ops("list_returns", qs="status=needs_review&limit=20").body["returns"] == []

    # The shopper's view hides who did it.
    view = portal("list_returns", token)
    assert view.body["returns"][0]["status"] == "approved"


def test_ops_list_paginates_with_a_cursor(aws):
    put_order(
        recent_order(
            lines=[{**SAMPLE_ORDER["lines"][0], "quantity": 3}, SAMPLE_ORDER["lines"][1]],
            shipments=[],
            order_discount=0,
        )
    )
    token = sign_in().body["token"]
    for i in range(3):
        assert start(token, key=f"page-test-{i:04d}").status == 201
    first = ops("list_returns", qs="status=approved&limit=2")
    assert len(first.body["returns"]) == 2 and first.body["next_cursor"]
    second = ops("list_returns", qs=f"status=approved&limit=2&cursor={first.body['next_cursor']}")
    rmas = [r["rma"] for r in first.body["returns"] + second.body["returns"]]
    assert len(set(rmas)) == 3
    assert ops("list_returns", qs="status=approved&cursor=%%%").status == 422


def shopper_cancel(token: str, rma: str, reason: str = "Found one that fits"):
    """POST /portal/orders/ord_1001/returns/{rma}/cancel as the shopper."""
    return portal(
        "list_returns",
        token,
        method="POST",
        path=f"/portal/orders/ord_1001/returns/{rma}/cancel",
        params={"orderId": "ord_1001", "rma": rma},
        body={"reason": reason},
    )


def test_shopper_cancel_releases_quantities_and_only_before_drop_off(token):
    rma = start(token).body["rma"]

    def cancel():
        return shopper_cancel(token, rma)

    result = cancel()
    assert result.status == 200, result.raw
    assert result.body["status"] == "cancelled" and result.body["can_cancel"] is False
    assert result.body["timeline"][-1]["note"] == "Found one that fits"
    assert reserved() == 0
    again = cancel()
    assert again.status == 409
    assert again.body["details"]["current_status"] == "cancelled"


def test_receive_and_inspect_then_timeline(token):
    rma = start(token).body["rma"]
    result = ops("receive", rma, action="receive")
    assert result.status == 200, result.raw
    line = result.body["record"]["lines"][0]
    assert (line["received_quantity"], line["grade"], line["disposition"]) == (1, "a", "restock")
    full = ops_get(rma)
    assert full.status == 200
    assert [e["type"] for e in full.body["timeline"]] == [
        "return.requested",
        "return.approved",
        "return.received",
    ]
    assert full.body["timeline"][-1]["actor_id"] == "sam@warehouse.example"


def test_concurrent_approve_and_cancel_exactly_one_wins(token, serializable_dynamodb):
    created = start(
        token,
        [
            {
                "line_id": "L1",
                "quantity": 1,
                "reason": "damaged",
                "resolution": "refund",
                "photos": [portal("photo_upload", token).body["key"]],
            }
        ],
    )
    rma = created.body["rma"]
    results = {}

    def approve():
        results["approve"] = ops("approve", rma, action="approve")

    def cancel():
        results["cancel"] = ops("approve", rma, action="cancel", body={"reason": "customer called"})

    threads = [threading.Thread(target=approve), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results.values())
    # Either both orders are legal in sequence (approve then cancel) or one loses with 409.
    final = ops_get(rma).body["record"]
    if statuses == [200, 200]:
        assert final["status"] == "cancelled"
    else:
        assert statuses == [200, 409]
        loser = next(r for r in results.values() if r.status == 409)
        assert loser.body["details"]["reason"] in ("concurrent_change", "illegal_transition")
    versions = [e["seq"] for e in ops_get(rma).body["timeline"]]
    assert versions == sorted(set(versions))


def test_ops_needs_the_merchant_key(token):
    assert ops("list_returns", qs="status=approved", key="nope").status == 401


def test_ops_files_on_behalf_without_review(token):
    event = load_event("ops_api.approve")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/ops/orders/ord_1001/returns"
    event["pathParameters"] = {"orderId": "ord_1001"}
    event["body"] = json.dumps(
        {"lines": [{"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "store_credit"}]}
    )
    result = invoke(OPS, event)
    assert result.status == 422  # damaged still needs a photo, even for staff
    event["body"] = json.dumps(
        {"lines": [{"line_id": "L1", "quantity": 1, "reason": "wrong_item", "resolution": "store_credit"}]}
    )
    result = invoke(OPS, event)
    assert result.status == 201, result.raw
    assert result.body["record"]["filed_by"] == "ops" and result.body["record"]["status"] == "approved"


# ---- domain events --------------------------------------------------------------------------


def test_stream_records_are_published_with_attributes(aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="observer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=TEST_ENV["DOMAIN_EVENTS_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    result = (
        __import__("importlib")
        .import_module(EVENTS)
        .lambda_handler(
            load_event("domain_events.return_approved"),
            __import__("tests.conftest", fromlist=["x"]).LambdaContext(),
        )
    )
    assert result == {"batchItemFailures": []}
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["Subject"] == "return.approved"
    assert message["MessageAttributes"]["type"]["Value"] == "return.approved"
    assert message["MessageAttributes"]["event_id"]["Value"] == "R-7K3M-9QXA:000002"
    assert json.loads(message["Message"])["to_status"] == "approved"


def test_a_failed_publish_is_reported_for_that_record_only(aws, monkeypatch):
    from tests.conftest import LambdaContext

    module = __import__("importlib").import_module(EVENTS)
    event = load_event("domain_events.return_approved")
    bad = json.loads(json.dumps(event["Records"][0]))
    bad["dynamodb"]["SequenceNumber"] = "222200000000000000000002"
    bad["dynamodb"]["NewImage"]["rma"]["S"] = "R-FAIL-0000"
    event["Records"].append(bad)
    real = module.sns.publish

    def flaky(**kwargs):
        if kwargs["MessageAttributes"]["rma"]["StringValue"] == "R-FAIL-0000":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalError", "Message": "x"}}, "Publish")
        return real(**kwargs)

    monkeypatch.setattr(module.sns, "publish", flaky)
    result = module.lambda_handler(event, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "222200000000000000000002"}]}
