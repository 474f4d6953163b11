"""Normalized tracking status: one vocabulary for every carrier, and the rule for applying events.

The vocabulary and the per-provider tables come from brief/reference/status-map.md (SM). The
normalizers never raise: a value the tables do not know maps to the best status the rest of
the input supports (`unknown` when there is no carrier-progress signal) with
`recognized=False`, so the caller can log it and keep the previous status (SM 2.5).

`should_apply` is SM 2.2-2.4 as a pure function over (status, carrier event time) pairs.
Deduplication (SM 2.1) happens before it, on the provider event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TrackingStatus(StrEnum):
    UNKNOWN = "unknown"
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    DELIVERED = "delivered"
    RETURN_TO_SENDER = "return_to_sender"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    ERROR = "error"


S = TrackingStatus

TERMINAL: frozenset[TrackingStatus] = frozenset({S.DELIVERED, S.RETURN_TO_SENDER, S.FAILURE, S.CANCELLED})

# Long provider strings are echoed into `detail` for unrecognized values; keep them bounded.
_MAX_DETAIL = 64


@dataclass(frozen=True)
class NormalizedStatus:
    status: TrackingStatus
    detail: str | None = None
    # Ops should look at it (Shippo's flag; derived from the same meanings for the others).
    action_required: bool = False
    # False when the provider sent a value the tables do not know: log it (SM 2.5).
    recognized: bool = True


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _raw(value: str | None) -> str | None:
    return _clean(value)[:_MAX_DETAIL] or None


def _unrecognized(value: str | None) -> NormalizedStatus:
    return NormalizedStatus(S.UNKNOWN, _raw(value), recognized=False)


# Exceptions an operator can act on (Shippo marks their equivalents action_required);
# a plain delay only needs patience.
_ACTIONABLE_EXCEPTION_DETAILS = frozenset(
    {"attempt_failed", "held", "address_issue", "damaged", "refused", "customs", "transit_exception"}
)


def _derived_action(status: TrackingStatus, detail: str | None) -> bool:
    if status is S.EXCEPTION:
        return detail in _ACTIONABLE_EXCEPTION_DETAILS
    return status in (S.AVAILABLE_FOR_PICKUP, S.FAILURE, S.ERROR)


def _make(status: TrackingStatus, detail: str | None = None, *, recognized: bool = True) -> NormalizedStatus:
    return NormalizedStatus(status, detail, _derived_action(status, detail), recognized)


# --- EasyPost: Tracker.status + status_detail (SM 3, "EasyPost") -------------------------------

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
    status_ = _clean(status).lower()
    detail = _clean(status_detail).lower() or None
    if status_ in _EASYPOST_PLAIN:
        return _make(_EASYPOST_PLAIN[status_])
    if status_ == "pre_transit":
        return _make(S.PRE_TRANSIT, detail)
    if status_ == "in_transit":
        if detail in _EASYPOST_IN_TRANSIT_EXCEPTIONS:
            return _make(S.EXCEPTION, _EASYPOST_IN_TRANSIT_EXCEPTIONS[detail])
        return _make(S.IN_TRANSIT, _raw(detail))
    if status_ == "return_to_sender":
        # EasyPost has no "returned" status_detail of its own; pass one through if it comes.
        return _make(S.RETURN_TO_SENDER, "returned" if detail == "returned" else "returning")
    if status_ == "failure":
        return _make(S.FAILURE, detail if detail in ("lost", "refused") else "undeliverable")
    return _unrecognized(status)


# --- Shippo: tracking_status.status + substatus.code (SM 3, "Shippo") -------------------------

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
    status_ = _clean(status).upper()
    code = _clean(substatus_code).lower() or None
    if status_ not in _SHIPPO_BY_STATUS:
        return _unrecognized(status)
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
        normalized, detail, recognized = _SHIPPO_BY_STATUS[status_], _raw(code), False
    if action_required is None:
        action_required = code in _SHIPPO_ACTION_REQUIRED
    return NormalizedStatus(normalized, detail, action_required, recognized)


# --- AfterShip: msg.tag + msg.subtag (SM 3, "AfterShip Tracking") -----------------------------

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
    tag_ = _clean(tag).lower()
    subtag_ = _clean(subtag)
    known = tag_ in _AFTERSHIP_PLAIN or tag_ in ("intransit", "exception", "expired")
    if return_to_sender and tag_ not in ("pending", "inforeceived", "expired"):
        # Delivered with the flag set means delivered back to the sender.
        return _make(S.RETURN_TO_SENDER, "returned" if tag_ == "delivered" else "returning")
    if not known:
        return _unrecognized(tag)
    if tag_ in _AFTERSHIP_PLAIN:
        return _make(*_AFTERSHIP_PLAIN[tag_])
    if tag_ == "intransit":
        return _make(S.IN_TRANSIT, _raw(subtag_))
    if tag_ == "expired":
        # No tracking information for 30 days: flag for review.
        return NormalizedStatus(S.UNKNOWN, "expired", action_required=True)
    status, detail = _AFTERSHIP_EXCEPTIONS.get(subtag_.lower(), (S.EXCEPTION, _raw(subtag_)))
    return _make(status, detail)


# --- Generic: our own format, which already speaks the normalized vocabulary --------------------


def normalize_generic(
    status: str | None, detail: str | None = None, *, action_required: bool | None = None
) -> NormalizedStatus:
    try:
        normalized = TrackingStatus(_clean(status).lower())
    except ValueError:
        return _unrecognized(status)
    detail_ = _raw(detail)
    if action_required is None:
        action_required = _derived_action(normalized, detail_)
    return NormalizedStatus(normalized, detail_, action_required)


# --- Ordering (SM 2.2-2.4) ---------------------------------------------------------------------


class Reason(StrEnum):
    FIRST_EVENT = "first_event"
    OLDER_EVENT = "older_event"  # history only (SM 2.2)
    NEWER_EVENT = "newer_event"  # non-monotonic forward paths are fine (SM 2.4)
    SAME_TIME_LAST_ARRIVAL = "same_time_last_arrival"
    SAME_TIME_AFTER_TERMINAL = "same_time_after_terminal"
    SAME_TIME_CONFLICTING_TERMINAL = "same_time_conflicting_terminal"
    TERMINAL_AFTER_TERMINAL = "terminal_after_terminal"  # SM 2.3
    FAILURE_REVERSED = "failure_reversed"  # SM 1, footnote †
    NON_TERMINAL_AFTER_TERMINAL = "non_terminal_after_terminal"  # SM 2.3: manual review


@dataclass(frozen=True)
class Decision:
    apply: bool
    reason: Reason
    needs_review: bool = False


def should_apply(
    current_status: TrackingStatus | None,
    current_event_time: datetime | None,
    new_status: TrackingStatus,
    new_event_time: datetime,
) -> Decision:
    """Whether an event changes the current status; events not applied still go to history.

    Times are carrier event times (SM 2.2), timezone-aware. Equal times: the receiver's
    condition is `last_event_at <= :event_at` (CR 6.3), so an event at the same instant counts
    as current and the last arrival wins, except that it never knocks a terminal status back
    to a non-terminal one (a sibling scan from the same moment, e.g. out_for_delivery and
    delivered stamped the same minute and delivered out of order), and two different terminal
    outcomes at the same instant go to manual review.
    A newer terminal event that changes one terminal status into another is applied (SM 2.3)
    but flagged for review: delivered followed by return_to_sender may follow a refund.
    """
    if current_status is None or current_event_time is None:
        return Decision(True, Reason.FIRST_EVENT)
    if new_event_time < current_event_time:
        return Decision(False, Reason.OLDER_EVENT)
    current_terminal = current_status in TERMINAL
    new_terminal = new_status in TERMINAL
    if new_event_time == current_event_time:
        if not current_terminal:
            return Decision(True, Reason.SAME_TIME_LAST_ARRIVAL)
        if not new_terminal:
            return Decision(False, Reason.SAME_TIME_AFTER_TERMINAL)
        if new_status == current_status:
            return Decision(True, Reason.SAME_TIME_LAST_ARRIVAL)
        return Decision(False, Reason.SAME_TIME_CONFLICTING_TERMINAL, needs_review=True)
    if not current_terminal:
        return Decision(True, Reason.NEWER_EVENT)
    if new_terminal:
        return Decision(True, Reason.TERMINAL_AFTER_TERMINAL, needs_review=new_status != current_status)
    if current_status == S.FAILURE:
        # "failure due to weather" may move on again: accept it, but flag it.
        return Decision(True, Reason.FAILURE_REVERSED, needs_review=True)
    return Decision(False, Reason.NON_TERMINAL_AFTER_TERMINAL, needs_review=True)
