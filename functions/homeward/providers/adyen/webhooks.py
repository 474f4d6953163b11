"""Adyen's standard notifications (refund outcomes): verify each item's HMAC, then read it.

Body (Webhooks v1, CR 4.2): `{"live": "false", "notificationItems": [{"NotificationRequestItem":
{...}}, ...]}`, one or more items per delivery. An item has `eventCode`, `success` (the
strings "true"/"false"), `pspReference` (for a refund: the refund), `originalReference` (the
payment), `merchantAccountCode`, `merchantReference`, `amount {value, currency}` (integer
minor units), `eventDate`, `reason` and `additionalData`.

Signature (per item, `additionalData.hmacSignature`; ../shared/provider-samples SIGNING.md,
Adyen's SDKs `generate_notification_sig` / `HMACValidator`): base64 of HMAC-SHA256, keyed with
the hex-decoded HMAC key from the Customer Area, over
`pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
(a missing value is an empty string, nothing is escaped). Every item of a delivery must verify
under one of the active keys (rotation: a comma list); compared with `hmac.compare_digest`.
There is no timestamp in the scheme: replays are harmless because applying is idempotent.

Refund events (`REFUND_EVENT_CODES`) become `RefundUpdate`s: `REFUND` success "true" ->
succeeded, "false" -> failed (`reason` says why); `REFUND_FAILED` (sent with success "true":
the notice succeeded) and `REFUNDED_REVERSED` (the money came back to the merchant, possibly
after REFUND success) -> failed. Every other code (AUTHORISATION, CAPTURE, CANCEL_OR_REFUND -
Homeward never sends cancel-or-refund or reversals, it refunds captured payments) is an
`IgnoredEvent`. The event id is `pspReference:eventCode:success`, the key Adyen's own docs
dedupe on; items repeated within a delivery are read once.

`merchantReference` of our refunds is the `reference` we sent: our idempotency key
`refund:{rma}:{n}`, read back into `metadata` (`homeward_key`, `homeward_rma`); any other
reference leaves metadata empty and the handler finds the movement by the refund's
pspReference stored when Homeward created it.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.domain.shared.json_input import load_json
from homeward.domain.shared.webhook_signatures import (
    b64decode,
    check_inputs,
    equal,
    mac,
    malformed,
    mismatch,
    missing,
    to_bytes,
)
from homeward.errors import MalformedRequest, Unprocessable

NAME = "adyen"
SIGNATURE_FIELD = "additionalData.hmacSignature"
# What Adyen's standard notifications expect back (any 2xx is accepted; "[accepted]" always is).
ACKNOWLEDGEMENT = "[accepted]"

REFUND_EVENT_CODES: frozenset[str] = frozenset({"REFUND", "REFUND_FAILED", "REFUNDED_REVERSED"})
_SIGNED_FIELDS = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference")
_OUR_REFERENCE = re.compile(r"^refund:(?P<rma>[A-Za-z0-9-]+):[0-9]+$")


def _load(body: bytes) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray):
        raise TypeError("webhook body must be the raw request bytes")
    try:
        data = load_json(bytes(body), what="Webhook body")
    except MalformedRequest as err:
        raise MalformedRequest("Webhook body is not valid JSON", details=err.details) from None
    if not isinstance(data, dict):
        raise MalformedRequest("Webhook body must be a JSON object")
    return data


def notification_items(data: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The `NotificationRequestItem`s of a delivery; None unless it is a non-empty list of them."""
    items = data.get("notificationItems")
    if not isinstance(items, list) or not items:
        return None
    found = [entry.get("NotificationRequestItem") if isinstance(entry, dict) else None for entry in items]
    return found if all(isinstance(item, dict) for item in found) else None  # type: ignore[return-value]


# --- Signature ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def signing_string(item: Mapping[str, Any]) -> str:
    """The 8 fields Adyen signs, colon-joined; None/missing values are empty strings."""
    raw_amount = item.get("amount")
    amount: dict[str, Any] = raw_amount if isinstance(raw_amount, dict) else {}
    value = amount.get("value")
    number = str(value) if isinstance(value, int) and not isinstance(value, bool) else ""
    fields = [_text(item.get(name)) for name in _SIGNED_FIELDS]
    fields += [
        number,
        _text(amount.get("currency")),
        _text(item.get("eventCode")),
        _text(item.get("success")),
    ]
    return ":".join(fields)


def _keys(secrets: Sequence[str]) -> list[bytes]:
    keys = []
    for secret in secrets:
        try:
            keys.append(binascii.a2b_hex(secret.strip()))
        except (binascii.Error, ValueError):
            continue  # not a hex HMAC key: it can match nothing (misconfigured; never a crash)
    return keys


