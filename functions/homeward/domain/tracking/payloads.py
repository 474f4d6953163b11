"""Webhook bodies -> `CarrierUpdate`: one pure reader per provider envelope, raw bytes in.

`parse_webhook(provider, body, headers, received_at=...)` runs after the signature check
(domain/shared/webhook_signatures.py) on the same raw bytes. It returns a `CarrierUpdate` for a
tracking event, `Ignored` for any other event type the provider may send to the same URL,
and raises only `MalformedRequest` (400: not UTF-8, not JSON, not a JSON object) or
`Unprocessable` (422: the provider's documented shape is not there; `details["errors"]` is a
list of `{"loc": [...], "msg": ..., "type": ...}`). Unknown status values never fail: the
normalizers in domain/tracking/status.py return `recognized=False` and `raw_status` keeps the
provider's own value ("status" or "status/sub-status") for the log.

Envelope models are lenient on purpose: providers add fields without notice, so unknown
fields are ignored and only what we read is typed. Estimated delivery dates are optional
extras and never fail a body (an unreadable one is dropped). Every time in the result is
timezone-aware UTC.

Per provider ("CR n" = section n of brief/reference/carriers-and-refunds.md, "SM" =
status-map.md):

* EasyPost (CR 2.1): Event `{id, description, result: Tracker, created_at, updated_at}`.
  `tracker.created` / `tracker.updated` are read, every other description (batch.*,
  insurance.*, scan_form.*, refund.*, payment.*, ...) is `Ignored`. event_id = `id`.
  Status = normalize_easypost(result.status, result.status_detail). event_at = the
  `datetime` of the latest detail whose `status` is the tracker's (a back-dated scan stays
  where it happened), else of the latest detail, else `result.updated_at`, else the envelope's
  `updated_at`/`created_at`, else `received_at`; location = that detail's
  `tracking_location`. eta = `est_delivery_date`; is_return = `is_return`.
* Shippo (CR 2.2): `{event, test, data: Track}`; only `track_updated` is read, and not when
  `test` is true (Ignored, unless the stack accepts test events). Status =
  normalize_shippo(tracking_status.status, substatus.code, action_required=
  substatus.action_required), never action_required when delivered. Carrier = `carrier`,
  else the inlined transaction's `tracking_provider`, else the service level token's carrier
  prefix. event_at = `tracking_status.status_date` (else the latest
  history date, else `received_at`). Shippo sends no event id (SM 2.1): event_id =
  `tracking_status.object_id`, or when absent the documented fallback
  `"sha256:" + hex(sha256("{tracking_number}|{status}|{substatus code}|{status_date}"))`
  with the normalized tracking number, the status and code as sent ("" when absent) and
  status_date as UTC ISO-8601 (`datetime.isoformat()`, "" when absent). Checkpoints =
  `tracking_history` (plus `tracking_status` when the history does not contain it); the same
  scan twice (same status and substatus within a second, whatever its object_id) is one.
* AfterShip (CR 2.3): `{ts, event, event_id, is_tracking_first_tag, msg: Tracking}`;
  `tracking_update` and `edd_revise` (a tracking update carrying a new ETA) are read,
  `tracking_pending_time` and anything else is `Ignored`. Status =
  normalize_aftership(msg.tag, msg.subtag, return_to_sender=msg.return_to_sender).
  event_at = the latest `checkpoints[].checkpoint_time`, else `ts`, else `received_at`.
  event_id = `event_id`, or the same fallback as Shippo's over
  "{tracking_number}|{tag}|{subtag}|{event_at}" (event_at "" when it is `received_at`).
  eta = `latest_estimated_delivery.datetime`, else `courier_estimated_delivery_date`, else
  `aftership_estimated_delivery_date`, else the legacy `expected_delivery`.
* Generic: Homeward's own format for in-house carriers and 3PLs, below.

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

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from homeward.domain.shared.json_input import load_json
from homeward.domain.tracking.status import (
    NormalizedStatus,
    TrackingStatus,
    normalize_aftership,
    normalize_easypost,
    normalize_generic,
    normalize_shippo,
)
from homeward.errors import MalformedRequest, Unprocessable
from homeward.models.tracking import (
    MAX_CHECKPOINTS,
    PROVIDERS,
    CarrierUpdate,
    Checkpoint,
    Location,
    normalize_tracking_number,
)

NOT_TRACKING = "not a tracking event"
TEST_EVENT = "a provider's test event"

EASYPOST_TRACKING_EVENTS = frozenset({"tracker.created", "tracker.updated"})
SHIPPO_TRACKING_EVENTS = frozenset({"track_updated"})
AFTERSHIP_TRACKING_EVENTS = frozenset({"tracking_update", "edd_revise"})
GENERIC_TRACKING_EVENTS = frozenset({"tracking.updated"})

GENERIC_ID_HEADER = "webhook-id"
FALLBACK_ID_PREFIX = "sha256:"

MAX_TRACKING_NUMBER = 64
MAX_CARRIER = 32
MAX_TEXT = 200
MAX_DETAIL = 64
MAX_LOCATION_PART = 100
MAX_EVENT_ID = 200
# Validation errors echoed back in a 422: enough to fix a body, bounded for hostile ones.
MAX_REPORTED_ERRORS = 20

# Underscores: Shippo's test-mode numbers (SHIPPO_TRANSIT, ...) must not be refused, since a
# refused webhook is never retried.
_TRACKING_NUMBER = re.compile(rf"[A-Z0-9_]{{1,{MAX_TRACKING_NUMBER}}}")
# Event ids become DynamoDB key parts and log fields: visible ASCII only.
_EVENT_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_EVENT_ID}}}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Unix seconds up to 9999-12-31: datetime cannot represent more.
_MAX_UNIX = 253402300799


@dataclass(frozen=True)
class Ignored:
    """A well-formed webhook that is not a tracking event: acknowledge it, store nothing."""

    provider: str
    event_type: str  # e.g. "batch.created", "transaction_created"
    reason: str = NOT_TRACKING


# --- Timestamps --------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    # OverflowError near datetime.min/max (e.g. 0001-01-01T00:00+01:00) becomes a field error.
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None


def _parse_iso(value: object, *, naive_is_utc: bool) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time string") from None
    if parsed.tzinfo is None and not naive_is_utc:
        raise ValueError("must include a UTC offset, e.g. 2026-11-20T10:15:00Z")
    return _utc(parsed)


def _carrier_time(value: object) -> datetime | None:
    """A carrier time. Without an offset it is read as UTC.

    AfterShip's checkpoint_time is the scan's local wall-clock time and often has no offset
    ("2026-11-20T10:15:00"), and EasyPost falls back to UTC when it cannot localize. The
    true zone cannot be known from the body, so UTC is the documented reading: such a time
    may be off by the scan zone's UTC offset (hours, never days), which only matters when it
    is compared with a scan that carries an offset.
    """
    if value is None:
        return None
    return _parse_iso(value, naive_is_utc=True)


def _aware_time(value: object) -> datetime:
    """A date-time with an explicit offset: our own format can and must be precise."""
    if value is None:
        raise ValueError("is required")
    return _parse_iso(value, naive_is_utc=False)


def _generic_eta(value: object) -> datetime | None:
    """A date (midnight UTC) or a date-time with an offset."""
    if value is None:
        return None
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return _parse_iso(value, naive_is_utc=True)
    return _parse_iso(value, naive_is_utc=False)


def _lenient_time(value: object) -> datetime | None:
    """An estimated delivery date from a provider: useful when readable, never a reason to fail."""
    try:
        return _carrier_time(value)
    except ValueError:
        return None


def _unix_seconds(value: object) -> datetime | None:
    if value is None:
        return None
    # bool is an int in Python, but `true` is not a time.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be unix seconds")
    if not 0 <= value <= _MAX_UNIX:  # also rejects NaN
        raise ValueError("is out of range")
    return datetime.fromtimestamp(int(value), UTC)


def _object_or_none(value: object) -> object:
    # Optional nested extras (ETA objects): a wrong type means "not given", not a 422.
    return value if isinstance(value, dict) else None


CarrierTime = Annotated[datetime | None, BeforeValidator(_carrier_time)]
AwareTime = Annotated[datetime, BeforeValidator(_aware_time)]
GenericEta = Annotated[datetime | None, BeforeValidator(_generic_eta)]
LenientTime = Annotated[datetime | None, BeforeValidator(_lenient_time)]
UnixTime = Annotated[datetime | None, BeforeValidator(_unix_seconds)]


# --- Envelope models ---------------------------------------------------------------------------


class _Lenient(BaseModel):
    # Providers add fields without notice: read what we know, ignore the rest.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# EasyPost (CR 2.1, EasyPost/examples official/fixtures/event-body.json)


class _EasyPostLocation(_Lenient):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _EasyPostDetail(_Lenient):
    message: str | None = None
    description: str | None = None
    status: str | None = None
    status_detail: str | None = None
    at: CarrierTime = Field(default=None, alias="datetime")
    tracking_location: _EasyPostLocation | None = None


class _EasyPostTracker(_Lenient):
    tracking_code: str
    status: str | None = None
    status_detail: str | None = None
    carrier: str | None = None
    est_delivery_date: LenientTime = None
    is_return: bool | None = None
    updated_at: CarrierTime = None
    tracking_details: list[_EasyPostDetail] | None = None


class _EasyPostEvent(_Lenient):
    id: str
    description: str
    result: _EasyPostTracker
    created_at: CarrierTime = None
    updated_at: CarrierTime = None


# Shippo (CR 2.2: Track and TrackingStatus objects)


class _ShippoLocation(_Lenient):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _ShippoSubstatus(_Lenient):
    code: str | None = None
    text: str | None = None
    action_required: bool | None = None


class _ShippoStatus(_Lenient):
    object_id: str | None = None
    status: str | None = None
    status_details: str | None = None
    status_date: CarrierTime = None
    substatus: _ShippoSubstatus | None = None
    location: _ShippoLocation | None = None


class _ShippoServiceLevel(_Lenient):
    token: str | None = None
    name: str | None = None


class _ShippoTrack(_Lenient):
    carrier: str | None = None
    servicelevel: _ShippoServiceLevel | None = None
    transaction: Any = None
    tracking_number: str
    eta: LenientTime = None
    tracking_status: _ShippoStatus | None = None
    tracking_history: list[_ShippoStatus] | None = None


class _ShippoEvent(_Lenient):
    event: str
    data: _ShippoTrack


# AfterShip (CR 2.3: webhook envelope; Tracking and Checkpoint of the tracking API models)


class _AfterShipCheckpoint(_Lenient):
    checkpoint_time: CarrierTime = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    message: str | None = None
    city: str | None = None
    state: str | None = None
    # `zip` was renamed `postal_code` in webhook version 2026-01 (CR 2.3): read either.
    zip: str | None = None
    postal_code: str | None = None
    # `country_iso3` in older versions, `country_region` in newer ones.
    country_region: str | None = None
    country_iso3: str | None = None


class _AfterShipEdd(_Lenient):
    estimated_delivery_date: LenientTime = None


class _AfterShipLatestEdd(_Lenient):
    at: LenientTime = Field(default=None, alias="datetime")


_OptionalObject = BeforeValidator(_object_or_none)


class _AfterShipTracking(_Lenient):
    tracking_number: str
    slug: str | None = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    return_to_sender: bool | None = None
    latest_estimated_delivery: Annotated[_AfterShipLatestEdd | None, _OptionalObject] = None
    courier_estimated_delivery_date: Annotated[_AfterShipEdd | None, _OptionalObject] = None
    aftership_estimated_delivery_date: Annotated[_AfterShipEdd | None, _OptionalObject] = None
    expected_delivery: LenientTime = None
    checkpoints: list[_AfterShipCheckpoint] | None = None


class _AfterShipEvent(_Lenient):
    event: str
    event_id: str | None = None
    ts: UnixTime = None
    msg: _AfterShipTracking


# Generic (module docstring)


class _GenericLocation(_Lenient):
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class _GenericEvent(_Lenient):
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


# --- Helpers -----------------------------------------------------------------------------------


def _text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """Provider free text, made safe to store: valid UTF-8, no control characters, bounded."""
    if value is None:
        return None
    # json.loads lets lone surrogates ("\ud800") through; they cannot be encoded later.
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = " ".join(_CONTROL.sub(" ", value).split())
    return value[:limit] or None


def _carrier(value: str | None) -> str | None:
    text = _text(value, MAX_CARRIER)
    return text.lower() if text else None


def _location(
    city: str | None, region: str | None, postal: str | None, country: str | None
) -> Location | None:
    location = Location(
        city=_text(city, MAX_LOCATION_PART),
        region=_text(region, MAX_LOCATION_PART),
        postal_code=_text(postal, MAX_LOCATION_PART),
        country=_text(country, MAX_LOCATION_PART),
    )
    return None if location.is_empty() else location


def _raw_status(status: str | None, sub: str | None) -> str | None:
    joined = "/".join(part for part in (status, sub) if part and part.strip())
    return _text(joined, MAX_DETAIL)


def _unprocessable(provider: str, errors: list[dict[str, Any]]) -> Unprocessable:
    return Unprocessable(
        f"The {provider} webhook body does not have the documented shape",
        details={"provider": provider, "errors": errors[:MAX_REPORTED_ERRORS]},
    )


def _error(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _validate(provider: str, model: type[BaseModel], data: dict, prefix: Sequence[str] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            _error([*prefix, *err["loc"]], err["msg"], err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise _unprocessable(provider, errors) from None


def _event_type(provider: str, data: dict, field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        kind = "missing" if value is None else "string_type"
        msg = "Field required" if value is None else "Input should be a valid string"
        raise _unprocessable(provider, [_error([field], msg, kind)])
    return value.strip()


def _ignored(provider: str, event_type: str) -> Ignored:
    return Ignored(provider, _text(event_type, MAX_DETAIL) or "", NOT_TRACKING)


def _tracking_number(provider: str, value: str, loc: Sequence[str]) -> str:
    number = normalize_tracking_number(value)
    if not _TRACKING_NUMBER.fullmatch(number):
        msg = f"must be 1-{MAX_TRACKING_NUMBER} letters, digits or _ (spaces and dashes are ignored)"
        raise _unprocessable(provider, [_error(loc, msg)])
    return number


def _event_id(provider: str, value: str, loc: Sequence[str]) -> str:
    value = value.strip()
    if not _EVENT_ID.fullmatch(value):
        raise _unprocessable(provider, [_error(loc, f"must be 1-{MAX_EVENT_ID} visible ASCII characters")])
    return value


def _fallback_id(*parts: str | None) -> str:
    """Deterministic id for providers without one (SM 2.1): a retry hashes to the same key."""
    joined = "|".join(part or "" for part in parts)
    return FALLBACK_ID_PREFIX + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive: API Gateway lower-cases header names, other senders do not."""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value.strip() or None
    return None


