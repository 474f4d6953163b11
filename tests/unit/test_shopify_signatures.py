"""Shopify's X-Shopify-Hmac-Sha256 (providers/shopify/shop.py), pure: rotation, header forms."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from homeward.errors import WebhookSignatureInvalid
from homeward.providers.shopify.shop import signature, verify_shopify
from hypothesis import given
from hypothesis import strategies as st

BODY = b'{"id":820982911946154508,"name":"#9999"}'


def headers(body: bytes = BODY, secret: str = "new-secret", **extra) -> dict:
    return {
        "X-Shopify-Hmac-Sha256": signature(body, secret),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "shop-1.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-API-Version": "2026-07",
        **extra,
    }


def test_the_signature_is_shopify_s_base64_hmac_sha256_of_the_raw_body():
    expected = base64.b64encode(hmac.new(b"new-secret", BODY, hashlib.sha256).digest()).decode()
    assert signature(BODY, "new-secret") == expected


def test_any_active_secret_verifies_and_the_delivery_is_read():
    for secret in ("old-secret", "new-secret"):
        delivery = verify_shopify(BODY, headers(secret=secret), ["new-secret", "old-secret"])
        assert (delivery.topic, delivery.shop, delivery.api_version) == (
            "orders/create",
            "shop-1.myshopify.com",
            "2026-07",
        )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Shopify-Hmac-Sha256": "not base64!"}, "malformed_header"),
        ({"X-Shopify-Hmac-Sha256": "AAAA"}, "malformed_header"),
        ({"X-Shopify-Hmac-Sha256": signature(BODY, "other")}, "mismatch"),
        ({"X-Shopify-Topic": "orders create"}, "malformed_header"),
        ({"X-Shopify-API-Version": "july"}, "malformed_header"),
        ({"X-Shopify-Shop-Domain": "shop.example.com"}, "malformed_header"),
    ],
)
def test_refusals(change, reason):
    with pytest.raises(WebhookSignatureInvalid) as refused:
        verify_shopify(BODY, {**headers(), **change}, ["new-secret"])
    assert refused.value.reason == reason


def test_a_str_body_is_a_programming_error():
    with pytest.raises(TypeError):
        verify_shopify(BODY.decode(), headers(), ["new-secret"])  # type: ignore[arg-type]


@given(body=st.binary(max_size=200), flip=st.integers(0, 199))
def test_any_changed_byte_is_refused(body, flip):
    signed = headers(body)
    tampered = bytearray(body or b"x")
    tampered[flip % len(tampered)] ^= 0x01
    with pytest.raises(WebhookSignatureInvalid):
        verify_shopify(bytes(tampered), signed, ["new-secret"])
