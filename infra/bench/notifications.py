"""Data and events for the notification operations of the bench (NotificationsFunction).

Used by infra/bench/sections/aws_calls.py (`notification_operations`), tests/infra/test_template.py
(through it) and infra/bench/sections/cold_start.py (the `notifications.*` samples).

NotificationsFunction reads SQS records that the DomainEvents topic delivers raw: the body is
the event's document, the message attributes are `homeward.adapters.events.event_attributes`
of the event item. The bench has no stream and no topic, so `notification_message(stack, item)`
builds that record from an event item read back from the table, as DomainEventsFunction would
publish it. `seed_notifications(stack, tag, wanted)` makes the events happen through the real
code, each end state read back and checked:

* `label`: a return on an order whose shopper did not opt in to SMS, its label bought by the
  real LabelsFunction (sandbox carrier): its `return.label_issued` is the `return_approved`
  message, by email only (not opted in to texts: no SMS record);
* `refund`: a return on an order whose shopper opted in to SMS at checkout
  (`customer.sms_opt_in`, an E.164 phone, no time zone: never quiet hours), delivered (the
  domain's `return_service.act` as the carrier, as infra/bench/refunds.py does) and refunded
  by the real RefundsFunction through the ledger provider, settled at once: its
  `refund.issued` goes by email and SMS;
* `duplicate`: as `refund`, and its `refund.issued` already handled by the real
  NotificationsFunction (both messages sent), so the same record again is a duplicate;
* `parcel`: an order (SMS opt-in) shipping in a parcel of its own number, registered by the
  real TrackingFunction (the order's INSERT), and a signed EasyPost `delivered` webhook stored
  by WebhooksFunction and applied by TrackingFunction: the parcel's `shipment.delivered`
  (direction outbound) goes by email and SMS.

Every `label` return also has its `return.approved` event, which has no message (its label
comes): `approved_message`.
"""

from __future__ import annotations

import copy
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infra.bench.refunds import Seeded, _Domain, refund_message
from infra.bench.returns import TOO_SMALL, SeedLabel, SeedReturn, order_for, seed, seed_labels
from infra.bench.stack import FUNCTIONS_DIR, BenchStack, function_by_module, load_event, op, run_calls
from infra.bench.tracking import (
    TRACKING,
    WEBHOOKS,
    enable_webhook_secrets,
    inbox_item,
    order_item,
    order_with_parcels,
    signed_webhook,
    stream_event,
    stream_record,
    tracking_number,
)

NOTIFICATIONS = "homeward.handlers.notifications"
REFUNDS = "homeward.handlers.refunds"
PURPOSES = ("label", "refund", "duplicate", "parcel")
# What the sent-once records of a purpose's message say once it was handled: {channel: status}.
DELIVERED = {
    "label": {"email": "sent", "sms": None},  # not opted in to texts: no SMS record at all
    "refund": {"email": "sent", "sms": "sent"},
    "duplicate": {"email": "sent", "sms": "sent"},
    "parcel": {"email": "sent", "sms": "sent"},
}
# The purpose whose events are of a type (the cold-start samples: events/notifications.*.json).
PURPOSE_BY_TYPE = {"return.label_issued": "label", "refund.issued": "refund", "shipment.delivered": "parcel"}
# A shopper who agreed to SMS at checkout: the sample's E.164 phone, no time zone (an SMS is
# never held over quiet hours, whatever time the bench runs).
SMS_PHONE = "+14155550123"


@dataclass
class NotificationSeed:
    """What `seed_notifications` stored: per purpose the event items (as read from the table)
    whose messages the operations send, in the order made."""

    tag: str
    events: dict[str, list[dict]] = field(default_factory=dict)
    approved: list[dict] = field(default_factory=list)  # the `label` returns' return.approved items
    returns: dict[str, list[Seeded]] = field(default_factory=dict)

    def __getitem__(self, purpose: str) -> list[dict]:
        return self.events[purpose]


# ---- messages ----------------------------------------------------------------------------------


