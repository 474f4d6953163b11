"""AWS API calls per operation, cold (first call in a process) and warm.

Operations: the order slice (merchant upsert, portal sign-in and order view), returns
(portal eligibility, photo upload, start / replay / over-return, list, get, cancel; ops list,
get, approve, reject, cancel, receive, note, file on behalf; the stream -> SNS publish) and
labels (LabelsFunction on one `return.approved` record - the AWS calls per label purchase, with
the sandbox carrier -, a redelivered duplicate, a carrier refusal, `return.cancelled` voiding a
bought label; the portal's label link; ops retry-label; the hourly expiry job with one label
to expire, or one to remind of), tracking (WebhooksFunction storing a new event, a
re-delivered one and refusing a bad signature; TrackingFunction on one stream record each -
an event for an outbound parcel, one for a return parcel that moves the return, one parked
for an unknown number, an order registering its parcel, a parcel re-driving its parked
event -; the portal's tracking view; ops listing and replaying webhooks; the hourly watch) and
refunds (RefundsFunction on one domain event each - `return.delivered` planning a refund and
sending it to the ledger provider, the same message again (a Powertools idempotency replay), a
return not due yet, `refund.requested` sending a refund made by hand, and for one already
sent -; the sweep settling one
pending refund; PaymentWebhooksFunction applying a signed Stripe `refund.updated`, the same
again and a bad signature; ops refunds by hand - new, replayed, over what remains -, retry
and the CSV export; store credit read, redeemed and a redemption replayed; the portal's
return with its refund) and notifications (NotificationsFunction on one domain event each -
`return.label_issued` emailing the return_approved message to a shopper without SMS,
`refund.issued` by email and SMS to one who opted in at checkout, the same event again (sent
once: nothing goes out), `return.approved` with its label to come (no message) and an outbound
parcel's `shipment.delivered` by email and SMS -). Each runs in a fresh child interpreter:
first the cold invocation (it also fetches the function's secret from Secrets Manager), then a
warm one of the same kind. Every call is
recorded by a botocore `before-call` hook on boto3's default session (infra/bench/child.py),
so the counts are what the handlers ask AWS for - retries excluded - against moto.

Each operation gets its own seeded data (infra/bench/returns.py): orders delivered a few
days before now, returns already in the state the operation needs (e.g. `needs_review` for
approve, `label_issued` for a duplicate delivery, `needs_attention` for retry-label), a fresh
Idempotency-Key where a new return is expected. The expiry job's labels are bought "days ago"
(domain code with the clock set back) just before each of its invocations, so the cold and
the warm run each find exactly one label due.

Refund data comes from infra/bench/refunds.py (the bench refunds through the ledger provider,
as the local stack does). The sweep runs with a day's quiet time (`Operation.env`) so it takes
only the one refund seeded two days old, never what the other operations leave open; its warm
call, with nothing left to settle, shows what every idle sweep costs (`warm_status`).

Tracking data comes from infra/bench/tracking.py: orders with parcels of their own numbers,
returns with labels (whose purchase registers the return parcel), webhooks stored by the real
WebhooksFunction and parcels registered and events parked by the real TrackingFunction; the
stream records are built from the items read back, as the table's stream would carry them.

Notification data comes from infra/bench/notifications.py: every event is made by the real
code (a label bought, a refund settled, a parcel's delivered webhook applied) and its record
built from the event item read back, as DomainEventsFunction publishes it and SNS delivers it.

`slice_operations(stack)`, `returns_operations(stack)`, `label_operations(stack)`,
`tracking_operations(stack)`, `refund_operations(stack)` and `notification_operations(stack)` (all:
`operations(stack)`) are shared with
tests/infra/test_template.py, which checks each recorded call against the function's IAM
statements in template.yaml.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from infra.bench import stats
from infra.bench.notifications import NOTIFICATIONS, notification_message, seed_notifications
from infra.bench.refunds import (
    MANUAL_CREDIT,
    MANUAL_REFUND,
    PAYMENT_WEBHOOKS,
    REFUND_SWEEP,
    REFUNDS,
    SWEEP_ENV,
    check_sweep_takes_only,
    credit_event,
    ops_export_event,
    ops_refund_event,
    ops_retry_event,
    portal_return_event,
    redeem_event,
    refund_message,
    seed_refunds,
    stripe_webhook,
    sweep_event,
)
from infra.bench.returns import (
    DOMAIN_EVENTS,
    LABEL_EXPIRY,
    LABELS,
    OPS_API,
    PORTAL_RETURNS,
    REFUSED_POSTAL_CODE,
    TOO_SMALL,
    SeedLabel,
    SeedReturn,
    aged_label_seed,
    aged_order_for,
    damaged_line,
    label_message,
    ops_event,
    order_for,
    portal_event,
    run_tag,
    seed,
    seed_labels,
    start_event,
)
from infra.bench.stack import (
    SHOPPER_EMAIL,
    BenchStack,
    function_by_module,
    load_event,
    op,
    run_calls,
    with_body,
    with_order_id,
    with_source_ip,
)
from infra.bench.tracking import (
    PORTAL_API,
    SHIPMENT_WATCH,
    TRACKING,
    WEBHOOKS,
    inbox_item,
    ops_webhooks_event,
    order_item,
    portal_tracking_event,
    seed_tracking,
    shipment_image_for,
    shipment_item,
    signed_webhook,
    stream_event,
    stream_record,
)

NAME = "aws_calls"
TITLE = "AWS API calls per operation (cold = first call in a process, warm = the next)"
ORDER = 20

MERCHANT = "homeward.handlers.merchant_api"
PORTAL = "homeward.handlers.portal_api"
SECRET_ONLY = ("Secrets Manager.GetSecretValue",)
LABEL_PURCHASE = "labels: buy label (return.approved)"
REFUND_TRIGGER = "refunds: return.delivered plans and sends the refund"
# One automatic refund with the ledger provider, cold and warm alike (no secret in ledger mode, the
# bundled policy): the idempotency record (PutItem, then UpdateItem with the result), the return
# (GetItem), the order and its payment ledger (one Query), the planning transaction (return, its
# events, the movement, the ledger reservation), the provider's refund (the ledger's PutItem), the
# return again and the transaction recording the provider's answer.
REFUND_TRIGGER_CALLS = {
    "DynamoDB.PutItem": 2,
    "DynamoDB.GetItem": 2,
    "DynamoDB.Query": 1,
    "DynamoDB.TransactWriteItems": 2,
    "DynamoDB.UpdateItem": 1,
}
# refund.requested for a reserved refund (by hand): the idempotency record (PutItem, UpdateItem),
# the return, the provider's refund (the ledger's PutItem), the return again, the recording transaction.
REFUND_SEND_RESERVED = {
    "DynamoDB.PutItem": 2,
    "DynamoDB.GetItem": 2,
    "DynamoDB.TransactWriteItems": 1,
    "DynamoDB.UpdateItem": 1,
}
# A message with nothing to do: the idempotency record, the return read, the record's result.
REFUND_NOTHING_TO_DO = {"DynamoDB.PutItem": 1, "DynamoDB.GetItem": 1, "DynamoDB.UpdateItem": 1}
# The sweep, one pending refund: the open-refunds index (gsi2), the return, the provider's refund
# (the ledger's GetItem), the return again and the transaction that settles it; then the
# late-failure recheck index (gsi2), with nothing due.
SWEEP_SETTLES_ONE = {"DynamoDB.Query": 2, "DynamoDB.GetItem": 3, "DynamoDB.TransactWriteItems": 1}
# An idle sweep: the two index queries (open refunds, refunds due for their recheck).
SWEEP_IDLE = {"DynamoDB.Query": 2}
# Ops refund by hand: the idempotency record (PutItem, UpdateItem), the return, the order and its
# ledger, the transaction that plans and reserves it.
MANUAL_REFUND_CALLS = {
    "DynamoDB.PutItem": 1,
    "DynamoDB.GetItem": 1,
    "DynamoDB.Query": 1,
    "DynamoDB.TransactWriteItems": 1,
    "DynamoDB.UpdateItem": 1,
}
REDEMPTION_CALLS = {"DynamoDB.TransactWriteItems": 1, "DynamoDB.GetItem": 1}
# A Stripe webhook that moves a refund: the return (GetItem), again to record it, the transaction.
WEBHOOK_APPLIED_CALLS = {"DynamoDB.GetItem": 2, "DynamoDB.TransactWriteItems": 1}
PAYMENT_SECRET = SECRET_ONLY  # PaymentSecretsSecret: the Stripe webhook signing secret, read once
NOTIFY_TRIGGER = "notifications: refund.issued, email + SMS (opted in)"
# What every message costs before anything is sent: the return (GetItem RETURN#<rma>; none for an
# outbound parcel's event), the order (GetItem) and the shopper's preferences (GetItem PREFS#<fp>).
# Then per channel the sent-once claim (a conditional PutItem) and, once sent, its mark (UpdateItem).
# A shopper who never opted in to texts costs nothing for the SMS channel (no record); once the SMS
# is claimed, the SMS opt-out list is asked (duplicates never ask it).
# The cold call also reads the link signing key (PortalSigningKeySecret), once, when it renders.
NOTIFY_EMAIL_ONLY = {
    "DynamoDB.GetItem": 3,
    "DynamoDB.PutItem": 1,
    "DynamoDB.UpdateItem": 1,
    "SESv2.SendEmail": 1,
}
NOTIFY_EMAIL_AND_SMS = {
    "DynamoDB.GetItem": 3,
    "DynamoDB.PutItem": 2,
    "DynamoDB.UpdateItem": 2,
    "SESv2.SendEmail": 1,
    "SNS.CheckIfPhoneNumberIsOptedOut": 1,
    "SNS.Publish": 1,
}
# An outbound parcel's event names no return: one GetItem fewer.
NOTIFY_PARCEL = {**NOTIFY_EMAIL_AND_SMS, "DynamoDB.GetItem": 2}
# The same event again: the reads, both claims refused by their condition, nothing sent, no secret
# (nothing is rendered), no opt-out list.
NOTIFY_DUPLICATE = {"DynamoDB.GetItem": 3, "DynamoDB.PutItem": 2}
# return.approved with a label to come: the return is read (keep-the-item returns are told now).
NOTIFY_NO_MESSAGE = {"DynamoDB.GetItem": 1}


def _cold(calls: dict[str, int]) -> dict[str, int]:
    """A notification's cold call: the same calls and the signing key's read."""
    return {**calls, "Secrets Manager.GetSecretValue": 1}


# What one purchase with the sandbox carrier must call, cold and warm alike (it reads no secret):
# the return (Query), the order (GetItem), the claim, the three files, the recording transaction.
LABEL_PURCHASE_CALLS = {
    "DynamoDB.Query": 1,
    "DynamoDB.GetItem": 1,
    "DynamoDB.UpdateItem": 1,
    "S3.PutObject": 3,
    "DynamoDB.TransactWriteItems": 1,
}


class Operation(NamedTuple):
    name: str
    status: int | str  # HTTP status, "ok" for a stream / queue batch without failures, or a job's counts
    cold: dict
    warm: dict
    only: tuple[str, ...] | None = None  # if set, the only calls allowed ("Service.Operation")
    exactly: dict[str, int] | None = None  # if set, the calls by API must be exactly these
    warm_exactly: dict[str, int] | None = None  # if set, the warm call's calls by API must be these
    body_status: str | None = None  # if set, the JSON body's "status" (e.g. accepted / duplicate)
    warm_status: int | str | None = None  # if set, the warm call's outcome (else `status`)
    cold_exactly: dict[str, int] | None = None  # if set, the cold call's calls by API must be these
    env: dict[str, str] | None = None  # environment overrides for the child (a setting left at its default)

    def expected(self, phase: str) -> int | str:
        """The outcome the cold or the warm call must have."""
        return self.warm_status if phase == "warm" and self.warm_status is not None else self.status


def pair(
    name: str,
    status: int | str,
    fn,
    cold_event: dict,
    warm_event: dict,
    *,
    seeds: tuple[dict, dict] | None = None,
    **kwargs,
) -> Operation:
    """`seeds`: aged-labels specs written just before the cold and the warm invocation."""
    cold_seed, warm_seed = seeds or (None, None)
    return Operation(
        name,
        status,
        op(f"{name} (cold)", fn, cold_event, seed=cold_seed),
        op(f"{name} (warm)", fn, warm_event, seed=warm_seed),
        **kwargs,
    )


def _sample_body() -> dict:
    return json.loads(load_event("merchant_api.put_order")["body"])


def _body(order_number: str, *, days_later: int = 0, shipping: int | None = None) -> dict:
    body = copy.deepcopy(_sample_body())
    body["order_number"] = order_number
    if days_later:
        updated = datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00")) + timedelta(
            days=days_later
        )
        body["updated_at"] = updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if shipping is not None:
        body["shipping"] = shipping
    return body


def slice_operations(stack: BenchStack) -> list[Operation]:
    """Seed the table; the order slice's operations (merchant upsert, sign-in, order view)."""
    stack.seed_orders(
        {
            "ord_1001": None,  # order #1001 for jane.doe@example.com: sign-in and order view
            "bench-resend": _body("#2002"),
            "bench-update": _body("#2003"),
        }
    )
    merchant, portal = function_by_module(MERCHANT), function_by_module(PORTAL)
    put = stack.fill_placeholders(load_event("merchant_api.put_order"))
    session = load_event("portal_api.create_session")
    wrong_body = with_body(session, {"order_number": "#1001", "email": "not.jane@example.com"})
    # Two clients: one client's retry on the same order right away is slowed (429), not read.
    wrong = with_source_ip(wrong_body, "198.51.100.7")
    wrong_again = with_source_ip(wrong_body, "198.51.100.8")
    view = stack.fill_placeholders(load_event("portal_api.get_order"), order_id="ord_1001")

    return [
        pair(
            "order upsert: create",
            201,
            merchant,
            with_body(with_order_id(put, "bench-create-1"), _body("#2011")),
            with_body(with_order_id(put, "bench-create-2"), _body("#2012")),
        ),
        pair(
            "order upsert: identical re-send",
            200,
            merchant,
            with_body(with_order_id(put, "bench-resend"), _body("#2002")),
            with_body(with_order_id(put, "bench-resend"), _body("#2002")),
        ),
        pair(
            "order upsert: update",
            200,
            merchant,
            with_body(with_order_id(put, "bench-update"), _body("#2003", days_later=1, shipping=0)),
            with_body(with_order_id(put, "bench-update"), _body("#2003", days_later=2, shipping=100)),
        ),
        pair("sign-in: success", 200, portal, session, session),
        pair("sign-in: failure (wrong email)", 401, portal, wrong, wrong_again),
        pair("shopper order view", 200, portal, view, view),
    ]


