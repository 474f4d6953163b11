"""The generic tracking source: Homeward's own webhook format for in-house carriers and 3PLs.

Signature (Standard Webhooks; modelled on CR 2.9): `webhook-id`, `webhook-timestamp` (unix
seconds), `webhook-signature` (a space-separated list of `v1,<base64>`), base64 HMAC-SHA256
over `"{id}.{timestamp}.{body}"`, timestamp within 5 minutes of now. Secrets are
`whsec_<base64 key>` or a raw string.

Generic webhook format (Standard-Webhooks style)
------------------------------------------------

`POST /webhooks/generic` with `Content-Type: application/json` and three headers:

* `webhook-id`: the event's unique id (1-200 visible ASCII characters). It is the
  deduplication key: a re-delivery must reuse it, a new event must not.
* `webhook-timestamp`: unix seconds when the request was signed; within 5 minutes of our
  clock.
* `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`,
  several space-separated entries allowed (secret rotation). The key is the base64-decoded
  part of a `whsec_<base64>` secret, or the secret's UTF-8 bytes otherwise.

The body is one JSON object (fields not listed are ignored):

* `type` (string, required): `"tracking.updated"`. Any other value is acknowledged (200) and
  ignored, so new event types can be added without breaking older receivers.
* `tracking_number` (string, required): the carrier's number. Spaces and dashes are dropped
  and letters upper-cased; what remains must be 1-64 characters of A-Z and 0-9.
* `carrier` (string or null): carrier name, stored lower-cased (at most 32 characters).
* `status` (string, required): one of `unknown`, `pre_transit`, `in_transit`,
  `out_for_delivery`, `available_for_pickup`, `exception`, `delivered`, `return_to_sender`,
  `failure`, `cancelled`, `error`. Any other string is stored as `unknown` and logged, never
  refused.
* `detail` (string or null): the sub-status, e.g. `attempt_failed`, `delayed`, `held`,
  `address_issue`, `damaged`, `customs`, `returning`, `returned`, `lost` (at most 64
  characters).
* `occurred_at` (string, required): ISO-8601 date-time **with** a UTC offset (`Z` or
  `+01:00`), when the carrier scanned the parcel. Events are ordered by it, not by arrival.
* `message` (string or null): human-readable scan text (at most 200 characters).
* `location` (object or null): `{"city", "region", "postal_code", "country"}`, each a string
  or null.
* `estimated_delivery` (string or null): ISO-8601 date (`2026-11-24`, read as midnight UTC)
  or date-time with an offset.
* `is_return` (boolean or null): the parcel is a return shipment.

Each request is one scan and becomes one checkpoint. Send them in any order: a scan older
than the parcel's current one goes to its history without changing its status. Example:

    {"type": "tracking.updated", "tracking_number": "MC-2026-000123", "carrier": "metro-courier",
     "status": "exception", "detail": "attempt_failed", "occurred_at": "2026-11-19T16:40:00-08:00",
     "message": "Delivery attempted: dock closed",
     "location": {"city": "Reno", "region": "NV", "postal_code": "89502", "country": "US"},
     "estimated_delivery": "2026-11-20", "is_return": true}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

from homeward.domain.shared.webhook_signatures import (
    TOLERANCE_SECONDS,
    UNIX_SECONDS,
    b64decode,
    check_inputs,
    check_timestamp,
    equal,
    find_header,
    mac,
    malformed,
    mismatch,
    missing,
    to_bytes,
)
from homeward.domain.tracking.payloads import (
    AwareTime,
    JsonSource,
    Lenient,
    build_update,
    carrier_name,
    event_id_of,
    event_type_of,
    field_error,
    header_value,
    ignored,
    location_of,
    make_checkpoint,
    parse_iso,
    raw_status,
    status_fields,
    tracking_number_of,
    unprocessable,
    validate,
)
from homeward.domain.tracking.ports import Ignored
from homeward.domain.tracking.status import (
    NormalizedStatus,
    clean_code,
    derived_action,
    raw_code,
    unrecognized,
)
from homeward.models.tracking import CarrierUpdate, TrackingStatus

NAME = "generic"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
TRACKING_EVENTS = frozenset({"tracking.updated"})

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- Signature ---------------------------------------------------------------------------------


def generic_secret_key(secret: str) -> bytes:
    """`whsec_<base64>` decodes to the key bytes; any other string is the key as UTF-8."""
    if secret.startswith(SECRET_PREFIX):
        key = b64decode(secret[len(SECRET_PREFIX) :])
        if not key:
            # A misconfigured secret should fail loudly, not look like a bad signature.
            raise ValueError("whsec_ secret is not valid base64")
        return key
    return to_bytes(secret)


def _v1_signatures(signature: str) -> list[bytes]:
    # Other versions (e.g. v1a, asymmetric) may sit beside v1; only v1 is ours to check.
    candidates = []
    for entry in signature.split():
        version, sep, encoded = entry.partition(",")
        if sep and version == "v1":
            decoded = b64decode(encoded)
            if decoded is not None:
                candidates.append(decoded)
    return candidates


def verify_generic(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Standard-Webhooks-style `webhook-id`/`-timestamp`/`-signature` (our generic format)."""
    check_inputs(body, secrets)
    keys = [generic_secret_key(s) for s in secrets]
    webhook_id = find_header(headers, ID_HEADER)
    timestamp = find_header(headers, TIMESTAMP_HEADER)
    signature = find_header(headers, SIGNATURE_HEADER)
    if webhook_id is None:
        raise missing(NAME, "webhook-id")
    if timestamp is None:
        raise missing(NAME, "webhook-timestamp")
    if signature is None:
        raise missing(NAME, "webhook-signature")
    if not UNIX_SECONDS.match(timestamp):
        raise malformed(NAME, "webhook-timestamp")
    candidates = _v1_signatures(signature)
    if not candidates:
        raise malformed(NAME, "webhook-signature")
    check_timestamp(NAME, int(timestamp), now, tolerance_seconds)
    message = to_bytes(webhook_id) + b"." + timestamp.encode() + b"." + bytes(body)
    for key in keys:
        expected = mac(key, message)
        if any(equal(expected, c) for c in candidates):
            return
    raise mismatch(NAME)


