"""Order upsert -> shopper sign-in -> shopper view, through the real handlers on moto.

Events come from events/ (the same files `sam local invoke -e` takes), edited per case.
"""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from tests.conftest import MERCHANT_KEY, TABLE, invoke, load_event

MERCHANT = "homeward.handlers.merchant_api"
PORTAL = "homeward.handlers.portal_api"
SAMPLE_ORDER = json.loads(load_event("merchant_api.put_order")["body"])


def put_order(body=None, order_id="ord_1001", *, key=MERCHANT_KEY, raw=None, headers=None):
    event = load_event("merchant_api.put_order")
    event["headers"].pop("authorization")
    if key is not None:
        event["headers"]["authorization"] = f"Bearer {key}"
    event["headers"].update(headers or {})
    event["pathParameters"] = {"orderId": order_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/orders/{order_id}"
    if raw is not None:
        event["body"] = raw
    elif body is not None:
        event["body"] = json.dumps(body)
    return invoke(MERCHANT, event)


def sign_in(order_number="#1001", email="jane.doe@example.com", ip="203.0.113.10"):
    event = load_event("portal_api.create_session")
    event["body"] = json.dumps({"order_number": order_number, "email": email})
    event["requestContext"]["http"]["sourceIp"] = ip
    return invoke(PORTAL, event)


def view_order(token, order_id="ord_1001"):
    event = load_event("portal_api.get_order")
    if token is None:
        event["headers"].pop("authorization")
    else:
        event["headers"]["authorization"] = f"Bearer {token}"
    event["pathParameters"] = {"orderId": order_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/portal/orders/{order_id}"
    return invoke(PORTAL, event)


def order_item(order_id="ord_1001"):
    return (
        boto3.client("dynamodb")
        .get_item(TableName=TABLE, Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}})
        .get("Item")
    )


# ---- merchant upsert -----------------------------------------------------------------


def test_upsert_creates_then_recognises_identical_resend(aws):
    # Given an empty table, When the shop sends the sample order twice
    first = put_order()
    second = put_order()
    # Then the first creates version 1 and the second changes nothing
    assert (first.status, first.body) == (201, {"order_id": "ord_1001", "version": 1, "result": "created"})
    assert (second.status, second.body) == (
        200,
        {"order_id": "ord_1001", "version": 1, "result": "unchanged"},
    )
    item = order_item()
    assert item["version"]["N"] == "1"
    assert item["gsi1pk"]["S"] == "ORDERNO#1001"
    assert "jane" not in json.dumps(item["email_fp"]).lower()  # only a fingerprint in the index


def test_upsert_with_changes_bumps_version_and_keeps_created_at(aws):
    put_order()
    created_at = order_item()["created_at"]["S"]
    changed = {**SAMPLE_ORDER, "updated_at": "2026-11-06T08:00:00Z", "shipping": 0}
    result = put_order(changed)
    assert (result.status, result.body["result"], result.body["version"]) == (200, "updated", 2)
    item = order_item()
    assert item["created_at"]["S"] == created_at
    assert json.loads(item["doc"]["S"])["shipping"] == 0


def test_stale_update_is_refused_with_409_and_nothing_changes(aws):
    put_order()
    stale = {**SAMPLE_ORDER, "updated_at": "2026-11-01T00:00:00Z", "shipping": 1}
    result = put_order(stale)
    assert result.status == 409
    assert result.body["error"] == "conflict"
    assert result.body["details"]["reason"] == "stale_update"
    assert json.loads(order_item()["doc"]["S"])["shipping"] == SAMPLE_ORDER["shipping"]


@pytest.mark.parametrize(
    ("key", "reason"),
    [(None, "missing_credentials"), ("wrong-key", "invalid_credentials")],
)
def test_merchant_api_requires_the_key(aws, key, reason):
    result = put_order(key=key)
    assert result.status == 401
    assert result.body["details"]["reason"] == reason
    assert result.headers["www-authenticate"] == "Bearer"
    assert order_item() is None


def test_x_api_key_header_is_accepted(aws):
    result = put_order(key=None, headers={"x-api-key": MERCHANT_KEY})
    assert result.status == 201


def test_rotated_merchant_keys_are_all_accepted(aws):
    from homeward.adapters import secrets

    boto3.client("secretsmanager").put_secret_value(
        SecretId="homeward/test/merchant-api-key",
        SecretString=f"old-key-abcdefghijklmnopqrstuvwxyz,{MERCHANT_KEY}",
    )
    secrets._provider().clear_cache()
    try:
        assert put_order(key="old-key-abcdefghijklmnopqrstuvwxyz").status == 201
        assert put_order(key=MERCHANT_KEY, order_id="ord_2").status == 201
    finally:
        secrets._provider().clear_cache()