def _image(item: dict) -> dict:
    """A table item (DynamoDB JSON) as plain values, like the stream image the outbox publishes."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def notification_message(stack: BenchStack, item: dict) -> dict:
    """A NotificationsQueue record for NotificationsFunction carrying one event item, as SNS
    delivers what DomainEventsFunction publishes (raw: the body is the document, the attributes
    `event_attributes(image)`)."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    from homeward.adapters.events import event_attributes

    image = _image(item)
    event = copy.deepcopy(load_event("notifications.return_approved"))
    (record,) = event["Records"]
    record["messageId"] = str(uuid.uuid4())
    record["body"] = image["doc"]
    record["messageAttributes"] = {
        name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        for name, value in event_attributes(image).items()
    }
    record["eventSourceARN"] = stack.attrs[("NotificationsQueue", "Arn")]
    return event


def dedupe_key(item: dict) -> tuple[str, str]:
    """(the message kind, the key its sent-once records are under: NOTIFY#<key> / CH#<channel>)."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    from homeward.adapters.events import event_attributes
    from homeward.domain.notifications import rules as notifications

    image = _image(item)
    doc = {**json.loads(image["doc"]), "type": image["type"]}
    kind = notifications.message_for(doc)
    if kind is None:
        raise ValueError(f"{image['type']} has no message")
    return kind, notifications.dedupe_key(kind, doc, event_attributes(image)["event_id"])


def delivery_problem(stack: BenchStack, item: dict, purpose: str) -> str | None:
    """None if the event's message went out as `DELIVERED[purpose]` says, else what happened."""
    statuses, expected = sent_status(stack, item), DELIVERED[purpose]
    if statuses != expected:
        event = f"{item['pk']['S']} {item['type']['S']}"
        return f"{event}: sent-once records {statuses}, expected {expected}"
    return None


def sent_status(stack: BenchStack, item: dict) -> dict[str, str | None]:
    """The sent-once records of an event's message: {channel: status} (None: no record)."""
    _, key = dedupe_key(item)
    ddb = stack.client("dynamodb")
    statuses = {}
    for channel in ("email", "sms"):
        found = ddb.get_item(
            TableName=stack.table_name,
            Key={"pk": {"S": f"NOTIFY#{key}"}, "sk": {"S": f"CH#{channel}"}},
            ConsistentRead=True,
        ).get("Item")
        statuses[channel] = found["status"]["S"] if found else None
    return statuses


# ---- event items -----------------------------------------------------------------------------------


def _events(stack: BenchStack, pk: str) -> list[dict]:
    return stack.client("dynamodb").query(
        TableName=stack.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":event": {"S": "EVENT#"}},
        ConsistentRead=True,
    )["Items"]


def event_item(stack: BenchStack, pk: str, event_type: str) -> dict:
    """The one event of `event_type` under `pk` (RETURN#<rma> or SHIPMENT#<number>)."""
    found = [i for i in _events(stack, pk) if i["type"]["S"] == event_type]
    if len(found) != 1:
        raise RuntimeError(f"notification seeding: {pk} has {len(found)} {event_type} events, expected 1")
    return found[0]


# ---- seeding ----------------------------------------------------------------------------------------


def _opted_in(order_id: str, body: dict) -> tuple[str, dict]:
    body = copy.deepcopy(body)
    body["customer"].update(phone=SMS_PHONE, sms_opt_in=True)
    body["customer"].pop("time_zone", None)
    return order_id, body


def _check(results: list[dict], expected, what: str) -> None:
    for result in results:
        if result["status"] != expected:
            raise RuntimeError(
                f"notification seeding ({what}): {result['label']}: {result['status']} {result['body']}"
            )


