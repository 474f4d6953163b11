"""Data and events for the tracking operations of the bench (webhooks, parcels, the watch).

Used by infra/bench/sections/aws_calls.py (`tracking_operations`) and, for the helpers that
need no bench stack (`tracking_number`, `order_with_parcels`, `signed_webhook`), by the
webhook burst section.

* `enable_webhook_secrets(stack)`: the bench stack creates WebhookSecretsSecret with a
  placeholder; this stores the local stack's documented secrets in it as the JSON the
  function reads (`{"easypost": "...", ...}`), so WebhooksFunction verifies signatures the way
  a deployed one does - its secret from Secrets Manager on a cold start.
* `signed_webhook(provider, case, ...)`: an API Gateway event for `POST /webhooks/{provider}`
  carrying a provider sample (events/webhooks/) retargeted at a parcel, signed now.
* `stream_record(stack, item, ...)` / `stream_event(...)`: DynamoDB stream records as Lambda
  delivers them to TrackingFunction (the shape of events/domain_events.return_approved.json),
  built from items read back from the table - the bench stack has no stream poller, so the
  records a write would produce are made by hand, and checked against the function's
  FilterCriteria in template.yaml so none is one Lambda would never deliver.
* `seed_tracking(stack)`: everything the operations need, in four children: orders (merchant
  API) and returns (portal), labels (LabelsFunction with the sandbox carrier, which registers
  each return parcel), stored webhooks (WebhooksFunction) and the parcels and parked events
  TrackingFunction makes of them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infra.bench.returns import (
    TOO_SMALL,
    SeedLabel,
    SeedReturn,
    _route_event,
    order_for,
    seed,
    seed_labels,
)
from infra.bench.stack import REGION, BenchStack, function_by_module, load_event, op, run_calls
from infra.template import load_template

WEBHOOKS = "homeward.handlers.webhooks"
TRACKING = "homeward.handlers.tracking"
SHIPMENT_WATCH = "homeward.handlers.shipment_watch"
PORTAL_API = "homeward.handlers.portal_api"
OPS_API = "homeward.handlers.ops_api"
TRACKING_FUNCTION = "TrackingFunction"


def tracking_number(tag: str, purpose: str) -> str:
    """A parcel number unique to one seeding: upper-case letters and digits only, so the
    number the order carries is exactly the normalized one the parcel is stored under."""
    number = f"HW{tag}{purpose}".upper()
    if not number.isalnum() or not 4 <= len(number) <= 64:
        raise ValueError(f"bad bench tracking number {number!r}")
    return number


def order_with_parcels(tag: str, purpose: str, numbers: list[str]) -> tuple[str, dict]:
    """(order id, body): the bench's recent order shipping in one parcel per number.

    The first parcel keeps the sample's lines and times (delivered days ago, so returns are
    in their window); the others carry no lines (a split shipment's tracking-only parcels).
    """
    order_id, body = order_for(tag, purpose)
    first, *_ = body["shipments"]
    body["shipments"] = [
        {**first, "tracking_number": numbers[0]},
        *({"carrier": first["carrier"], "tracking_number": n} for n in numbers[1:]),
    ]
    return order_id, body


# ---- webhooks ----------------------------------------------------------------------------------


def enable_webhook_secrets(stack: BenchStack) -> None:
    from infra.webhook_signing import LOCAL_SECRETS

    stack.client("secretsmanager").put_secret_value(
        SecretId=stack.refs["WebhookSecretsSecret"], SecretString=json.dumps(LOCAL_SECRETS)
    )


def signed_webhook(
    provider: str,
    case: str,
    *,
    tracking_number: str | None = None,
    at: datetime | None = None,
    event_id: str | None = None,
    secret: str | None = None,
) -> dict:
    """A `POST /webhooks/{provider}` event: the sample aimed at a parcel, signed now.

    Without `event_id` a retargeted sample gets an id derived from the number and time, so two
    calls with the same arguments make the same event (a duplicate) and different ones never
    collide. Generic ids are the `webhook-id` header: `event_id` goes there.
    """
    from infra.webhook_signing import LOCAL_SECRETS, api_gateway_event, load_sample, retarget, signed_headers

    generic = provider == "generic"
    body = load_sample(provider, case)
    if tracking_number is not None or at is not None or (event_id and not generic):
        body = retarget(
            body,
            provider,
            tracking_number=tracking_number,
            occurred_at=at,
            event_id=None if generic else event_id,
        )
    headers = signed_headers(
        provider, body, secret or LOCAL_SECRETS[provider], webhook_id=event_id if generic else None
    )
    return api_gateway_event(provider, body, headers)


# ---- stream records ------------------------------------------------------------------------------


def _table_logical_id(stack: BenchStack) -> str:
    return next(k for k, v in stack.refs.items() if v == stack.table_name)


def _tracking_filter() -> dict | None:
    events = load_template()["Resources"][TRACKING_FUNCTION]["Properties"]["Events"]
    props = next(e["Properties"] for e in events.values() if e["Type"] == "DynamoDB")
    return props.get("FilterCriteria")


def stream_record(
    stack: BenchStack, item: dict, *, event_name: str = "INSERT", old: dict | None = None
) -> dict:
    """One DynamoDB stream record (NEW_AND_OLD_IMAGES) for a write that left `item` in the table."""
    change = {
        "ApproximateCreationDateTime": int(time.time()),
        "Keys": {"pk": item["pk"], "sk": item["sk"]},
        "NewImage": item,
        "SequenceNumber": str(time.time_ns()),
        "SizeBytes": len(json.dumps(item)),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = old
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": stack.attrs[(_table_logical_id(stack), "StreamArn")],
    }


def stream_event(*records: dict) -> dict:
    """A TrackingFunction event; each record must pass the template's FilterCriteria."""
    from infra.local.patterns import passes

    criteria = _tracking_filter()
    for record in records:
        if not passes(criteria, record):
            raise RuntimeError(
                f"TrackingFunction's FilterCriteria would not deliver {record['dynamodb']['Keys']}"
            )
    return {"Records": list(records)}


def table_item(stack: BenchStack, pk: str, sk: str) -> dict:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        raise RuntimeError(f"bench seeding: no item {pk} / {sk}")
    return item


def inbox_item(stack: BenchStack, webhook_id: str) -> dict:
    return table_item(stack, f"WEBHOOK#{webhook_id}", "WEBHOOK")


def order_item(stack: BenchStack, order_id: str) -> dict:
    return table_item(stack, f"ORDER#{order_id}", "ORDER")


def shipment_item(stack: BenchStack, number: str) -> dict:
    return table_item(stack, f"SHIPMENT#{number}", "SHIPMENT")


def shipment_image_for(template: dict, number: str) -> dict:
    """A registered parcel's item (`template`, read from the table) re-keyed to another number:
    the image a registration of `number` would put on the stream, without writing the item."""
    doc = json.loads(template["doc"]["S"])
    doc["tracking_number"] = number
    image = {
        **template,
        "pk": {"S": f"SHIPMENT#{number}"},
        "tracking_number": {"S": number},
        "doc": {"S": json.dumps(doc, separators=(",", ":"))},
        "gsi1sk": {"S": f"{template['direction']['S']}#{number}"},
    }
    if "gsi2sk" in template:
        image["gsi2sk"] = {"S": template["gsi2sk"]["S"].rsplit("#", 1)[0] + f"#{number}"}
    return image


def return_parcel(stack: BenchStack, order_id: str) -> str:
    """The tracking number of the order's return parcel (registered by the label purchase)."""
    found = stack.client("dynamodb").query(
        TableName=stack.table_name,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :dir)",
        ExpressionAttributeValues={":pk": {"S": f"PARCELS#{order_id}"}, ":dir": {"S": "return#"}},
    )["Items"]
    if len(found) != 1:
        raise RuntimeError(f"bench seeding: order {order_id} has {len(found)} return parcels, expected 1")
    return found[0]["pk"]["S"].removeprefix("SHIPMENT#")


