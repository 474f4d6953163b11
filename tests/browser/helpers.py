"""Helpers of the browser tests: viewports, axe-core, screenshots, the local outbox."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.infra.fixtures.local_process import ROOT, LocalProcess

PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1440, "height": 900}
SCREENSHOTS_DOCS = ROOT / "docs" / "portal" / "screenshots"


# ---- checks -------------------------------------------------------------------------------------


def axe_check(page, *, where: str = "") -> None:
    """axe-core (vendored by axe-playwright-python) on the page as it is now: 0 violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    if results.violations_count:
        details = []
        for violation in results.response["violations"]:
            nodes = "\n".join(
                f"      {', '.join(map(str, n['target']))}: {n.get('failureSummary', '').strip()}"
                for n in violation["nodes"][:5]
            )
            details.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}\n{nodes}")
        pytest.fail(
            f"axe: {results.violations_count} violation(s) on {where or page.url}:\n" + "\n".join(details),
            pytrace=False,
        )


def shoot(page, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """`<name>-<viewport width>.png` in `folder`, quantized to a palette (small, still crisp)."""
    from PIL import Image

    raw = page.screenshot(full_page=full_page, animations="disabled", caret="hide")
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    path = folder / f"{name}-{page.viewport_size['width']}.png"
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    return path


# ---- the local outbox ---------------------------------------------------------------------------


def outbox(stack: LocalProcess) -> dict:
    """`GET /_local/outbox`: {"emails": [...], "sms": [...], "notifications": [...]}, newest first."""
    with urllib.request.urlopen(stack.api_url + "/_local/outbox", timeout=60) as response:
        return json.loads(response.read())


def emails_to(stack: LocalProcess, address: str) -> list[dict]:
    """The emails sent to `address`, newest first."""
    return [m for m in outbox(stack)["emails"] if address.lower() in [a.lower() for a in m["to"]]]


_HREF = re.compile(r"""href=["']([^"']+)["']""")
_URL = re.compile(r"https?://[^\s<>\"')]+")


def links(mail: dict) -> list[str]:
    """Every link in an email (HTML hrefs, then URLs in the text part), in order, HTML-unescaped."""
    from html import unescape

    found = [unescape(h) for h in _HREF.findall(mail.get("html") or "")]
    found += _URL.findall(mail.get("text") or "")
    return list(dict.fromkeys(found))


def wait_for_email(
    stack: LocalProcess, address: str, link_part: str, *, timeout: float = 30, newer_than: set | None = None
) -> tuple[dict, str]:
    """The newest email to `address` with a link containing `link_part`, and that link."""
    deadline = time.monotonic() + timeout
    while True:
        for mail in emails_to(stack, address):
            if newer_than and mail["id"] in newer_than:
                continue
            for link in links(mail):
                if link_part in link:
                    return mail, link
        if time.monotonic() > deadline:
            subjects = [m["subject"] for m in emails_to(stack, address)]
            raise AssertionError(f"no email to {address} with a {link_part!r} link; got {subjects}")
        stack.settle()
        time.sleep(0.3)


# ---- the back end's side of a return, over HTTP -------------------------------------------------


def sweep(stack: LocalProcess) -> None:
    """Past the local ledger's settle time (3 s), fire the refund sweep, let the events settle."""
    from tests.e2e.test_returns_e2e import call

    time.sleep(3.5)
    fired = call(stack, "POST", "/_local/schedules/RefundSweepFunction/Sweep")
    assert fired.status == 200 and fired.json["status"] == "ok", fired.content
    stack.settle()


def deliver_return(stack: LocalProcess, tracking_number: str) -> None:
    """Signed carrier webhooks move the return parcel: in transit (EasyPost), delivered (AfterShip)."""
    from tests.e2e.test_webhooks_e2e import journey_step, post_webhook

    for provider, case, hours_ago in (("easypost", "in_transit", 5), ("aftership", "delivered", 1)):
        reply = post_webhook(stack, provider, journey_step(provider, case, tracking_number, hours_ago))
        assert reply.status == 200 and reply.json["status"] == "accepted", reply.content
    stack.settle()


def receive_return(stack: LocalProcess, rma: str, lines: list[dict]) -> None:
    """The warehouse receives and inspects every line (grade a, restock); the return can close."""
    from tests.e2e.test_returns_e2e import call, ops_headers

    body = {
        "lines": [
            {
                "line_id": li["line_id"],
                "received_quantity": li["quantity"],
                "grade": "a",
                "disposition": "restock",
            }
            for li in lines
        ]
    }
    reply = call(
        stack, "POST", f"/ops/returns/{rma}/receive", body, headers=ops_headers(stack, "sam@wh.example")
    )
    assert reply.status == 200, reply.content
    stack.settle()


def return_view(stack: LocalProcess, order_id: str, rma: str, auth: dict) -> dict:
    from tests.e2e.test_returns_e2e import call

    reply = call(stack, "GET", f"/portal/orders/{order_id}/returns/{rma}", headers=auth)
    assert reply.status == 200, reply.content
    return reply.json


def close_return(stack: LocalProcess, order_id: str, rma: str, auth: dict) -> dict:
    """Label scanned and delivered by webhooks, refunded, received: closed (the survey email goes)."""
    stack.settle()
    view = return_view(stack, order_id, rma, auth)
    assert view["label"], f"no label: {view['status']} {view.get('label_status')} {view.get('label_error')}"
    deliver_return(stack, view["label"]["tracking_number"])
    sweep(stack)
    receive_return(stack, rma, view["lines"])
    sweep(stack)
    view = return_view(stack, order_id, rma, auth)
    assert view["status"] == "closed", view["status"]
    return view


# ---- orders the shop pushes ---------------------------------------------------------------------


@dataclass
class PushedOrder:
    order_id: str
    number: str
    email: str
    deadline: str  # the last day to start a return (delivery + the policy's window)


def put_order(
    stack: LocalProcess, name: str, *, lines: list[dict] | None = None, customer: dict | None = None, **extra
) -> PushedOrder:
    """`PUT /orders/{id}` with the merchant key: a delivered order (3 days ago) of `lines`."""
    from homeward.adapters.policy import bundled_policy
    from homeward.models.orders import OrderIn

    from tests.e2e.test_returns_e2e import call

    run = uuid.uuid4().hex[:6]
    order = PushedOrder(
        order_id=f"ord_b_{name}_{run}",
        number=f"#B-{name.upper()}-{run.upper()}",
        email=f"b.{name}.{run}@example.com",
        deadline="",
    )
    delivered = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    order.deadline = (delivered.date() + timedelta(days=bundled_policy().window_days)).isoformat()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    lines = lines or [
        {
            "line_id": "L1",
            "sku": "SCK-WOL-GRY",
            "title": "Wool socks",
            "variant": "Grey",
            "quantity": 2,
            "unit_price": 1500,
            "tax": 124,
            "category": "apparel",
        }
    ]
    body = {
        "order_number": order.number,
        "placed_at": (delivered - timedelta(days=3)).strftime(stamp),
        "updated_at": delivered.strftime(stamp),
        "currency": "USD",
        "customer": {"name": "Robin Example", "locale": "en-US", **(customer or {}), "email": order.email},
        "lines": lines,
        "shipping": 0,
        "shipments": [
            {
                "carrier": "UPS",
                "tracking_number": f"1ZB{run.upper()}{name.upper()}"[:30],
                "lines": [{"line_id": li["line_id"], "quantity": li["quantity"]} for li in lines],
                "shipped_at": (delivered - timedelta(days=1)).strftime(stamp),
                "delivered_at": delivered.strftime(stamp),
            }
        ],
        **extra,
    }
    captured = OrderIn(**body).total
    body["payments"] = [
        {"payment_id": "P1", "provider": "stripe", "reference": f"pi_b_{run}", "captured": captured}
    ]
    headers = {"Authorization": f"Bearer {stack.merchant_api_key}"}
    reply = call(stack, "PUT", f"/orders/{order.order_id}", body, headers=headers)
    assert reply.status == 201, reply.content
    return order