def verify_item(item: Mapping[str, Any], keys: Sequence[bytes]) -> None:
    """One item's `additionalData.hmacSignature` under any of the keys, or WebhookSignatureInvalid."""
    additional = item.get("additionalData")
    signature = additional.get("hmacSignature") if isinstance(additional, dict) else None
    if not isinstance(signature, str) or not signature.strip():
        raise missing(NAME, SIGNATURE_FIELD)
    candidate = b64decode(signature.strip())
    if candidate is None or len(candidate) != 32:
        raise malformed(NAME, SIGNATURE_FIELD)
    message = to_bytes(signing_string(item))
    if not any(equal(mac(key, message), candidate) for key in keys):
        raise mismatch(NAME)


def verify_adyen(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """Every item of the delivery signed with one of the active hex HMAC keys."""
    check_inputs(body, secrets)
    try:
        data = load_json(bytes(body), what="Webhook body")
    except MalformedRequest:
        raise malformed(NAME, SIGNATURE_FIELD) from None
    items = notification_items(data) if isinstance(data, dict) else None
    if items is None:
        raise malformed(NAME, SIGNATURE_FIELD)
    keys = _keys(secrets)
    for item in items:
        verify_item(item, keys)


# --- Reading -----------------------------------------------------------------------------------


def _status(code: str, success: str) -> str:
    if code == "REFUND":
        return "succeeded" if success == "true" else "failed"
    return "failed"  # REFUND_FAILED, REFUNDED_REVERSED


def _metadata(reference: str) -> dict[str, str]:
    match = _OUR_REFERENCE.match(reference)
    return {"homeward_key": reference, "homeward_rma": match["rma"]} if match else {}


def _occurred_at(value: Any, problems: list[dict[str, str]], path: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        problems.append({"field": f"{path}.eventDate", "message": "must be an ISO 8601 time with an offset"})
        return datetime.fromtimestamp(0, UTC)
    return parsed.astimezone(UTC)


def _check(item: Mapping[str, Any], path: str) -> list[dict[str, str]]:
    """The refund item's field problems (every one at once)."""
    problems = []
    for name in ("pspReference", "eventCode"):
        if not isinstance(item.get(name), str) or not item[name]:
            problems.append(
                {"field": f"{path}.{name}", "message": "is required and must be a non-empty string"}
            )
    if item.get("success") not in ("true", "false"):
        problems.append({"field": f"{path}.success", "message": "must be 'true' or 'false'"})
    amount = item.get("amount")
    value = amount.get("value") if isinstance(amount, dict) else None
    currency = amount.get("currency") if isinstance(amount, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        problems.append({"field": f"{path}.amount.value", "message": "must be a non-negative integer"})
    if (
        not isinstance(currency, str)
        or len(currency) != 3
        or not currency.isascii()
        or not currency.isalpha()
    ):
        problems.append(
            {"field": f"{path}.amount.currency", "message": "must be a three-letter ISO 4217 code"}
        )
    return problems


def read_item(item: Mapping[str, Any], path: str = "notificationItems.0") -> RefundUpdate | IgnoredEvent:
    """One verified NotificationRequestItem as a refund update, or IgnoredEvent."""
    problems = _check(item, path)
    occurred_at = _occurred_at(item.get("eventDate"), problems, path)
    if problems:
        raise Unprocessable(
            "Adyen notification is missing or has invalid fields", details={"fields": problems}
        )
    code, success = item["eventCode"], item["success"]
    event_id = f"{item['pspReference']}:{code}:{success}"
    if code not in REFUND_EVENT_CODES:
        return IgnoredEvent(event_id=event_id, event_type=code)
    status = _status(code, success)
    reason = _text(item.get("reason")) or None
    return RefundUpdate(
        event_id=event_id,
        event_type=code,
        refund_id=item["pspReference"],
        status=status,
        amount=item["amount"]["value"],
        currency=item["amount"]["currency"].upper(),
        failure_reason=(reason or code.lower()) if status == "failed" else None,
        metadata=_metadata(_text(item.get("merchantReference"))),
        payment_reference=_text(item.get("originalReference")) or None,
        occurred_at=occurred_at,
    )


def parse_adyen_notifications(body: bytes) -> list[RefundUpdate | IgnoredEvent]:
    """Every item of a verified delivery, in order, each event id once."""
    items = notification_items(_load(body))
    if items is None:
        raise Unprocessable(
            "Adyen notification has no items",
            details={"fields": [{"field": "notificationItems", "message": "must be a non-empty list"}]},
        )
    events: dict[str, RefundUpdate | IgnoredEvent] = {}
    for index, item in enumerate(items):
        event = read_item(item, f"notificationItems.{index}")
        events.setdefault(event.event_id, event)
    return list(events.values())


class AdyenWebhooks:
    name = NAME
    acknowledgement = ACKNOWLEDGEMENT

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, now: datetime
    ) -> None:
        verify_adyen(body, headers, secrets)

    def parse(self, body: bytes) -> RefundUpdate | IgnoredEvent:
        """The first event of the delivery (Adyen sends one item per delivery by default);
        the handler reads them all with `parse_all`."""
        return parse_adyen_notifications(body)[0]

    def parse_all(self, body: bytes) -> list[RefundUpdate | IgnoredEvent]:
        return parse_adyen_notifications(body)


SOURCE = AdyenWebhooks()
