"""EasyPost as a tracking source: its webhook signature, its status table, its event reader.

("CR n" = section n of brief/reference/carriers-and-refunds.md, "SM" = status-map.md.)

Signature (CR 1, 2.1): `X-Hmac-Signature: hmac-sha256-hex=<hex>`, the hex HMAC-SHA256 of the
raw body keyed with the NFKD-normalized secret (EasyPost's fixture secret "sécret" only
matches with NFKD). No signed timestamp: replay protection is event-id dedupe downstream.

Body (CR 2.1): Event `{id, description, result: Tracker, created_at, updated_at}`.
`tracker.created` / `tracker.updated` are read, every other description (batch.*,
insurance.*, scan_form.*, refund.*, payment.*, ...) is `Ignored`. event_id = `id`.
Status = normalize_easypost(result.status, result.status_detail). event_at = the
`datetime` of the latest detail whose `status` is the tracker's (a back-dated scan stays
where it happened), else of the latest detail, else `result.updated_at`, else the envelope's
`updated_at`/`created_at`, else `received_at`; location = that detail's
`tracking_location`. eta = `est_delivery_date`; is_return = `is_return`.

The label side (buying, voiding, fetching labels) is carrier.py, next to this module.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import Field

from homeward.domain.shared.webhook_signatures import (
    check_inputs,
    equal,
    find_header,
    malformed,
    mismatch,
    missing,
    to_bytes,
)
from homeward.domain.tracking.payloads import (
    CarrierTime,
    JsonSource,
    Lenient,
    LenientTime,
    build_update,
    carrier_name,
    event_id_of,
    event_type_of,
    ignored,
    latest_of,
    location_of,
    make_checkpoint,
    raw_status,
    sorted_history,
    status_fields,
    tracking_number_of,
    validate,
)
from homeward.domain.tracking.ports import Ignored
from homeward.domain.tracking.status import (
    NormalizedStatus,
    clean_code,
    make_status,
    raw_code,
    unrecognized,
)
from homeward.models.tracking import CarrierUpdate, Checkpoint, Location
from homeward.models.tracking import TrackingStatus as S

NAME = "easypost"
HEADER = "x-hmac-signature"
PREFIX = "hmac-sha256-hex="
TRACKING_EVENTS = frozenset({"tracker.created", "tracker.updated"})


# --- Signature ---------------------------------------------------------------------------------


def verify_easypost(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """EasyPost `X-Hmac-Signature: hmac-sha256-hex=<hex>` over the raw body, NFKD secret (CR 2.1)."""
    check_inputs(body, secrets)
    value = find_header(headers, HEADER)
    if value is None:
        raise missing(NAME, "X-Hmac-Signature")
    if not value.lower().startswith(PREFIX):
        raise malformed(NAME, "X-Hmac-Signature")
    # Hex is case-insensitive; EasyPost sends lower case, as hexdigest() produces.
    candidate = to_bytes(value[len(PREFIX) :].lower())
    for secret in secrets:
        key = to_bytes(unicodedata.normalize("NFKD", secret))
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if equal(expected, candidate):
            return
    raise mismatch(NAME)


# --- Status table (SM 3, "EasyPost"): Tracker.status + status_detail ------------------------

_EASYPOST_IN_TRANSIT_EXCEPTIONS = {
    "delivery_exception": "attempt_failed",  # EasyPost keeps a single failed attempt in_transit
    "weather_delay": "delayed",
    "delayed": "delayed",
    "held": "held",
    "awaiting_information": "held",
    "address_correction": "address_issue",
    "damaged": "damaged",
    "transit_exception": "transit_exception",
    "missorted": "transit_exception",
}

_EASYPOST_PLAIN = {
    "unknown": S.UNKNOWN,
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "available_for_pickup": S.AVAILABLE_FOR_PICKUP,
    "delivered": S.DELIVERED,
    "cancelled": S.CANCELLED,
    "error": S.ERROR,
}


def normalize_easypost(status: str | None, status_detail: str | None = None) -> NormalizedStatus:
    status_ = clean_code(status).lower()
    detail = clean_code(status_detail).lower() or None
    if status_ in _EASYPOST_PLAIN:
        return make_status(_EASYPOST_PLAIN[status_])
    if status_ == "pre_transit":
        return make_status(S.PRE_TRANSIT, detail)
    if status_ == "in_transit":
        if detail in _EASYPOST_IN_TRANSIT_EXCEPTIONS:
            return make_status(S.EXCEPTION, _EASYPOST_IN_TRANSIT_EXCEPTIONS[detail])
        return make_status(S.IN_TRANSIT, raw_code(detail))
    if status_ == "return_to_sender":
        # EasyPost has no "returned" status_detail of its own; pass one through if it comes.
        return make_status(S.RETURN_TO_SENDER, "returned" if detail == "returned" else "returning")
    if status_ == "failure":
        return make_status(S.FAILURE, detail if detail in ("lost", "refused") else "undeliverable")
    return unrecognized(status)


# --- Body (CR 2.1, EasyPost/examples official/fixtures/event-body.json) ----------------------


class _EasyPostLocation(Lenient):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _EasyPostDetail(Lenient):
    message: str | None = None
    description: str | None = None
    status: str | None = None
    status_detail: str | None = None
    at: CarrierTime = Field(default=None, alias="datetime")
    tracking_location: _EasyPostLocation | None = None


class _EasyPostTracker(Lenient):
    tracking_code: str
    status: str | None = None
    status_detail: str | None = None
    carrier: str | None = None
    est_delivery_date: LenientTime = None
    is_return: bool | None = None
    updated_at: CarrierTime = None
    tracking_details: list[_EasyPostDetail] | None = None


class _EasyPostEvent(Lenient):
    id: str
    description: str
    result: _EasyPostTracker
    created_at: CarrierTime = None
    updated_at: CarrierTime = None


def _location(detail: _EasyPostDetail) -> Location | None:
    loc = detail.tracking_location
    return location_of(loc.city, loc.state, loc.zip, loc.country) if loc else None


def _checkpoints(details: list[_EasyPostDetail]) -> tuple[Checkpoint, ...]:
    # A detail without a time cannot be placed in the history: skip it.
    return sorted_history(
        [
            (
                d.at,
                make_checkpoint(
                    d.at,
                    normalize_easypost(d.status, d.status_detail),
                    d.message or d.description,
                    _location(d),
                ),
            )
            for d in details
            if d.at is not None
        ]
    )


def _status_detail(tracker: _EasyPostTracker, details: list[_EasyPostDetail]) -> _EasyPostDetail | None:
    """The detail the tracker's status comes from: its time and place are the event's (a
    back-dated delivered scan listed after later ones stays where it happened). Without a
    matching detail, the latest one."""
    matching = [d for d in details if tracker.status and d.status == tracker.status]
    return latest_of(matching, lambda d: d.at) or latest_of(details, lambda d: d.at)


def read_event(data: dict, received_at: datetime) -> CarrierUpdate | Ignored:
    description = event_type_of(NAME, data, "description")
    if description not in TRACKING_EVENTS:
        return ignored(NAME, description)
    event: _EasyPostEvent = validate(NAME, _EasyPostEvent, data)
    tracker = event.result
    tracking_number = tracking_number_of(NAME, tracker.tracking_code, ["result", "tracking_code"])
    event_id = event_id_of(NAME, event.id, ["id"])
    details = tracker.tracking_details or []
    latest = _status_detail(tracker, details)
    event_at = (
        latest.at if latest else tracker.updated_at or event.updated_at or event.created_at or received_at
    )
    return build_update(
        NAME,
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=carrier_name(tracker.carrier),
        **status_fields(
            normalize_easypost(tracker.status, tracker.status_detail),
            raw_status(tracker.status, tracker.status_detail),
        ),
        event_at=event_at,
        location=_location(latest) if latest else None,
        eta=tracker.est_delivery_date,
        checkpoints=_checkpoints(details),
        is_return=tracker.is_return,
    )


SOURCE = JsonSource(  # the TrackingSource port, from the pieces above
    NAME,
    check=lambda body, headers, secrets, now, query: verify_easypost(body, headers, secrets),
    read=lambda data, headers, received_at, test_events: read_event(data, received_at),
    normalize=normalize_easypost,
)