# ---- bad input -----------------------------------------------------------------------


def test_malformed_json_is_400(aws):
    result = put_order(raw='{"order_number": "#1001",')
    assert result.status == 400
    assert result.body["error"] == "malformed_json"
    assert order_item() is None


def test_schema_violation_is_422_with_field_locations(aws):
    bad = {**SAMPLE_ORDER, "currency": "usd", "lines": [{**SAMPLE_ORDER["lines"][0], "quantity": 0}]}
    result = put_order(bad)
    assert result.status == 422
    locations = {tuple(e["loc"]) for e in result.body["details"]}
    assert ("body", "currency") in locations
    assert ("body", "lines", 0, "quantity") in locations
    assert "Traceback" not in result.raw
    assert order_item() is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["lines"].append(dict(o["lines"][0])), "line_id values must be unique"),
        (lambda o: o["shipments"][0]["lines"].append({"line_id": "nope", "quantity": 1}), "unknown line_id"),
        (lambda o: o["payments"][0].update(currency="EUR"), "currency differs"),
        (lambda o: o.update(order_discount=10**9), "order_discount exceeds"),
        (lambda o: o["lines"][0].update(unit_price=12.5), "valid integer"),
        (lambda o: o.update(unexpected="x"), "Extra inputs are not permitted"),
    ],
)
def test_inconsistent_orders_are_422(aws, mutate, message):
    body = json.loads(json.dumps(SAMPLE_ORDER))
    mutate(body)
    result = put_order(body)
    assert result.status == 422, result.raw
    assert message in json.dumps(result.body["details"])


def test_invalid_order_id_in_path_is_422(aws):
    result = put_order(order_id="bad id with spaces")
    assert result.status == 422
    assert result.body["details"][0]["loc"] == ["path", "orderId"]


def test_oversized_body_is_413(aws):
    result = put_order(raw=json.dumps({**SAMPLE_ORDER, "tags": ["x" * 300_000]}))
    assert result.status == 413
    assert result.body["error"] == "payload_too_large"


def test_base64_body_is_decoded(aws):
    event = load_event("merchant_api.put_order")
    event["headers"]["authorization"] = f"Bearer {MERCHANT_KEY}"
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(MERCHANT, event).status == 201


def test_unknown_route_is_404_with_error_body(aws):
    event = load_event("portal_api.get_order")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/portal/nothing-here"
    result = invoke(PORTAL, event)
    assert result.status == 404
    assert result.body["error"] == "not_found"


# ---- shopper sign-in and view ----------------------------------------------------------


def test_sign_in_trims_and_ignores_case_and_hash(aws):
    put_order()
    for number, email in [("#1001", "  JANE.DOE@example.com "), ("1001", "jane.doe@example.com")]:
        result = sign_in(number, email)
        assert result.status == 200, result.raw
        assert result.body["order_id"] == "ord_1001"
        assert result.body["token_type"] == "Bearer"


def test_sample_event_signs_in(aws):
    put_order()
    result = invoke(PORTAL, load_event("portal_api.create_session"))
    assert result.status == 200


def test_wrong_email_and_unknown_order_look_identical(aws):
    put_order()
    wrong_email = sign_in("#1001", "someone@example.com")
    no_order = sign_in("#9999", "jane.doe@example.com")
    assert wrong_email.status == no_order.status == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong_email.body) == strip(no_order.body)


def test_failures_hold_back_only_the_client_that_failed(aws, monkeypatch):
    from homeward.handlers import portal_api

    put_order()
    # No delay between tries here: the growing delay has its own tests (test_auth_domain).
    monkeypatch.setattr(portal_api, "limits", portal_api.auth.SignInLimits(max_delay_seconds=0))
    # Strangers from many addresses: wrong emails for the shopper's order number...
    for i in range(30):
        assert sign_in("#1001", f"guess{i}@example.com", ip=f"198.51.100.{i}").status == 401
    # ...cannot lock the shopper out of it.
    assert sign_in("#1001", "jane.doe@example.com", ip="192.0.2.77").status == 200
    # One client's five failures on one order stop that client on that order, with Retry-After.
    for i in range(5):
        assert sign_in("#1001", f"typo{i}@example.com", ip="192.0.2.50").status == 401
    blocked = sign_in("#1001", "jane.doe@example.com", ip="192.0.2.50")
    assert blocked.status == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 900
    # That client may still sign in to another order.
    put_order({**SAMPLE_ORDER, "order_number": "#1002"}, order_id="ord_1002")
    assert sign_in("#1002", "jane.doe@example.com", ip="192.0.2.50").status == 200


