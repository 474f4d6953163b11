"""Demo data: three orders dated relative to now, PUT through the local HTTP API.

They go through the real merchant handler (`PUT /orders/{orderId}` with the merchant key),
so what is stored is exactly what a shop's back end would have created:

    #1001  delivered 5 days ago, three lines, one of them final sale
    #1002  delivered 45 days ago (outside a 30-day return window)
    #1003  shipped 2 days ago, still in transit
    #1004  a gift, in euros and German: delivered 3 days ago to the recipient, whose gift receipt
           says GIFT-7Q4M-2026 (the gift-return path: order number + that code, no buyer's email)
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ROUTE = "PUT /orders/{orderId}"  # the merchant API route the orders go through


@dataclass
class DemoOrder:
    order_id: str
    body: dict

    @property
    def number(self) -> str:
        return self.body["order_number"]

    @property
    def email(self) -> str:
        return self.body["customer"]["email"]

    @property
    def status(self) -> str:
        shipments = self.body["shipments"]
        if shipments and all(s.get("delivered_at") for s in shipments):
            return "delivered"
        return "in transit" if shipments else "placed"


def order_total(body: dict) -> int:
    """What the shopper paid, in cents - the same sum as OrderIn.total."""
    lines = sum(
        line["unit_price"] * line["quantity"] - line.get("discount", 0) + line.get("tax", 0)
        for line in body["lines"]
    )
    return lines - body.get("order_discount", 0) + body.get("shipping", 0)


def _at(now: datetime, days_ago: float, hour: int, minute: int = 0) -> str:
    moment = (now - timedelta(days=days_ago)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _order(
    number: int,
    *,
    placed: str,
    customer: dict,
    lines: list[dict],
    shipment: dict,
    currency: str = "USD",
    **extra,
) -> DemoOrder:
    body = {
        "order_number": f"#{number}",
        "placed_at": placed,
        "updated_at": shipment.get("delivered_at") or shipment["shipped_at"],
        "currency": currency,
        "customer": {"locale": "en-US", **customer},
        "lines": lines,
        "order_discount": 0,
        "shipping": 0,
        "shipments": [
            {**shipment, "lines": [{"line_id": li["line_id"], "quantity": li["quantity"]} for li in lines]}
        ],
        "tags": ["web"],
        **extra,
    }
    body["payments"] = [
        {
            "payment_id": f"pay_{number}",
            "provider": "stripe",
            "reference": f"pi_3LocalDemo{number}Hw",
            "captured": order_total(body),
        }
    ]
    return DemoOrder(order_id=f"ord_{number}", body=body)


# The demo orders' shoppers and lines (copied per call: the bodies are built from them).
_CUSTOMER_1001 = {
    "email": "maya.chen@example.com",
    "phone": "+15555550101",
    "sms_opt_in": True,  # so the walkthrough shows texts next to emails
    "name": "Maya Chen",
    "address": {
        "name": "Maya Chen",
        "line1": "1 Harbor Way",
        "line2": "Apt 12B",
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94105",
        "country": "US",
    },
}

_LINES_1001 = [
    {
        "line_id": "L1",
        "sku": "SWTR-MER-NVY-M",
        "title": "Merino crew sweater",
        "variant": "Navy / M",
        "quantity": 1,
        "unit_price": 8900,
        "tax": 779,
        "category": "apparel",
    },
    {
        "line_id": "L2",
        "sku": "TEE-ORG-WHT-M",
        "title": "Organic cotton tee",
        "variant": "White / M",
        "quantity": 2,
        "unit_price": 2800,
        "discount": 560,
        "tax": 441,
        "category": "apparel",
    },
    {
        "line_id": "L3",
        "sku": "TOTE-LIN-NAT",
        "title": "Linen tote bag",
        "variant": "Natural",
        "quantity": 1,
        "unit_price": 2400,
        "discount": 600,
        "tax": 158,
        "category": "accessories",
        "tags": ["final_sale"],
    },
]

_CUSTOMER_1002 = {
    "email": "daniel.okafor@example.com",
    "phone": "+15555550102",
    "name": "Daniel Okafor",
    "address": {
        "name": "Daniel Okafor",
        "line1": "88 Cedar Street",
        "city": "Portland",
        "region": "OR",
        "postal_code": "97205",
        "country": "US",
    },
}

_LINES_1002 = [
    {
        "line_id": "L1",
        "sku": "SHOE-TRL-SLT-10",
        "title": "Trail running shoes",
        "variant": "Slate / US 10",
        "quantity": 1,
        "unit_price": 13900,
        "tax": 1216,
        "category": "footwear",
    },
    {
        "line_id": "L2",
        "sku": "SOCK-RUN-3PK-L",
        "title": "Running socks, 3-pack",
        "variant": "L",
        "quantity": 1,
        "unit_price": 1800,
        "tax": 158,
        "category": "apparel",
    },
]

_CUSTOMER_1003 = {
    "email": "sofia.alvarez@example.com",
    "phone": "+15555550103",
    "name": "Sofia Alvarez",
    "address": {
        "name": "Sofia Alvarez",
        "line1": "2150 Lakeview Ave",
        "city": "Austin",
        "region": "TX",
        "postal_code": "78704",
        "country": "US",
    },
}

_LINES_1003 = [
    {
        "line_id": "L1",
        "sku": "PLATE-STN-4",
        "title": "Stoneware dinner plates, set of 4",
        "quantity": 1,
        "unit_price": 6400,
        "tax": 528,
        "category": "home",
    },
    {
        "line_id": "L2",
        "sku": "DRIP-CER-WHT",
        "title": "Ceramic pour-over dripper",
        "variant": "White",
        "quantity": 1,
        "unit_price": 3200,
        "tax": 264,
        "category": "home",
    },
]

_CUSTOMER_1004 = {
    "email": "jonas.weber@example.com",
    "name": "Jonas Weber",
    "locale": "de-DE",
    # Shipped straight to the person it is for.
    "address": {
        "name": "Lena Fischer",
        "line1": "Bergstrasse 21",
        "city": "Kassel",
        "postal_code": "34119",
        "country": "DE",
    },
}

_LINES_1004 = [
    {
        "line_id": "L1",
        "sku": "SCRF-WOL-RST",
        "title": "Wollschal",
        "variant": "Rost",
        "quantity": 1,
        "unit_price": 5900,
        "tax": 942,
        "category": "accessories",
    },
    {
        "line_id": "L2",
        "sku": "GLV-LTH-BRN-M",
        "title": "Lederhandschuhe",
        "variant": "Braun / M",
        "quantity": 1,
        "unit_price": 4900,
        "tax": 782,
        "category": "accessories",
    },
]


def _shipment(carrier: str, tracking_number: str, service: str, shipped: str, *, delivered=None) -> dict:
    shipment = {
        "carrier": carrier,
        "tracking_number": tracking_number,
        "service": service,
        "shipped_at": shipped,
    }
    if delivered:
        shipment["delivered_at"] = delivered
    return shipment


def demo_orders(now: datetime | None = None) -> list[DemoOrder]:
    now = now or datetime.now(UTC)
    return [
        _order(
            1001,
            placed=_at(now, 9, 14, 5),
            customer=copy.deepcopy(_CUSTOMER_1001),
            lines=copy.deepcopy(_LINES_1001),
            shipping=695,
            shipment=_shipment(
                "UPS", "1Z999AA10123456784", "UPS Ground", _at(now, 7, 16, 30), delivered=_at(now, 5, 11, 20)
            ),
        ),
        _order(
            1002,
            placed=_at(now, 50, 9, 40),
            customer=copy.deepcopy(_CUSTOMER_1002),
            lines=copy.deepcopy(_LINES_1002),
            shipment=_shipment(
                "FedEx",
                "794612345678",
                "FedEx Home Delivery",
                _at(now, 48, 15, 0),
                delivered=_at(now, 45, 13, 45),
            ),
        ),
        _order(
            1003,
            placed=_at(now, 3, 19, 12),
            customer=copy.deepcopy(_CUSTOMER_1003),
            lines=copy.deepcopy(_LINES_1003),
            order_discount=500,
            shipping=895,
            shipment=_shipment("USPS", "9400111899223856929431", "Priority Mail", _at(now, 2, 10, 0)),
        ),
        _order(
            1004,
            placed=_at(now, 8, 20, 15),
            currency="EUR",
            customer=copy.deepcopy(_CUSTOMER_1004),
            lines=copy.deepcopy(_LINES_1004),
            shipping=495,
            shipment=_shipment(
                "DHL", "00340434161094042557", "DHL Paket", _at(now, 6, 9, 0), delivered=_at(now, 3, 12, 5)
            ),
            gift_receipt_code="GIFT-7Q4M-2026",
            tags=["web", "gift"],
        ),
    ]


def load(api_url: str, merchant_api_key: str, orders: list[DemoOrder]) -> None:
    """PUT each order through the local API; any answer but 200/201 stops the stack's start."""
    for order in orders:
        request = urllib.request.Request(
            f"{api_url}/orders/{order.order_id}",
            data=json.dumps(order.body).encode(),
            method="PUT",
            headers={"Authorization": f"Bearer {merchant_api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(
                f"demo order {order.number}: HTTP {exc.code} {exc.read().decode()[:500]}"
            ) from exc
