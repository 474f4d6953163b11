"""Merchant order upsert -> shopper sign-in -> shopper order view, through the real handlers on moto."""

from __future__ import annotations

import json

from tests.conftest import MERCHANT_KEY, invoke, load_event

MERCHANT = "homeward.handlers.merchant_api"
PORTAL = "homeward.handlers.portal_api"


def put_order(body: dict | None = None, order_id: str = "ord_1001", key: str = MERCHANT_KEY, **headers):
    event = load_event("merchant_api.put_order")
    event["headers"]["authorization"] = f"Bearer {key}"
    event["headers"].update(headers)
    event["pathParameters"] = {"orderId": order_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/orders/{order_id}"
    if body is not None:
        event["body"] = json.dumps(body)
    return invoke(MERCHANT, event)


def test_smoke(aws):
    first = put_order()
    assert first.status == 201, first.raw
    assert first.body == {"order_id": "ord_1001", "version": 1, "result": "created"}
    again = put_order()
    assert again.status == 200 and again.body["result"] == "unchanged"
    session = invoke(PORTAL, load_event("portal_api.create_session"))
    assert session.status == 200, session.raw
    view = load_event("portal_api.get_order")
    view["headers"]["authorization"] = f"Bearer {session.body['token']}"
    order = invoke(PORTAL, view)
    assert order.status == 200, order.raw
    assert order.body["contact"]["email"] == "j***@example.com"
