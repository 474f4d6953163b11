"""Provider payloads as the providers really send them (#13): each on a provider-shaped sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from homeward.domain.tracking.status import TrackingStatus

from tests.unit.test_webhook_payloads import as_json, parse


def dumps(data: dict) -> bytes:
    return json.dumps(data).encode()


def test_shippo_action_required_on_a_delivery_is_not_an_exception():
    data = as_json("shippo", "delivered")
    data["data"]["tracking_status"]["substatus"]["action_required"] = True
    data["data"]["tracking_history"][-1]["substatus"]["action_required"] = True
    update = parse("shippo", dumps(data))
    assert update.status is TrackingStatus.DELIVERED
    assert update.action_required is False


def test_shippo_action_required_elsewhere_still_counts():
    data = as_json("shippo", "failed_attempt")
    data["data"]["tracking_status"]["substatus"]["action_required"] = True
    assert parse("shippo", dumps(data)).action_required is True


def test_shippo_current_status_repeated_in_the_history_under_another_id_is_one_checkpoint():
    data = as_json("shippo", "delivered")
    track = data["data"]
    before = len(parse("shippo", dumps(data)).checkpoints)
    # Shippo's own shape: the delivered scan in tracking_status and in tracking_history with
    # other object ids, a few milliseconds apart.
    current = track["tracking_status"]
    current["object_id"] = "aaaa0000aaaa0000aaaa0000aaaa0000"
    current["status_date"] = "2026-11-20T19:05:00.004Z"
    track["tracking_history"][-1]["object_id"] = "bbbb1111bbbb1111bbbb1111bbbb1111"
    track["tracking_history"][-1]["status_date"] = "2026-11-20T19:05:00.001Z"
    track["tracking_history"].append(
        {**track["tracking_history"][-1], "object_id": "cccc2222cccc2222cccc2222cccc2222"}
    )
    checkpoints = parse("shippo", dumps(data)).checkpoints
    delivered = [c for c in checkpoints if c.status is TrackingStatus.DELIVERED]
    assert len(delivered) == 1 and len(checkpoints) == before


def test_shippo_scans_seconds_apart_are_both_kept():
    data = as_json("shippo", "delivered")
    history = data["data"]["tracking_history"]
    history.append({**history[-2], "object_id": "dddd3333dddd3333dddd3333dddd3333"})
    history[-1]["status_date"] = "2026-11-20T23:59:00Z"
    assert len(parse("shippo", dumps(data)).checkpoints) == len(history)


def test_easypost_event_time_is_that_of_the_detail_matching_the_tracker_status():
    data = as_json("easypost", "delivered")
    details = data["result"]["tracking_details"]
    delivered = next(d for d in details if d["status"] == "delivered")
    # A back-dated delivered scan, listed before a later (stale) in-transit detail.
    delivered["datetime"] = "2026-11-21T10:00:00Z"
    details.append({**details[1], "datetime": "2026-11-21T18:00:00Z"})
    update = parse("easypost", dumps(data))
    assert update.status is TrackingStatus.DELIVERED
    assert update.event_at == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    city = (delivered.get("tracking_location") or {}).get("city")
    assert update.location is None or update.location.city == city


def test_easypost_without_a_matching_detail_falls_back_to_the_latest():
    data = as_json("easypost", "delivered")
    data["result"]["status"] = "return_to_sender"
    latest = max(d["datetime"] for d in data["result"]["tracking_details"])
    update = parse("easypost", dumps(data))
    assert update.event_at == datetime.fromisoformat(latest.replace("Z", "+00:00"))


def test_shippo_test_webhooks_are_ignored_unless_the_stack_accepts_them():
    from homeward.domain.tracking.ports import Ignored
    from homeward.providers.tracking_sources import parse_webhook

    from tests.unit.test_webhook_payloads import RECEIVED, headers_for

    data = as_json("shippo", "delivered")
    data["test"] = True  # what Shippo's dashboard "send test webhook" button sends
    body = dumps(data)
    ignored = parse("shippo", body)
    assert isinstance(ignored, Ignored) and ignored.event_type == "track_updated (test)"
    accepted = parse_webhook(
        "shippo", body, headers_for("shippo", body), received_at=RECEIVED, accept_test_events=True
    )
    assert accepted.status is TrackingStatus.DELIVERED


def test_shippo_carrier_null_is_read_from_the_service_level():
    data = as_json("shippo", "delivered")
    data["data"]["carrier"] = None
    data["data"]["servicelevel"] = {"token": "usps_priority", "name": "Priority Mail"}
    assert parse("shippo", dumps(data)).carrier == "usps"
    data["data"]["servicelevel"] = {"token": "dhl_express_worldwide", "name": "Express Worldwide"}
    assert parse("shippo", dumps(data)).carrier == "dhl_express"
    data["data"]["servicelevel"] = None
    data["data"]["transaction"] = {"object_id": "t1", "tracking_provider": "UPS"}
    assert parse("shippo", dumps(data)).carrier == "ups"
    data["data"]["transaction"] = "t1"  # only the id: no carrier to be had
    assert parse("shippo", dumps(data)).carrier is None