# ---- routes ---------------------------------------------------------------------------------------


def portal_tracking_event(stack: BenchStack, order_id: str) -> dict:
    sample = stack.fill_placeholders(load_event("portal_api.get_order"), order_id=order_id)
    return _route_event(sample, "GET /portal/orders/{orderId}/tracking", {"orderId": order_id})


def ops_webhooks_event(
    stack: BenchStack, route: str, *, webhook_id: str | None = None, query: dict | None = None
) -> dict:
    sample = stack.fill_placeholders(load_event("ops_api.approve"))  # merchant key and an X-Actor
    params = {"webhookId": webhook_id} if webhook_id else {}
    return _route_event(sample, route, params, query=query)


# ---- seeding ----------------------------------------------------------------------------------------


@dataclass
class TrackingSeed:
    """What `seed_tracking` stored; per purpose a pair (cold, warm) unless said otherwise."""

    tag: str
    outbound: list[str] = field(default_factory=list)  # registered parcels with a stored event each
    returned: list[str] = field(default_factory=list)  # return parcels (label_issued) with an event
    unknown: list[str] = field(default_factory=list)  # stored events for numbers no order has
    parked: list[str] = field(default_factory=list)  # numbers with a parked event (re-drive)
    replayable: list[str] = field(default_factory=list)  # webhook ids of parked events (ops replay)
    register: list[str] = field(default_factory=list)  # orders whose parcel is not registered yet
    view_order: str = ""  # an order with an outbound parcel (one event applied) and a return parcel
    duplicate: dict = field(default_factory=dict)  # a webhook event already stored
    inbox: dict[str, str] = field(default_factory=dict)  # tracking number -> webhook id of its event