def returns_operations(stack: BenchStack) -> list[Operation]:
    """Seed orders and returns for every returns operation; the operations.

    One order per purpose, each with its own shopper (see infra/bench/returns.py), and for
    every state-changing operation two returns in the right state - one for the cold call,
    one for the warm - so neither measures an error answer.
    """
    tag = run_tag()
    orders, ids = {}, {}
    for purpose, tees in (
        ("portal", 10),  # eligibility, photos, new returns, replay, list, get
        ("over", 2),  # one of two tees already returned: asking for 2 is an over-return
        ("cancel", 2),  # two approved returns the shopper cancels
        ("review", 10),  # four returns waiting for review: approve x2, reject x2
        ("ops-a", 10),  # approved: receive x2, note
        ("ops-b", 10),  # approved: ops cancel x2, ops get
        ("file", 10),  # ops files returns on the shopper's behalf
    ):
        order_id, body = order_for(tag, purpose, tee_quantity=tees)
        ids[purpose], orders[order_id] = order_id, body
    replay_key = f"bench-{tag}-replay"

    def approved(purpose: str, **kwargs) -> SeedReturn:
        return SeedReturn(ids[purpose], [TOO_SMALL], **kwargs)

    def in_review() -> SeedReturn:
        return SeedReturn(ids["review"], [damaged_line(ids["review"])], expect="needs_review")

    seeded = {
        "replay": approved("portal", key=replay_key),
        "over": approved("over"),
        "cancel-1": approved("cancel"),
        "cancel-2": approved("cancel"),
        "approve-1": in_review(),
        "approve-2": in_review(),
        "reject-1": in_review(),
        "reject-2": in_review(),
        "receive-1": approved("ops-a"),
        "receive-2": approved("ops-a"),
        "note": approved("ops-a"),
        "ops-cancel-1": approved("ops-b"),
        "ops-cancel-2": approved("ops-b"),
        "ops-get": approved("ops-b"),
    }
    seed(stack, orders, list(seeded.values()))
    rma = {name: spec.rma for name, spec in seeded.items()}

    portal_fn, ops_fn = function_by_module(PORTAL_RETURNS), function_by_module(OPS_API)
    events_fn = function_by_module(DOMAIN_EVENTS)
    shop = ids["portal"]

    def portal(route: str, order_id: str = shop, **kwargs) -> dict:
        return portal_event(stack, route, order_id, **kwargs)

    def ops(route: str, **kwargs) -> dict:
        return ops_event(stack, route, **kwargs)

    def both(make) -> tuple[dict, dict]:
        return make("cold"), make("warm")

    eligibility = portal("GET /portal/orders/{orderId}/eligibility")
    photo = portal("POST /portal/orders/{orderId}/photos", body={"content_type": "image/jpeg"})
    replay = start_event(stack, shop, [TOO_SMALL], key=replay_key)
    over = start_event(stack, ids["over"], [{**TOO_SMALL, "quantity": 2}])
    listed = portal("GET /portal/orders/{orderId}/returns")
    get = portal("GET /portal/orders/{orderId}/returns/{rma}", rma=rma["replay"])
    in_review = ops("GET /ops/returns", query={"status": "needs_review", "limit": "20"})
    receive_body = json.loads(load_event("ops_api.receive")["body"])
    return [
        pair("portal: eligibility", 200, portal_fn, eligibility, eligibility),
        pair("portal: photo upload (presign)", 200, portal_fn, photo, photo, only=SECRET_ONLY),
        pair(
            "portal: start return (new key)",
            201,
            portal_fn,
            *both(lambda p: start_event(stack, shop, [TOO_SMALL], key=f"bench-{tag}-new-{p}")),
        ),
        pair("portal: start return (replay)", 200, portal_fn, replay, replay),
        pair(
            "portal: start return (no key)",
            201,
            portal_fn,
            *both(lambda _: start_event(stack, shop, [TOO_SMALL])),
        ),
        pair("portal: over-return", 409, portal_fn, over, over),
        pair("portal: list order's returns", 200, portal_fn, listed, listed),
        pair("portal: get return", 200, portal_fn, get, get),
        pair(
            "portal: cancel return",
            200,
            portal_fn,
            *both(
                lambda p: portal(
                    "POST /portal/orders/{orderId}/returns/{rma}/cancel",
                    ids["cancel"],
                    rma=rma["cancel-1" if p == "cold" else "cancel-2"],
                    body={"reason": "Found one that fits"},
                )
            ),
        ),
        pair("ops: list needs_review (gsi2)", 200, ops_fn, in_review, in_review),
        pair(
            "ops: get return",
            200,
            ops_fn,
            *both(lambda _: ops("GET /ops/returns/{rma}", rma=rma["ops-get"])),
        ),
        pair(
            "ops: approve",
            200,
            ops_fn,
            *both(lambda p: ops("POST /ops/returns/{rma}/approve", rma=rma[f"approve-{_n(p)}"])),
        ),
        pair(
            "ops: reject",
            200,
            ops_fn,
            *both(
                lambda p: ops(
                    "POST /ops/returns/{rma}/reject",
                    rma=rma[f"reject-{_n(p)}"],
                    body={"reason": "Photo shows wear, not transit damage"},
                )
            ),
        ),
        pair(
            "ops: cancel",
            200,
            ops_fn,
            *both(
                lambda p: ops(
                    "POST /ops/returns/{rma}/cancel",
                    rma=rma[f"ops-cancel-{_n(p)}"],
                    body={"reason": "Customer called to cancel"},
                )
            ),
        ),
        pair(
            "ops: receive",
            200,
            ops_fn,
            *both(
                lambda p: ops(
                    "POST /ops/returns/{rma}/receive", rma=rma[f"receive-{_n(p)}"], body=receive_body
                )
            ),
        ),
        pair(
            "ops: note",
            200,
            ops_fn,
            *both(
                lambda p: ops(
                    "POST /ops/returns/{rma}/notes",
                    rma=rma["note"],
                    body={"note": f"Checked with the carrier ({p})", "shopper_visible": False},
                )
            ),
        ),
        pair(
            "ops: file on behalf",
            201,
            ops_fn,
            *both(
                lambda p: ops(
                    "POST /ops/orders/{orderId}/returns",
                    order_id=ids["file"],
                    body={"lines": [{**TOO_SMALL, "reason": "wrong_item", "resolution": "store_credit"}]},
                    idempotency_key=f"bench-{tag}-file-{p}",
                )
            ),
        ),
        pair(
            "events: publish 1 stream record",
            "ok",
            events_fn,
            load_event("domain_events.return_approved"),
            load_event("domain_events.return_approved"),
        ),
    ]


