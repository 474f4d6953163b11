"""Shared test set-up: fake AWS credentials, moto, template-driven tables, event samples."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local import moto_patches

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# Before anything imports boto3: never reach real AWS, whatever the developer's shell has.
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    POWERTOOLS_SERVICE_NAME="homeward",
    POWERTOOLS_METRICS_NAMESPACE="HomewardTest",
    POWERTOOLS_TRACE_DISABLED="true",
)

MERCHANT_KEY = "merchant-test-key-0123456789abcdefghijklmnop"
SIGNING_KEY = "signing-test-key-0123456789abcdefghijklmnopqrstuvwxyz0123456789"
TABLE = "homeward-test"

# What the template's !Ref / !GetAtt resolve to in integration tests.
TEST_ENV = {
    "TABLE_NAME": TABLE,
    "STAGE": "test",
    "MERCHANT_API_KEY_SECRET": "homeward/test/merchant-api-key",
    "PORTAL_SIGNING_KEY_SECRET": "homeward/test/portal-signing-key",
    "PORTAL_TOKEN_TTL_SECONDS": "1800",
    "PHOTOS_BUCKET": "homeward-test-photos",
    "LABELS_BUCKET": "homeward-test-labels",
    "DOMAIN_EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:homeward-test-domain-events",
    # Two secrets per provider: every webhook test also proves rotation (the old one still works).
    "EASYPOST_WEBHOOK_SECRET": "retired_easypost_secret,hw_local_easypost_webhook_secret",
    "SHIPPO_WEBHOOK_SECRET": "retired_shippo_secret,hw_local_shippo_webhook_secret",
    "AFTERSHIP_WEBHOOK_SECRET": "retired_aftership_secret,hw_local_aftership_webhook_secret",
    "GENERIC_WEBHOOK_SECRET": "whsec_cmV0aXJlZF9nZW5lcmljX3NlY3JldA==,"
    "whsec_aHdfbG9jYWxfZ2VuZXJpY193ZWJob29rX3NlY3JldF8zMmI=",
    "STRIPE_WEBHOOK_SECRET": "whsec_retired_stripe_secret,whsec_hw_local_stripe_webhook_secret",
    # Adyen HMAC keys are hex: a retired one, then the local stack's (infra/local/provision.py).
    "ADYEN_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,"
    "686f6d65776172642d6c6f63616c2d616479656e2d686d61632d6b65792d3332",
    "ADYEN_MERCHANT_ACCOUNT": "HomewardLocalECOM",
    "SHOPIFY_WEBHOOK_SECRET": "retired_shopify_secret,hw_local_shopify_webhook_secret",
    # PayPal's "secret" is the webhook id it signs with (not a secret: the key is PayPal's cert).
    "PAYPAL_WEBHOOK_SECRET": "WH-RETIRED-4KX90213,WH-HOMEWARD-LOCAL-7D2P",
    # Refunds through the ledger provider, settled at once; tests that need `pending` use their own.
    "REFUND_PROVIDER_MODE": "ledger",
    "LEDGER_SETTLE_SECONDS": "0",
    # Shopper notifications: SES sender (its identity is verified in the `aws` fixture), links.
    "SENDER_EMAIL": "returns@shop.example",
    "API_URL": "https://api.shop.example",
    "PORTAL_URL": "https://returns.shop.example",
    "BRAND_NAME": "Linen & Loom",
}
os.environ.update(TEST_ENV)


# moto's TransactWriteItems orphans stream readers after a cancelled transaction (see the module).
moto_patches.apply()


def load_event(name: str, **overrides) -> dict:
    """A sample from events/, deep-copied, with top-level keys replaced."""
    event = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    event.update(overrides)
    return event


@dataclass
class HttpResult:
    status: int
    headers: dict
    body: object
    raw: str


class LambdaContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def invoke(module: str, event: dict) -> HttpResult:
    """Call a handler module's lambda_handler with an API Gateway event; decode the response."""
    handler = importlib.import_module(module).lambda_handler
    response = handler(event, LambdaContext())
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        body = raw
    return HttpResult(response["statusCode"], headers, body, raw)


@pytest.fixture
def aws():
    """moto with the template's table, secrets, photo bucket and event topic, fresh for each test."""
    import boto3
    from moto import mock_aws

    from infra.template import dynamodb_table_kwargs

    with mock_aws():
        boto3.client("dynamodb").create_table(**dynamodb_table_kwargs("HomewardTable", TABLE))
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=TEST_ENV["MERCHANT_API_KEY_SECRET"], SecretString=MERCHANT_KEY)
        secrets.create_secret(Name=TEST_ENV["PORTAL_SIGNING_KEY_SECRET"], SecretString=SIGNING_KEY)
        boto3.client("s3").create_bucket(Bucket=TEST_ENV["PHOTOS_BUCKET"])
        boto3.client("s3").create_bucket(Bucket=TEST_ENV["LABELS_BUCKET"])
        boto3.client("sns").create_topic(Name="homeward-test-domain-events")
        boto3.client("sesv2").create_email_identity(EmailIdentity=TEST_ENV["SENDER_EMAIL"])
        yield