def seed_notifications(stack: BenchStack, tag: str, wanted: dict[str, int] | None = None) -> NotificationSeed:
    """The events every notification operation sends (`wanted`: how many per purpose; 2 each by
    default - a cold and a warm call); see the module docstring."""
    wanted = dict.fromkeys(PURPOSES, 2) | (wanted or {})
    data = NotificationSeed(tag)
    now = datetime.now(UTC)

    # Orders (merchant API) and returns (portal), in one child.
    orders: dict[str, dict] = {}
    specs: dict[str, list[SeedReturn]] = {"label": [], "refund": [], "duplicate": []}
    for purpose in specs:
        for n in range(wanted[purpose]):
            order_id, body = order_for(tag, f"nt-{purpose}{n}")
            if purpose != "label":
                order_id, body = _opted_in(order_id, body)
            orders[order_id] = body
            specs[purpose].append(SeedReturn(order_id, [TOO_SMALL]))
    parcels = [tracking_number(tag, f"nt{n}") for n in range(wanted["parcel"])]
    parcel_orders = []
    for n, number in enumerate(parcels):
        order_id, body = _opted_in(*order_with_parcels(tag, f"nt-parcel{n}", [number]))
        orders[order_id] = body
        parcel_orders.append(order_id)
    seed(stack, orders, [s for group in specs.values() for s in group])
    data.returns = {p: [Seeded(s.order_id, s.rma) for s in group] for p, group in specs.items()}

    # Labels (LabelsFunction, sandbox carrier), one child.
    seed_labels(stack, [SeedLabel(s) for s in specs["label"]])

    # Refunds: delivered as the carrier (in this process), then refunded by RefundsFunction; the
    # parcels registered by TrackingFunction and their `delivered` webhooks stored; one child.
    domain = _Domain(stack) if specs["refund"] or specs["duplicate"] else None
    refunded = [*data.returns["refund"], *data.returns["duplicate"]]
    versions = {ret.rma: domain.deliver(ret.rma, now) for ret in refunded}
    refunds_fn, tracking_fn = function_by_module(REFUNDS), function_by_module(TRACKING)
    webhooks_fn = function_by_module(WEBHOOKS)
    if parcels:
        enable_webhook_secrets(stack)
    ops = [
        op(f"refund {r.rma}", refunds_fn, refund_message(r, "return.delivered", versions[r.rma]))
        for r in refunded
    ]
    ops += [
        op(f"register {o}", tracking_fn, stream_event(stream_record(stack, order_item(stack, o))))
        for o in parcel_orders
    ]
    delivered_at = now - timedelta(minutes=20)
    ops += [
        op(
            f"webhook {n}",
            webhooks_fn,
            signed_webhook("easypost", "delivered", tracking_number=n, at=delivered_at),
        )
        for n in parcels
    ]
    results = run_calls(stack, ops, env={"LEDGER_SETTLE_SECONDS": "0"})["ops"] if ops else []
    _check(results[: len(refunded) + len(parcels)], "ok", "refunds and parcels")
    webhook_ids = []
    for result in results[len(refunded) + len(parcels) :]:
        body = json.loads(result["body"] or "{}")
        if result["status"] != 200 or body.get("status") != "accepted":
            raise RuntimeError(f"notification seeding: {result['label']}: {result['status']} {body}")
        webhook_ids.append(body["webhook_id"])
    for ret in refunded:
        record = domain.record(ret.rma)
        if record.money_status != "refunded":
            raise RuntimeError(f"notification seeding: {ret.rma} is {record.money_status}, not refunded")

    data.events = {
        "label": [event_item(stack, f"RETURN#{r.rma}", "return.label_issued") for r in data.returns["label"]],
        "refund": [event_item(stack, f"RETURN#{r.rma}", "refund.issued") for r in data.returns["refund"]],
        "duplicate": [
            event_item(stack, f"RETURN#{r.rma}", "refund.issued") for r in data.returns["duplicate"]
        ],
    }
    data.approved = [event_item(stack, f"RETURN#{r.rma}", "return.approved") for r in data.returns["label"]]

    # The webhooks applied to the parcels (TrackingFunction); the duplicates' messages sent once
    # (NotificationsFunction); one child.
    notifications_fn = function_by_module(NOTIFICATIONS)
    ops = [
        op(f"apply {w}", tracking_fn, stream_event(stream_record(stack, inbox_item(stack, w))))
        for w in webhook_ids
    ]
    ops += [
        op(f"notify {i}", notifications_fn, notification_message(stack, item))
        for i, item in enumerate(data["duplicate"])
    ]
    _check(run_calls(stack, ops)["ops"] if ops else [], "ok", "parcels delivered, duplicates sent")
    for item in data["duplicate"]:
        if problem := delivery_problem(stack, item, "duplicate"):
            raise RuntimeError(f"notification seeding: the duplicate's first delivery: {problem}")
    data.events["parcel"] = [event_item(stack, f"SHIPMENT#{n}", "shipment.delivered") for n in parcels]
    for item in data["parcel"]:
        if json.loads(item["doc"]["S"]).get("direction") != "outbound":
            raise RuntimeError(f"notification seeding: {item['pk']['S']} is not an outbound parcel")
    return data
