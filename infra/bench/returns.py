"""Returns fixtures for the bench and the IAM test: orders, returns in a chosen state, route events.

Everything is created through the real handlers (merchant API for orders, the portal for
returns), in one child process, so the stored items are exactly what production writes.

* `recent_order(...)`: the sample order body, delivered a few days before *now* - the return
  window is 30 days from delivery, so fixed dates would make eligibility fail as time passes.
  Each seeded order gets its own shopper email: the policy sends a customer's 4th return in
  90 days to review, so sharing one email would change the state a seeded return lands in.
* `seed(stack, orders, returns)`: store the orders, then start the returns; the RMAs, in order.
  Each return's outcome is checked (`approved` / `needs_review`), so a fixture that drifts
  from the policy fails here instead of as a confusing 409 later.
* `portal_event(...)` / `ops_event(...)`: an HTTP API v2 event for any route of
  PortalReturnsFunction / OpsApiFunction, built from the samples in events/ (portal token for
  that order, merchant key, path parameters and routeKey filled in).
* Labels: `seed_labels(stack, [SeedLabel(...)])` takes seeded returns on through the real
  LabelsFunction (sandbox carrier, one `return.approved` SQS record each: `label_message`)
  to `label_issued`, to `needs_attention` (the sandbox refuses a shopper postal code
  "00000": `order_for(..., postal_code=REFUSED_POSTAL_CODE)`), or to `cancelled` after the
  label was bought (the shopper cancels in the portal); each end state is read back.
  `aged_label_seed(order_id, due)` is a spec for a return whose label was bought long enough
  ago that the hourly expiry job must `expire` it or `remind` the shopper (ages from the
  bundled policy's `label` section); `seed_aged_labels` writes such returns now, or `op(...,
  seed=spec)` just before one measured invocation (infra/bench/child.py `aged-labels`).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infra.bench.stack import (
    FUNCTIONS_DIR,
    BenchStack,
    function_by_module,
    load_event,
    merchant_function,
    op,
    run_calls,
    run_child,
    with_body,
    with_order_id,
)

PORTAL_RETURNS = "homeward.handlers.portal_returns"
OPS_API = "homeward.handlers.ops_api"
DOMAIN_EVENTS = "homeward.handlers.domain_events"
LABELS = "homeward.handlers.labels"
LABEL_EXPIRY = "homeward.handlers.label_expiry"
POLICY_FILE = FUNCTIONS_DIR / "homeward" / "policy" / "return-policy.json"
# The sandbox carrier refuses a shopper address with this postal code (a carrier refusal:
# the return goes to needs_attention until ops retry).
REFUSED_POSTAL_CODE = "00000"

# A return the policy approves at once (tee, too small, refund) ...
TOO_SMALL = {"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}
# ... and one it sends to review (damaged needs a photo; photo reasons are reviewed).
DAMAGED = {"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "refund"}


def photo_key(order_id: str) -> str:
    """A key as POST /photos hands out: photos/<order_id>/<32 hex>.jpg (nothing is uploaded)."""
    return f"photos/{order_id}/{uuid.uuid4().hex}.jpg"


def damaged_line(order_id: str) -> dict:
    return {**DAMAGED, "photos": [photo_key(order_id)]}


def run_tag() -> str:
    """Ids unique to one seeding, so sections sharing a stack (and reruns) never collide."""
    return uuid.uuid4().hex[:8]


def recent_order(
    order_number: str,
    email: str,
    *,
    days_since_delivery: int = 5,
    tee_quantity: int = 2,
    postal_code: str | None = None,
) -> dict:
    """The sample order body, delivered `days_since_delivery` days ago whatever today's date is.

    It ships to the sample's address (a return label's sender); `postal_code` replaces its code.
    """
    now = datetime.now(UTC)

    def ago(days: int) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    body = json.loads(load_event("merchant_api.put_order")["body"])
    body["order_number"] = order_number
    body["customer"]["email"] = email
    body["placed_at"] = ago(days_since_delivery + 4)
    body["updated_at"] = ago(days_since_delivery)
    body["shipments"][0]["shipped_at"] = ago(days_since_delivery + 3)
    body["shipments"][0]["delivered_at"] = ago(days_since_delivery)
    (tee,) = (line for line in body["lines"] if line["line_id"] == "L1")
    tee["quantity"] = tee_quantity  # the shipment still carries 2: delivered, so the window applies
    if body["customer"].get("address") is None:
        raise RuntimeError("the sample order has no shipping address: a label needs one")
    if postal_code is not None:
        body["customer"]["address"]["postal_code"] = postal_code
    return body


def order_for(
    tag: str,
    purpose: str,
    *,
    tee_quantity: int = 2,
    days_since_delivery: int = 5,
    postal_code: str | None = None,
) -> tuple[str, dict]:
    """(order id, body) with its own order number and shopper email."""
    order_id = f"bench-{tag}-{purpose}"
    return order_id, recent_order(
        f"#{tag}-{purpose}",
        f"shopper+{tag}-{purpose}@example.com",
        tee_quantity=tee_quantity,
        days_since_delivery=days_since_delivery,
        postal_code=postal_code,
    )


# ---- events for any route -------------------------------------------------------------------


def _route_event(
    sample: dict,
    route: str,
    params: dict[str, str],
    *,
    body: dict | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
) -> dict:
    """`sample` re-pointed at `route` ("POST /ops/returns/{rma}/approve") with these parameters."""
    event = copy.deepcopy(sample)
    method, template = route.split(" ", 1)
    path = template.format(**params)
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = dict(params) or None
    for name in drop_headers:
        event["headers"].pop(name, None)
    event["headers"].update(headers or {})
    event.pop("body", None)
    if body is not None:
        event["body"] = json.dumps(body)
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event.pop("queryStringParameters", None)
    if query:
        event["queryStringParameters"] = dict(query)
    return event


def with_path_params(event: dict, **params: str) -> dict:
    """A sample event re-pointed at other path parameters (its routeKey's path, filled in)."""
    event = copy.deepcopy(event)
    params = {**(event.get("pathParameters") or {}), **params}
    path = event["routeKey"].split(" ", 1)[1].format(**params)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = params
    return event


def portal_event(
    stack: BenchStack,
    route: str,
    order_id: str,
    *,
    rma: str | None = None,
    body: dict | None = None,
    query: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """A PortalReturnsFunction route for `order_id`, signed in with that order's portal token."""
    sample = stack.fill_placeholders(load_event("portal_returns.start_return"), order_id=order_id)
    params = {"orderId": order_id, **({"rma": rma} if rma else {})}
    return _route_event(
        sample,
        route,
        params,
        body=body,
        query=query,
        headers={"idempotency-key": idempotency_key} if idempotency_key else None,
        drop_headers=("idempotency-key",),
    )


def ops_event(
    stack: BenchStack,
    route: str,
    *,
    rma: str | None = None,
    order_id: str | None = None,
    body: dict | None = None,
    query: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """An OpsApiFunction route with the merchant key and an X-Actor."""
    sample = stack.fill_placeholders(load_event("ops_api.approve"))
    params = {**({"rma": rma} if rma else {}), **({"orderId": order_id} if order_id else {})}
    return _route_event(
        sample,
        route,
        params,
        body=body,
        query=query,
        headers={"idempotency-key": idempotency_key} if idempotency_key else None,
    )


def start_event(
    stack: BenchStack, order_id: str, lines: list[dict], *, key: str | None = None, note: str | None = None
) -> dict:
    body: dict = {"lines": lines}
    if note:
        body["note"] = note
    return portal_event(
        stack, "POST /portal/orders/{orderId}/returns", order_id, body=body, idempotency_key=key
    )


# ---- seeding --------------------------------------------------------------------------------


@dataclass
class SeedReturn:
    """A return to start through the portal before measuring; `expect` is its resulting status."""

    order_id: str
    lines: list[dict]
    expect: str = "approved"
    key: str | None = None
    note: str | None = None
    rma: str = field(default="", init=False)


def seed(stack: BenchStack, orders: dict[str, dict], returns: list[SeedReturn]) -> list[str]:
    """Store `orders` (merchant API) then start `returns` (portal), in one child; the RMAs."""
    merchant, portal = merchant_function(), function_by_module(PORTAL_RETURNS)
    put = stack.fill_placeholders(load_event("merchant_api.put_order"))
    ops = [
        op(f"seed order {order_id}", merchant, with_body(with_order_id(put, order_id), body))
        for order_id, body in orders.items()
    ]
    ops += [
        op(
            f"seed return #{i} on {r.order_id}",
            portal,
            start_event(stack, r.order_id, r.lines, key=r.key, note=r.note),
        )
        for i, r in enumerate(returns)
    ]
    results = run_calls(stack, ops)["ops"] if ops else []
    for result in results[: len(orders)]:
        if result["status"] not in (200, 201):
            raise RuntimeError(f"{result['label']} failed: {result['status']} {result['body']}")
    for spec, result in zip(returns, results[len(orders) :], strict=True):
        body = json.loads(result["body"] or "{}")
        if result["status"] != 201 or body.get("status") != spec.expect:
            raise RuntimeError(
                f"{result['label']}: expected 201 {spec.expect}, got {result['status']} {result['body']}"
            )
        spec.rma = body["rma"]
    return [r.rma for r in returns]


# ---- labels -----------------------------------------------------------------------------------


def label_message(rma: str, order_id: str, event_type: str = "return.approved") -> dict:
    """An SQS event for LabelsFunction: one LabelRequestsQueue record, as SNS delivers it raw.

    The handler reads the message attributes (`type`, `rma`); the body is the timeline entry.
    """
    event = load_event("labels.return_approved")
    (record,) = event["Records"]
    record["messageId"] = str(uuid.uuid4())
    attributes = record["messageAttributes"]
    attributes["type"]["stringValue"] = event_type
    attributes["rma"]["stringValue"] = rma
    attributes["order_id"]["stringValue"] = order_id
    attributes["event_id"]["stringValue"] = f"{rma}:000002"
    attributes["status"]["stringValue"] = event_type.removeprefix("return.")
    body = json.loads(record["body"])
    body["type"] = event_type
    record["body"] = json.dumps(body)
    return event


@dataclass
class SeedLabel:
    """A seeded return (its `rma` set by `seed`) to take on through LabelsFunction.

    expect: `label_issued` (bought), `needs_attention` (its order ships to REFUSED_POSTAL_CODE),
    or `cancelled` (bought, then the shopper cancels: the label waits to be voided).
    """

    ret: SeedReturn
    expect: str = "label_issued"


def seed_labels(stack: BenchStack, labels: list[SeedLabel]) -> None:
    """Buy the labels (LabelsFunction, sandbox), cancel where asked, read each return back; one child."""
    if not labels:
        return
    labels_fn, portal = function_by_module(LABELS), function_by_module(PORTAL_RETURNS)
    ops = [op(f"buy label {s.ret.rma}", labels_fn, label_message(s.ret.rma, s.ret.order_id)) for s in labels]
    ops += [
        op(
            f"cancel {s.ret.rma}",
            portal,
            portal_event(
                stack,
                "POST /portal/orders/{orderId}/returns/{rma}/cancel",
                s.ret.order_id,
                rma=s.ret.rma,
                body={"reason": "Bought elsewhere"},
            ),
        )
        for s in labels
        if s.expect == "cancelled"
    ]
    ops += [
        op(
            f"read {s.ret.rma}",
            portal,
            portal_event(stack, "GET /portal/orders/{orderId}/returns/{rma}", s.ret.order_id, rma=s.ret.rma),
        )
        for s in labels
    ]
    results = run_calls(stack, ops)["ops"]
    for result in results[: len(labels)]:
        if result["status"] != "ok":
            raise RuntimeError(f"{result['label']}: {result['status']}")
    for spec, result in zip(labels, results[-len(labels) :], strict=True):
        body = json.loads(result["body"] or "{}")
        if result["status"] != 200 or body.get("status") != spec.expect:
            raise RuntimeError(
                f"label seeding: {spec.ret.rma} should be {spec.expect}, "
                f"got {result['status']} {result['body']}"
            )


def label_ages() -> dict[str, int]:
    """Days since purchase at which the hourly job must `expire` a label, or `remind` of it.

    From the bundled policy (the bench's functions read no SSM parameter): a label expires
    `expiry_days` after purchase and the reminder goes `reminder_days_before_expiry` before.
    """
    label = json.loads(POLICY_FILE.read_text())["label"]
    expiry, reminder = label["expiry_days"], label["reminder_days_before_expiry"]
    if reminder < 2:
        raise RuntimeError("label_ages: a reminder window under 2 days leaves no whole day to seed in")
    return {"expire": expiry + 1, "remind": expiry - reminder + 1}


def aged_order_for(tag: str, purpose: str, due: str) -> tuple[str, dict]:
    """An order delivered 3 days before its aged return was started (inside the return window then)."""
    return order_for(tag, purpose, days_since_delivery=label_ages()[due] + 3)


def aged_label_seed(order_id: str, due: str) -> dict:
    """An aged-labels spec: one return on `order_id` (stored by `aged_order_for`) whose label is
    due to `expire` or to `remind` of."""
    return {"returns": [{"order_id": order_id, "lines": [TOO_SMALL], "age_days": label_ages()[due]}]}


def seed_aged_labels(stack: BenchStack, spec: dict) -> list[str]:
    """Write the returns of an aged-labels spec now (one child with LabelExpiryFunction's
    environment); their RMAs."""
    import tempfile
    from pathlib import Path

    env = stack.child_env(function_by_module(LABEL_EXPIRY))
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        return run_child(["aged-labels", str(path)], env)["rmas"]
