"""PayPal's refund webhooks: verify `PAYPAL-TRANSMISSION-SIG`, then read the event: raw bytes in.

Signature (PayPal-Java-SDK `Event.validateReceivedEvent`, `SSLUtil.crc32`; SIGNING.md in
tests/fixtures/provider-samples/paypal): RSASSA-PKCS1-v1_5 SHA-256 (`PAYPAL-AUTH-ALGO:
SHA256withRSA`), base64 in `PAYPAL-TRANSMISSION-SIG`, over
`"{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook_id}|{crc32(raw body)}"`, the CRC
an unsigned decimal, `webhook_id` ours (not in the request: the "secrets" here are our webhook
ids, several during a move; the simulator signs with the literal `WEBHOOK_ID`), the public key
from the certificate at `PAYPAL-CERT-URL`. `PAYPAL-TRANSMISSION-TIME` must be within 5 minutes
of now.

Certificates: only `https://api.paypal.com/...` or `https://api.sandbox.paypal.com/...` (and
their `api-m.` names) are accepted as `PAYPAL-CERT-URL`; any other host, scheme, port, user
or query is refused before anything is fetched. `PAYPAL_CERT_DIR` (tests, local stack) holds
the certificates as `<last path segment>.pem` and nothing is fetched: such a pinned
certificate is trusted as is (the published ones expired). Otherwise the certificate is
fetched over verified TLS from that PayPal host, must name `messageverificationcerts` of
paypal.com and be valid now, and is cached per URL for the life of the container.

Events (`resource_type: refund`): `PAYMENT.CAPTURE.REFUNDED` (a refund, ours or not: ours
carries our key as `custom_id`), `PAYMENT.CAPTURE.REVERSED` (PayPal took the money back, a
chargeback or bank reversal: shaped as a refund, never made by Homeward, so it reads as a
refund the handler does not know), and the refund outcome events `PAYMENT.REFUND.PENDING`,
`PAYMENT.REFUND.FAILED`, `PAYMENT.REFUND.CANCELLED` (same refund resource; no published sample).
Every other type is an `IgnoredEvent`. `occurred_at` is the event's `create_time`.
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from homeward.domain.refunds.ports import IgnoredEvent, ProviderUnavailable, RefundUpdate
from homeward.domain.shared.json_input import load_json
from homeward.domain.shared.webhook_signatures import (
    TOLERANCE_SECONDS,
    b64decode,
    check_inputs,
    check_timestamp,
    find_header,
    malformed,
    mismatch,
    missing,
)
from homeward.errors import MalformedRequest, Unprocessable, WebhookSignatureInvalid
from homeward.providers.paypal.payments import STATUSES, last_segment, metadata_of, minor_units

NAME = "paypal"
TRANSMISSION_ID = "paypal-transmission-id"
TRANSMISSION_TIME = "paypal-transmission-time"
TRANSMISSION_SIG = "paypal-transmission-sig"
CERT_URL = "paypal-cert-url"
AUTH_ALGO = "paypal-auth-algo"
ALGORITHM = "SHA256withRSA"
CERT_HOSTS = frozenset(
    {"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"}
)
CERT_NAMES = frozenset({"messageverificationcerts.paypal.com", "messageverificationcerts.sandbox.paypal.com"})
CERT_DIR_ENV = "PAYPAL_CERT_DIR"
MAX_CERT_BYTES = 64 * 1024
REFUND_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "PAYMENT.CAPTURE.REFUNDED",
        "PAYMENT.CAPTURE.REVERSED",
        "PAYMENT.REFUND.PENDING",
        "PAYMENT.REFUND.FAILED",
        "PAYMENT.REFUND.CANCELLED",
    }
)
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _invalid(reason: str, message: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(NAME, reason, message)


def cert_name(url: str) -> str:
    """The certificate's name from an accepted PAYPAL-CERT-URL; WebhookSignatureInvalid otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise malformed(NAME, "PAYPAL-CERT-URL") from None
    if (
        parts.scheme != "https"
        or (parts.hostname or "") not in CERT_HOSTS
        or port not in (None, 443)
        or parts.username is not None
        or parts.query
        or parts.fragment
        or not parts.path.startswith("/v1/notifications/")
    ):
        raise _invalid("untrusted_cert_url", "PAYPAL-CERT-URL is not on a PayPal host")
    name = parts.path.removeprefix("/v1/notifications/").removeprefix("certs/")
    if not _SEGMENT.match(name) or name in (".", ".."):
        raise malformed(NAME, "PAYPAL-CERT-URL")
    return name


