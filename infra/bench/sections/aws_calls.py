"""AWS API calls per slice operation, cold (first call in a process) and warm.

Each operation runs in a fresh child interpreter: first the cold invocation (it also fetches
the function's secret from Secrets Manager), then a warm one of the same kind. Every call is
recorded by a botocore `before-call` hook on boto3's default session (infra/bench/child.py),
so the counts are what the handlers ask AWS for - retries excluded - against moto.

`slice_operations(stack)` is shared with tests/infra/test_template.py, which checks each
recorded call against the function's IAM statements in template.yaml.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from infra.bench import stats
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


def slice_operations(stack: BenchStack) -> list[tuple[str, int, dict, dict]]:
    """Seed the table; return (operation, expected status, cold op, warm op) for the order slice."""
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

    def pair(name, status, fn, cold_event, warm_event):
        return (name, status, op(f"{name} (cold)", fn, cold_event), op(f"{name} (warm)", fn, warm_event))

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


def describe(calls: list[dict]) -> str:
    counts = Counter(f"{c['service']}.{c['operation']}" for c in calls)
    return ", ".join(f"{name} x{n}" for name, n in counts.items()) or "(none)"


def run(ctx) -> dict:
    stack = ctx.stack()
    assert SHOPPER_EMAIL in load_event("portal_api.create_session")["body"].lower()
    operations = {}
    for name, status, cold, warm in slice_operations(stack):
        results = run_calls(stack, [cold, warm])["ops"]
        for result in results:
            if result["status"] != status:
                raise RuntimeError(
                    f"{result['label']}: expected {status}, got {result['status']} {result['body']}"
                )
        operations[name] = {
            "function": cold["function"],
            "status": status,
            **{
                phase: {
                    "calls": len(r["calls"]),
                    "by_api": dict(Counter(f"{c['service']}.{c['operation']}" for c in r["calls"])),
                    "detail": r["calls"],
                    "ms": r["ms"],
                }
                for phase, r in zip(("cold", "warm"), results, strict=True)
            },
        }
    return {"operations": operations}


def render(data: dict) -> str:
    rows = []
    for name, o in data["operations"].items():
        rows.append(
            [
                name,
                o["status"],
                f"{o['cold']['calls']}: " + describe(o["cold"]["detail"]),
                f"{o['warm']['calls']}: " + describe(o["warm"]["detail"]),
            ]
        )
    note = "Counted with a botocore before-call hook against moto; retries are not counted."
    return stats.table(["operation", "HTTP", "cold: calls", "warm: calls"], rows, "lrll") + "\n" + note