def _check(results: list[dict], expected, what: str) -> None:
    for result in results:
        if result["status"] != expected:
            raise RuntimeError(
                f"bench seeding ({what}): {result['label']}: {result['status']} {result['body']}"
            )


def seed_tracking(stack: BenchStack, tag: str) -> TrackingSeed:
    """Orders, returns with labels, stored webhooks, registered parcels and parked events."""
    enable_webhook_secrets(stack)
    data = TrackingSeed(tag)

    def number(purpose: str) -> str:
        return tracking_number(tag, purpose)

    data.outbound = [number(f"out{n}") for n in (1, 2)]
    data.unknown = [number(f"unknown{n}") for n in (1, 2)]
    data.parked = [number(f"parked{n}") for n in (1, 2)]
    replay_numbers = [number(f"replay{n}") for n in (1, 2)]
    view_outbound = number("view")

    orders: dict[str, dict] = {}
    for purpose, numbers in (
        ("trk-out1", [data.outbound[0]]),
        ("trk-out2", [data.outbound[1]]),
        ("trk-reg1", [number("reg1")]),
        ("trk-reg2", [number("reg2")]),
        ("trk-ret1", [number("ret1")]),
        ("trk-ret2", [number("ret2")]),
        ("trk-view", [view_outbound]),
    ):
        order_id, body = order_with_parcels(tag, purpose, numbers)
        orders[order_id] = body
    ids = {purpose: f"bench-{tag}-{purpose}" for purpose in ("trk-ret1", "trk-ret2", "trk-view")}
    data.register = [f"bench-{tag}-trk-reg1", f"bench-{tag}-trk-reg2"]
    data.view_order = ids["trk-view"]
    returns = [SeedReturn(ids[p], [TOO_SMALL]) for p in ("trk-ret1", "trk-ret2", "trk-view")]
    seed(stack, orders, returns)
    seed_labels(stack, [SeedLabel(r) for r in returns])  # the label transaction registers the parcel
    data.returned = [return_parcel(stack, ids["trk-ret1"]), return_parcel(stack, ids["trk-ret2"])]

    # Stored webhooks: one in-transit event per parcel (carrier time two hours ago).
    webhooks_fn = function_by_module(WEBHOOKS)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    targets = [*data.outbound, *data.returned, *data.unknown, *data.parked, *replay_numbers, view_outbound]
    data.duplicate = signed_webhook("easypost", "delivered", tracking_number=number("dup"), at=two_hours_ago)
    stored = run_calls(
        stack,
        [
            op(
                f"store webhook for {n}",
                webhooks_fn,
                signed_webhook("easypost", "in_transit", tracking_number=n, at=two_hours_ago),
            )
            for n in targets
        ]
        + [op("store the duplicate's original", webhooks_fn, data.duplicate)],
    )["ops"]
    _check(stored, 200, "webhooks")
    for n, result in zip(targets, stored, strict=False):
        body = json.loads(result["body"])
        if body.get("status") != "accepted":
            raise RuntimeError(f"bench seeding: webhook for {n} was {body}")
        data.inbox[n] = body["webhook_id"]

    # TrackingFunction: register the orders' outbound parcels, then park and apply stored events.
    tracking_fn = function_by_module(TRACKING)
    records = [
        stream_event(stream_record(stack, order_item(stack, order_id)))
        for order_id in (f"bench-{tag}-trk-out1", f"bench-{tag}-trk-out2", data.view_order)
    ] + [
        stream_event(stream_record(stack, inbox_item(stack, data.inbox[n])))
        for n in (*data.parked, *replay_numbers, view_outbound)
    ]
    _check(
        run_calls(stack, [op(f"tracking seed {i}", tracking_fn, e) for i, e in enumerate(records)])["ops"],
        "ok",
        "tracking",
    )
    data.replayable = [data.inbox[n] for n in replay_numbers]
    for n in (*data.parked, *replay_numbers):
        if (status := inbox_item(stack, data.inbox[n])["status"]["S"]) != "parked":
            raise RuntimeError(f"bench seeding: the event for {n} is {status}, expected parked")
    for n in data.outbound:
        shipment_item(stack, n)  # registered
    if json.loads(shipment_item(stack, view_outbound)["doc"]["S"])["applied_events"] != 1:
        raise RuntimeError("bench seeding: the view order's parcel did not get its event")
    return data
