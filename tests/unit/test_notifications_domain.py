"""Notification rules, pure: which event is which message, channels and preferences, quiet
hours in the shopper's time zone, and the signed unsubscribe and survey links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.notifications.rules import (
    SMS_KINDS,
    LinkTokens,
    Preferences,
    Recipient,
    channels_for,
    dedupe_key,
    message_for,
    sms_send_at,
)
from homeward.errors import Unauthorized
from hypothesis import given
from hypothesis import strategies as st

KEY = "k" * 40


def shopper(**changes) -> Recipient:
    base = {
        "email": "maya.chen@example.com",
        "phone": "+15555550142",
        "locale": "en",
        "time_zone": None,
        "name": "Maya",
    }
    return Recipient(**(base | changes))


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"type": "return.requested"}, "return_requested"),
        ({"type": "return.label_issued"}, "return_approved"),
        ({"type": "return.approved"}, None),  # told with its label
        ({"type": "return.rejected"}, "return_rejected"),
        ({"type": "return.expired"}, "label_expired"),
        ({"type": "refund.issued"}, "refund_issued"),
        ({"type": "refund.pending"}, None),  # internal
        ({"type": "credit.issued"}, "credit_issued"),
        ({"type": "return.closed"}, "survey"),
        ({"type": "return.note_added"}, None),
        ({"type": "shipment.updated", "direction": "outbound", "status": "in_transit"}, "shipment_shipped"),
        (
            {"type": "shipment.updated", "direction": "outbound", "status": "out_for_delivery"},
            "shipment_out_for_delivery",
        ),
        ({"type": "shipment.updated", "direction": "outbound", "status": "info_received"}, None),
        ({"type": "shipment.delivered", "direction": "outbound"}, "shipment_delivered"),
        ({"type": "shipment.delivered", "direction": "return"}, None),  # told as return.delivered
        ({"type": "shipment.delayed", "direction": "outbound"}, "shipment_delayed"),
    ],
)
def test_each_event_is_told_as_one_message_or_none(event, kind):
    assert message_for(event) == kind


def test_keep_the_item_approval_is_told_at_approval():
    assert message_for({"type": "return.approved"}, keeps_every_item=True) == "return_approved"


def test_channels_follow_addresses_and_preferences():
    def sent(kind="refund_issued", recipient=None, prefs=None):
        decisions = channels_for(kind, recipient or shopper(), prefs or Preferences())
        return {d.channel: (d.send, d.reason) for d in decisions}

    assert sent() == {"email": (True, "ok"), "sms": (False, "sms_not_opted_in")}
    assert sent(prefs=Preferences(sms_opt_in=True)) == {"email": (True, "ok"), "sms": (True, "ok")}
    assert sent(prefs=Preferences(sms_opt_in=True, sms_opt_out=True))["sms"] == (False, "sms_opted_out")
    assert sent(prefs=Preferences(email_opt_out=True))["email"] == (False, "unsubscribed")
    assert sent(recipient=shopper(email="not-an-email"))["email"] == (False, "no_valid_email")
    assert sent(recipient=shopper(phone="5550142"), prefs=Preferences(sms_opt_in=True))["sms"] == (
        False,
        "no_valid_phone",
    )
    assert set(sent(kind="return_requested")) == {"email"}  # not worth an SMS
    assert "return_requested" not in SMS_KINDS


def test_sms_waits_for_the_morning_in_the_shoppers_time_zone():
    berlin = "Europe/Berlin"
    day = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
    assert sms_send_at(day, berlin) == day
    late = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    assert sms_send_at(late, berlin) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 Berlin
    early = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    assert sms_send_at(early, berlin) == datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    assert sms_send_at(late, None) == late and sms_send_at(late, "Not/AZone") == late


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
    st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "America/St_Johns"]
    ),
)
def test_an_sms_never_goes_out_at_night_and_never_waits_more_than_11_hours(moment, zone):
    from zoneinfo import ZoneInfo

    now = moment.replace(tzinfo=UTC)
    at = sms_send_at(now, zone)
    assert now <= at <= now + timedelta(hours=11, minutes=30)
    local = at.astimezone(ZoneInfo(zone)).time()
    assert not (local.hour >= 21 or local.hour < 8)


def test_links_are_signed_for_their_purpose_only():
    links = LinkTokens(["old-" + KEY, KEY])
    unsubscribe = links.unsubscribe("fp123")
    assert links.check_unsubscribe(unsubscribe) == ("fp123", "email")
    assert links.check_unsubscribe(links.unsubscribe("fp123", "sms")) == ("fp123", "sms")
    survey = links.survey("R-7K3M-9QXA")
    assert links.check_survey(survey) == "R-7K3M-9QXA"
    with pytest.raises(Unauthorized):
        links.check_survey(unsubscribe)  # another purpose's link
    with pytest.raises(Unauthorized):
        links.check_unsubscribe(survey)
    with pytest.raises(Unauthorized):
        links.check_unsubscribe(unsubscribe[:-2] + "xx")
    rotated = LinkTokens([KEY, "new-" + KEY])  # the old key still verifies during a rotation
    assert rotated.check_unsubscribe(unsubscribe) == ("fp123", "email")
    with pytest.raises(ValueError):
        LinkTokens(["short"])


def test_parcel_milestones_are_sent_once_per_parcel_other_messages_once_per_event():
    shipped = {
        "type": "shipment.updated",
        "direction": "outbound",
        "tracking_number": "1Z999",
        "status": "in_transit",
    }
    assert dedupe_key("shipment_shipped", shipped, "1Z999:000003#0") == "1Z999:shipment_shipped"
    assert (
        dedupe_key("shipment_shipped", shipped, "1Z999:000007#0") == "1Z999:shipment_shipped"
    )  # an ETA update
    delayed = {**shipped, "type": "shipment.delayed"}
    assert dedupe_key("shipment_delayed", delayed, "1Z999:000008#1") == "1Z999:000008#1"
    assert dedupe_key("refund_issued", {"type": "refund.issued"}, "R-1:000007") == "R-1:000007"


class CountingLookup:
    def __init__(self) -> None:
        self.reads: list[str] = []

    def get_return(self, rma):
        self.reads.append(rma)
        return None

    def get_order(self, order_id):
        self.reads.append(order_id)
        return None

    def save_note(self, record, event, *, expected_version):  # pragma: no cover - never reached
        raise AssertionError("nothing to note")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "refund.requested"},
        {"type": "shipment.delivered", "direction": "return", "tracking_number": "9400"},
        {"type": "shipment.updated", "direction": "outbound", "status": "info_received"},
    ],
)
def test_events_without_a_message_read_nothing(event):
    from homeward.domain.notifications.service import notify

    lookup = CountingLookup()
    result = notify(
        event,
        event_id="R-1:000004",
        order_id="ord_1",
        rma="R-1",
        store=None,
        lookup=lookup,
        build=None,
        send=None,
        now=datetime(2026, 11, 22, tzinfo=UTC),
    )
    assert result == [] and lookup.reads == []
