"""Returns end to end: a shopper and the merchant's team drive the local stack over real HTTP.

The shopper signs in, asks what can be returned, uploads a photo straight to (moto's) S3
with the presigned POST, starts returns and cancels one; ops review, approve, inspect and
read the audit trail; every change is published as a domain event to the SNS topic, read
back through the local outbox. Each test pushes its own order (dated relative to now, with
its own customer email) so the tests share nothing with each other or with
test_walkthrough.py, which uses the same session stack. No test makes a failed sign-in:
the portal allows 20 per IP per 15 minutes for the whole e2e session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from urllib.parse import urlsplit

import boto3
import pytest
from homeward.adapters.policy import bundled_policy
from homeward.models.orders import OrderIn

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:6].upper()  # keeps order numbers unique if the module runs twice per stack
REVIEWER = "lee.reviewer@shop.example"
INSPECTOR = "sam.inspector@warehouse.example"


# ---- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: Message
    content: bytes

    @property
    def json(self):
        return json.loads(self.content)


def call(stack, method: str, path: str, body=None, *, headers: dict | None = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    headers = dict(headers or {})
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    return send(urllib.request.Request(stack.api_url + path, data=data, method=method, headers=headers))


def send(request: urllib.request.Request) -> Reply:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


# ---- actors -------------------------------------------------------------------------------------


@dataclass
class ShopOrder:
    order_id: str
    number: str
    email: str
    delivered_at: datetime

    @property
    def deadline(self) -> str:
        """Last day to start a return: the delivery date plus the policy window."""
        return (self.delivered_at.date() + timedelta(days=bundled_policy().window_days)).isoformat()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def push_order(stack, name: str, *, delivered_days_ago: float = 4) -> ShopOrder:
    """The shop PUTs a delivered order: a beanie, three shirts (discounted) and a final-sale scarf."""
    now = datetime.now(UTC).replace(microsecond=0)
    delivered = now - timedelta(days=delivered_days_ago)
    order = ShopOrder(
        order_id=f"ord_rx_{name}_{RUN.lower()}",
        number=f"#RX-{name.upper()}-{RUN}",
        email=f"rx.{name}.{RUN.lower()}@example.com",
        delivered_at=delivered,
    )
    body = {
        "order_number": order.number,
        "placed_at": stamp(delivered - timedelta(days=4)),
        "updated_at": stamp(delivered),
        "currency": "USD",
        "customer": {
            "email": order.email,
            "phone": "+15555550177",
            "name": "Riley Example",
            "locale": "en-US",
            "address": {
                "name": "Riley Example",
                "line1": "12 Elm Street",
                "city": "Albany",
                "region": "NY",
                "postal_code": "12207",
                "country": "US",
            },
        },
        "lines": [
            {
                "line_id": "L1",
                "sku": "BEAN-WOL-GRY",
                "title": "Wool beanie",
                "variant": "Grey",
                "quantity": 1,
                "unit_price": 3200,
                "tax": 264,
                "category": "apparel",
            },
            {
                "line_id": "L2",
                "sku": "SHRT-LIN-BLU-M",
                "title": "Linen shirt",
                "variant": "Blue / M",
                "quantity": 3,
                "unit_price": 4500,
                "discount": 900,
                "tax": 1040,
                "category": "apparel",
            },
            {
                "line_id": "L3",
                "sku": "SCRF-SLK-RED",
                "title": "Silk scarf",
                "variant": "Red",
                "quantity": 1,
                "unit_price": 3000,
                "discount": 1500,
                "tax": 124,
                "category": "accessories",
                "tags": ["final_sale"],
            },
        ],
        "shipping": 500,
        "shipments": [
            {
                "carrier": "UPS",
                "tracking_number": f"1ZRX{RUN}{name.upper()}"[:30],
                "lines": [
                    {"line_id": "L1", "quantity": 1},
                    {"line_id": "L2", "quantity": 3},
                    {"line_id": "L3", "quantity": 1},
                ],
                "shipped_at": stamp(delivered - timedelta(days=2)),
                "delivered_at": stamp(delivered),
            }
        ],
    }
    body["payments"] = [
        {
            "payment_id": "P1",
            "provider": "stripe",
            "reference": f"pi_rx_{name}",
            "captured": OrderIn(**body).total,
        }
    ]
    created = call(
        stack,
        "PUT",
        f"/orders/{order.order_id}",
        body,
        headers={"Authorization": f"Bearer {stack.merchant_api_key}"},
    )
    assert created.status == 201, created.content
    return order


def sign_in(stack, number: str, email: str) -> dict:
    """A successful sign-in (never a failed one): the shopper's Authorization header."""
    session = call(stack, "POST", "/portal/session", {"order_number": number, "email": email})
    assert session.status == 200, session.content
    return {"Authorization": f"Bearer {session.json['token']}"}


