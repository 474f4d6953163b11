"""Real events written by the integration flows validate against the event catalogue
(homeward/domain/events.py): the body of every event item in the table after a return is filed,
approved, received, refunded and closed, as DomainEventsFunction would publish it."""

from __future__ import annotations

import json

import boto3
from homeward.adapters.events import event_attributes
from homeward.domain.events import EventAttributes, validate_event

from tests.conftest import TABLE
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import deliver_message
from tests.integration.test_returns_flow import ops, recent_order, start


def event_items() -> list[dict]:
    """Every event item in the table, deserialized as the stream's publisher sees it."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    items = [item for page in pages for item in page["Items"] if item.get("entity", {}).get("S") == "event"]
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in items]


def assert_every_event_validates() -> set[str]:
    items = event_items()
    for image in items:
        validate_event(json.loads(image["doc"]))
        EventAttributes.model_validate(event_attributes(image))
    return {image["type"] for image in items}


def test_a_filed_approved_and_received_return_writes_catalogued_events(aws):
    assert put_order(recent_order()).status == 201
    rma = start(sign_in().body["token"]).body["rma"]
    assert ops("receive", rma, action="receive").status == 200
    seen = assert_every_event_validates()
    assert {"return.requested", "return.approved", "return.received"} <= seen, seen


def test_a_keep_the_item_return_refunded_and_closed_writes_catalogued_events(aws):
    cheap = recent_order(
        lines=[{"line_id": "L1", "sku": "SOCK", "title": "Socks", "quantity": 1, "unit_price": 800}],
        order_discount=0,
        shipments=[],
        payments=[{"payment_id": "P1", "provider": "stripe", "reference": "pi_3Socks", "captured": 800}],
    )
    assert put_order(cheap).status == 201
    lines = [{"line_id": "L1", "quantity": 1, "reason": "changed_mind", "resolution": "keep_item"}]
    rma = start(sign_in().body["token"], lines).body["rma"]
    deliver_message(rma, "return.approved", seq=2)
    seen = assert_every_event_validates()
    assert {"return.requested", "return.approved", "refund.requested", "return.closed"} <= seen, seen
