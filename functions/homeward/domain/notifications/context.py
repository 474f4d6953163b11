"""The template context of a message, from its domain event, the return and the order. Pure.

The contract is documented in `homeward.notifications.render`: only what the shopper may see
(no payment references, no staff names, no inspection notes).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord


def _when(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _money(kind: str, event: dict, record: ReturnRecord | None) -> dict | None:
    data = event.get("data") or {}
    if kind in ("refund_issued", "refund_failed") and "amount" in data:
        amounts = record.refund.amounts if record and record.refund else None
        breakdown = None
        if amounts is not None and kind == "refund_issued":
            breakdown = {
                "merchandise": sum(line.merchandise for line in amounts.lines),
                "discounts": sum(line.discount + line.order_discount for line in amounts.lines),
                "tax": sum(line.tax for line in amounts.lines),
                "restocking_fee": amounts.restocking_fees,
                "grade_deduction": amounts.grade_deductions,
                "return_shipping_fee": amounts.return_shipping_fee,
            }
        return {
            "amount": int(data["amount"]),
            "currency": data.get("currency") or (record.currency if record else ""),
            "breakdown": breakdown,
            "credit_code": None,
            "credit_balance": None,
            "failure_reason": data.get("reason"),
        }
    if kind == "credit_issued" and "amount" in data:
        return {
            "amount": int(data["amount"]),
            "currency": data.get("currency", ""),
            "breakdown": None,
            "credit_code": data.get("code"),
            "credit_balance": int(data["amount"]),
            "failure_reason": None,
        }
    return None


def _return(record: ReturnRecord | None) -> dict | None:
    if record is None:
        return None
    label = record.label
    return {
        "rma": record.rma,
        "lines": [
            {"title": line.title, "variant": line.variant, "quantity": line.quantity} for line in record.lines
        ],
        "rejection_reason": record.rejection_reason,
        "label": {
            "tracking_number": label.tracking_number,
            "carrier_service": label.carrier_service,
            "expires_at": label.expires_at,
            "qr_payload": label.qr_payload,
        }
        if label is not None and not label.voided
        else None,
    }


def _parcel(event: dict) -> dict | None:
    if not event.get("type", "").startswith("shipment."):
        return None
    location = event.get("location") or {}
    place = ", ".join(p for p in (location.get("city"), location.get("country")) if p) or None
    return {
        "tracking_number": event.get("tracking_number", ""),
        "carrier": event.get("carrier"),
        "status": event.get("status", ""),
        "eta": _when(event.get("eta")),
        "location": place,
    }


class PortalLinks:
    """Where the portal's pages are. The portal is one page at `{portal_url}/` routed by the URL
    fragment, so no page can collide with an API path behind the same origin, and the secrets in
    sign-in and survey links never reach a server log or a Referer. `?lang=` picks the language."""

    def __init__(self, portal_url: str, locale: str) -> None:
        self.base = portal_url.rstrip("/")
        self.locale = locale

    def page(self, *segments: str, token: bool = False) -> str:
        path = "/".join(quote(s, safe="") for s in segments)
        lang = f"?lang={quote(self.locale)}" if token else ""
        return f"{self.base}/#/{path}{lang}"

    def order(self, order_id: str) -> str:
        return self.page("orders", order_id)

    def return_page(self, order_id: str, rma: str) -> str:
        return self.page("orders", order_id, "returns", rma)

    def label(self, order_id: str, rma: str) -> str:
        return self.page("orders", order_id, "returns", rma, "label")

    def survey(self, token: str) -> str:
        return self.page("feedback", token, token=True)

    def unsubscribe(self, token: str) -> str:
        return self.page("unsubscribe", token, token=True)

    def sign_in(self, token: str) -> str:
        return self.page("signin", token, token=True)


def build_context(
    kind: str,
    event: dict,
    record: ReturnRecord | None,
    order: Order,
    *,
    locale: str,
    portal_url: str,
    unsubscribe_url: str,
    survey_token: str | None = None,
    sign_in_token: str | None = None,
) -> dict:
    """Everything a template may show for this message, in the documented shape."""
    pages = PortalLinks(portal_url, locale)
    order_link = pages.order(order.order_id)
    return_link = pages.return_page(order.order_id, record.rma) if record else order_link
    return {
        "locale": locale,
        "customer": {"name": order.customer.name},
        "order": {"order_number": order.order_number},
        "return": _return(record),
        "money": _money(kind, event, record),
        "parcel": _parcel(event),
        "links": {
            "portal": return_link,
            "unsubscribe": unsubscribe_url,
            "label": pages.label(order.order_id, record.rma) if record and record.label else None,
            "survey": pages.survey(survey_token) if survey_token else None,
            "sign_in": pages.sign_in(sign_in_token) if sign_in_token else None,
        },
    }
