"""Carrier webhooks end to end: signed EasyPost, Shippo and AfterShip deliveries over HTTP.

A shopper starts a return on the local stack, the sandbox carrier's label is bought, and
three providers report the parcel's journey with their own signatures and formats. The
return moves to `delivered`, the shopper's tracking page shows the parcel, a re-delivered
webhook changes nothing, and the shipment and return events reach the DomainEvents topic.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from infra.webhook_signing import LOCAL_SECRETS, load_sample, retarget, signed_headers
from tests.e2e.test_returns_e2e import (
    _attribute,
    call,
    ops_headers,
    push_order,
    send,
    sign_in,
    start_return,
)

pytestmark = pytest.mark.e2e


def post_webhook(stack, provider: str, body: bytes):
    headers = signed_headers(provider, body, LOCAL_SECRETS[provider])
    request = urllib.request.Request(
        f"{stack.api_url}/webhooks/{provider}", data=body, method="POST", headers=headers
    )
    return send(request)


def journey_step(provider: str, case: str, tracking_number: str, hours_ago: float) -> bytes:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    return retarget(load_sample(provider, case), provider, tracking_number=tracking_number, occurred_at=at)


def test_three_providers_deliver_a_return_and_the_shopper_sees_it(local_stack):
    order = push_order(local_stack, "webhooks")
    auth = sign_in(local_stack, order.number, order.email)
    lines = [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]
    created = start_return(local_stack, order, auth, lines, key=None)
    assert created.status == 201, created.content
    rma = created.json["rma"]
    local_stack.settle()  # the approval bought the label; the order registered its parcel

    tracking = call(local_stack, "GET", f"/portal/orders/{order.order_id}/tracking", headers=auth)
    assert tracking.status == 200, tracking.content
    parcels = {p["direction"]: p for p in tracking.json["parcels"]}
    assert set(parcels) == {"outbound", "return"}
    number = parcels["return"]["tracking_number"]
    assert parcels["return"]["rma"] == rma and parcels["return"]["status"] == "unknown"

    steps = [
        ("easypost", "in_transit", 5),
        ("shippo", "out_for_delivery", 2),
        ("aftership", "delivered", 1),
    ]
    bodies = [(provider, journey_step(provider, case, number, hours)) for provider, case, hours in steps]
    # Out of order on purpose: the delivery arrives first, the older scans afterwards.
    for provider, body in reversed(bodies):
        reply = post_webhook(local_stack, provider, body)
        assert reply.status == 200 and reply.json["status"] == "accepted", reply.content
    again = post_webhook(local_stack, *bodies[-1])
    assert again.status == 200 and again.json["status"] == "duplicate"
    tampered = urllib.request.Request(
        f"{local_stack.api_url}/webhooks/easypost",
        data=bodies[0][1] + b" ",
        method="POST",
        headers=signed_headers("easypost", bodies[0][1], LOCAL_SECRETS["easypost"]),
    )
    assert send(tampered).status == 401  # a body changed after signing is refused
    local_stack.settle()

    view = call(local_stack, "GET", f"/ops/returns/{rma}", headers=ops_headers(local_stack))
    assert view.status == 200, view.content
    assert view.json["record"]["status"] == "delivered"
    types = [entry["type"] for entry in view.json["timeline"]]
    # The delivery came first, so the return went straight from label_issued to delivered,
    # and the older scans that followed were history only.
    assert types.count("return.delivered") == 1 and "return.in_transit" not in types

    tracking = call(local_stack, "GET", f"/portal/orders/{order.order_id}/tracking", headers=auth)
    returned = next(p for p in tracking.json["parcels"] if p["direction"] == "return")
    assert returned["status"] == "delivered" and returned["delivered"] is True
    statuses = [event["status"] for event in returned["events"]]
    assert statuses[0] == "delivered"
    assert {"in_transit", "out_for_delivery"} <= set(statuses)

    notifications = call(local_stack, "GET", "/_local/outbox").json["notifications"]
    parcel_events = [n for n in notifications if _attribute(n, "tracking_number") == number]
    kinds = sorted(_attribute(n, "type") for n in parcel_events)
    assert kinds.count("shipment.delivered") == 1
    assert all(_attribute(n, "rma") == rma for n in parcel_events)
    assert len({_attribute(n, "event_id") for n in parcel_events}) == len(parcel_events)
    delivered = next(n for n in parcel_events if _attribute(n, "type") == "shipment.delivered")
    assert json.loads(delivered["message"])["status"] == "delivered"
