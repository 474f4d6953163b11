"""Stripe's refund webhooks: verify `Stripe-Signature`, then read the event: pure, raw bytes in.

Signature (CR 2.9, 4.1): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]` (other schemes such
as v0 ignored), hex HMAC-SHA256 over `"{t}.{raw body}"` keyed with the whole secret string,
`whsec_` prefix included (unlike the generic tracking format, the secret is not decoded:
that is what stripe-python does), `t` within 5 minutes of now.

Call `parse_stripe_event` only after `verify_stripe` accepted the same bytes. The events
that carry a refund object (CR 4.1) become a `RefundUpdate`; every other type the endpoint
may be subscribed to becomes an `IgnoredEvent`, which the caller acknowledges and drops.

Stripe may deliver an event more than once and in any order (CR 2.9): dedupe on `event_id`
and order on the refund's status rules, never on arrival. `occurred_at` is the event's own
`created` time. A `succeeded` refund can still fail later (`refund.failed` or
`charge.refund.updated` with status `failed`), so no status here is final beyond doubt.

Errors: a body that is not a JSON object raises `MalformedRequest` (400); a JSON object
without the fields a refund event must have (or with an unknown refund status) raises
`Unprocessable` (422) with `details={"fields": [{"field": "data.object.status", "message":
...}, ...]}`, every problem at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.domain.shared.json_input import load_json
from homeward.domain.shared.webhook_signatures import (
    TOLERANCE_SECONDS,
    UNIX_SECONDS,
    check_inputs,
    check_timestamp,
    equal,
    find_header,
    malformed,
    mismatch,
    missing,
    to_bytes,
)
from homeward.errors import MalformedRequest, Unprocessable

NAME = "stripe"
HEADER = "stripe-signature"

# Event types whose data.object is a refund (charge.refund.updated too: it is the refund).
REFUND_EVENT_TYPES: frozenset[str] = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
# Stripe's refund statuses (CR 4.1), the same as payments.RefundStatus.
REFUND_STATUSES: frozenset[str] = frozenset({"pending", "requires_action", "succeeded", "failed", "canceled"})


class _Fields:
    """Collects field problems so one 422 names all of them."""

    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []

    def add(self, name: str, message: str) -> None:
        self.problems.append({"field": name, "message": message})

    def string(self, obj: Mapping[str, Any], key: str, path: str, *, nullable: bool = False) -> str | None:
        value = obj.get(key)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            self.add(
                path,
                "must be a non-empty string or null"
                if nullable
                else "is required and must be a non-empty string",
            )
            return None
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        value = obj.get(key)
        # bool is an int in Python; JSON true is not a Stripe amount or timestamp.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.add(path, "is required and must be a non-negative integer")
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
        # Signed and still unreadable (not UTF-8, nested too deep, not JSON): 400, never a crash.
        raise MalformedRequest("Webhook body is not valid JSON", details=err.details) from None
    if not isinstance(event, dict):
        raise MalformedRequest("Webhook body must be a JSON object")
    return event


def _metadata(refund: Mapping[str, Any], fields: _Fields) -> dict[str, str]:
    value = refund.get("metadata")
    if value is None:
        return {}
    # Stripe metadata values are always strings; anything else is not a Stripe refund.
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        fields.add("data.object.metadata", "must be an object of string values")
        return {}
    return dict(value)


def _refund_update(event: Mapping[str, Any], event_id: str, event_type: str, fields: _Fields) -> RefundUpdate:
    created = fields.integer(event, "created", "created")
    data = fields.mapping(event, "data", "data")
    refund = fields.mapping(data, "object", "data.object") if data is not None else None
    if refund is None:
        raise _unprocessable(fields)
    if refund.get("object") != "refund":
        fields.add("data.object.object", "must be 'refund'")
    refund_id = fields.string(refund, "id", "data.object.id")
    status = fields.string(refund, "status", "data.object.status")
    if status is not None and status not in REFUND_STATUSES:
        fields.add("data.object.status", f"unknown refund status {status!r}")
    amount = fields.integer(refund, "amount", "data.object.amount")
    currency = fields.string(refund, "currency", "data.object.currency")
    if currency is not None and (len(currency) != 3 or not currency.isascii() or not currency.isalpha()):
        fields.add("data.object.currency", "must be a three-letter ISO 4217 code")
    failure_reason = fields.string(refund, "failure_reason", "data.object.failure_reason", nullable=True)
    payment_reference = fields.string(refund, "payment_intent", "data.object.payment_intent", nullable=True)
    metadata = _metadata(refund, fields)
    if fields.problems:
        raise _unprocessable(fields)
    assert refund_id and status and amount is not None and currency and created is not None
    return RefundUpdate(
        event_id=event_id,
        event_type=event_type,
        refund_id=refund_id,
        status=status,
        amount=amount,
        currency=currency.upper(),
        failure_reason=failure_reason,
        metadata=metadata,
        payment_reference=payment_reference,
        occurred_at=datetime.fromtimestamp(created, UTC),
    )


def _unprocessable(fields: _Fields) -> Unprocessable:
    return Unprocessable("Stripe event is missing or has invalid fields", details={"fields": fields.problems})


def parse_stripe_event(body: bytes) -> RefundUpdate | IgnoredEvent:
    """The refund update a verified Stripe event carries, or IgnoredEvent for other types."""
    event = _load(body)
    fields = _Fields()
    event_id = fields.string(event, "id", "id")
    event_type = fields.string(event, "type", "type")
    # A v2 "thin" event notification (object v2.core.event) carries no snapshot to parse.
    if event.get("object") != "event":
        fields.add("object", "must be 'event'")
    if fields.problems:
        raise _unprocessable(fields)
    assert event_id is not None and event_type is not None
    if event_type not in REFUND_EVENT_TYPES:
        return IgnoredEvent(event_id=event_id, event_type=event_type)
    return _refund_update(event, event_id, event_type, fields)


# --- Signature ---------------------------------------------------------------------------------


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
    if len(timestamps) != 1 or not UNIX_SECONDS.match(timestamps[0]) or not signatures:
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
    check_inputs(body, secrets)
    value = find_header(headers, HEADER)
    if value is None:
        raise missing(NAME, "Stripe-Signature")
    parsed = _parse_stripe(value)
    if parsed is None:
        raise malformed(NAME, "Stripe-Signature")
    timestamp, candidates = parsed
    check_timestamp(NAME, timestamp, now, tolerance)
    # stripe-python signs "%d.%s" % (int(t), payload): the integer, so "t=0042" signs "42.".
    message = str(timestamp).encode() + b"." + bytes(body)
    for secret in secrets:
        # Compared exactly, like stripe-python: Stripe sends lower-case hex.
        expected = hmac.new(to_bytes(secret), message, hashlib.sha256).hexdigest().encode()
        if any(equal(expected, to_bytes(c)) for c in candidates):
            return
    raise mismatch(NAME)


class StripeWebhooks:
    name = NAME
    acknowledgement = None  # the endpoint's JSON answer

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, now: datetime
    ) -> None:
        verify_stripe(body, headers, secrets, now=now)

    def parse(self, body: bytes) -> RefundUpdate | IgnoredEvent:
        return parse_stripe_event(body)

    def parse_all(self, body: bytes) -> list[RefundUpdate | IgnoredEvent]:
        return [parse_stripe_event(body)]  # one event per delivery


SOURCE = StripeWebhooks()
