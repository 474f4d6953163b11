"""The README walkthrough over real HTTP against the local stack (real template, real handlers).

A shop pushes an order with the merchant key, the shopper signs in with order number and
email and sees a masked view of that one order; the edges an integrator hits (bad keys, bad
JSON, schema errors, wrong emails, brute force, huge bodies, unknown routes) answer as
documented. Each test uses its own order numbers so the tests do not depend on each other.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message

import pytest
from homeward.models.orders import OrderIn

pytestmark = pytest.mark.e2e

SIGN_IN_FAILED = "We could not find an order with that order number and email address."


@dataclass
class Reply:
    status: int
    headers: Message
    content: bytes

    @property
    def json(self):
        return json.loads(self.content)


def call(
    stack, method: str, path: str, body=None, *, raw: bytes | None = None, headers: dict | None = None
) -> Reply:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = dict(headers or {})
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(stack.api_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def order(number: str, email: str = "e2e.shopper@example.com") -> dict:
    """A small, valid order: one tee, shipped and delivered, paid in full by card."""
    body = {
        "order_number": number,
        "placed_at": "2026-11-02T10:15:00Z",
        "updated_at": "2026-11-06T12:30:00Z",
        "currency": "USD",
        "customer": {"email": email, "phone": "+15555550199", "name": "Erin Example", "locale": "en-US"},
        "lines": [
            {
                "line_id": "L1",
                "sku": "TEE-BLK-M",
                "title": "Organic cotton tee",
                "quantity": 2,
                "unit_price": 2500,
                "tax": 413,
            },
        ],
        "shipping": 599,
        "shipments": [
            {
                "carrier": "USPS",
                "tracking_number": "9400111899223197428490",
                "lines": [{"line_id": "L1", "quantity": 2}],
                "shipped_at": "2026-11-03T16:00:00Z",
                "delivered_at": "2026-11-06T12:30:00Z",
            },
        ],
    }
    body["payments"] = [
        {
            "payment_id": "P1",
            "provider": "stripe",
            "reference": "pi_3E2eTest",
            "captured": OrderIn(**body).total,
        }
    ]
    return body


def put_order(stack, order_id: str, body: dict, key: str | None = None) -> Reply:
    return call(
        stack,
        "PUT",
        f"/orders/{order_id}",
        body,
        headers={"Authorization": f"Bearer {key or stack.merchant_api_key}"},
    )


def sign_in(stack, number: str, email: str) -> Reply:
    return call(stack, "POST", "/portal/session", {"order_number": number, "email": email})


def test_merchant_puts_an_order_and_an_identical_resend_changes_nothing(local_stack):
    created = put_order(local_stack, "ord_e2e_put", order("#E2E-100"))
    assert created.status == 201, created.content
    assert created.json == {"order_id": "ord_e2e_put", "version": 1, "result": "created"}

    again = put_order(local_stack, "ord_e2e_put", order("#E2E-100"))
    assert again.status == 200, again.content
    assert again.json == {"order_id": "ord_e2e_put", "version": 1, "result": "unchanged"}


def test_shopper_signs_in_and_sees_only_a_masked_view_of_that_order(local_stack):
    assert put_order(local_stack, "ord_e2e_view", order("#E2E-200", "erin.view@example.com")).status == 201
    assert (
        put_order(local_stack, "ord_e2e_other", order("#E2E-201", "someone.else@example.com")).status == 201
    )

    session = sign_in(local_stack, " e2e-200 ", "  Erin.VIEW@Example.COM ")  # trimmed, any case, no '#'
    assert session.status == 200, session.content
    assert session.json["order_id"] == "ord_e2e_view" and session.json["token_type"] == "Bearer"
    auth = {"Authorization": f"Bearer {session.json['token']}"}

    view = call(local_stack, "GET", "/portal/orders/ord_e2e_view", headers=auth)
    assert view.status == 200, view.content
    assert view.json["order_number"] == "#E2E-200"
    assert view.json["contact"]["email"] == "e***@example.com"
    assert view.json["contact"]["phone"] == "+1******0199"
    assert view.json["total"] == OrderIn(**order("#E2E-200")).total
    assert "payments" not in view.json and "pi_3E2eTest" not in view.content.decode()

    other = call(local_stack, "GET", "/portal/orders/ord_e2e_other", headers=auth)
    assert other.status == 404, other.content


def test_wrong_email_and_unknown_order_number_fail_the_same_way(local_stack):
    assert put_order(local_stack, "ord_e2e_wrong", order("#E2E-300")).status == 201

    wrong_email = sign_in(local_stack, "#E2E-300", "not.the.buyer@example.com")
    unknown_order = sign_in(local_stack, "#E2E-399", "e2e.shopper@example.com")

    assert wrong_email.status == unknown_order.status == 401
    assert wrong_email.json["message"] == unknown_order.json["message"] == SIGN_IN_FAILED


def test_repeated_failed_sign_ins_are_refused_with_retry_after(local_stack):
    assert put_order(local_stack, "ord_e2e_limit", order("#E2E-400")).status == 201
    # A client that failed waits 1, 2, 4 ... s before its next try on that order: guessing at
    # once is refused within two more tries (one, if still in the same second), even the right email.
    assert sign_in(local_stack, "#E2E-400", "guess@example.com").status == 401
    statuses = []
    for email in ("guess2@example.com", "e2e.shopper@example.com"):
        reply = sign_in(local_stack, "#E2E-400", email)
        statuses.append(reply.status)
        if reply.status == 429:
            break
    assert statuses in ([429], [401, 429]), statuses
    assert int(reply.headers["Retry-After"]) > 0


def test_merchant_api_needs_the_merchant_key(local_stack):
    missing = call(local_stack, "PUT", "/orders/ord_e2e_auth", order("#E2E-500"))
    wrong = put_order(local_stack, "ord_e2e_auth", order("#E2E-500"), key="not-the-key")

    assert missing.status == 401 and missing.json["details"]["reason"] == "missing_credentials"
    assert wrong.status == 401 and wrong.json["details"]["reason"] == "invalid_credentials"


def test_malformed_json_is_400(local_stack):
    reply = call(
        local_stack,
        "PUT",
        "/orders/ord_e2e_json",
        raw=b'{"order_number": "#E2E-600",',
        headers={"Authorization": f"Bearer {local_stack.merchant_api_key}"},
    )
    assert reply.status == 400, reply.content
    assert reply.json["error"] == "malformed_json"


def test_schema_violation_is_422_with_field_locations(local_stack):
    body = order("#E2E-700")
    body["currency"] = "dollars"
    del body["customer"]["email"]

    reply = put_order(local_stack, "ord_e2e_schema", body)

    assert reply.status == 422, reply.content
    locations = [tuple(d["loc"]) for d in reply.json["details"]]
    assert ("body", "currency") in locations
    assert ("body", "customer", "email") in locations


def test_unknown_route_is_404_like_api_gateway(local_stack):
    # Under an API path the distribution forwards to the HTTP API, which knows no such route ...
    reply = call(local_stack, "GET", "/portal/no/such/route")
    assert reply.status == 404
    assert reply.json == {"message": "Not Found"}
    # ... anything else is the portal's bucket, which (private, through OAC) answers 403.
    page = call(local_stack, "GET", "/no/such/route")
    assert page.status == 403 and b"<Code>AccessDenied</Code>" in page.content


def test_bodies_over_the_api_gateway_limit_are_413(local_stack):
    reply = call(local_stack, "PUT", "/orders/ord_e2e_big", raw=b"x" * (10 * 1024 * 1024 + 1))
    assert reply.status == 413


def test_openapi_document_lists_the_routes_and_swagger_ui_renders(local_stack):
    spec = call(local_stack, "GET", "/openapi.json")
    assert spec.status == 200
    assert {"/orders/{orderId}", "/portal/session", "/portal/orders/{orderId}"} <= set(spec.json["paths"])

    docs = call(local_stack, "GET", "/docs")
    assert docs.status == 200
    assert docs.headers["Content-Type"].startswith("text/html")
    assert b"swagger" in docs.content.lower()


def test_demo_order_1001_signs_in_and_shows_its_final_sale_line(local_stack):
    session = sign_in(local_stack, "#1001", "maya.chen@example.com")
    assert session.status == 200, session.content
    assert session.json["order_id"] == "ord_1001"

    view = call(
        local_stack,
        "GET",
        "/portal/orders/ord_1001",
        headers={"Authorization": f"Bearer {session.json['token']}"},
    )
    assert view.status == 200
    assert [line["final_sale"] for line in view.json["lines"]] == [False, False, True]
    assert view.json["shipments"][0]["delivered_at"] is not None


def test_outbox_answers_json(local_stack):
    reply = call(local_stack, "GET", "/_local/outbox")
    assert reply.status == 200
    assert set(reply.json) == {"emails", "sms", "notifications"}
    assert all(isinstance(v, list) for v in reply.json.values())
