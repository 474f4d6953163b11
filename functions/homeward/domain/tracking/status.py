"""Normalized tracking status: one vocabulary for every carrier, and the rule for applying events.

The vocabulary (`TrackingStatus`, defined with the models) comes from
brief/reference/status-map.md (SM); each provider's table lives in its package
(homeward/providers/<name>/tracking.py) and is built from the helpers here. The normalizers
never raise: a value the tables do not know maps to the best status the rest of
the input supports (`unknown` when there is no carrier-progress signal) with
`recognized=False`, so the caller can log it and keep the previous status (SM 2.5).

`should_apply` is SM 2.2-2.4 as a pure function over (status, carrier event time) pairs.
Deduplication (SM 2.1) happens before it, on the provider event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from homeward.models.tracking import TrackingStatus

S = TrackingStatus

TERMINAL: frozenset[TrackingStatus] = frozenset({S.DELIVERED, S.RETURN_TO_SENDER, S.FAILURE, S.CANCELLED})

# Long provider strings are echoed into `detail` for unrecognized values; keep them bounded.
MAX_RAW_DETAIL = 64


@dataclass(frozen=True)
class NormalizedStatus:
    status: TrackingStatus
    detail: str | None = None
    # Ops should look at it (Shippo's flag; derived from the same meanings for the others).
    action_required: bool = False
    # False when the provider sent a value the tables do not know: log it (SM 2.5).
    recognized: bool = True


def clean_code(value: str | None) -> str:
    return (value or "").strip()


def raw_code(value: str | None) -> str | None:
    return clean_code(value)[:MAX_RAW_DETAIL] or None


def unrecognized(value: str | None) -> NormalizedStatus:
    return NormalizedStatus(S.UNKNOWN, raw_code(value), recognized=False)


# Exceptions an operator can act on (Shippo marks their equivalents action_required);
# a plain delay only needs patience.
_ACTIONABLE_EXCEPTION_DETAILS = frozenset(
    {"attempt_failed", "held", "address_issue", "damaged", "refused", "customs", "transit_exception"}
)


def derived_action(status: TrackingStatus, detail: str | None) -> bool:
    if status is S.EXCEPTION:
        return detail in _ACTIONABLE_EXCEPTION_DETAILS
    return status in (S.AVAILABLE_FOR_PICKUP, S.FAILURE, S.ERROR)


def make_status(
    status: TrackingStatus, detail: str | None = None, *, recognized: bool = True
) -> NormalizedStatus:
    return NormalizedStatus(status, detail, derived_action(status, detail), recognized)


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