def _fetch(url: str) -> bytes:
    """The certificate from PayPal over verified TLS (production only; tests use a directory)."""
    import urllib3

    try:
        response = urllib3.request(
            "GET", url, timeout=urllib3.Timeout(connect=2.0, read=3.0), retries=False, preload_content=False
        )
        raw = response.read(MAX_CERT_BYTES + 1)
        response.release_conn()
    except urllib3.exceptions.HTTPError as err:
        raise _invalid("cert_unavailable", f"PayPal certificate not fetched ({type(err).__name__})") from err
    if response.status != 200 or len(raw) > MAX_CERT_BYTES:
        raise _invalid("cert_unavailable", f"PayPal certificate not fetched (HTTP {response.status})")
    return raw


class CertStore:
    """Public keys by certificate URL: a pinned directory, else fetched from PayPal; cached."""

    def __init__(
        self, directory: str | Path | None = None, *, fetch: Callable[[str], bytes] = _fetch
    ) -> None:
        self._directory = Path(directory) if directory else None
        self._fetch = fetch
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def directory(self) -> Path | None:
        if self._directory is not None:
            return self._directory
        configured = os.environ.get(CERT_DIR_ENV)
        return Path(configured) if configured else None

    def public_key(self, url: str, now: datetime) -> Any:
        name = cert_name(url)
        with self._lock:
            if url in self._cache:
                return self._cache[url]
        directory = self.directory()
        if directory is not None:
            key = _load_cert(_read_pinned(directory, name), pinned=True, now=now)
        else:
            key = _load_cert(self._fetch(url), pinned=False, now=now)
        with self._lock:
            self._cache[url] = key
        return key


def _read_pinned(directory: Path, name: str) -> bytes:
    for candidate in (directory / f"{name}.pem", directory / name):
        if candidate.is_file():
            return candidate.read_bytes()
    raise _invalid("unknown_cert", f"no pinned PayPal certificate {name!r}")


def _load_cert(raw: bytes, *, pinned: bool, now: datetime) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        try:
            cert = x509.load_der_x509_certificate(raw)
        except ValueError:
            raise _invalid("bad_cert", "PayPal certificate unreadable") from None
    if not pinned:
        names = {attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        if not names & CERT_NAMES:
            raise _invalid("bad_cert", "certificate is not PayPal's message verification certificate")
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _invalid("bad_cert", "PayPal certificate is not valid now")
    return cert.public_key()


def _transmission_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise malformed(NAME, "PAYPAL-TRANSMISSION-TIME") from None
    if parsed.tzinfo is None:
        raise malformed(NAME, "PAYPAL-TRANSMISSION-TIME")
    return parsed


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    found = {}
    for name in (TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL):
        value = find_header(headers, name)
        if not value:
            raise missing(NAME, name.upper())
        found[name] = value.strip()
    algo = find_header(headers, AUTH_ALGO)
    if algo is not None and algo.strip() != ALGORITHM:
        raise _invalid("unsupported_algorithm", f"PAYPAL-AUTH-ALGO {algo.strip()!r} is not {ALGORITHM}")
    return found


def verify_paypal(
    body: bytes,
    headers: Mapping[str, str],
    webhook_ids: Sequence[str],
    *,
    now: datetime,
    certs: CertStore,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """PayPal's RSA-SHA256 signature over `id|time|webhook_id|crc32(body)`, any of our webhook ids."""
    check_inputs(body, webhook_ids)
    found = _headers(headers)
    sent_at = _transmission_time(found[TRANSMISSION_TIME])
    check_timestamp(NAME, int(sent_at.timestamp()), now, tolerance)
    signature = b64decode(found[TRANSMISSION_SIG])
    if not signature:
        raise malformed(NAME, "PAYPAL-TRANSMISSION-SIG")
    key = certs.public_key(found[CERT_URL], now)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not isinstance(key, rsa.RSAPublicKey):
        raise _invalid("bad_cert", "PayPal certificate does not hold an RSA key")
    crc = zlib.crc32(bytes(body)) & 0xFFFFFFFF
    for webhook_id in webhook_ids:
        message = f"{found[TRANSMISSION_ID]}|{found[TRANSMISSION_TIME]}|{webhook_id.strip()}|{crc}".encode()
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return
        except InvalidSignature:
            continue
    raise mismatch(NAME)


# --- Events ------------------------------------------------------------------------------------


class _Fields:
    """Collects field problems so one 422 names all of them."""

    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []

    def add(self, name: str, message: str) -> None:
        self.problems.append({"field": name, "message": message})

    def string(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            self.add(path, "is required and must be a non-empty string")
            return None
        return value

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
        value = obj.get(key)
        if not isinstance(value, dict):
            self.add(path, "is required and must be an object")
            return None
        return value


def _load(body: bytes) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray):
        raise TypeError("webhook body must be the raw request bytes")
    try:
        event = load_json(bytes(body), what="Webhook body")
    except MalformedRequest as err:
        raise MalformedRequest("Webhook body is not valid JSON", details=err.details) from None
    if not isinstance(event, dict):
        raise MalformedRequest("Webhook body must be a JSON object")
    return event


def _time(fields: _Fields, value: object, path: str) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    fields.add(path, "is required and must be an ISO 8601 time with an offset")
    return None


def _amount(fields: _Fields, resource: Mapping[str, Any]) -> tuple[int, str] | None:
    amount = fields.mapping(resource, "amount", "resource.amount")
    if amount is None:
        return None
    currency = fields.string(amount, "currency_code", "resource.amount.currency_code")
    value = fields.string(amount, "value", "resource.amount.value")
    if currency is None or value is None:
        return None
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        fields.add("resource.amount.currency_code", "must be a three-letter ISO 4217 code")
        return None
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,3})?", value):
        fields.add("resource.amount.value", "must be a non-negative decimal string")
        return None
    try:
        return minor_units(value, currency), currency.upper()
    except ProviderUnavailable:
        fields.add("resource.amount.value", f"has more decimals than {currency.upper()} allows")
        return None


