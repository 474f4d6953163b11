"""What every tracking source's webhook reader shares.

The one entry point, `parse_webhook(provider, body, headers, received_at=...)` in
homeward/providers/tracking_sources.py, runs after the signature check
(domain/shared/webhook_signatures.py) on the same raw bytes, and hands them to the provider's
reader (`homeward/providers/<name>/tracking.py`, found through homeward/providers/registry.py
and imported only then). A reader returns a `CarrierUpdate` for a tracking event, `Ignored`
for any other event type the provider may send to the same URL, and raises only
`MalformedRequest` (400: not UTF-8, not JSON, not a JSON object) or `Unprocessable` (422: the
provider's documented shape is not there; `details["errors"]` is a list of
`{"loc": [...], "msg": ..., "type": ...}`). Unknown status values never fail: the provider's
status table returns `recognized=False` and `raw_status` keeps the provider's own value
("status" or "status/sub-status") for the log.

Envelope models are lenient on purpose (`Lenient`): providers add fields without notice, so
unknown fields are ignored and only what we read is typed. Estimated delivery dates are
optional extras and never fail a body (`LenientTime`: an unreadable one is dropped). Every
time in the result is timezone-aware UTC. Providers without an event id use `fallback_id`
(SM 2.1): `"sha256:" + hex(sha256("|".join(parts)))`, so a retry hashes to the same key.

Each provider's envelope, status mapping and event-id rule are documented in its own module;
the generic (Standard Webhooks) format for in-house carriers is in
homeward/providers/generic/tracking.py and docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from homeward.domain.shared.json_input import load_json
from homeward.domain.tracking.ports import NOT_TRACKING, TEST_EVENT, Ignored
from homeward.domain.tracking.status import NormalizedStatus
from homeward.errors import MalformedRequest, Unprocessable
from homeward.models.tracking import (
    MAX_CHECKPOINTS,
    CarrierUpdate,
    Checkpoint,
    Location,
    normalize_tracking_number,
)

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
TRACKING_NUMBER_PATTERN = re.compile(rf"[A-Z0-9_]{{1,{MAX_TRACKING_NUMBER}}}")
# Event ids become DynamoDB key parts and log fields: visible ASCII only.
EVENT_ID_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_EVENT_ID}}}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Unix seconds up to 9999-12-31: datetime cannot represent more.
_MAX_UNIX = 253402300799


# --- Timestamps --------------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    # OverflowError near datetime.min/max (e.g. 0001-01-01T00:00+01:00) becomes a field error.
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None


def parse_iso(value: object, *, naive_is_utc: bool) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time string") from None
    if parsed.tzinfo is None and not naive_is_utc:
        raise ValueError("must include a UTC offset, e.g. 2026-11-20T10:15:00Z")
    return utc(parsed)


def carrier_time(value: object) -> datetime | None:
    """A carrier time. Without an offset it is read as UTC.

    AfterShip's checkpoint_time is the scan's local wall-clock time and often has no offset
    ("2026-11-20T10:15:00"), and EasyPost falls back to UTC when it cannot localize. The
    true zone cannot be known from the body, so UTC is the documented reading: such a time
    may be off by the scan zone's UTC offset (hours, never days), which only matters when it
    is compared with a scan that carries an offset.
    """
    if value is None:
        return None
    return parse_iso(value, naive_is_utc=True)


def aware_time(value: object) -> datetime:
    """A date-time with an explicit offset: our own format can and must be precise."""
    if value is None:
        raise ValueError("is required")
    return parse_iso(value, naive_is_utc=False)


def lenient_time(value: object) -> datetime | None:
    """An estimated delivery date from a provider: useful when readable, never a reason to fail."""
    try:
        return carrier_time(value)
    except ValueError:
        return None


def unix_seconds(value: object) -> datetime | None:
    if value is None:
        return None
    # bool is an int in Python, but `true` is not a time.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be unix seconds")
    if not 0 <= value <= _MAX_UNIX:  # also rejects NaN
        raise ValueError("is out of range")
    return datetime.fromtimestamp(int(value), UTC)


def object_or_none(value: object) -> object:
    # Optional nested extras (ETA objects): a wrong type means "not given", not a 422.
    return value if isinstance(value, dict) else None


CarrierTime = Annotated[datetime | None, BeforeValidator(carrier_time)]
AwareTime = Annotated[datetime, BeforeValidator(aware_time)]
LenientTime = Annotated[datetime | None, BeforeValidator(lenient_time)]
UnixTime = Annotated[datetime | None, BeforeValidator(unix_seconds)]


# --- Envelope models: what every provider's reader builds on ----------------------------------


class Lenient(BaseModel):
    # Providers add fields without notice: read what we know, ignore the rest.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


OptionalObject = BeforeValidator(object_or_none)


# --- Helpers -----------------------------------------------------------------------------------


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """Provider free text, made safe to store: valid UTF-8, no control characters, bounded."""
    if value is None:
        return None
    # json.loads lets lone surrogates ("\ud800") through; they cannot be encoded later.
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = " ".join(_CONTROL.sub(" ", value).split())
    return value[:limit] or None


def carrier_name(value: str | None) -> str | None:
    text = clean_text(value, MAX_CARRIER)
    return text.lower() if text else None


def location_of(
    city: str | None, region: str | None, postal: str | None, country: str | None
) -> Location | None:
    location = Location(
        city=clean_text(city, MAX_LOCATION_PART),
        region=clean_text(region, MAX_LOCATION_PART),
        postal_code=clean_text(postal, MAX_LOCATION_PART),
        country=clean_text(country, MAX_LOCATION_PART),
    )
    return None if location.is_empty() else location


def raw_status(status: str | None, sub: str | None) -> str | None:
    joined = "/".join(part for part in (status, sub) if part and part.strip())
    return clean_text(joined, MAX_DETAIL)


def unprocessable(provider: str, errors: list[dict[str, Any]]) -> Unprocessable:
    return Unprocessable(
        f"The {provider} webhook body does not have the documented shape",
        details={"provider": provider, "errors": errors[:MAX_REPORTED_ERRORS]},
    )


def field_error(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def validate(provider: str, model: type[BaseModel], data: dict, prefix: Sequence[str] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            field_error([*prefix, *err["loc"]], err["msg"], err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise unprocessable(provider, errors) from None


def event_type_of(provider: str, data: dict, field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        kind = "missing" if value is None else "string_type"
        msg = "Field required" if value is None else "Input should be a valid string"
        raise unprocessable(provider, [field_error([field], msg, kind)])
    return value.strip()


def ignored(provider: str, event_type: str) -> Ignored:
    return Ignored(provider, clean_text(event_type, MAX_DETAIL) or "", NOT_TRACKING)


def tracking_number_of(provider: str, value: str, loc: Sequence[str]) -> str:
    number = normalize_tracking_number(value)
    if not TRACKING_NUMBER_PATTERN.fullmatch(number):
        msg = f"must be 1-{MAX_TRACKING_NUMBER} letters, digits or _ (spaces and dashes are ignored)"
        raise unprocessable(provider, [field_error(loc, msg)])
    return number


def event_id_of(provider: str, value: str, loc: Sequence[str]) -> str:
    value = value.strip()
    if not EVENT_ID_PATTERN.fullmatch(value):
        raise unprocessable(
            provider, [field_error(loc, f"must be 1-{MAX_EVENT_ID} visible ASCII characters")]
        )
    return value


def fallback_id(*parts: str | None) -> str:
    """Deterministic id for providers without one (SM 2.1): a retry hashes to the same key."""
    joined = "|".join(part or "" for part in parts)
    return FALLBACK_ID_PREFIX + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive: API Gateway lower-cases header names, other senders do not."""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value.strip() or None
    return None


