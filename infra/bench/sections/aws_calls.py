"""AWS API calls per operation, cold (first call in a process) and warm.

Operations: the order slice (merchant upsert, portal sign-in and order view) and returns
(portal eligibility, photo upload, start / replay / over-return, list, get, cancel; ops list,
get, approve, reject, cancel, receive, note, file on behalf; the stream -> SNS publish).
Each runs in a fresh child interpreter: first the cold invocation (it also fetches the
function's secret from Secrets Manager), then a warm one of the same kind. Every call is
recorded by a botocore `before-call` hook on boto3's default session (infra/bench/child.py),
so the counts are what the handlers ask AWS for - retries excluded - against moto.

Each operation gets its own seeded data (infra/bench/returns.py): orders delivered a few
days before now, returns already in the state the operation needs (e.g. `needs_review` for
approve), a fresh Idempotency-Key where a new return is expected.

`slice_operations(stack)` and `returns_operations(stack)` (both: `operations(stack)`) are
shared with tests/infra/test_template.py, which checks each recorded call against the
function's IAM statements in template.yaml.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from infra.bench import stats
from infra.bench.returns import (
    DOMAIN_EVENTS,
    OPS_API,
    PORTAL_RETURNS,
    TOO_SMALL,
    SeedReturn,
    damaged_line,
    ops_event,
    order_for,
    portal_event,
    run_tag,
    seed,
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

NAME = "aws_calls"
TITLE = "AWS API calls per operation (cold = first call in a process, warm = the next)"
ORDER = 20

MERCHANT = "homeward.handlers.merchant_api"
PORTAL = "homeward.handlers.portal_api"
SECRET_ONLY = ("Secrets Manager.GetSecretValue",)


class Operation(NamedTuple):
    name: str
    status: int | str  # HTTP status, or "ok" for a stream batch without failures
    cold: dict
    warm: dict
    only: tuple[str, ...] | None = None  # if set, the only calls allowed ("Service.Operation")


def pair(name: str, status: int | str, fn, cold_event: dict, warm_event: dict, **kwargs) -> Operation:
    return Operation(
        name, status, op(f"{name} (cold)", fn, cold_event), op(f"{name} (warm)", fn, warm_event), **kwargs
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
    wrong = with_source_ip(
        with_body(session, {"order_number": "#1001", "email": "not.jane@example.com"}), "198.51.100.7"
    )
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
        pair("sign-in: failure (wrong email)", 401, portal, wrong, wrong),
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


def operations(stack: BenchStack) -> list[Operation]:
    return slice_operations(stack) + returns_operations(stack)


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
        cold, warm = run_calls(stack, [operation.cold, operation.warm])["ops"]
        for result in (cold, warm):
            if result["status"] != operation.status:
                raise RuntimeError(
                    f"{result['label']}: expected {operation.status}, got {result['status']} {result['body']}"
                )
            extra = set(api_counts(result["calls"])) - set(operation.only or api_counts(result["calls"]))
            if extra:
                raise RuntimeError(f"{result['label']}: unexpected calls {sorted(extra)}")
        results[operation.name] = {
            "function": operation.cold["function"],
            "status": operation.status,
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
                    o["status"] if first else "",
                    phase,
                    o[phase]["calls"],
                    describe(o[phase]["detail"]),
                ]
            )
    note = (
        "Counted with a botocore before-call hook against moto; retries are not counted. cold = the "
        "first invocation in a process (it fetches the function's secret), warm = the next one.\n"
        "A transaction lists its items: IAM authorizes each one (Put = dynamodb:PutItem, ...), and each "
        "costs 2 write units. Status: HTTP, or ok = stream batch with no failed record.\n"
        "Presigning the photo upload is local (no call); the browser's upload needs s3:PutObject on photos/*."
    )
    headers = ["operation", "function", "status", "phase", "calls", "by API"]
    return stats.table(headers, rows, "llrlrl") + "\n" + note