def _refund_update(event: Mapping[str, Any], event_id: str, event_type: str, fields: _Fields) -> RefundUpdate:
    occurred_at = _time(fields, event.get("create_time"), "create_time")
    resource = fields.mapping(event, "resource", "resource")
    if resource is None:
        raise _unprocessable(fields)
    if event.get("resource_type") != "refund":
        fields.add("resource_type", "must be 'refund'")
    refund_id = fields.string(resource, "id", "resource.id")
    raw_status = fields.string(resource, "status", "resource.status")
    if raw_status is not None and raw_status not in STATUSES:
        fields.add("resource.status", f"unknown refund status {raw_status!r}")
    money = _amount(fields, resource)
    if fields.problems:
        raise _unprocessable(fields)
    assert refund_id and raw_status and money and occurred_at
    details = resource.get("status_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    links = [link for link in resource.get("links") or () if isinstance(link, dict)]
    up = next((str(link.get("href")) for link in links if link.get("rel") == "up"), None)
    return RefundUpdate(
        event_id=event_id,
        event_type=event_type,
        refund_id=refund_id,
        status=STATUSES[raw_status],
        amount=money[0],
        currency=money[1],
        failure_reason=str(reason) if reason and raw_status != "COMPLETED" else None,
        metadata=metadata_of(resource.get("custom_id")),
        payment_reference=last_segment(up),
        occurred_at=occurred_at,
    )


def _unprocessable(fields: _Fields) -> Unprocessable:
    return Unprocessable("PayPal event is missing or has invalid fields", details={"fields": fields.problems})


def parse_paypal_event(body: bytes) -> RefundUpdate | IgnoredEvent:
    """The refund update a verified PayPal event carries, or IgnoredEvent for other types."""
    event = _load(body)
    fields = _Fields()
    event_id = fields.string(event, "id", "id")
    event_type = fields.string(event, "event_type", "event_type")
    if fields.problems:
        raise _unprocessable(fields)
    assert event_id is not None and event_type is not None
    if event_type not in REFUND_EVENT_TYPES:
        return IgnoredEvent(event_id=event_id, event_type=event_type)
    return _refund_update(event, event_id, event_type, fields)


class PayPalWebhooks:
    name = NAME
    acknowledgement = None  # the endpoint's JSON answer

    def __init__(self, certs: CertStore | None = None) -> None:
        self.certs = certs or CertStore()

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, now: datetime
    ) -> None:
        verify_paypal(body, headers, secrets, now=now, certs=self.certs)

    def parse(self, body: bytes) -> RefundUpdate | IgnoredEvent:
        return parse_paypal_event(body)

    def parse_all(self, body: bytes) -> list[RefundUpdate | IgnoredEvent]:
        return [parse_paypal_event(body)]  # one event per delivery


SOURCE = PayPalWebhooks()

__all__ = ["SOURCE", "CertStore", "PayPalWebhooks", "cert_name", "parse_paypal_event", "verify_paypal"]