# --- Status: the format already speaks the normalized vocabulary -------------------------------


def normalize_generic(
    status: str | None, detail: str | None = None, *, action_required: bool | None = None
) -> NormalizedStatus:
    try:
        normalized = TrackingStatus(clean_code(status).lower())
    except ValueError:
        return unrecognized(status)
    detail_ = raw_code(detail)
    if action_required is None:
        action_required = derived_action(normalized, detail_)
    return NormalizedStatus(normalized, detail_, action_required)


# --- Body (the module docstring) ---------------------------------------------------------------


def _generic_eta(value: object) -> datetime | None:
    """A date (midnight UTC) or a date-time with an offset."""
    if value is None:
        return None
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return parse_iso(value, naive_is_utc=True)
    return parse_iso(value, naive_is_utc=False)


GenericEta = Annotated[datetime | None, BeforeValidator(_generic_eta)]


class _GenericLocation(Lenient):
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class _GenericEvent(Lenient):
    type: str
    tracking_number: str
    carrier: str | None = None
    status: str
    detail: str | None = None
    occurred_at: AwareTime
    message: str | None = None
    location: _GenericLocation | None = None
    estimated_delivery: GenericEta = None
    is_return: bool | None = None


def read_event(data: dict, headers: Mapping[str, str]) -> CarrierUpdate | Ignored:
    kind = event_type_of(NAME, data, "type")
    if kind not in TRACKING_EVENTS:
        return ignored(NAME, kind)
    event: _GenericEvent = validate(NAME, _GenericEvent, data)
    tracking_number = tracking_number_of(NAME, event.tracking_number, ["tracking_number"])
    webhook_id = header_value(headers, ID_HEADER)
    if webhook_id is None:
        raise unprocessable(NAME, [field_error(["headers", ID_HEADER], "Header required", "missing")])
    event_id = event_id_of(NAME, webhook_id, ["headers", ID_HEADER])
    normalized = normalize_generic(event.status, event.detail)
    loc = event.location
    location = location_of(loc.city, loc.region, loc.postal_code, loc.country) if loc else None
    return build_update(
        NAME,
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=carrier_name(event.carrier),
        **status_fields(normalized, raw_status(event.status, event.detail)),
        event_at=event.occurred_at,
        location=location,
        eta=event.estimated_delivery,
        checkpoints=(make_checkpoint(event.occurred_at, normalized, event.message, location),),
        is_return=event.is_return,
    )


SOURCE = JsonSource(  # the TrackingSource port, from the pieces above
    NAME,
    check=lambda body, headers, secrets, now, query: verify_generic(body, headers, secrets, now=now),
    read=lambda data, headers, received_at, test_events: read_event(data, headers),
    normalize=normalize_generic,
)