def _n(phase: str) -> int:
    return 1 if phase == "cold" else 2


def label_operations(stack: BenchStack) -> list[Operation]:
    """Seed returns in every label state the label operations need; the operations.

    Each return is started through the portal (approved at once) on an order shipping to the
    sample address, then taken on through the real LabelsFunction with the sandbox carrier:
    two approved returns to buy for, two with a label (duplicate delivery), two whose label
    was bought and that the shopper then cancelled (void), one with a label (portal link),
    two refused by the carrier (needs_attention, for ops retry-label) and two approved ones
    the carrier will refuse. The expiry job's orders are delivered weeks ago; its returns are
    seeded per invocation (see `pair(seeds=...)`).
    """
    tag = run_tag()
    orders, ids = {}, {}
    for purpose, refused in (
        ("buy", False),  # approved x2: buy
        ("dup", False),  # label_issued x2: a redelivered return.approved
        ("refuse", True),  # approved x2 on an address the sandbox refuses: needs_attention
        ("void", False),  # cancelled after the label was bought x2: return.cancelled
        ("link", False),  # label_issued: the portal's label link
        ("retry", True),  # needs_attention x2: ops retry-label
    ):
        order_id, body = order_for(
            tag, purpose, tee_quantity=4, postal_code=REFUSED_POSTAL_CODE if refused else None
        )
        ids[purpose], orders[order_id] = order_id, body
    for purpose, due in (
        ("expire-1", "expire"),
        ("expire-2", "expire"),
        ("remind-1", "remind"),
        ("remind-2", "remind"),
    ):
        order_id, body = aged_order_for(tag, purpose, due)
        ids[purpose], orders[order_id] = order_id, body

    def approved(purpose: str) -> SeedReturn:
        return SeedReturn(ids[purpose], [TOO_SMALL])

    seeded = {
        "buy-1": approved("buy"),
        "buy-2": approved("buy"),
        "dup-1": approved("dup"),
        "dup-2": approved("dup"),
        "refuse-1": approved("refuse"),
        "refuse-2": approved("refuse"),
        "void-1": approved("void"),
        "void-2": approved("void"),
        "link": approved("link"),
        "retry-1": approved("retry"),
        "retry-2": approved("retry"),
    }
    seed(stack, orders, list(seeded.values()))
    seed_labels(
        stack,
        [SeedLabel(seeded[f"dup-{n}"]) for n in (1, 2)]
        + [SeedLabel(seeded[f"void-{n}"], expect="cancelled") for n in (1, 2)]
        + [SeedLabel(seeded["link"])]
        + [SeedLabel(seeded[f"retry-{n}"], expect="needs_attention") for n in (1, 2)],
    )

    labels_fn, portal_fn = function_by_module(LABELS), function_by_module(PORTAL_RETURNS)
    ops_fn, expiry_fn = function_by_module(OPS_API), function_by_module(LABEL_EXPIRY)

    def message(name: str, event_type: str = "return.approved") -> dict:
        return label_message(seeded[name].rma, seeded[name].order_id, event_type)

    def both(make) -> tuple[dict, dict]:
        return make(1), make(2)

    link = portal_event(
        stack,
        "GET /portal/orders/{orderId}/returns/{rma}/label",
        ids["link"],
        rma=seeded["link"].rma,
        query={"format": "PDF"},
    )
    hourly = load_event("label_expiry.hourly")
    labels = [
        pair(
            LABEL_PURCHASE,
            "ok",
            labels_fn,
            *both(lambda n: message(f"buy-{n}")),
            exactly=LABEL_PURCHASE_CALLS,
        ),
        pair(
            "labels: redelivered return.approved (no purchase)",
            "ok",
            labels_fn,
            *both(lambda n: message(f"dup-{n}")),
            only=("DynamoDB.Query",),
        ),
        pair(
            "labels: carrier refuses the address (needs_attention)",
            "ok",
            labels_fn,
            *both(lambda n: message(f"refuse-{n}")),
            only=("DynamoDB.Query", "DynamoDB.GetItem", "DynamoDB.UpdateItem", "DynamoDB.TransactWriteItems"),
        ),
        pair(
            "labels: return.cancelled voids the label",
            "ok",
            labels_fn,
            *both(lambda n: message(f"void-{n}", "return.cancelled")),
            only=("DynamoDB.Query", "DynamoDB.TransactWriteItems"),
        ),
        pair(
            "portal: label link (presign)",
            200,
            portal_fn,
            link,
            link,
            only=(*SECRET_ONLY, "DynamoDB.Query"),
        ),
        pair(
            "ops: retry label (needs_attention)",
            200,
            ops_fn,
            *both(
                lambda n: ops_event(
                    stack, "POST /ops/returns/{rma}/retry-label", rma=seeded[f"retry-{n}"].rma
                )
            ),
        ),
        pair(
            "label expiry: 1 label to expire",
            "expired 1, reminded 0",
            expiry_fn,
            hourly,
            hourly,
            seeds=(aged_label_seed(ids["expire-1"], "expire"), aged_label_seed(ids["expire-2"], "expire")),
        ),
        pair(
            "label expiry: 1 label to remind",
            "expired 0, reminded 1",
            expiry_fn,
            hourly,
            hourly,
            seeds=(aged_label_seed(ids["remind-1"], "remind"), aged_label_seed(ids["remind-2"], "remind")),
        ),
    ]
    return labels