def test_a_client_retrying_at_once_is_slowed_with_retry_after(aws, monkeypatch):
    from datetime import UTC, datetime

    from homeward.handlers import portal_api

    frozen = datetime.now(UTC)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen

    put_order()
    monkeypatch.setattr(portal_api, "datetime", Clock)
    assert sign_in("#1001", "typo@example.com", ip="192.0.2.60").status == 401
    slowed = sign_in("#1001", "jane.doe@example.com", ip="192.0.2.60")
    assert slowed.status == 429 and int(slowed.headers["retry-after"]) == 1


def test_repeated_failures_per_ip_give_429(aws):
    put_order()
    for i in range(20):
        assert sign_in(f"#{5000 + i}", "x@example.com", ip="192.0.2.99").status == 401
    assert sign_in("#1001", "jane.doe@example.com", ip="192.0.2.99").status == 429
    assert sign_in("#1001", "jane.doe@example.com", ip="192.0.2.100").status == 200


def test_shopper_view_masks_contact_and_hides_internals(aws):
    put_order()
    token = sign_in().body["token"]
    result = view_order(token)
    assert result.status == 200
    body = result.body
    assert body["contact"] == {
        "name": "Jane Doe",
        "email": "j***@example.com",
        "phone": "+1******0123",
        "locale": "en-US",
    }
    assert "payments" not in body and "tags" not in body and "version" not in body
    assert "pi_3Q" not in result.raw and "Jane.Doe@example.com" not in result.raw
    assert [line["final_sale"] for line in body["lines"]] == [False, True]
    assert body["total"] == SAMPLE_ORDER["payments"][0]["captured"]
    assert body["shipments"][0]["tracking_number"] == "9400111899223197428490"


def test_token_for_one_order_does_not_open_another(aws):
    put_order()
    put_order({**SAMPLE_ORDER, "order_number": "#2002"}, order_id="ord_2002")
    token = sign_in().body["token"]
    result = view_order(token, order_id="ord_2002")
    assert result.status == 404
    assert result.body["error"] == "not_found"


@pytest.mark.parametrize("token", [None, "garbage", "eyJvIjoib3JkXzEwMDEifQ.AAAA.BBBB"])
def test_missing_or_forged_token_is_401(aws, token):
    put_order()
    result = view_order(token)
    assert result.status == 401
    assert "order_number" not in result.raw


def test_expired_token_is_401_with_reason(aws, monkeypatch):
    put_order()
    token = sign_in().body["token"]
    import itsdangerous.timed

    real_now = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real_now(self) + 1801
    )
    result = view_order(token)
    assert result.status == 401
    assert result.body["details"]["reason"] == "token_expired"


def test_token_signed_with_another_key_is_rejected(aws):
    from datetime import UTC, datetime

    from homeward.domain.access.tokens import PortalTokens

    forged, _ = PortalTokens(["another-key-" + "x" * 40], 1800).issue("ord_1001", datetime.now(UTC))
    put_order()
    assert view_order(forged).status == 401


# ---- dependency failures -----------------------------------------------------------------


def test_dynamodb_outage_is_503_without_stack_trace(aws, monkeypatch):
    from botocore.exceptions import ClientError
    from homeward.handlers import merchant_api

    def throttled(**_kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")

    monkeypatch.setattr(merchant_api.table._ddb, "update_item", throttled)
    result = put_order()
    assert result.status == 503
    assert result.body["error"] == "dependency_failed"
    assert "Traceback" not in result.raw


def test_authentication_is_checked_before_the_body(aws):
    result = put_order(raw="{not json", key="wrong-key")
    assert result.status == 401


def test_api_docs_serve_the_document_and_swagger_ui():
    docs = load_event("api_docs.openapi")
    document = invoke("homeward.handlers.api_docs", docs)
    assert document.status == 200 and "/portal/session" in document.body["paths"]
    page = load_event("api_docs.openapi")
    page["rawPath"] = page["requestContext"]["http"]["path"] = "/docs"
    html = invoke("homeward.handlers.api_docs", page)
    assert html.status == 200 and "SwaggerUIBundle" in html.raw and "/portal/session" in html.raw
    page["rawQueryString"] = "format=json"
    page["queryStringParameters"] = {"format": "json"}
    assert invoke("homeward.handlers.api_docs", page).body["paths"] == document.body["paths"]
