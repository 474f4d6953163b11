"""Refunds end to end on the local stack: a carrier's delivery webhook triggers the refund
(policy `delivered`), the ledger provider settles it asynchronously, the shopper sees it
with its breakdown, and neither a re-delivered webhook nor a re-published trigger event
refunds twice. Ops then refund by hand over HTTP and export the refunds as CSV.
"""

from __future__ import annotations

import csv
import io
import time
import urllib.parse
from datetime import UTC, datetime

import boto3
import pytest

from tests.e2e.test_returns_e2e import _attribute, call, ops_headers, push_order, sign_in, start_return
from tests.e2e.test_webhooks_e2e import journey_step, post_webhook

pytestmark = pytest.mark.e2e


def sweep(stack) -> None:
    """Wait past the local ledger's settle time (3 s), fire the refund sweep, let events settle."""
    time.sleep(3.5)
    fired = call(stack, "POST", "/_local/schedules/RefundSweepFunction/Sweep")
    assert fired.status == 200 and fired.json["status"] == "ok", fired.content
    stack.settle()


def test_a_return_delivered_by_webhook_is_refunded_once(local_stack):
    order = push_order(local_stack, "refund")
    auth = sign_in(local_stack, order.number, order.email)
    lines = [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]
    created = start_return(local_stack, order, auth, lines, key=None)
    assert created.status == 201, created.content
    rma, preview = created.json["rma"], created.json["preview"]
    local_stack.settle()
    before = call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns/{rma}", headers=auth).json
    assert before["refund"]["estimated"] is True and before["refund"]["money_status"] == "none"
    number = before["label"]["tracking_number"]

    delivered = journey_step("aftership", "delivered", number, 1)
    assert post_webhook(local_stack, "aftership", delivered).json["status"] == "accepted"
    local_stack.settle()
    pending = call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns/{rma}", headers=auth).json
    assert pending["status"] == "delivered"
    refund = pending["refund"]
    assert refund["money_status"] == "pending" and refund["estimated"] is False
    assert refund["movements"] == [
        {
            "kind": "refund",
            "amount": preview["refund_total"],
            "currency": "USD",
            "status": "pending",
            "method": "original_payment",
            "credit_code": None,
            "created_at": refund["movements"][0]["created_at"],
            "settled_at": None,
        }
    ]

    sweep(local_stack)
    view = call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns/{rma}", headers=auth).json
    refund = view["refund"]
    assert refund["money_status"] == "refunded" and refund["movements"][0]["status"] == "succeeded"
    line = refund["amounts"]["lines"][0]
    assert refund["amounts"]["refund_total"] == preview["refund_total"]
    assert (
        line["merchandise"] - line["discount"] - line["order_discount"] + line["tax"] - line["restocking_fee"]
        == (line["amount"])
    )
    assert refund["expected_by"] == datetime.now(UTC).date().isoformat()
    assert "refund.issued" in [e["type"] for e in view["timeline"]]

    # The carrier re-delivers its webhook, and SNS re-delivers the trigger event.
    assert post_webhook(local_stack, "aftership", delivered).json["status"] == "duplicate"
    notifications = call(local_stack, "GET", "/_local/outbox").json["notifications"]
    trigger = next(
        n
        for n in notifications
        if _attribute(n, "rma") == rma and _attribute(n, "type") == "return.delivered"
    )
    sns = boto3.client(
        "sns",
        endpoint_url=local_stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if "DomainEvents" in t["TopicArn"])
    names = ("type", "event_id", "rma", "order_id", "status")
    sns.publish(
        TopicArn=topic,
        Message=trigger["message"],
        MessageAttributes={
            name: {"DataType": "String", "StringValue": _attribute(trigger, name)}
            for name in names
            if _attribute(trigger, name)
        },
    )
    local_stack.settle()
    sweep(local_stack)

    ops = call(local_stack, "GET", f"/ops/returns/{rma}", headers=ops_headers(local_stack)).json
    types = [e["type"] for e in ops["timeline"]]
    assert types.count("refund.requested") == 1 and types.count("refund.issued") == 1, types
    assert [(m["idempotency_key"], m["status"]) for m in ops["record"]["refund"]["movements"]] == [
        (f"refund:{rma}:1", "succeeded")
    ]

    # Ops add a goodwill refund by hand; a double click changes nothing.
    headers = {**ops_headers(local_stack, "lee@shop.example"), "Idempotency-Key": f"goodwill-{rma}"}
    body = {"amount": 250, "currency": "USD", "kind": "refund", "reason": "Sorry for the wait"}
    first = call(local_stack, "POST", f"/ops/returns/{rma}/refunds", body, headers=headers)
    again = call(local_stack, "POST", f"/ops/returns/{rma}/refunds", body, headers=headers)
    assert first.status == again.status == 202 and first.json == again.json
    local_stack.settle()
    sweep(local_stack)

    today = datetime.now(UTC).date().isoformat()
    query = urllib.parse.urlencode({"from": today, "to": today})
    export = call(local_stack, "GET", f"/ops/refunds/export?{query}", headers=ops_headers(local_stack))
    assert export.status == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = [r for r in csv.DictReader(io.StringIO(export.content.decode())) if r["rma"] == rma]
    assert [(r["seq"], r["kind"], r["status"], r["amount_minor"], r["trigger"]) for r in rows] == [
        ("1", "refund", "succeeded", str(preview["refund_total"]), "delivered"),
        ("2", "refund", "succeeded", "250", "manual"),
    ]