def ops_headers(stack, actor: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {stack.merchant_api_key}"}
    if actor:
        headers["X-Actor"] = actor
    return headers


def eligibility(stack, order: ShopOrder, auth: dict) -> dict[str, dict]:
    reply = call(stack, "GET", f"/portal/orders/{order.order_id}/eligibility", headers=auth)
    assert reply.status == 200, reply.content
    return {line["line_id"]: line for line in reply.json["lines"]}


def start_return(stack, order: ShopOrder, auth: dict, lines: list[dict], *, key: str | None) -> Reply:
    body = {"lines": lines}
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    return call(stack, "POST", f"/portal/orders/{order.order_id}/returns", body, headers=headers)


def ops_list(stack, status: str) -> list[dict]:
    reply = call(stack, "GET", f"/ops/returns?status={status}&limit=100", headers=ops_headers(stack))
    assert reply.status == 200, reply.content
    return reply.json["returns"]


# ---- photos -------------------------------------------------------------------------------------


def tiny_png() -> bytes:
    """A valid 1x1 PNG, built with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xc0\x40\x20")  # filter byte + one pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def form_upload(url: str, fields: dict[str, str], content: bytes, content_type: str) -> Reply:
    """What a browser sends for an S3 presigned POST: the fields, then the file last."""
    boundary = f"----homeward{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="damage.png"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url,
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    return send(request)


def upload_photo(stack, order: ShopOrder, auth: dict, content: bytes) -> dict:
    """Ask for a presigned POST and upload through it, as the portal does; the presign answer."""
    presigned = call(
        stack, "POST", f"/portal/orders/{order.order_id}/photos", {"content_type": "image/png"}, headers=auth
    )
    assert presigned.status == 200, presigned.content
    uploaded = form_upload(presigned.json["url"], presigned.json["fields"], content, "image/png")
    assert uploaded.status in (200, 201, 204), (uploaded.status, uploaded.content)
    return presigned.json


def moto_s3(stack):
    return boto3.client(
        "s3",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# ---- domain events ------------------------------------------------------------------------------


def published_events(stack, rma: str) -> list[dict]:
    """Topic notifications for one return, once every stream record has been handled."""
    stack.settle()
    reply = call(stack, "GET", "/_local/outbox")
    assert reply.status == 200, reply.content
    return [n for n in reply.json["notifications"] if _attribute(n, "rma") == rma]


def _attribute(notification: dict, name: str) -> str | None:
    value = notification["attributes"].get(name)
    if isinstance(value, dict):  # SNS's {"DataType": "String", "StringValue"/"Value": ...}
        return value.get("StringValue", value.get("Value"))
    return value


def assert_published(stack, rma: str, order: ShopOrder, timeline: list[dict]) -> None:
    """Each timeline entry went to the DomainEvents topic once, with filterable attributes."""
    notifications = published_events(stack, rma)
    by_id = {_attribute(n, "event_id"): n for n in notifications}
    assert len(by_id) == len(notifications), "an event was published twice"
    assert sorted(by_id) == [f"{rma}:{entry['seq']:06d}" for entry in timeline]
    # `status` is the status the event moved the return to; a note carries the status it was in.
    statuses, current = [], None
    for entry in timeline:
        current = entry["to_status"] or current
        statuses.append(current)
    for entry, status in zip(timeline, statuses, strict=True):
        notification = by_id[f"{rma}:{entry['seq']:06d}"]
        assert "DomainEventsTopic" in notification["topic_arn"]
        assert notification["subject"] == entry["type"]
        assert _attribute(notification, "type") == entry["type"]
        assert _attribute(notification, "rma") == rma
        assert _attribute(notification, "order_id") == order.order_id
        assert _attribute(notification, "status") == status, entry["type"]
        document = json.loads(notification["message"])
        assert (document["seq"], document["type"], document["to_status"]) == (
            entry["seq"],
            entry["type"],
            entry["to_status"],
        )


# ---- tests --------------------------------------------------------------------------------------


def test_eligibility_lists_returnable_quantities_deadlines_and_final_sale(local_stack):
    order = push_order(local_stack, "elig")
    auth = sign_in(local_stack, order.number.removeprefix("#").lower(), f"  {order.email.upper()} ")

    lines = eligibility(local_stack, order, auth)

    beanie, shirts, scarf = lines["L1"], lines["L2"], lines["L3"]
    assert (beanie["returnable"], beanie["returnable_quantity"], beanie["reason_codes"]) == (True, 1, [])
    assert (shirts["returnable"], shirts["returnable_quantity"], shirts["reason_codes"]) == (True, 3, [])
    assert beanie["deadline"] == shirts["deadline"] == order.deadline
    assert beanie["unit_refund"] == 3200 + 264  # one unit, no discount: price plus tax
    assert 0 < shirts["unit_refund"] < 4500 + 1040
    assert "damaged" in beanie["allowed_reasons"] and "refund" in beanie["allowed_resolutions"]
    assert beanie["fees"]["return_shipping_fee"] == bundled_policy().return_shipping_fee["USD"]

    assert (scarf["returnable"], scarf["returnable_quantity"], scarf["reason_codes"]) == (
        False,
        0,
        ["final_sale"],
    )
    assert scarf["allowed_reasons"] == [] and scarf["allowed_resolutions"] == []


def test_photo_upload_goes_straight_to_s3_with_the_presigned_post(local_stack):
    order = push_order(local_stack, "photo")
    auth = sign_in(local_stack, order.number, order.email)
    png = tiny_png()

    upload = upload_photo(local_stack, order, auth, png)

    assert upload["url"].startswith(local_stack.moto_url + "/"), upload["url"]  # reachable, path style
    assert upload["key"].startswith(f"photos/{order.order_id}/") and upload["key"].endswith(".png")
    assert upload["fields"]["key"] == upload["key"]
    assert upload["fields"]["Content-Type"] == "image/png"
    assert upload["max_bytes"] == 10 * 1024 * 1024
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", 1, upload["max_bytes"]] in policy["conditions"]

    # The object is in the bucket with exactly our bytes (single-part ETag = MD5). Listing is
    # used instead of GetObject: moto applies the bucket's DenyInsecureTransport policy to
    # object reads without evaluating its aws:SecureTransport condition, so every GetObject
    # and HeadObject on the photos bucket is 403 locally.
    bucket = urlsplit(upload["url"]).path.strip("/")
    listed = moto_s3(local_stack).list_objects_v2(Bucket=bucket, Prefix=upload["key"]).get("Contents", [])
    assert [(o["Key"], o["Size"], o["ETag"].strip('"')) for o in listed] == [
        (upload["key"], len(png), hashlib.md5(png).hexdigest())
    ]
    # moto does not check POST policies (content type, size, signature), so a refused upload
    # cannot be tested here.


def test_damaged_return_is_reviewed_approved_inspected_and_published(local_stack):
    order = push_order(local_stack, "dmg")
    auth = sign_in(local_stack, order.number, order.email)
    photo = upload_photo(local_stack, order, auth, tiny_png())["key"]
    damaged = [
        {"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "refund", "photos": [photo]}
    ]

    # The shopper starts the return; a photo reason waits for a person.
    created = start_return(local_stack, order, auth, damaged, key=f"rx-dmg-{RUN}")
    assert created.status == 201, created.content
    rma = created.json["rma"]
    assert created.json["status"] == "needs_review" and created.json["can_cancel"] is True
    assert created.json["lines"][0]["photos"] == [photo]
    assert created.json["lines"][0]["refund"]["amount"] == 3200 + 264
    assert created.json["preview"]["return_shipping_fee"] == 0  # damaged waives the fee
    assert created.json["preview"]["refund_total"] == 3200 + 264
    assert [e["type"] for e in created.json["timeline"]] == ["return.requested", "return.needs_review"]

    # A double submit answers the first result and reserves nothing more ...
    replay = start_return(local_stack, order, auth, damaged, key=f"rx-dmg-{RUN}")
    assert replay.status == 200, replay.content
    assert (replay.json["rma"], replay.json["status"]) == (rma, "needs_review")
    assert eligibility(local_stack, order, auth)["L1"]["returnable_quantity"] == 0
    # ... and the same key with another body is refused.
    other = [{**damaged[0], "resolution": "store_credit"}]
    reused = start_return(local_stack, order, auth, other, key=f"rx-dmg-{RUN}")
    assert reused.status == 422, reused.content
    assert reused.json["details"] == {"reason": "idempotency_key_reused", "rma": rma}

    # Ops find it waiting for review, see why, and approve it.
    waiting = {r["rma"]: r for r in ops_list(local_stack, "needs_review")}
    assert rma in waiting
    assert (waiting[rma]["order_id"], waiting[rma]["status"], waiting[rma]["units"]) == (
        order.order_id,
        "needs_review",
        1,
    )
    review = call(local_stack, "GET", f"/ops/returns/{rma}", headers=ops_headers(local_stack))
    assert review.status == 200, review.content
    assert review.json["record"]["decision"] == {
        "outcome": "needs_review",
        "reason_codes": ["photo_reason_review"],
    }
    assert review.json["record"]["lines"][0]["photos"] == [photo]
    approved = call(
        local_stack, "POST", f"/ops/returns/{rma}/approve", headers=ops_headers(local_stack, REVIEWER)
    )
    assert approved.status == 200, approved.content
    assert approved.json["record"]["status"] == "approved"
    assert rma not in {r["rma"] for r in ops_list(local_stack, "needs_review")}
    # Approval bought a label through the events queue (sandbox carrier locally).
    local_stack.settle()
    assert rma in {r["rma"] for r in ops_list(local_stack, "label_issued")}

    # An internal note stays internal.
    noted = call(
        local_stack,
        "POST",
        f"/ops/returns/{rma}/notes",
        {"note": "Check the seam before restocking"},
        headers=ops_headers(local_stack, REVIEWER),
    )
    assert noted.status == 200, noted.content

    # The warehouse receives and inspects it.
    received = call(
        local_stack,
        "POST",
        f"/ops/returns/{rma}/receive",
        {
            "lines": [
                {
                    "line_id": "L1",
                    "received_quantity": 1,
                    "grade": "b",
                    "disposition": "refurbish",
                    "note": "Seam pulled, resell as refurbished",
                }
            ]
        },
        headers=ops_headers(local_stack, INSPECTOR),
    )
    assert received.status == 200, received.content
    assert received.json["record"]["status"] == "received"
    line = received.json["record"]["lines"][0]
    assert (line["received_quantity"], line["grade"], line["disposition"]) == (1, "b", "refurbish")

    # Inspection reached the policy's refund trigger: RefundsFunction refunds it through the
    # local ledger provider (pending for a few seconds, like a card); the sweep reads it back
    # and, received and refunded, the return closes.
    local_stack.settle()
    time.sleep(3.5)  # LOCAL_PAYMENT_DEFAULTS: the ledger settles 3 s after the refund is made
    swept = call(local_stack, "POST", "/_local/schedules/RefundSweepFunction/Sweep")
    assert swept.status == 200 and swept.json["status"] == "ok", swept.content
    local_stack.settle()

    # Ops see the full audit trail, with who did what.
    full = call(local_stack, "GET", f"/ops/returns/{rma}", headers=ops_headers(local_stack))
    assert full.status == 200, full.content
    assert [(e["type"], e["actor"], e["actor_id"]) for e in full.json["timeline"]] == [
        ("return.requested", "shopper", None),
        ("return.needs_review", "system", None),
        ("return.approved", "ops", REVIEWER),
        ("return.label_issued", "system", "sandbox"),
        ("return.note_added", "ops", REVIEWER),
        ("return.received", "ops", INSPECTOR),
        ("refund.requested", "system", None),
        ("refund.pending", "system", None),
        ("refund.issued", "system", None),
        ("return.closed", "system", None),
    ]
    assert [e["seq"] for e in full.json["timeline"]] == list(range(1, 11))
    record = full.json["record"]
    assert record["money_status"] == "refunded" and record["status"] == "closed"
    # Grade b would keep 10% back, but "damaged" is the merchant's fault: no fees, no grade deduction.
    amounts = record["refund"]["amounts"]
    assert amounts["inspected"] is True and amounts["grade_deductions"] == 0
    refunded = record["refund"]["movements"][0]["amount"]
    assert refunded == amounts["refund_total"] == record["preview"]["refund_total"]

    # The shopper sees the same story without staff identities or internal notes.
    mine = call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns/{rma}", headers=auth)
    assert mine.status == 200, mine.content
    assert (mine.json["status"], mine.json["can_cancel"]) == ("closed", False)
    assert [(e["type"], e["actor"], e["actor_id"]) for e in mine.json["timeline"]] == [
        ("return.requested", "shopper", None),
        ("return.needs_review", "system", None),
        ("return.approved", "ops", None),
        ("return.label_issued", "system", None),
        ("return.received", "ops", None),
        ("refund.requested", "system", None),
        ("refund.issued", "system", None),
        ("return.closed", "system", None),
    ]
    assert mine.json["refund"]["money_status"] == "refunded"
    assert mine.json["refund"]["amounts"]["refund_total"] == amounts["refund_total"]
    assert REVIEWER not in mine.content.decode() and INSPECTOR not in mine.content.decode()
    assert "Check the seam" not in mine.content.decode()
    # Inspection details and review reasons are the warehouse's and the merchant's business.
    line = mine.json["lines"][0]
    assert (line["received_quantity"], line["grade"], line["disposition"], line["inspection_note"]) == (
        1,
        None,
        None,
        None,
    )
    assert all(e["data"] == {} for e in mine.json["timeline"] if e["type"] != "return.requested")
    assert "photo_reason_review" not in mine.content.decode()
    assert "Seam pulled" not in mine.content.decode()

    # Every change went out as a domain event.
    assert_published(local_stack, rma, order, full.json["timeline"])


def test_second_return_is_capped_at_what_remains_and_cancelling_gives_units_back(local_stack):
    order = push_order(local_stack, "cxl")
    auth = sign_in(local_stack, order.number, order.email)
    one_shirt = [{"line_id": "L2", "quantity": 1, "reason": "too_small", "resolution": "store_credit"}]
    first = start_return(local_stack, order, auth, one_shirt, key=f"rx-cxl-first-{RUN}")
    assert first.status == 201, first.content
    assert first.json["status"] == "approved"  # no review reason: the policy approves it

    # Asking for more shirts than remain is refused with what is left.
    too_many = [{"line_id": "L2", "quantity": 3, "reason": "too_large", "resolution": "refund"}]
    over = start_return(local_stack, order, auth, too_many, key=f"rx-cxl-over-{RUN}")
    assert over.status == 409, over.content
    assert over.json["details"] == {
        "reason": "over_return",
        "lines": [{"line_id": "L2", "requested": 3, "returnable": 2}],
    }

    # The rest of the order goes in a second return ...
    rest = [
        {"line_id": "L2", "quantity": 2, "reason": "too_large", "resolution": "refund"},
        {"line_id": "L1", "quantity": 1, "reason": "changed_mind", "resolution": "refund"},
    ]
    second = start_return(local_stack, order, auth, rest, key=f"rx-cxl-rest-{RUN}")
    assert second.status == 201, second.content
    rma = second.json["rma"]
    assert second.json["status"] == "approved" and second.json["can_cancel"] is True
    local_stack.settle()  # both approvals bought their labels
    assert [(li["line_id"], li["previously_returned"]) for li in second.json["lines"]] == [
        ("L2", 1),
        ("L1", 0),
    ]
    left = eligibility(local_stack, order, auth)
    assert (left["L1"]["returnable_quantity"], left["L2"]["returnable_quantity"]) == (0, 0)
    assert left["L2"]["reason_codes"] == ["fully_returned"]

    # ... which the shopper then cancels: its units are returnable again, the first return's are not.
    path = f"/portal/orders/{order.order_id}/returns/{rma}/cancel"
    cancelled = call(local_stack, "POST", path, {"reason": "Kept them after all"}, headers=auth)
    assert cancelled.status == 200, cancelled.content
    assert (cancelled.json["status"], cancelled.json["can_cancel"]) == ("cancelled", False)
    last = cancelled.json["timeline"][-1]
    assert (last["type"], last["actor"], last["actor_id"], last["note"]) == (
        "return.cancelled",
        "shopper",
        None,
        "Kept them after all",
    )
    local_stack.settle()  # the cancellation voids the unused label
    again = eligibility(local_stack, order, auth)
    assert (again["L1"]["returnable_quantity"], again["L2"]["returnable_quantity"]) == (1, 2)
    assert again["L2"]["reason_codes"] == [] and again["L2"]["returnable"] is True

    # Cancelling twice is a conflict that names the current status; nothing is released twice.
    twice = call(local_stack, "POST", path, {"reason": "double click"}, headers=auth)
    assert twice.status == 409, twice.content
    assert twice.json["details"]["current_status"] == "cancelled"
    assert twice.json["details"]["reason"] == "illegal_transition"
    assert eligibility(local_stack, order, auth)["L2"]["returnable_quantity"] == 2

    listed = call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns", headers=auth)
    assert listed.status == 200, listed.content
    assert sorted((r["rma"], r["status"]) for r in listed.json["returns"]) == sorted(
        [(first.json["rma"], "label_issued"), (rma, "cancelled")]
    )

    full = call(local_stack, "GET", f"/ops/returns/{rma}", headers=ops_headers(local_stack))
    assert full.status == 200, full.content
    assert [e["type"] for e in full.json["timeline"]] == [
        "return.requested",
        "return.approved",
        "return.label_issued",
        "return.cancelled",
        "return.label_voided",
    ]
    assert full.json["record"]["label"]["voided"] is True
    assert_published(local_stack, rma, order, full.json["timeline"])


def test_lines_that_cannot_be_returned_are_refused_with_reason_codes(local_stack):
    # Demo order #1002 was delivered 45 days ago: outside the 30-day window.
    auth = sign_in(local_stack, "#1002", "daniel.okafor@example.com")
    late = call(local_stack, "GET", "/portal/orders/ord_1002/eligibility", headers=auth)
    assert late.status == 200, late.content
    assert [(li["line_id"], li["returnable_quantity"], li["reason_codes"]) for li in late.json["lines"]] == [
        ("L1", 0, ["window_expired"]),
        ("L2", 0, ["window_expired"]),
    ]
    expired = call(
        local_stack,
        "POST",
        "/portal/orders/ord_1002/returns",
        {"lines": [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]},
        headers=auth,
    )
    assert expired.status == 422, expired.content
    assert expired.json["details"]["lines"] == [{"line_id": "L1", "reason_codes": ["window_expired"]}]

    # A final-sale line, and more units than were bought, on an order of our own.
    order = push_order(local_stack, "refuse")
    auth = sign_in(local_stack, order.number, order.email)
    final_sale = [{"line_id": "L3", "quantity": 1, "reason": "changed_mind", "resolution": "refund"}]
    refused = start_return(local_stack, order, auth, final_sale, key=None)
    assert refused.status == 422, refused.content
    assert refused.json["details"]["lines"] == [{"line_id": "L3", "reason_codes": ["final_sale"]}]

    four_shirts = [{"line_id": "L2", "quantity": 4, "reason": "too_small", "resolution": "refund"}]
    over = start_return(local_stack, order, auth, four_shirts, key=None)
    assert over.status == 409, over.content
    assert over.json["details"]["lines"] == [{"line_id": "L2", "requested": 4, "returnable": 3}]
    assert eligibility(local_stack, order, auth)["L2"]["returnable_quantity"] == 3  # nothing reserved
    assert (
        call(local_stack, "GET", f"/portal/orders/{order.order_id}/returns", headers=auth).json["returns"]
        == []
    )
