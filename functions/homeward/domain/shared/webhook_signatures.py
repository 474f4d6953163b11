"""Webhook signature verification for carrier, aggregator and payment webhooks: pure, raw bytes in.

Every verifier takes the raw request body exactly as received (`bytes`; base64-decode API
Gateway's body first when `isBase64Encoded`, never re-serialize JSON), the request headers
(looked up case-insensitively: API Gateway HTTP APIs lower-case them, EasyPost's own Node
library once missed lower-cased names), and the list of active secrets. Any active secret may
match, so a rotation keeps the old and the new secret active until the provider switches over.
Comparisons use `hmac.compare_digest`. A verifier returns None or raises
`WebhookSignatureInvalid` with `reason` one of missing_header, malformed_header,
stale_timestamp, mismatch.

Schemes ("CR n" = section n of the research notes, brief/reference/carriers-and-refunds.md):

* EasyPost (CR 1, 2.1): `X-Hmac-Signature: hmac-sha256-hex=<hex>`, the hex HMAC-SHA256 of the
  raw body keyed with the NFKD-normalized secret (EasyPost's fixture secret "sécret" only
  matches with NFKD). No signed timestamp: replay protection is event-id dedupe downstream.
* Shippo (CR 1, 2.2): `Shippo-Auth-Signature: t=<unix>,v1=<hex>` (Stripe-like, CR 2.9), hex
  HMAC-SHA256 over `"{t}.{raw body}"`, `t` within 5 minutes of now. The self-service
  alternative is a secret `?token=` in the webhook URL, compared against the active secrets.
  The token is only consulted when no signature header is present: a present but bad header
  never falls back to the token.
* AfterShip (CR 1, 2.3): `aftership-hmac-sha256: <base64>`, base64 of HMAC-SHA256 of the raw
  body. No signed timestamp (`ts` is in the unsigned body).
* Generic (Standard Webhooks; our documented format for in-house carriers and 3PLs, modelled
  on CR 2.9): `webhook-id`, `webhook-timestamp` (unix seconds), `webhook-signature` (a
  space-separated list of `v1,<base64>`), base64 HMAC-SHA256 over `"{id}.{timestamp}.{body}"`,
  timestamp within 5 minutes of now. Secrets are `whsec_<base64 key>` or a raw string.
* Stripe (CR 2.9, 4.1; refunds, not carriers): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`
  (other schemes such as v0 ignored), hex HMAC-SHA256 over `"{t}.{raw body}"` keyed with the
  whole secret string, `whsec_` prefix included (unlike Generic, the secret is not decoded:
  that is what stripe-python does), `t` within 5 minutes of now. Not part of `verify()`, which
  serves the carrier intake only.

Timestamps are rejected in both directions: Stripe only rejects old ones (CR 2.9), but a
timestamp far in the future is just as unexplained and would extend a replay window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime

from homeward.errors import WebhookSignatureInvalid

TOLERANCE_SECONDS = 300

EASYPOST_HEADER = "x-hmac-signature"
EASYPOST_PREFIX = "hmac-sha256-hex="
SHIPPO_HEADER = "shippo-auth-signature"
SHIPPO_TOKEN_PARAM = "token"
AFTERSHIP_HEADER = "aftership-hmac-sha256"
GENERIC_ID_HEADER = "webhook-id"
GENERIC_TIMESTAMP_HEADER = "webhook-timestamp"
GENERIC_SIGNATURE_HEADER = "webhook-signature"
GENERIC_SECRET_PREFIX = "whsec_"
STRIPE_HEADER = "stripe-signature"

# ASCII digits only: str.isdigit() also accepts other scripts' digits.
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup; `name` is lower-case. Blank counts as missing."""
    for key, value in headers.items():
        if key.lower() == name:
            value = value.strip()
            return value or None
    return None


def _bytes(value: str) -> bytes:
    # surrogatepass never raises, so odd input from the wire cannot turn into a 500.
    return value.encode("utf-8", "surrogatepass")


