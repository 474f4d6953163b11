"""AfterShip as a tracking source: its webhook signature, its status table, its event reader.

("CR n" = section n of brief/reference/carriers-and-refunds.md, "SM" = status-map.md.)

Signature (CR 1, 2.3): `aftership-hmac-sha256: <base64>`, base64 of HMAC-SHA256 of the raw
body. No signed timestamp (`ts` is in the unsigned body).

Body (CR 2.3): `{ts, event, event_id, is_tracking_first_tag, msg: Tracking}`;
`tracking_update` and `edd_revise` (a tracking update carrying a new ETA) are read,
`tracking_pending_time` and anything else is `Ignored`. Status =
normalize_aftership(msg.tag, msg.subtag, return_to_sender=msg.return_to_sender).
event_at = the latest `checkpoints[].checkpoint_time`, else `ts`, else `received_at`.
event_id = `event_id`, or the fallback (SM 2.1) over
"{tracking_number}|{tag}|{subtag}|{event_at}" (event_at "" when it is `received_at`).
eta = `latest_estimated_delivery.datetime`, else `courier_estimated_delivery_date`, else
`aftership_estimated_delivery_date`, else the legacy `expected_delivery`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import Field

from homeward.domain.shared.webhook_signatures import (
    b64decode,
    check_inputs,
    equal,
    find_header,
    mac,
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
    OptionalObject,
    UnixTime,
    build_update,
    carrier_name,
    event_id_of,
    event_type_of,
    fallback_id,
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
from homeward.models.tracking import CarrierUpdate, Location, TrackingStatus
from homeward.models.tracking import TrackingStatus as S

NAME = "aftership"
HEADER = "aftership-hmac-sha256"
TRACKING_EVENTS = frozenset({"tracking_update", "edd_revise"})


# --- Signature ---------------------------------------------------------------------------------


def verify_aftership(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    """AfterShip `aftership-hmac-sha256: base64(HMAC-SHA256(secret, raw body))` (CR 2.3)."""
    check_inputs(body, secrets)
    value = find_header(headers, HEADER)
    if value is None:
        raise missing(NAME, "aftership-hmac-sha256")
    candidate = b64decode(value)
    if candidate is None:
        raise malformed(NAME, "aftership-hmac-sha256")
    if any(equal(mac(to_bytes(secret), bytes(body)), candidate) for secret in secrets):
        return
    raise mismatch(NAME)


# --- Status table (SM 3, "AfterShip Tracking"): msg.tag + msg.subtag --------------------------

_AFTERSHIP_PLAIN: dict[str, tuple[TrackingStatus, str | None]] = {
    "pending": (S.UNKNOWN, None),
    "inforeceived": (S.PRE_TRANSIT, "label_created"),
    "outfordelivery": (S.OUT_FOR_DELIVERY, None),
    "availableforpickup": (S.AVAILABLE_FOR_PICKUP, None),
    "attemptfail": (S.EXCEPTION, "attempt_failed"),
    "delivered": (S.DELIVERED, None),
}

# Exception subtags with a vocabulary detail; any other subtag is passed through as is.
# The _010/_011 meanings are secondary sources (SM footnote).
_AFTERSHIP_EXCEPTIONS: dict[str, tuple[TrackingStatus, str]] = {
    "exception_010": (S.RETURN_TO_SENDER, "returning"),
    "exception_011": (S.RETURN_TO_SENDER, "returned"),
    "exception_002": (S.EXCEPTION, "address_issue"),  # customer moved
    "exception_003": (S.EXCEPTION, "refused"),
    "exception_004": (S.EXCEPTION, "customs"),
    "exception_005": (S.EXCEPTION, "delayed"),
}


def normalize_aftership(
    tag: str | None, subtag: str | None = None, *, return_to_sender: bool = False
) -> NormalizedStatus:
    """`return_to_sender` is `msg.return_to_sender`, an independent signal (SM footnote ‡)."""
    tag_ = clean_code(tag).lower()
    subtag_ = clean_code(subtag)
    known = tag_ in _AFTERSHIP_PLAIN or tag_ in ("intransit", "exception", "expired")
    if return_to_sender and tag_ not in ("pending", "inforeceived", "expired"):
        # Delivered with the flag set means delivered back to the sender.
        return make_status(S.RETURN_TO_SENDER, "returned" if tag_ == "delivered" else "returning")
    if not known:
        return unrecognized(tag)
    if tag_ in _AFTERSHIP_PLAIN:
        return make_status(*_AFTERSHIP_PLAIN[tag_])
    if tag_ == "intransit":
        return make_status(S.IN_TRANSIT, raw_code(subtag_))
    if tag_ == "expired":
        # No tracking information for 30 days: flag for review.
        return NormalizedStatus(S.UNKNOWN, "expired", action_required=True)
    status, detail = _AFTERSHIP_EXCEPTIONS.get(subtag_.lower(), (S.EXCEPTION, raw_code(subtag_)))
    return make_status(status, detail)


# --- Body (CR 2.3: webhook envelope; Tracking and Checkpoint of the tracking API models) ------


class _AfterShipCheckpoint(Lenient):
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


class _AfterShipEdd(Lenient):
    estimated_delivery_date: LenientTime = None


class _AfterShipLatestEdd(Lenient):
    at: LenientTime = Field(default=None, alias="datetime")


class _AfterShipTracking(Lenient):
    tracking_number: str
    slug: str | None = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    return_to_sender: bool | None = None
    latest_estimated_delivery: Annotated[_AfterShipLatestEdd | None, OptionalObject] = None
    courier_estimated_delivery_date: Annotated[_AfterShipEdd | None, OptionalObject] = None
    aftership_estimated_delivery_date: Annotated[_AfterShipEdd | None, OptionalObject] = None
    expected_delivery: LenientTime = None
    checkpoints: list[_AfterShipCheckpoint] | None = None


class _AfterShipEvent(Lenient):
    event: str
    event_id: str | None = None
    ts: UnixTime = None
    msg: _AfterShipTracking


def _aftership_location(cp: _AfterShipCheckpoint) -> Location | None:
    return location_of(cp.city, cp.state, cp.zip or cp.postal_code, cp.country_region or cp.country_iso3)


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


def read_event(data: dict, received_at: datetime) -> CarrierUpdate | Ignored:
    kind = event_type_of(NAME, data, "event")
    if kind not in TRACKING_EVENTS:
        return ignored(NAME, kind)
    event: _AfterShipEvent = validate(NAME, _AfterShipEvent, data)
    msg = event.msg
    tracking_number = tracking_number_of(NAME, msg.tracking_number, ["msg", "tracking_number"])
    checkpoints_in = msg.checkpoints or []
    checkpoints = sorted_history(
        [
            (
                cp.checkpoint_time,
                make_checkpoint(
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
    latest = latest_of(checkpoints_in, lambda cp: cp.checkpoint_time)
    carrier_time = latest.checkpoint_time if latest else event.ts
    if event.event_id is not None:
        event_id = event_id_of(NAME, event.event_id, ["event_id"])
    else:
        when = carrier_time.isoformat() if carrier_time else None
        event_id = fallback_id(tracking_number, msg.tag, msg.subtag, when)
    return build_update(
        NAME,
        event_id=event_id,
        tracking_number=tracking_number,
        carrier=carrier_name(msg.slug),
        **status_fields(
            normalize_aftership(msg.tag, msg.subtag, return_to_sender=bool(msg.return_to_sender)),
            raw_status(msg.tag, msg.subtag),
        ),
        event_at=carrier_time or received_at,
        location=_aftership_location(latest) if latest else None,
        eta=_aftership_eta(msg),
        checkpoints=checkpoints,
    )


SOURCE = JsonSource(  # the TrackingSource port, from the pieces above
    NAME,
    check=lambda body, headers, secrets, now, query: verify_aftership(body, headers, secrets),
    read=lambda data, headers, received_at, test_events: read_event(data, received_at),
    normalize=normalize_aftership,
)
