"""What every webhook signature check shares (the tracking sources' entry point, `verify`, is
homeward/providers/tracking_sources.py).

Every verifier (one per provider, in homeward/providers/<name>/) takes the raw request body
exactly as received (`bytes`; base64-decode API Gateway's body first when `isBase64Encoded`,
never re-serialize JSON), the request headers (looked up case-insensitively: API Gateway HTTP
APIs lower-case them, EasyPost's own Node library once missed lower-cased names), and the
list of active secrets. Any active secret may match, so a rotation keeps the old and the new
secret active until the provider switches over. Comparisons use `hmac.compare_digest`
(`equal`). A verifier returns None or raises `WebhookSignatureInvalid` with `reason` one of
missing_header, malformed_header, stale_timestamp, mismatch.

Timestamps, where a scheme signs one, are rejected in both directions (`check_timestamp`):
Stripe only rejects old ones (CR 2.9), but a timestamp far in the future is just as
unexplained and would extend a replay window.

The schemes themselves are documented with their verifiers: EasyPost, Shippo, AfterShip and
the generic Standard-Webhooks format in homeward/providers/<name>/tracking.py, Stripe in
homeward/providers/stripe/webhooks.py ("CR n" = section n of
brief/reference/carriers-and-refunds.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from homeward.errors import WebhookSignatureInvalid

TOLERANCE_SECONDS = 300

# ASCII digits only: str.isdigit() also accepts other scripts' digits.
UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


def find_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup; `name` is lower-case. Blank counts as missing."""
    for key, value in headers.items():
        if key.lower() == name:
            value = value.strip()
            return value or None
    return None


def to_bytes(value: str) -> bytes:
    # surrogatepass never raises, so odd input from the wire cannot turn into a 500.
    return value.encode("utf-8", "surrogatepass")


def equal(expected: bytes, candidate: bytes) -> bool:
    return hmac.compare_digest(expected, candidate)


def mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def check_inputs(body: bytes, secrets: Sequence[str]) -> None:
    # A str body means someone decoded (or re-serialized) it; the signature is over bytes.
    if not isinstance(body, bytes | bytearray):
        raise TypeError("webhook body must be the raw request bytes")
    # An empty secret is an HMAC key anyone can use: treat it as a configuration error.
    if not secrets or any(not s for s in secrets):
        raise ValueError("at least one non-empty webhook secret must be configured")


def check_timestamp(provider: str, timestamp: int, now: datetime, tolerance: int) -> None:
    if abs(now.timestamp() - timestamp) > tolerance:
        raise WebhookSignatureInvalid(
            provider, "stale_timestamp", "Webhook timestamp is outside the allowed tolerance"
        )


def mismatch(provider: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "mismatch", "Webhook signature does not match")


def missing(provider: str, header: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "missing_header", f"Missing {header} header")


def malformed(provider: str, header: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "malformed_header", f"Malformed {header} header")


def b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(to_bytes(value), validate=True)
    except (binascii.Error, ValueError):
        return None