def _equal(expected: bytes, candidate: bytes) -> bool:
    return hmac.compare_digest(expected, candidate)


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _check_inputs(body: bytes, secrets: Sequence[str]) -> None:
    # A str body means someone decoded (or re-serialized) it; the signature is over bytes.
    if not isinstance(body, bytes | bytearray):
        raise TypeError("webhook body must be the raw request bytes")
    # An empty secret is an HMAC key anyone can use: treat it as a configuration error.
    if not secrets or any(not s for s in secrets):
        raise ValueError("at least one non-empty webhook secret must be configured")


def _check_timestamp(provider: str, timestamp: int, now: datetime, tolerance: int) -> None:
    if abs(now.timestamp() - timestamp) > tolerance:
        raise WebhookSignatureInvalid(
            provider, "stale_timestamp", "Webhook timestamp is outside the allowed tolerance"
        )


def _mismatch(provider: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "mismatch", "Webhook signature does not match")


def _missing(provider: str, header: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "missing_header", f"Missing {header} header")


def _malformed(provider: str, header: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(provider, "malformed_header", f"Malformed {header} header")


def verify_easypost(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """EasyPost `X-Hmac-Signature: hmac-sha256-hex=<hex>` over the raw body, NFKD secret (CR 2.1)."""
    _check_inputs(body, secrets)
    value = _header(headers, EASYPOST_HEADER)
    if value is None:
        raise _missing("easypost", "X-Hmac-Signature")
    if not value.lower().startswith(EASYPOST_PREFIX):
        raise _malformed("easypost", "X-Hmac-Signature")
    # Hex is case-insensitive; EasyPost sends lower case, as hexdigest() produces.
    candidate = _bytes(value[len(EASYPOST_PREFIX) :].lower())
    for secret in secrets:
        key = _bytes(unicodedata.normalize("NFKD", secret))
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if _equal(expected, candidate):
            return
    raise _mismatch("easypost")


def _parse_shippo(value: str) -> tuple[str, list[str]] | None:
    """`t=<unix>,v1=<hex>[,v1=<hex>]` -> (t, [v1...]); None when malformed."""
    timestamp, signatures = None, []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamp = item.strip()
        elif key == "v1":
            signatures.append(item.strip().lower())
    if timestamp is None or not _UNIX_SECONDS.match(timestamp) or not signatures:
        return None
    return timestamp, signatures


def verify_shippo(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    query: Mapping[str, str] | None = None,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Shippo `Shippo-Auth-Signature` HMAC, or else the `?token=` URL secret (CR 2.2).

    `query` is the request's query-string parameters; pass it only where the token
    alternative is enabled for the merchant.
    """
    _check_inputs(body, secrets)
    value = _header(headers, SHIPPO_HEADER)
    if value is None:
        token = (query or {}).get(SHIPPO_TOKEN_PARAM)
        if token is None:
            raise _missing("shippo", "Shippo-Auth-Signature")
        if any(_equal(_bytes(secret), _bytes(token)) for secret in secrets):
            return
        raise _mismatch("shippo")
    parsed = _parse_shippo(value)
    if parsed is None:
        raise _malformed("shippo", "Shippo-Auth-Signature")
    timestamp, candidates = parsed
    _check_timestamp("shippo", int(timestamp), now, tolerance_seconds)
    message = timestamp.encode() + b"." + bytes(body)
    for secret in secrets:
        expected = hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest().encode()
        # Check every candidate (several v1 during Shippo's own rotation), like Stripe.
        if any(_equal(expected, _bytes(c)) for c in candidates):
            return
    raise _mismatch("shippo")


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(_bytes(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_aftership(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """AfterShip `aftership-hmac-sha256: base64(HMAC-SHA256(secret, raw body))` (CR 2.3)."""
    _check_inputs(body, secrets)
    value = _header(headers, AFTERSHIP_HEADER)
    if value is None:
        raise _missing("aftership", "aftership-hmac-sha256")
    candidate = _b64decode(value)
    if candidate is None:
        raise _malformed("aftership", "aftership-hmac-sha256")
    if any(_equal(_mac(_bytes(secret), bytes(body)), candidate) for secret in secrets):
        return
    raise _mismatch("aftership")


def generic_secret_key(secret: str) -> bytes:
    """`whsec_<base64>` decodes to the key bytes; any other string is the key as UTF-8."""
    if secret.startswith(GENERIC_SECRET_PREFIX):
        key = _b64decode(secret[len(GENERIC_SECRET_PREFIX) :])
        if not key:
            # A misconfigured secret should fail loudly, not look like a bad signature.
            raise ValueError("whsec_ secret is not valid base64")
        return key
    return _bytes(secret)


def verify_generic(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Standard-Webhooks-style `webhook-id`/`-timestamp`/`-signature` (our generic format)."""
    _check_inputs(body, secrets)
    keys = [generic_secret_key(s) for s in secrets]
    webhook_id = _header(headers, GENERIC_ID_HEADER)
    timestamp = _header(headers, GENERIC_TIMESTAMP_HEADER)
    signature = _header(headers, GENERIC_SIGNATURE_HEADER)
    if webhook_id is None:
        raise _missing("generic", "webhook-id")
    if timestamp is None:
        raise _missing("generic", "webhook-timestamp")
    if signature is None:
        raise _missing("generic", "webhook-signature")
    if not _UNIX_SECONDS.match(timestamp):
        raise _malformed("generic", "webhook-timestamp")
    # Other versions (e.g. v1a, asymmetric) may sit beside v1; only v1 is ours to check.
    candidates = []
    for entry in signature.split():
        version, sep, encoded = entry.partition(",")
        if sep and version == "v1":
            decoded = _b64decode(encoded)
            if decoded is not None:
                candidates.append(decoded)
    if not candidates:
        raise _malformed("generic", "webhook-signature")
    _check_timestamp("generic", int(timestamp), now, tolerance_seconds)
    message = _bytes(webhook_id) + b"." + timestamp.encode() + b"." + bytes(body)
    for key in keys:
        expected = _mac(key, message)
        if any(_equal(expected, c) for c in candidates):
            return
    raise _mismatch("generic")


def _parse_stripe(value: str) -> tuple[int, list[str]] | None:
    """`t=<unix>,v1=<hex>[,v1=<hex>][,v0=...]` -> (t, [v1...]); None when malformed."""
    timestamps, signatures = [], []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamps.append(item.strip())
        elif key == "v1":
            signatures.append(item.strip())
        # Any other scheme (v0 is Stripe's test-mode legacy one) is not ours to check.
    if len(timestamps) != 1 or not _UNIX_SECONDS.match(timestamps[0]) or not signatures:
        return None
    return int(timestamps[0]), signatures


def verify_stripe(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Stripe `Stripe-Signature: t=..,v1=..` over `"{t}.{raw body}"`, secret used as is (CR 2.9)."""
    _check_inputs(body, secrets)
    value = _header(headers, STRIPE_HEADER)
    if value is None:
        raise _missing("stripe", "Stripe-Signature")
    parsed = _parse_stripe(value)
    if parsed is None:
        raise _malformed("stripe", "Stripe-Signature")
    timestamp, candidates = parsed
    _check_timestamp("stripe", timestamp, now, tolerance)
    # stripe-python signs "%d.%s" % (int(t), payload): the integer, so "t=0042" signs "42.".
    message = str(timestamp).encode() + b"." + bytes(body)
    for secret in secrets:
        # Compared exactly, like stripe-python: Stripe sends lower-case hex.
        expected = hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest().encode()
        if any(_equal(expected, _bytes(c)) for c in candidates):
            return
    raise _mismatch("stripe")


def verify(
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    query: Mapping[str, str] | None = None,
) -> None:
    """Dispatch to the provider's verifier; `query` only matters for Shippo's `?token=`."""
    if provider == "easypost":
        verify_easypost(body, headers, secrets)
    elif provider == "shippo":
        verify_shippo(body, headers, secrets, now=now, query=query)
    elif provider == "aftership":
        verify_aftership(body, headers, secrets)
    elif provider == "generic":
        verify_generic(body, headers, secrets, now=now)
    else:
        raise WebhookSignatureInvalid(provider, "unknown_provider", f"No webhook verifier for {provider!r}")
