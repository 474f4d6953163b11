"""Parse a verified Stripe event body into what the refund ledger needs: pure, raw bytes in.

Call it only after `webhook_signatures.verify_stripe` accepted the same bytes. The events
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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeward.domain.shared.json_input import load_json
from homeward.errors import MalformedRequest, Unprocessable

# Event types whose data.object is a refund (charge.refund.updated too: it is the refund).
REFUND_EVENT_TYPES: frozenset[str] = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
# Stripe's refund statuses (CR 4.1), the same as payments.RefundStatus.
REFUND_STATUSES: frozenset[str] = frozenset({"pending", "requires_action", "succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class RefundUpdate:
    """A refund's state as of one Stripe event."""

    event_id: str
    event_type: str
    refund_id: str
    status: str
    amount: int  # minor units
    currency: str  # upper case
    failure_reason: str | None
    metadata: Mapping[str, str]  # homeward_rma, homeward_key, order_id as we sent them
    payment_reference: str | None  # the PaymentIntent id, when the refund has one
    occurred_at: datetime  # aware, UTC, from the event's `created`


@dataclass(frozen=True)
class IgnoredEvent:
    """An event of a type we do not act on (acknowledge it, do nothing)."""

    event_id: str
    event_type: str


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


__all__ = ["REFUND_EVENT_TYPES", "REFUND_STATUSES", "IgnoredEvent", "RefundUpdate", "parse_stripe_event"]