def make_checkpoint(
    at: datetime, normalized: NormalizedStatus, message: str | None, location: Location | None
) -> Checkpoint:
    return Checkpoint(
        at=at,
        status=normalized.status,
        detail=clean_text(normalized.detail, MAX_DETAIL),
        message=clean_text(message),
        location=location,
    )


def sorted_history(entries: list[tuple[datetime, Checkpoint]]) -> tuple[Checkpoint, ...]:
    """Oldest first; a stable sort keeps the provider's order for scans at the same instant."""
    ordered = sorted(enumerate(entries), key=lambda item: (item[1][0], item[0]))
    return tuple(checkpoint for _, (_, checkpoint) in ordered[-MAX_CHECKPOINTS:])


def latest_of(items: Sequence[Any], when: Callable[[Any], datetime | None]) -> Any | None:
    """The item with the latest time (the last one listed on a tie), None when none has a time."""
    dated = [(at, index, item) for index, item in enumerate(items) if (at := when(item)) is not None]
    return max(dated, key=lambda entry: (entry[0], entry[1]))[2] if dated else None


def build_update(provider: str, **fields: Any) -> CarrierUpdate:
    # Every field was checked above; this guard keeps a missed case a 422, never a 500.
    try:
        return CarrierUpdate(provider=provider, **fields)
    except ValidationError as exc:
        errors = [
            field_error(["update", *err["loc"]], err["msg"], err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise unprocessable(provider, errors) from None


def status_fields(normalized: NormalizedStatus, raw: str | None) -> dict[str, Any]:
    return {
        "status": normalized.status,
        "detail": clean_text(normalized.detail, MAX_DETAIL),
        "action_required": normalized.action_required,
        "recognized": normalized.recognized,
        "raw_status": raw,
    }


def load_body(provider: str, body: bytes) -> dict:
    """The body as a JSON object, or MalformedRequest (400) naming the provider."""
    try:
        data = load_json(bytes(body), what="Webhook body", lone_surrogates=True)
    # Not UTF-8, nested deeper than MAX_DEPTH, NaN, over-long integers: 400 (lone surrogates
    # in free text are replaced by `clean_text`, not refused).
    except MalformedRequest:
        raise MalformedRequest(
            f"The {provider} webhook body is not UTF-8 JSON", details={"provider": provider}
        ) from None
    if not isinstance(data, dict):
        raise MalformedRequest(
            f"The {provider} webhook body is not a JSON object", details={"provider": provider}
        )
    return data


# What a provider module gives to become a tracking source (see JsonSource).
Check = Callable[[bytes, Mapping[str, str], Sequence[str], datetime, Mapping[str, str] | None], None]
Read = Callable[[dict, Mapping[str, str], datetime, bool], CarrierUpdate | Ignored]
Normalize = Callable[[str | None, str | None], NormalizedStatus]


@dataclass(frozen=True)
class JsonSource:
    """A tracking source whose webhook body is one JSON object (every provider so far): the
    `TrackingSource` port from its signature check, its reader and its status table.

    `check(body, headers, secrets, now, query)` raises WebhookSignatureInvalid;
    `read(data, headers, received_at, accept_test_events)` reads the decoded object.
    """

    name: str
    check: Check
    read: Read
    normalize: Normalize

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        *,
        now: datetime,
        query: Mapping[str, str] | None = None,
    ) -> None:
        self.check(body, headers, secrets, now, query)

    def parse(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        received_at: datetime,
        accept_test_events: bool = False,
    ) -> CarrierUpdate | Ignored:
        return self.read(load_body(self.name, body), headers, received_at, accept_test_events)

    def normalize_status(self, status: str | None, detail: str | None = None) -> NormalizedStatus:
        return self.normalize(status, detail)


__all__ = [
    "JsonSource",
    "FALLBACK_ID_PREFIX",
    "NOT_TRACKING",
    "TEST_EVENT",
    "Ignored",
]