def _checkpoint(
    at: datetime, normalized: NormalizedStatus, message: str | None, location: Location | None
) -> Checkpoint:
    return Checkpoint(
        at=at,
        status=normalized.status,
        detail=_text(normalized.detail, MAX_DETAIL),
        message=_text(message),
        location=location,
    )


def _history(entries: list[tuple[datetime, Checkpoint]]) -> tuple[Checkpoint, ...]:
    """Oldest first; a stable sort keeps the provider's order for scans at the same instant."""
    ordered = sorted(enumerate(entries), key=lambda item: (item[1][0], item[0]))
    return tuple(checkpoint for _, (_, checkpoint) in ordered[-MAX_CHECKPOINTS:])


def _latest(items: Sequence[Any], when: Callable[[Any], datetime | None]) -> Any | None:
    """The item with the latest time (the last one listed on a tie), None when none has a time."""
    dated = [(at, index, item) for index, item in enumerate(items) if (at := when(item)) is not None]
    return max(dated, key=lambda entry: (entry[0], entry[1]))[2] if dated else None


def _update(provider: str, **fields: Any) -> CarrierUpdate:
    # Every field was checked above; this guard keeps a missed case a 422, never a 500.
    try:
        return CarrierUpdate(provider=provider, **fields)
    except ValidationError as exc:
        errors = [
            _error(["update", *err["loc"]], err["msg"], err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise _unprocessable(provider, errors) from None


def _status_fields(normalized: NormalizedStatus, raw: str | None) -> dict[str, Any]:
    return {
        "status": normalized.status,
        "detail": _text(normalized.detail, MAX_DETAIL),
        "action_required": normalized.action_required,
        "recognized": normalized.recognized,
        "raw_status": raw,
    }


# --- Per provider ------------------------------------------------------------------------------


def _easypost(data: dict, received_at: datetime) -> CarrierUpdate | Ignored:
    description = _event_type("easypost", data, "description")
    if description not in EASYPOST_TRACKING_EVENTS:
        return _ignored("easypost", description)
    event: _EasyPostEvent = _validate("easypost", _EasyPostEvent, data)
    tracker = event.result
    tracking_number = _tracking_number("easypost", tracker.tracking_code, ["result", "tracking_code"])
    event_id = _event_id("easypost", event.id, ["id"])
    details = tracker.tracking_details or []

    def location(detail: _EasyPostDetail) -> Location | None:
        loc = detail.tracking_location
        return _location(loc.city, loc.state, loc.zip, loc.country) if loc else None

    # A detail without a time cannot be placed in the history: skip it.
    checkpoints = _history(
        [
            (
                d.at,
                _checkpoint(
                    d.at,
                    normalize_easypost(d.status, d.status_detail),
                    d.message or d.description,
                    location(d),
                ),
            )
            for d in details
            if d.at is not None
        ]
    )
    # The tracker's status is that of one detail: its time and place are the event's (a
    # back-dated delivered scan listed after later ones stays where it happened). Without a
    # matching detail, the latest one.
    matching = [d for d in details if tracker.status and d.status == tracker.status]
    latest = _latest(matching, lambda d: d.at) or _latest(details, lambda d: d.at)
    event_at = (
        latest.at if latest else tracker.updated_at or event.updated_at or event.created_at or received_at
    )
    return _update(
        "easypost",
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=_carrier(tracker.carrier),
        **_status_fields(
            normalize_easypost(tracker.status, tracker.status_detail),
            _raw_status(tracker.status, tracker.status_detail),
        ),
        event_at=event_at,
        location=location(latest) if latest else None,
        eta=tracker.est_delivery_date,
        checkpoints=checkpoints,
        is_return=tracker.is_return,
    )


def _shippo_normalized(entry: _ShippoStatus) -> NormalizedStatus:
    substatus = entry.substatus
    normalized = normalize_shippo(
        entry.status,
        substatus.code if substatus else None,
        action_required=substatus.action_required if substatus else None,
    )
    # Shippo sets action_required on some deliveries (e.g. left at a pick-up point); a delivered
    # parcel needs nothing from ops, and must not raise a shipment.exception alert.
    if normalized.status is TrackingStatus.DELIVERED and normalized.action_required:
        normalized = replace(normalized, action_required=False)
    return normalized


# Shippo carrier tokens that contain an underscore; service level tokens are
# "<carrier token>_<service>" (usps_priority, dhl_express_worldwide, canada_post_expedited).
_SHIPPO_MULTIWORD_CARRIERS = (
    "dhl_express",
    "dhl_ecommerce",
    "dhl_germany",
    "canada_post",
    "australia_post",
    "royal_mail",
    "parcel_force",
    "deutsche_post",
    "dpd_uk",
    "dpd_de",
    "gls_us",
    "gls_de",
    "hermes_uk",
    "new_zealand_post",
    "apc_postal",
    "asendia_us",
    "better_trucks",
)


def _shippo_carrier_elsewhere(track: _ShippoTrack) -> str | None:
    """Shippo sends `data.carrier: null` on some bodies (e.g. tracks created from a
    transaction); the carrier is still the prefix of the service level token, or in the
    transaction's `tracking_provider`/`carrier` when the transaction is inlined."""
    if isinstance(track.transaction, dict):
        for field in ("tracking_provider", "carrier"):
            value = track.transaction.get(field)
            if isinstance(value, str) and _carrier(value):
                return _carrier(value)
    token = (track.servicelevel.token or "").strip().lower() if track.servicelevel else ""
    if not token:
        return None
    for carrier in _SHIPPO_MULTIWORD_CARRIERS:
        if token == carrier or token.startswith(carrier + "_"):
            return carrier
    return _carrier(token.split("_", 1)[0])


def _same_scan(a: _ShippoStatus, b: _ShippoStatus) -> bool:
    """Shippo lists the current status again in the history, sometimes under another object_id
    and a few milliseconds apart: the same status, substatus and place within a second."""
    if a.object_id and a.object_id == b.object_id:
        return True
    if a.status_date is None or b.status_date is None or a.status != b.status:
        return False
    code = lambda e: e.substatus.code if e.substatus else None  # noqa: E731
    return code(a) == code(b) and abs((a.status_date - b.status_date).total_seconds()) <= 1


def _shippo_location(entry: _ShippoStatus) -> Location | None:
    loc = entry.location
    return _location(loc.city, loc.state, loc.zip, loc.country) if loc else None


def _shippo(
    data: dict, received_at: datetime, *, accept_test_events: bool = False
) -> CarrierUpdate | Ignored:
    kind = _event_type("shippo", data, "event")
    if kind not in SHIPPO_TRACKING_EVENTS:
        return _ignored("shippo", kind)
    if data.get("test") is True and not accept_test_events:
        # The dashboard's "send test webhook" button and test-mode tokens: sample data about
        # parcels that do not exist, never to be applied to a real one.
        return Ignored("shippo", f"{kind} (test)", TEST_EVENT)
    event: _ShippoEvent = _validate("shippo", _ShippoEvent, data)
    track = event.data
    tracking_number = _tracking_number("shippo", track.tracking_number, ["data", "tracking_number"])
    current = track.tracking_status or _ShippoStatus()
    history = list(track.tracking_history or [])
    # Shippo's history normally ends with the current status; add it if not (the same scan under
    # another object_id counts as present).
    if current.status_date is not None and not any(h == current or _same_scan(h, current) for h in history):
        history.append(current)
    # And a scan listed twice within the history itself is kept once.
    unique: list[_ShippoStatus] = []
    for entry in history:
        if not any(_same_scan(kept, entry) for kept in unique):
            unique.append(entry)
    history = unique
    checkpoints = _history(
        [
            (
                h.status_date,
                _checkpoint(h.status_date, _shippo_normalized(h), h.status_details, _shippo_location(h)),
            )
            for h in history
            if h.status_date is not None
        ]
    )
    code = current.substatus.code if current.substatus else None
    if current.object_id is not None:
        event_id = _event_id("shippo", current.object_id, ["data", "tracking_status", "object_id"])
    else:
        status_date = current.status_date.isoformat() if current.status_date else None
        event_id = _fallback_id(tracking_number, current.status, code, status_date)
    if current.status_date is not None:
        event_at, location = current.status_date, _shippo_location(current)
    else:
        latest = _latest(history, lambda h: h.status_date)
        event_at = latest.status_date if latest else received_at
        location = _shippo_location(latest) if latest else None
    return _update(
        "shippo",
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=_carrier(track.carrier) or _shippo_carrier_elsewhere(track),
        **_status_fields(_shippo_normalized(current), _raw_status(current.status, code)),
        event_at=event_at,
        location=location,
        eta=track.eta,
        checkpoints=checkpoints,
    )


def _aftership_location(cp: _AfterShipCheckpoint) -> Location | None:
    return _location(cp.city, cp.state, cp.zip or cp.postal_code, cp.country_region or cp.country_iso3)


def _aftership_eta(msg: _AfterShipTracking) -> datetime | None:
    candidates = (
        msg.latest_estimated_delivery.at if msg.latest_estimated_delivery else None,
        msg.courier_estimated_delivery_date.estimated_delivery_date
        if msg.courier_estimated_delivery_date
        else None,
        msg.aftership_estimated_delivery_date.estimated_delivery_date
        if msg.aftership_estimated_delivery_date
        else None,
        msg.expected_delivery,
    )
    return next((eta for eta in candidates if eta is not None), None)


def _aftership(data: dict, received_at: datetime) -> CarrierUpdate | Ignored:
    kind = _event_type("aftership", data, "event")
    if kind not in AFTERSHIP_TRACKING_EVENTS:
        return _ignored("aftership", kind)
    event: _AfterShipEvent = _validate("aftership", _AfterShipEvent, data)
    msg = event.msg
    tracking_number = _tracking_number("aftership", msg.tracking_number, ["msg", "tracking_number"])
    checkpoints_in = msg.checkpoints or []
    checkpoints = _history(
        [
            (
                cp.checkpoint_time,
                _checkpoint(
                    cp.checkpoint_time,
                    normalize_aftership(cp.tag, cp.subtag),
                    cp.message or cp.subtag_message,
                    _aftership_location(cp),
                ),
            )
            for cp in checkpoints_in
            if cp.checkpoint_time is not None
        ]
    )
    latest = _latest(checkpoints_in, lambda cp: cp.checkpoint_time)
    carrier_time = latest.checkpoint_time if latest else event.ts
    if event.event_id is not None:
        event_id = _event_id("aftership", event.event_id, ["event_id"])
    else:
        when = carrier_time.isoformat() if carrier_time else None
        event_id = _fallback_id(tracking_number, msg.tag, msg.subtag, when)
    return _update(
        "aftership",
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=_carrier(msg.slug),
        **_status_fields(
            normalize_aftership(msg.tag, msg.subtag, return_to_sender=bool(msg.return_to_sender)),
            _raw_status(msg.tag, msg.subtag),
        ),
        event_at=carrier_time or received_at,
        location=_aftership_location(latest) if latest else None,
        eta=_aftership_eta(msg),
        checkpoints=checkpoints,
    )


def _generic(data: dict, headers: Mapping[str, str]) -> CarrierUpdate | Ignored:
    kind = _event_type("generic", data, "type")
    if kind not in GENERIC_TRACKING_EVENTS:
        return _ignored("generic", kind)
    event: _GenericEvent = _validate("generic", _GenericEvent, data)
    tracking_number = _tracking_number("generic", event.tracking_number, ["tracking_number"])
    webhook_id = _header(headers, GENERIC_ID_HEADER)
    if webhook_id is None:
        raise _unprocessable(
            "generic", [_error(["headers", GENERIC_ID_HEADER], "Header required", "missing")]
        )
    event_id = _event_id("generic", webhook_id, ["headers", GENERIC_ID_HEADER])
    normalized = normalize_generic(event.status, event.detail)
    loc = event.location
    location = _location(loc.city, loc.region, loc.postal_code, loc.country) if loc else None
    return _update(
        "generic",
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=_carrier(event.carrier),
        **_status_fields(normalized, _raw_status(event.status, event.detail)),
        event_at=event.occurred_at,
        location=location,
        eta=event.estimated_delivery,
        checkpoints=(_checkpoint(event.occurred_at, normalized, event.message, location),),
        is_return=event.is_return,
    )


# --- Entry point -------------------------------------------------------------------------------


def _load(provider: str, body: bytes) -> dict:
    try:
        data = load_json(bytes(body), what="Webhook body", lone_surrogates=True)
    # Not UTF-8, nested deeper than MAX_DEPTH, NaN, over-long integers: 400 (lone surrogates
    # in free text are replaced by `_text`, not refused).
    except MalformedRequest:
        raise MalformedRequest(
            f"The {provider} webhook body is not UTF-8 JSON", details={"provider": provider}
        ) from None
    if not isinstance(data, dict):
        raise MalformedRequest(
            f"The {provider} webhook body is not a JSON object", details={"provider": provider}
        )
    return data


def parse_webhook(
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    received_at: datetime,
    accept_test_events: bool = False,
) -> CarrierUpdate | Ignored:
    """Read a signature-verified webhook body into a CarrierUpdate, or Ignored for other events.

    Raises MalformedRequest (400) for bytes that are not a UTF-8 JSON object and Unprocessable
    (422, field errors in details["errors"]) for a body without the provider's documented
    shape; nothing else for any body or headers. `received_at` is the last resort for
    event_at when the body carries no carrier time. Shippo's test events (`"test": true`: its
    dashboard's test button, test-mode API tokens) are Ignored unless `accept_test_events`.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        # A str body means someone decoded (or re-serialized) it: a bug, not bad input.
        raise TypeError("webhook body must be the raw request bytes")
    if provider not in PROVIDERS:
        raise Unprocessable(
            f"Unknown webhook provider {provider!r}",
            details={"errors": [_error(["provider"], f"must be one of {', '.join(PROVIDERS)}")]},
        )
    received_at = _utc(received_at)
    data = _load(provider, body)
    if provider == "easypost":
        return _easypost(data, received_at)
    if provider == "shippo":
        return _shippo(data, received_at, accept_test_events=accept_test_events)
    if provider == "aftership":
        return _aftership(data, received_at)
    return _generic(data, headers)
