"""Shippo as a tracking source: its webhook signature, its status table, its event reader.

("CR n" = section n of brief/reference/carriers-and-refunds.md, "SM" = status-map.md.)

Signature (CR 1, 2.2): `Shippo-Auth-Signature: t=<unix>,v1=<hex>` (Stripe-like, CR 2.9), hex
HMAC-SHA256 over `"{t}.{raw body}"`, `t` within 5 minutes of now. The self-service
alternative is a secret `?token=` in the webhook URL, compared against the active secrets.
The token is only consulted when no signature header is present: a present but bad header
never falls back to the token.

Body (CR 2.2): `{event, test, data: Track}`; only `track_updated` is read, and not when
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

The label side is carrier.py, next to this module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

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
from homeward.domain.tracking.payloads import (
    CarrierTime,
    JsonSource,
    Lenient,
    LenientTime,
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
from homeward.domain.tracking.ports import TEST_EVENT, Ignored
from homeward.domain.tracking.status import NormalizedStatus, clean_code, raw_code, unrecognized
from homeward.models.tracking import CarrierUpdate, Location, TrackingStatus
from homeward.models.tracking import TrackingStatus as S

NAME = "shippo"
HEADER = "shippo-auth-signature"
TOKEN_PARAM = "token"
TRACKING_EVENTS = frozenset({"track_updated"})


# --- Signature ---------------------------------------------------------------------------------


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
    if timestamp is None or not UNIX_SECONDS.match(timestamp) or not signatures:
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
    check_inputs(body, secrets)
    value = find_header(headers, HEADER)
    if value is None:
        token = (query or {}).get(TOKEN_PARAM)
        if token is None:
            raise missing(NAME, "Shippo-Auth-Signature")
        if any(equal(to_bytes(secret), to_bytes(token)) for secret in secrets):
            return
        raise mismatch(NAME)
    parsed = _parse_shippo(value)
    if parsed is None:
        raise malformed(NAME, "Shippo-Auth-Signature")
    timestamp, candidates = parsed
    check_timestamp(NAME, int(timestamp), now, tolerance_seconds)
    message = timestamp.encode() + b"." + bytes(body)
    for secret in secrets:
        expected = hmac.new(to_bytes(secret), message, hashlib.sha256).hexdigest().encode()
        # Check every candidate (several v1 during Shippo's own rotation), like Stripe.
        if any(equal(expected, to_bytes(c)) for c in candidates):
            return
    raise mismatch(NAME)


# --- Status table (SM 3, "Shippo"): tracking_status.status + substatus.code -------------------

_SHIPPO_BY_STATUS = {
    "UNKNOWN": S.UNKNOWN,
    "PRE_TRANSIT": S.PRE_TRANSIT,
    "TRANSIT": S.IN_TRANSIT,
    "DELIVERED": S.DELIVERED,
    "RETURNED": S.RETURN_TO_SENDER,
    "FAILURE": S.FAILURE,
}

_SHIPPO_IN_TRANSIT_CODES = frozenset(
    {
        "package_accepted",
        "package_arrived",
        "package_departed",
        "package_processed",
        "package_processing",
        "package_forwarded",
        "delivery_scheduled",
        "delivery_rescheduled",
    }
)

# (status, code) -> (normalized status, detail); rows of the Shippo table.
_SHIPPO_CODES: dict[tuple[str, str], tuple[TrackingStatus, str | None]] = {
    ("UNKNOWN", "other"): (S.UNKNOWN, None),
    ("PRE_TRANSIT", "information_received"): (S.PRE_TRANSIT, "label_created"),
    ("TRANSIT", "out_for_delivery"): (S.OUT_FOR_DELIVERY, None),
    ("TRANSIT", "pickup_available"): (S.AVAILABLE_FOR_PICKUP, None),
    ("TRANSIT", "delivery_attempted"): (S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "notice_left"): (S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "reschedule_delivery"): (S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "location_inaccessible"): (S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "address_issue"): (S.EXCEPTION, "address_issue"),
    ("TRANSIT", "delayed"): (S.EXCEPTION, "delayed"),
    ("TRANSIT", "package_held"): (S.EXCEPTION, "held"),
    ("TRANSIT", "contact_carrier"): (S.EXCEPTION, "held"),
    ("TRANSIT", "package_damaged"): (S.EXCEPTION, "damaged"),
    ("DELIVERED", "delivered"): (S.DELIVERED, None),
    ("RETURNED", "return_to_sender"): (S.RETURN_TO_SENDER, "returning"),
    ("RETURNED", "package_unclaimed"): (S.RETURN_TO_SENDER, "unclaimed"),
    ("FAILURE", "package_undeliverable"): (S.FAILURE, "undeliverable"),
    ("FAILURE", "package_lost"): (S.FAILURE, "lost"),
    ("FAILURE", "package_disposed"): (S.FAILURE, "disposed"),
}

# Substatus codes Shippo documents as action_required (the check marks in CR 2.2).
_SHIPPO_ACTION_REQUIRED = frozenset(
    {
        "address_issue",
        "contact_carrier",
        "delivery_attempted",
        "location_inaccessible",
        "notice_left",
        "package_damaged",
        "package_held",
        "pickup_available",
        "reschedule_delivery",
        "package_unclaimed",
        "package_undeliverable",
        "package_lost",
    }
)


def normalize_shippo(
    status: str | None, substatus_code: str | None = None, *, action_required: bool | None = None
) -> NormalizedStatus:
    """`action_required` is `substatus.action_required` when Shippo sent it; it wins over the table."""
    status_ = clean_code(status).upper()
    code = clean_code(substatus_code).lower() or None
    if status_ not in _SHIPPO_BY_STATUS:
        return unrecognized(status)
    if code is None:
        # No substatus: map on the status alone.
        normalized, detail, recognized = _SHIPPO_BY_STATUS[status_], None, True
    elif status_ == "TRANSIT" and code in _SHIPPO_IN_TRANSIT_CODES:
        normalized, detail, recognized = S.IN_TRANSIT, code, True
    elif (status_, code) in _SHIPPO_CODES:
        normalized, detail = _SHIPPO_CODES[(status_, code)]
        recognized = True
    else:
        # Unknown code: the status is still a progress signal; keep the code for the log.
        normalized, detail, recognized = _SHIPPO_BY_STATUS[status_], raw_code(code), False
    if action_required is None:
        action_required = code in _SHIPPO_ACTION_REQUIRED
    return NormalizedStatus(normalized, detail, action_required, recognized)


# --- Body (CR 2.2: Track and TrackingStatus objects) -----------------------------------------


class _ShippoLocation(Lenient):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _ShippoSubstatus(Lenient):
    code: str | None = None
    text: str | None = None
    action_required: bool | None = None


class _ShippoStatus(Lenient):
    object_id: str | None = None
    status: str | None = None
    status_details: str | None = None
    status_date: CarrierTime = None
    substatus: _ShippoSubstatus | None = None
    location: _ShippoLocation | None = None


class _ShippoServiceLevel(Lenient):
    token: str | None = None
    name: str | None = None


class _ShippoTrack(Lenient):
    carrier: str | None = None
    servicelevel: _ShippoServiceLevel | None = None
    transaction: Any = None
    tracking_number: str
    eta: LenientTime = None
    tracking_status: _ShippoStatus | None = None
    tracking_history: list[_ShippoStatus] | None = None


class _ShippoEvent(Lenient):
    event: str
    data: _ShippoTrack


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
            if isinstance(value, str) and carrier_name(value):
                return carrier_name(value)
    token = (track.servicelevel.token or "").strip().lower() if track.servicelevel else ""
    if not token:
        return None
    for carrier in _SHIPPO_MULTIWORD_CARRIERS:
        if token == carrier or token.startswith(carrier + "_"):
            return carrier
    return carrier_name(token.split("_", 1)[0])


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
    return location_of(loc.city, loc.state, loc.zip, loc.country) if loc else None


def read_event(
    data: dict, received_at: datetime, *, accept_test_events: bool = False
) -> CarrierUpdate | Ignored:
    kind = event_type_of(NAME, data, "event")
    if kind not in TRACKING_EVENTS:
        return ignored(NAME, kind)
    if data.get("test") is True and not accept_test_events:
        # The dashboard's "send test webhook" button and test-mode tokens: sample data about
        # parcels that do not exist, never to be applied to a real one.
        return Ignored(NAME, f"{kind} (test)", TEST_EVENT)
    event: _ShippoEvent = validate(NAME, _ShippoEvent, data)
    track = event.data
    tracking_number = tracking_number_of(NAME, track.tracking_number, ["data", "tracking_number"])
    current = track.tracking_status or _ShippoStatus()
    history = _scans(current, track.tracking_history or [])
    code = current.substatus.code if current.substatus else None
    if current.status_date is not None:
        event_at, location = current.status_date, _shippo_location(current)
    else:
        latest = latest_of(history, lambda h: h.status_date)
        event_at = latest.status_date if latest else received_at
        location = _shippo_location(latest) if latest else None
    return build_update(
        NAME,
        event_id=_event_id(tracking_number, current, code),
        tracking_number=tracking_number,
        carrier=carrier_name(track.carrier) or _shippo_carrier_elsewhere(track),
        **status_fields(_shippo_normalized(current), raw_status(current.status, code)),
        event_at=event_at,
        location=location,
        eta=track.eta,
        checkpoints=sorted_history(
            [
                (
                    h.status_date,
                    make_checkpoint(
                        h.status_date, _shippo_normalized(h), h.status_details, _shippo_location(h)
                    ),
                )
                for h in history
                if h.status_date is not None
            ]
        ),
    )


def _scans(current: _ShippoStatus, listed: list[_ShippoStatus]) -> list[_ShippoStatus]:
    """The history with the current status in it, each scan once."""
    history = list(listed)
    # Shippo's history normally ends with the current status; add it if not (the same scan under
    # another object_id counts as present).
    if current.status_date is not None and not any(h == current or _same_scan(h, current) for h in history):
        history.append(current)
    # And a scan listed twice within the history itself is kept once.
    unique: list[_ShippoStatus] = []
    for entry in history:
        if not any(_same_scan(kept, entry) for kept in unique):
            unique.append(entry)
    return unique


def _event_id(tracking_number: str, current: _ShippoStatus, code: str | None) -> str:
    """`tracking_status.object_id`, else the documented fallback (Shippo sends no event id)."""
    if current.object_id is not None:
        return event_id_of(NAME, current.object_id, ["data", "tracking_status", "object_id"])
    status_date = current.status_date.isoformat() if current.status_date else None
    return fallback_id(tracking_number, current.status, code, status_date)


SOURCE = JsonSource(  # the TrackingSource port, from the pieces above
    NAME,
    check=lambda body, headers, secrets, now, query: verify_shippo(
        body, headers, secrets, now=now, query=query
    ),
    read=lambda data, headers, received_at, test_events: read_event(
        data, received_at, accept_test_events=test_events
    ),
    normalize=normalize_shippo,
)