def tracking_operations(stack: BenchStack) -> list[Operation]:
    """Seed parcels, stored webhooks and parked events (infra/bench/tracking.py); the operations.

    WebhooksFunction: a new event (accepted: the conditional PutItem that stores it), a
    re-delivered one (duplicate: the same PutItem, refused by its condition) and a bad
    signature (401 before any write; only the cold call reads the secrets). TrackingFunction,
    one stream record each, as the table's stream delivers them: a stored event applied to a
    registered outbound parcel, one applied to a return parcel (which moves the return to
    in_transit in the same transaction), one for a number no order has (parked), an order's
    INSERT (its parcel registered) and a parcel's INSERT (its parked events re-driven). Then
    the shopper's tracking view, ops listing parked events and replaying one, and the hourly
    watch with nothing due: no parcel silent for `stalled_after_days` and none of the parked
    events' parcels registered - so whichever order the IAM test runs the functions in, the
    watch never takes the re-drive operation's events first (that operation's parcel image is
    a registered parcel's item re-keyed, not written to the table).
    """
    data = seed_tracking(stack, run_tag())
    webhooks_fn, tracking_fn = function_by_module(WEBHOOKS), function_by_module(TRACKING)
    portal_fn, ops_fn = function_by_module(PORTAL_API), function_by_module(OPS_API)
    watch_fn = function_by_module(SHIPMENT_WATCH)
    now = datetime.now(UTC)

    def both(make) -> tuple[dict, dict]:
        return make(0), make(1)

    def inbox_record(number: str) -> dict:
        return stream_event(stream_record(stack, inbox_item(stack, data.inbox[number])))

    template_parcel = shipment_item(stack, data.outbound[0])
    webhook_calls = {"DynamoDB.PutItem": 1}
    parked = ops_webhooks_event(stack, "GET /ops/webhooks", query={"status": "parked", "limit": "20"})
    hourly = load_event("shipment_watch.hourly")
    return [
        pair(
            "webhooks: receive (accepted)",
            200,
            webhooks_fn,
            *both(
                lambda n: signed_webhook(
                    "easypost",
                    "delivered",
                    tracking_number=data.outbound[n],
                    at=now - timedelta(minutes=30 + n),
                    event_id=f"evt_{data.tag}bench{n}",
                )
            ),
            only=(*SECRET_ONLY, "DynamoDB.PutItem"),
            warm_exactly=webhook_calls,
            body_status="accepted",
        ),
        pair(
            "webhooks: receive (duplicate)",
            200,
            webhooks_fn,
            data.duplicate,
            data.duplicate,
            only=(*SECRET_ONLY, "DynamoDB.PutItem"),
            warm_exactly=webhook_calls,
            body_status="duplicate",
        ),
        pair(
            "webhooks: bad signature",
            401,
            webhooks_fn,
            *both(lambda _: signed_webhook("easypost", "delivered", secret="not-the-secret")),
            only=SECRET_ONLY,
            warm_exactly={},
        ),
        pair(
            "tracking: event for an outbound parcel",
            "ok",
            tracking_fn,
            *both(lambda n: inbox_record(data.outbound[n])),
            exactly={"DynamoDB.GetItem": 1, "DynamoDB.TransactWriteItems": 1},
        ),
        pair(
            "tracking: event for a return parcel (moves the return)",
            "ok",
            tracking_fn,
            *both(lambda n: inbox_record(data.returned[n])),
            exactly={"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.TransactWriteItems": 1},
        ),
        pair(
            "tracking: event for an unknown number (parked)",
            "ok",
            tracking_fn,
            *both(lambda n: inbox_record(data.unknown[n])),
            exactly={"DynamoDB.GetItem": 1, "DynamoDB.UpdateItem": 1},
        ),
        pair(
            "tracking: order record registers its parcel",
            "ok",
            tracking_fn,
            *both(lambda n: stream_event(stream_record(stack, order_item(stack, data.register[n])))),
            exactly={"DynamoDB.PutItem": 1},
        ),
        pair(
            "tracking: parcel INSERT re-drives its parked event",
            "ok",
            tracking_fn,
            *both(
                lambda n: stream_event(
                    stream_record(stack, shipment_image_for(template_parcel, data.parked[n]))
                )
            ),
            exactly={"DynamoDB.Query": 1, "DynamoDB.UpdateItem": 1},
        ),
        pair(
            "portal: tracking view (2 parcels)",
            200,
            portal_fn,
            portal_tracking_event(stack, data.view_order),
            portal_tracking_event(stack, data.view_order),
            only=(*SECRET_ONLY, "DynamoDB.Query", "DynamoDB.BatchGetItem"),
            warm_exactly={"DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1},
        ),
        pair(
            "ops: list parked webhooks (gsi2)",
            200,
            ops_fn,
            parked,
            parked,
            only=(*SECRET_ONLY, "DynamoDB.Query"),
            warm_exactly={"DynamoDB.Query": 1},
        ),
        pair(
            "ops: replay a parked webhook",
            202,
            ops_fn,
            *both(
                lambda n: ops_webhooks_event(
                    stack, "POST /ops/webhooks/{webhookId}/replay", webhook_id=data.replayable[n]
                )
            ),
            only=(*SECRET_ONLY, "DynamoDB.GetItem", "DynamoDB.UpdateItem"),
            warm_exactly={"DynamoDB.GetItem": 2, "DynamoDB.UpdateItem": 1},
            body_status="received",
        ),
        pair(
            "shipment watch: hourly run, nothing due",
            "busy 0, delayed 0, redriven 0",
            watch_fn,
            hourly,
            hourly,
            only=("DynamoDB.Query", "DynamoDB.BatchGetItem", "SSM.GetParameter"),
        ),
    ]


def refund_operations(stack: BenchStack) -> list[Operation]:
    """Seed returns in every money state the refund operations need (infra/bench/refunds.py);
    the operations."""
    data = seed_refunds(stack, run_tag())
    check_sweep_takes_only(stack, data["sweep"])
    refunds_fn, sweep_fn = function_by_module(REFUNDS), function_by_module(REFUND_SWEEP)
    payment_webhooks_fn = function_by_module(PAYMENT_WEBHOOKS)
    ops_fn, merchant_fn = function_by_module(OPS_API), function_by_module(MERCHANT)
    portal_fn = function_by_module(PORTAL_RETURNS)
    tag = data.tag

    def both(make) -> tuple[dict, dict]:
        return make(0), make(1)

    def message(purpose: str, event_type: str, seq: int):
        return lambda n: refund_message(data[purpose][n], event_type, seq)

    applied = [stripe_webhook(s.body) for s in data.stripe]
    forged = [stripe_webhook(s.body, secret="whsec_not_the_secret") for s in data.stripe]
    replay = ops_refund_event(stack, data["credit"][0].rma, MANUAL_CREDIT, data.manual_credit_key)
    redeemed = redeem_event(stack, data.credit_code, data.redemption_key, f"#{tag}-paid-with-credit")
    export = ops_export_event(stack, data.day, data.day)
    credit = credit_event(stack, data.credit_code)
    view = portal_return_event(stack, data["sent"][0])
    return [
        pair(
            "refund sweep: 1 pending refund settled (warm: none due)",
            "returns 1, succeeded 1",
            sweep_fn,
            sweep_event(),
            sweep_event(),
            warm_status="returns 0",
            env=SWEEP_ENV,
            cold_exactly=SWEEP_SETTLES_ONE,
            warm_exactly=SWEEP_IDLE,
        ),
        pair(
            REFUND_TRIGGER,
            "ok",
            refunds_fn,
            *both(message("due", "return.delivered", 4)),
            exactly=REFUND_TRIGGER_CALLS,
        ),
        pair(
            "refunds: the same message again (idempotency)",
            "ok",
            refunds_fn,
            data.handled[0],
            data.handled[1],
            exactly={"DynamoDB.PutItem": 1},  # the idempotency record's conditional put answers
        ),
        pair(
            "refunds: return.approved, not due yet",
            "ok",
            refunds_fn,
            *both(message("not_due", "return.approved", 2)),
            exactly=REFUND_NOTHING_TO_DO,
        ),
        pair(
            "refunds: refund.requested sends a refund made by hand",
            "ok",
            refunds_fn,
            *both(message("requested", "refund.requested", 3)),
            exactly=REFUND_SEND_RESERVED,
        ),
        pair(
            "refunds: refund.requested for a refund already sent",
            "ok",
            refunds_fn,
            *both(message("sent", "refund.requested", 7)),
            exactly=REFUND_NOTHING_TO_DO,
        ),
        pair(
            "payment webhooks: Stripe refund.updated (applied)",
            200,
            payment_webhooks_fn,
            applied[0],
            applied[1],
            only=(*PAYMENT_SECRET, "DynamoDB.GetItem", "DynamoDB.TransactWriteItems"),
            warm_exactly=WEBHOOK_APPLIED_CALLS,
            body_status="applied",
        ),
        pair(
            "payment webhooks: the same again (unchanged)",
            200,
            payment_webhooks_fn,
            applied[0],
            applied[1],
            only=(*PAYMENT_SECRET, "DynamoDB.GetItem"),
            warm_exactly={"DynamoDB.GetItem": 2},
            body_status="unchanged",
        ),
        pair(
            "payment webhooks: bad signature",
            401,
            payment_webhooks_fn,
            forged[0],
            forged[1],
            only=PAYMENT_SECRET,
            warm_exactly={},
        ),
        pair(
            "ops: refund by hand",
            202,
            ops_fn,
            *both(
                lambda n: ops_refund_event(
                    stack, data["manual"][n].rma, MANUAL_REFUND, f"bench-{tag}-by-hand-{n}"
                )
            ),
            **_warm(MANUAL_REFUND_CALLS),
        ),
        pair("ops: refund by hand (replay)", 202, ops_fn, replay, replay, **_warm({"DynamoDB.PutItem": 1})),
        pair(
            "ops: refund by hand over the remaining",
            409,
            ops_fn,
            *both(
                lambda n: ops_refund_event(
                    stack,
                    data["manual"][n].rma,
                    {**MANUAL_REFUND, "amount": 10**6},
                    f"bench-{tag}-too-much-{n}",
                )
            ),
            # the idempotency record is put, then deleted when the request fails
            **_warm(
                {"DynamoDB.PutItem": 1, "DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.DeleteItem": 1}
            ),
        ),
        pair(
            "ops: retry a failed refund",
            202,
            ops_fn,
            *both(lambda n: ops_retry_event(stack, data["failed"][n].rma, {"reason": "Card replaced"})),
            **_warm({"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.TransactWriteItems": 1}),
        ),
        pair(
            "ops: export refunds (CSV)",
            200,
            ops_fn,
            export,
            export,
            **_warm({"DynamoDB.Query": 1, "DynamoDB.BatchGetItem": 1}),  # gsi1 keys, then the items
        ),
        pair(
            "merchant: read store credit", 200, merchant_fn, credit, credit, **_warm({"DynamoDB.GetItem": 1})
        ),
        pair(
            "merchant: redeem store credit",
            200,
            merchant_fn,
            *both(
                lambda n: redeem_event(
                    stack, data.credit_code, f"bench-{tag}-redeem-{n}", f"#{tag}-checkout-{n}"
                )
            ),
            **_warm(REDEMPTION_CALLS),
        ),
        pair(
            "merchant: redeem store credit (replay)",
            200,
            merchant_fn,
            redeemed,
            redeemed,
            **_warm(REDEMPTION_CALLS),  # the transaction is refused (already redeemed), then the read
        ),
        pair(
            "portal: get return with its refund", 200, portal_fn, view, view, **_warm({"DynamoDB.Query": 1})
        ),
    ]


def notification_operations(stack: BenchStack) -> list[Operation]:
    """Seed the events every notification operation sends (infra/bench/notifications.py); the
    operations: NotificationsFunction on one SQS record each, cold and warm on two events alike."""
    data = seed_notifications(stack, run_tag())
    notifications_fn = function_by_module(NOTIFICATIONS)

    def both(items: list[dict]) -> tuple[dict, dict]:
        return notification_message(stack, items[0]), notification_message(stack, items[1])

    def sends(calls: dict[str, int]) -> dict:
        return {"cold_exactly": _cold(calls), "warm_exactly": calls}

    return [
        pair(
            "notifications: return.label_issued, email (no SMS opt-in)",
            "ok",
            notifications_fn,
            *both(data["label"]),
            **sends(NOTIFY_EMAIL_ONLY),
        ),
        pair(NOTIFY_TRIGGER, "ok", notifications_fn, *both(data["refund"]), **sends(NOTIFY_EMAIL_AND_SMS)),
        pair(
            "notifications: the same refund.issued again (duplicate)",
            "ok",
            notifications_fn,
            *both(data["duplicate"]),
            exactly=NOTIFY_DUPLICATE,
        ),
        pair(
            "notifications: return.approved, label to come (no message)",
            "ok",
            notifications_fn,
            *both(data.approved),
            exactly=NOTIFY_NO_MESSAGE,
        ),
        pair(
            "notifications: shipment.delivered (outbound), email + SMS",
            "ok",
            notifications_fn,
            *both(data["parcel"]),
            **sends(NOTIFY_PARCEL),
        ),
    ]


def _warm(calls: dict[str, int]) -> dict:
    """An API function's pins: these calls warm; cold, its secret's read on top."""
    return {"only": (*SECRET_ONLY, *calls), "warm_exactly": calls}


def operations(stack: BenchStack) -> list[Operation]:
    return (
        slice_operations(stack)
        + returns_operations(stack)
        + label_operations(stack)
        + tracking_operations(stack)
        + refund_operations(stack)
        + notification_operations(stack)
    )


def api_counts(calls: list[dict]) -> Counter:
    return Counter(f"{c['service']}.{c['operation']}" for c in calls)


def describe(calls: list[dict]) -> str:
    """ "DynamoDB.Query x2 (gsi1 x1, table x1), DynamoDB.TransactWriteItems x1 (Put x3, Update x1)".

    In parentheses: the items of a transaction (IAM authorizes each: Put = dynamodb:PutItem ...),
    and for reads that used an index, table or index per call.
    """
    parts = []
    for name, n in sorted(api_counts(calls).items()):
        same = [c for c in calls if f"{c['service']}.{c['operation']}" == name]
        items = Counter(kind for c in same for kind, _ in c["params"].get("TransactItems", []))
        if not items and any("IndexName" in c["params"] for c in same):
            items = Counter(c["params"].get("IndexName", "table") for c in same)
        detail = f" ({', '.join(f'{k} x{v}' for k, v in sorted(items.items()))})" if items else ""
        parts.append(f"{name} x{n}{detail}")
    return ", ".join(parts) or "(none)"


def run(ctx) -> dict:
    stack = ctx.stack()
    assert SHOPPER_EMAIL in load_event("portal_api.create_session")["body"].lower()
    results = {}
    for operation in operations(stack):
        cold, warm = run_calls(stack, [operation.cold, operation.warm], env=operation.env)["ops"]
        for phase, result in (("cold", cold), ("warm", warm)):
            if result["status"] != operation.expected(phase):
                raise RuntimeError(
                    f"{result['label']}: expected {operation.expected(phase)}, "
                    f"got {result['status']} {result['body']}"
                )
            extra = set(api_counts(result["calls"])) - set(operation.only or api_counts(result["calls"]))
            if extra:
                raise RuntimeError(f"{result['label']}: unexpected calls {sorted(extra)}")
            by_api = dict(api_counts(result["calls"]))
            if operation.exactly is not None and by_api != operation.exactly:
                raise RuntimeError(f"{result['label']}: calls {by_api}, expected {operation.exactly}")
            if operation.body_status is not None:
                answered = json.loads(result["body"] or "{}").get("status")
                if answered != operation.body_status:
                    raise RuntimeError(
                        f"{result['label']}: answered {answered!r}, expected {operation.body_status!r}"
                    )
        for result, wanted in ((cold, operation.cold_exactly), (warm, operation.warm_exactly)):
            if wanted is not None and dict(api_counts(result["calls"])) != wanted:
                raise RuntimeError(
                    f"{result['label']}: calls {dict(api_counts(result['calls']))}, expected {wanted}"
                )
        results[operation.name] = {
            "function": operation.cold["function"],
            "status": operation.status,
            **({"warm_status": operation.warm_status} if operation.warm_status is not None else {}),
            **{
                phase: {
                    "calls": len(r["calls"]),
                    "by_api": dict(api_counts(r["calls"])),
                    "detail": r["calls"],
                    "ms": r["ms"],
                }
                for phase, r in (("cold", cold), ("warm", warm))
            },
        }
    return {"operations": results}


def render(data: dict) -> str:
    rows = []
    for name, o in data["operations"].items():
        for phase in ("cold", "warm"):
            first = phase == "cold"
            rows.append(
                [
                    name if first else "",
                    o["function"].removesuffix("Function") if first else "",
                    o["status"] if first else o.get("warm_status", ""),
                    phase,
                    o[phase]["calls"],
                    describe(o[phase]["detail"]),
                ]
            )
    note = (
        "Counted with a botocore before-call hook against moto; retries are not counted. cold = the "
        "first invocation in a process (it fetches the function's secret), warm = the next one.\n"
        "A transaction lists its items: IAM authorizes each one (Put = dynamodb:PutItem, ...), and each "
        "costs 2 write units. Status: HTTP, ok = stream / queue batch with no failed record, or the "
        "expiry job's counts.\n"
        "Presigning the photo upload is local (no call); the browser's upload needs s3:PutObject on "
        "photos/*.\nLabels use the sandbox carrier (no secret read, no network); EasyPost / Shippo add the "
        "carrier secret's GetSecretValue on a cold start and their own HTTPS calls. The label link is "
        "presigned locally too; the shopper's download needs s3:GetObject on labels/*. The expiry job "
        "also reads (Query) every label already reminded of until it expires: the warm remind run "
        "re-reads the cold one's.\nWebhooks: a duplicate costs the same PutItem as a new event (its "
        "condition refuses it); a bad signature makes no call once the secrets are cached. Tracking "
        "runs on one stream record per invocation; a return parcel's event also reads the return "
        "(Query) and moves it in the same transaction.\nRefunds: the ledger provider (no network); a "
        "Stripe refund adds the Stripe key's GetSecretValue on a cold start and the Stripe API call. "
        "RefundsFunction wraps every message in Powertools idempotency (a PutItem before, an UpdateItem "
        "after; a replay is the PutItem alone). The sweep's warm call found nothing due: one gsi2 Query "
        "per idle run.\nNotifications: SES v2 and SNS on moto (nothing leaves); each channel's sent-once "
        "record is a conditional PutItem before the send and an UpdateItem after (one PutItem for a "
        "channel recorded undeliverable; none for a shopper who never opted in to texts); the cold call "
        "reads the link signing key when it renders."
    )
    headers = ["operation", "function", "status", "phase", "calls", "by API"]
    summary = ""
    if purchase := data["operations"].get(LABEL_PURCHASE):
        summary = "\nAWS calls per label purchase (sandbox carrier): {} cold, {} warm - {}".format(
            purchase["cold"]["calls"], purchase["warm"]["calls"], describe(purchase["warm"]["detail"])
        )
    if refund := data["operations"].get(REFUND_TRIGGER):
        summary += "\nAWS calls per automatic refund (ledger provider): {} - {}".format(
            refund["warm"]["calls"], describe(refund["warm"]["detail"])
        )
    if notify := data["operations"].get(NOTIFY_TRIGGER):
        summary += "\nAWS calls per notified event (email + SMS, warm): {} - {}".format(
            notify["warm"]["calls"], describe(notify["warm"]["detail"])
        )
    return stats.table(headers, rows, "llrlrl") + "\n" + note + summary
