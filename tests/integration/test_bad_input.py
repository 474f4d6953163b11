"""Bad bodies on every route that reads one: 400 / 413 / 415 with the error body, never a 500.

Each case goes through the real handler (moto behind it), with and without credentials: the
credentials are checked before the body is read, so without them every case is a 401.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from infra.stripe_stub import StripeStub
from infra.webhook_signing import LOCAL_SECRETS, api_gateway_event, signed_headers
from tests.conftest import MERCHANT_KEY, invoke, load_event
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_returns_flow import recent_order

DEEP = "[" * 10_000 + "]" * 10_000  # ~20 KB, far under the body limit


def _b64(data: bytes) -> dict:
    return {"body": base64.b64encode(data).decode(), "isBase64Encoded": True}


# name -> (changes to the event, expected status with valid credentials)
BAD_BODIES = {
    "not_utf8": (_b64(b'{"order_number": "\xff\xfe"}'), 400),
    "bad_base64": ({"body": "not base64!!", "isBase64Encoded": True}, 400),
    "lone_surrogate": ({"body": '{"note": "\ud800"}'}, 400),
    "escaped_lone_surrogate": ({"body": '{"note": "\\ud800"}'}, 400),
    "nested_10000_deep": ({"body": DEEP}, 400),
    "nested_object_deep": ({"body": '{"a":' * 5000 + "1" + "}" * 5000}, 400),
    "nan": ({"body": '{"quantity": NaN}'}, 400),
    "huge_integer": ({"body": '{"quantity": ' + "9" * 5000 + "}"}, 400),
    "not_json": ({"body": "{'single': 'quotes'}"}, 400),
    "text_plain": ({"headers": {"content-type": "text/plain"}, "body": "{}"}, 415),
    "form_urlencoded": (
        {"headers": {"content-type": "application/x-www-form-urlencoded"}, "body": "a=1"},
        415,
    ),
    "multipart_without_boundary": (
        {"headers": {"content-type": "multipart/form-data"}, "body": "--x\r\n"},
        415,
    ),
    "multipart_with_boundary": (
        {"headers": {"content-type": "multipart/form-data; boundary=x"}, "body": "--x--\r\n"},
        415,
    ),
    "too_large": ({"body": json.dumps({"note": "x" * 300_000})}, 413),
}

# (handler module, event sample, credential): every API route with a JSON body.
ROUTES = {
    "put_order": ("merchant_api", "merchant_api.put_order", "key"),
    "redeem_credit": ("merchant_api", "merchant_api.redeem_credit", "key"),
    "ops_receive": ("ops_api", "ops_api.receive", "key"),
    "ops_refund_by_hand": ("ops_api", "ops_api.refund_by_hand", "key"),
    "ops_retry_refunds": ("ops_api", "ops_api.retry_refunds", "key"),
    "ops_settle_exchange": ("ops_api", "ops_api.settle_exchange", "key"),
    "portal_sign_in": ("portal_api", "portal_api.create_session", None),
    "portal_start_return": ("portal_returns", "portal_returns.start_return", "token"),
    "portal_photo_upload": ("portal_returns", "portal_returns.photo_upload", "token"),
}


@pytest.fixture(scope="module")
def stack():
    """One moto stack for the module: every case is refused before it writes anything."""
    import boto3
    from moto import mock_aws

    from infra.template import dynamodb_table_kwargs
    from tests.conftest import SIGNING_KEY, TABLE, TEST_ENV

    with mock_aws():
        boto3.client("dynamodb").create_table(**dynamodb_table_kwargs("HomewardTable", TABLE))
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=TEST_ENV["MERCHANT_API_KEY_SECRET"], SecretString=MERCHANT_KEY)
        secrets.create_secret(Name=TEST_ENV["PORTAL_SIGNING_KEY_SECRET"], SecretString=SIGNING_KEY)
        assert put_order(recent_order()).status == 201
        yield {"token": sign_in().body["token"]}


def _event(sample: str, credential: str | None, stack: dict, changes: dict) -> dict:
    event = load_event(sample)
    headers = event["headers"]
    headers.pop("authorization", None)
    if credential == "key":
        headers["authorization"] = f"Bearer {MERCHANT_KEY}"
    elif credential == "token":
        headers["authorization"] = f"Bearer {stack['token']}"
    headers.update(changes.get("headers", {}))
    event["body"] = changes["body"]
    event["isBase64Encoded"] = changes.get("isBase64Encoded", False)
    return event


@pytest.mark.parametrize("case", list(BAD_BODIES))
@pytest.mark.parametrize("route", list(ROUTES))
def test_a_bad_body_is_a_4xx_with_the_error_body(stack, route, case):
    module, sample, credential = ROUTES[route]
    changes, expected = BAD_BODIES[case]
    result = invoke(f"homeward.handlers.{module}", _event(sample, credential, stack, changes))
    assert result.status == expected, result.raw
    assert result.headers["content-type"] == "application/json"
    assert set(result.body) >= {"error", "message"} and "Traceback" not in result.raw


@pytest.mark.parametrize(
    "case", ["not_utf8", "nested_10000_deep", "text_plain", "multipart_without_boundary"]
)
@pytest.mark.parametrize("route", [r for r, (_, _, credential) in ROUTES.items() if credential])
def test_without_credentials_the_body_is_never_read(stack, route, case):
    module, sample, _ = ROUTES[route]
    result = invoke(f"homeward.handlers.{module}", _event(sample, None, stack, BAD_BODIES[case][0]))
    assert result.status == 401, result.raw


def test_json_with_a_charset_and_any_case_is_still_json(stack):
    event = _event(
        "portal_api.create_session",
        None,
        stack,
        {
            "headers": {"content-type": "Application/JSON; charset=utf-8"},
            "body": json.dumps({"order_number": "#1001", "email": "jane.doe@example.com"}),
        },
    )
    event["requestContext"]["http"]["sourceIp"] = "198.51.100.77"
    assert invoke("homeward.handlers.portal_api", event).status == 200


@pytest.mark.parametrize("case", ["nested_10000_deep", "nested_object_deep", "nan", "escaped_lone_surrogate"])
def test_a_signed_stripe_webhook_with_a_bad_body_is_400(stack, case):
    body = BAD_BODIES[case][0]["body"].encode()
    event = load_event("payment_webhooks.stripe_refund")
    event["headers"]["stripe-signature"] = StripeStub.sign_event(
        body, "whsec_hw_local_stripe_webhook_secret", int(datetime.now(UTC).timestamp())
    )
    event["body"] = body.decode()
    result = invoke("homeward.handlers.payment_webhooks", event)
    assert result.status == 400, result.raw


@pytest.mark.parametrize("provider", ["easypost", "shippo", "aftership", "generic"])
@pytest.mark.parametrize("case", ["nested_10000_deep", "nested_object_deep", "nan", "not_utf8"])
def test_a_signed_carrier_webhook_with_a_bad_body_is_400(stack, provider, case):
    changes = BAD_BODIES[case][0]
    body = base64.b64decode(changes["body"]) if changes.get("isBase64Encoded") else changes["body"].encode()
    headers = signed_headers(provider, body, LOCAL_SECRETS[provider])
    event = api_gateway_event(provider, body, headers, base64=True)
    result = invoke("homeward.handlers.webhooks", event)
    assert result.status == 400, result.raw
