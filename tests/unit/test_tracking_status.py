"""Tracking status: every mapping row of status-map.md, and the ordering rule as properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.tracking.status import (
    TERMINAL,
    NormalizedStatus,
    Reason,
    TrackingStatus,
    should_apply,
)
from homeward.providers.aftership.tracking import normalize_aftership
from homeward.providers.easypost.tracking import normalize_easypost
from homeward.providers.generic.tracking import normalize_generic
from homeward.providers.shippo.tracking import normalize_shippo
from hypothesis import given
from hypothesis import strategies as st

S = TrackingStatus


def test_vocabulary_and_terminal_set():
    assert [s.value for s in S] == [
        "unknown",
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "available_for_pickup",
        "exception",
        "delivered",
        "return_to_sender",
        "failure",
        "cancelled",
        "error",
    ]
    assert {S.DELIVERED, S.RETURN_TO_SENDER, S.FAILURE, S.CANCELLED} == TERMINAL


# --- EasyPost ---------------------------------------------------------------------------------

EASYPOST_ROWS = [
    ("unknown", None, S.UNKNOWN, None),
    ("pre_transit", "label_created", S.PRE_TRANSIT, "label_created"),
    ("pre_transit", "status_update", S.PRE_TRANSIT, "status_update"),
    ("in_transit", "delivery_exception", S.EXCEPTION, "attempt_failed"),
    ("in_transit", "weather_delay", S.EXCEPTION, "delayed"),
    ("in_transit", "delayed", S.EXCEPTION, "delayed"),
    ("in_transit", "held", S.EXCEPTION, "held"),
    ("in_transit", "awaiting_information", S.EXCEPTION, "held"),
    ("in_transit", "address_correction", S.EXCEPTION, "address_issue"),
    ("in_transit", "damaged", S.EXCEPTION, "damaged"),
    ("in_transit", "transit_exception", S.EXCEPTION, "transit_exception"),
    ("in_transit", "missorted", S.EXCEPTION, "transit_exception"),
    ("in_transit", "arrived_at_facility", S.IN_TRANSIT, "arrived_at_facility"),
    ("in_transit", "departed_facility", S.IN_TRANSIT, "departed_facility"),
    ("in_transit", "received_at_origin_facility", S.IN_TRANSIT, "received_at_origin_facility"),
    ("in_transit", "arrived_at_destination", S.IN_TRANSIT, "arrived_at_destination"),
    ("in_transit", None, S.IN_TRANSIT, None),
    ("out_for_delivery", "out_for_delivery", S.OUT_FOR_DELIVERY, None),
    ("available_for_pickup", "arrived_at_pickup_location", S.AVAILABLE_FOR_PICKUP, None),
    ("delivered", None, S.DELIVERED, None),
    ("return_to_sender", "return", S.RETURN_TO_SENDER, "returning"),
    ("failure", "lost", S.FAILURE, "lost"),
    ("failure", "refused", S.FAILURE, "refused"),
    ("failure", "failure", S.FAILURE, "undeliverable"),
    ("failure", None, S.FAILURE, "undeliverable"),
    ("cancelled", "cancelled", S.CANCELLED, None),
    ("error", None, S.ERROR, None),
]


@pytest.mark.parametrize(("status", "status_detail", "expected", "detail"), EASYPOST_ROWS)
def test_easypost_mapping(status, status_detail, expected, detail):
    result = normalize_easypost(status, status_detail)
    assert (result.status, result.detail, result.recognized) == (expected, detail, True)


def test_easypost_action_required_follows_meaning():
    assert normalize_easypost("in_transit", "delivery_exception").action_required
    assert not normalize_easypost("in_transit", "weather_delay").action_required
    assert normalize_easypost("failure", "lost").action_required
    assert normalize_easypost("error").action_required
    assert not normalize_easypost("delivered").action_required


# --- Shippo -----------------------------------------------------------------------------------

SHIPPO_ROWS = [
    ("UNKNOWN", "other", S.UNKNOWN, None),
    ("PRE_TRANSIT", "information_received", S.PRE_TRANSIT, "label_created"),
    *[
        ("TRANSIT", code, S.IN_TRANSIT, code)
        for code in (
            "package_accepted",
            "package_arrived",
            "package_departed",
            "package_processed",
            "package_processing",
            "package_forwarded",
            "delivery_scheduled",
            "delivery_rescheduled",
        )
    ],
    ("TRANSIT", "out_for_delivery", S.OUT_FOR_DELIVERY, None),
    ("TRANSIT", "pickup_available", S.AVAILABLE_FOR_PICKUP, None),
    ("TRANSIT", "delivery_attempted", S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "notice_left", S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "reschedule_delivery", S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "location_inaccessible", S.EXCEPTION, "attempt_failed"),
    ("TRANSIT", "address_issue", S.EXCEPTION, "address_issue"),
    ("TRANSIT", "delayed", S.EXCEPTION, "delayed"),
    ("TRANSIT", "package_held", S.EXCEPTION, "held"),
    ("TRANSIT", "contact_carrier", S.EXCEPTION, "held"),
    ("TRANSIT", "package_damaged", S.EXCEPTION, "damaged"),
    ("DELIVERED", "delivered", S.DELIVERED, None),
    ("RETURNED", "return_to_sender", S.RETURN_TO_SENDER, "returning"),
    ("RETURNED", "package_unclaimed", S.RETURN_TO_SENDER, "unclaimed"),
    ("FAILURE", "package_undeliverable", S.FAILURE, "undeliverable"),
    ("FAILURE", "package_lost", S.FAILURE, "lost"),
    ("FAILURE", "package_disposed", S.FAILURE, "disposed"),
    # substatus null: map on status alone
    ("UNKNOWN", None, S.UNKNOWN, None),
    ("PRE_TRANSIT", None, S.PRE_TRANSIT, None),
    ("TRANSIT", None, S.IN_TRANSIT, None),
    ("DELIVERED", None, S.DELIVERED, None),
    ("RETURNED", None, S.RETURN_TO_SENDER, None),
    ("FAILURE", None, S.FAILURE, None),
]


@pytest.mark.parametrize(("status", "code", "expected", "detail"), SHIPPO_ROWS)
def test_shippo_mapping(status, code, expected, detail):
    result = normalize_shippo(status, code)
    assert (result.status, result.detail, result.recognized) == (expected, detail, True)


# The check marks of the Shippo substatus table.
SHIPPO_ACTION_REQUIRED = {
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


@pytest.mark.parametrize(("status", "code"), [(s, c) for s, c, _, _ in SHIPPO_ROWS if c])
def test_shippo_action_required_defaults_to_documented_flag(status, code):
    assert normalize_shippo(status, code).action_required is (code in SHIPPO_ACTION_REQUIRED)


def test_shippo_action_required_is_copied_through():
    assert normalize_shippo("TRANSIT", "delayed", action_required=True).action_required
    assert not normalize_shippo("TRANSIT", "notice_left", action_required=False).action_required


def test_shippo_unknown_substatus_keeps_the_status_signal():
    result = normalize_shippo("TRANSIT", "teleported")
    assert (result.status, result.detail, result.recognized) == (S.IN_TRANSIT, "teleported", False)


# --- AfterShip --------------------------------------------------------------------------------

AFTERSHIP_ROWS = [
    ("Pending", None, S.UNKNOWN, None),
    ("InfoReceived", "InfoReceived_001", S.PRE_TRANSIT, "label_created"),
    ("InTransit", "InTransit_007", S.IN_TRANSIT, "InTransit_007"),
    ("OutForDelivery", "OutForDelivery_001", S.OUT_FOR_DELIVERY, None),
    ("AvailableForPickup", "AvailableForPickup_001", S.AVAILABLE_FOR_PICKUP, None),
    ("AttemptFail", "AttemptFail_001", S.EXCEPTION, "attempt_failed"),
    ("Delivered", "Delivered_001", S.DELIVERED, None),
    ("Exception", "Exception_010", S.RETURN_TO_SENDER, "returning"),
    ("Exception", "Exception_011", S.RETURN_TO_SENDER, "returned"),
    ("Exception", "Exception_002", S.EXCEPTION, "address_issue"),
    ("Exception", "Exception_003", S.EXCEPTION, "refused"),
    ("Exception", "Exception_004", S.EXCEPTION, "customs"),
    ("Exception", "Exception_005", S.EXCEPTION, "delayed"),
    ("Exception", "Exception_013", S.EXCEPTION, "Exception_013"),
    ("Expired", None, S.UNKNOWN, "expired"),
]


@pytest.mark.parametrize(("tag", "subtag", "expected", "detail"), AFTERSHIP_ROWS)
def test_aftership_mapping(tag, subtag, expected, detail):
    result = normalize_aftership(tag, subtag)
    assert (result.status, result.detail, result.recognized) == (expected, detail, True)


def test_aftership_expired_is_flagged_for_review():
    assert normalize_aftership("Expired").action_required


def test_aftership_return_to_sender_flag_is_an_independent_signal():
    assert normalize_aftership("InTransit", "InTransit_002", return_to_sender=True) == NormalizedStatus(
        S.RETURN_TO_SENDER, "returning"
    )
    assert normalize_aftership("Delivered", "Delivered_001", return_to_sender=True).detail == "returned"


# --- Generic ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(S))
def test_generic_speaks_the_vocabulary(status):
    result = normalize_generic(status.value.upper())
    assert (result.status, result.recognized) == (status, True)


def test_generic_detail_and_flag():
    assert normalize_generic("exception", "held") == NormalizedStatus(S.EXCEPTION, "held", True)
    assert not normalize_generic("exception", "held", action_required=False).action_required


# --- Unknown provider values never raise --------------------------------------------------------

ODD_VALUES = [None, "", "  ", "TELEPORTED", "x" * 500, "\ud800", "in transit"]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_unrecognized_values_map_to_unknown(value):
    for result in (
        normalize_easypost(value, "arrived_at_facility"),
        normalize_shippo(value, "delivered"),
        normalize_aftership(value, "InTransit_001"),
        normalize_generic(value),
    ):
        assert result.status is S.UNKNOWN
        assert not result.recognized
        assert result.detail is None or len(result.detail) <= 64


@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=80)))
def test_normalizers_never_raise(status, detail):
    for result in (
        normalize_easypost(status, detail),
        normalize_shippo(status, detail),
        normalize_aftership(status, detail),
        normalize_generic(status, detail),
    ):
        assert isinstance(result.status, TrackingStatus)


# --- Ordering ---------------------------------------------------------------------------------

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
statuses = st.sampled_from(list(S))
non_terminal = st.sampled_from([s for s in S if s not in TERMINAL])
terminal = st.sampled_from(sorted(TERMINAL))
seconds = st.integers(min_value=1, max_value=30 * 86_400)


@given(statuses, statuses, seconds)
def test_older_event_never_applies(current, new, delta):
    decision = should_apply(current, T0, new, T0 - timedelta(seconds=delta))
    assert not decision.apply
    assert decision.reason is Reason.OLDER_EVENT
    assert not decision.needs_review


@given(terminal, non_terminal, st.integers(min_value=0, max_value=30 * 86_400))
def test_terminal_never_regressed_by_an_older_or_simultaneous_event(current, new, delta):
    assert not should_apply(current, T0, new, T0 - timedelta(seconds=delta)).apply


@given(non_terminal, non_terminal, seconds)
def test_newer_non_terminal_after_non_terminal_always_applies(current, new, delta):
    decision = should_apply(current, T0, new, T0 + timedelta(seconds=delta))
    assert decision.apply
    assert not decision.needs_review


@given(non_terminal, statuses, st.integers(min_value=0, max_value=86_400))
def test_anything_newer_or_simultaneous_after_non_terminal_applies(current, new, delta):
    assert should_apply(current, T0, new, T0 + timedelta(seconds=delta)).apply


@given(terminal, terminal, seconds)
def test_newer_terminal_after_terminal_applies_and_changes_are_flagged(current, new, delta):
    decision = should_apply(current, T0, new, T0 + timedelta(seconds=delta))
    assert decision.apply
    assert decision.needs_review is (current != new)


@given(st.sampled_from([S.DELIVERED, S.RETURN_TO_SENDER, S.CANCELLED]), non_terminal, seconds)
def test_newer_non_terminal_after_terminal_goes_to_review(current, new, delta):
    decision = should_apply(current, T0, new, T0 + timedelta(seconds=delta))
    assert (decision.apply, decision.needs_review) == (False, True)
    assert decision.reason is Reason.NON_TERMINAL_AFTER_TERMINAL


@given(non_terminal, seconds)
def test_failure_may_move_on_when_newer_but_is_flagged(new, delta):
    decision = should_apply(S.FAILURE, T0, new, T0 + timedelta(seconds=delta))
    assert (decision.apply, decision.needs_review, decision.reason) == (True, True, Reason.FAILURE_REVERSED)


def test_first_event_applies():
    assert should_apply(None, None, S.PRE_TRANSIT, T0).apply


def test_equal_timestamps():
    assert should_apply(S.IN_TRANSIT, T0, S.OUT_FOR_DELIVERY, T0).reason is Reason.SAME_TIME_LAST_ARRIVAL
    same_scan = should_apply(S.DELIVERED, T0, S.OUT_FOR_DELIVERY, T0)
    assert (same_scan.apply, same_scan.needs_review) == (False, False)
    assert should_apply(S.DELIVERED, T0, S.DELIVERED, T0).apply
    conflict = should_apply(S.DELIVERED, T0, S.RETURN_TO_SENDER, T0)
    assert (conflict.apply, conflict.needs_review) == (False, True)


def test_non_monotonic_forward_path_is_accepted():
    path = [S.OUT_FOR_DELIVERY, S.EXCEPTION, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED]
    current, at = path[0], T0
    for minutes, status in enumerate(path[1:], start=1):
        when = T0 + timedelta(minutes=minutes)
        assert should_apply(current, at, status, when).apply
        current, at = status, when
    assert current is S.DELIVERED
