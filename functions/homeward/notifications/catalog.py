"""The shopper notifications Homeward sends: what exists, and in which languages.

Each `MessageKind` has a `MessageSpec`:

* `sms` - the message also has a short SMS text (time-sensitive news: a label, money, a
  parcel at the door). The consumer sends it when the shopper gave a phone number.
* `transactional` - the message is a direct consequence of the shopper's own request or
  about their money or label (the return was approved, the refund failed), as opposed to a
  progress update (in transit, delivered) or the survey. It is a classification for logs and
  reporting; it does not override an unsubscribe (below).
* `needs` - the parts of the render context the message needs besides the ones every message
  needs (`customer`, `order`, `links.portal`, `links.unsubscribe`); dotted paths, each present
  and not None. `render` checks them before rendering (see render.py for the context).

The unsubscribe rule: **an unsubscribed email address gets no notification email at all** -
not even transactional ones. Every email carries the same one-click unsubscribe link and
its footer says it stops all return and delivery emails, so honouring it for every kind is
the only rule under which the link does what it says. Nothing essential is lost: the portal
shows the return, its label and its refund at any time. SMS opt-out is separate: the
shopper replies STOP and SNS keeps the opt-out list.

Locales: `LOCALES` are the ones with texts; `resolve_locale` maps any BCP 47 tag to one of
them by its language ("de-AT" -> "de") and everything else to English.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MessageKind(StrEnum):
    RETURN_REQUESTED = "return_requested"
    RETURN_APPROVED = "return_approved"
    RETURN_NEEDS_REVIEW = "return_needs_review"
    RETURN_REJECTED = "return_rejected"
    RETURN_CANCELLED = "return_cancelled"
    LABEL_EXPIRING = "label_expiring"
    LABEL_EXPIRED = "label_expired"
    RETURN_IN_TRANSIT = "return_in_transit"
    RETURN_DELIVERED = "return_delivered"
    RETURN_RECEIVED = "return_received"
    REFUND_ISSUED = "refund_issued"
    CREDIT_ISSUED = "credit_issued"
    REFUND_FAILED = "refund_failed"
    SHIPMENT_SHIPPED = "shipment_shipped"
    SHIPMENT_OUT_FOR_DELIVERY = "shipment_out_for_delivery"
    SHIPMENT_DELIVERED = "shipment_delivered"
    SHIPMENT_EXCEPTION = "shipment_exception"
    SHIPMENT_DELAYED = "shipment_delayed"
    SURVEY = "survey"
    SIGN_IN_LINK = "sign_in_link"


@dataclass(frozen=True)
class MessageSpec:
    kind: MessageKind
    sms: bool
    transactional: bool
    needs: tuple[str, ...] = ()


K = MessageKind
_RETURN = ("return",)
_MONEY = ("return", "money")
_PARCEL = ("parcel",)

SPECS: dict[MessageKind, MessageSpec] = {
    s.kind: s
    for s in (
        MessageSpec(K.RETURN_REQUESTED, sms=False, transactional=True, needs=_RETURN),
        MessageSpec(K.RETURN_APPROVED, sms=True, transactional=True, needs=_RETURN),
        MessageSpec(K.RETURN_NEEDS_REVIEW, sms=False, transactional=True, needs=_RETURN),
        MessageSpec(K.RETURN_REJECTED, sms=True, transactional=True, needs=_RETURN),
        MessageSpec(K.RETURN_CANCELLED, sms=False, transactional=True, needs=_RETURN),
        MessageSpec(K.LABEL_EXPIRING, sms=True, transactional=True, needs=("return", "return.label")),
        MessageSpec(K.LABEL_EXPIRED, sms=False, transactional=True, needs=_RETURN),
        MessageSpec(K.RETURN_IN_TRANSIT, sms=False, transactional=False, needs=_RETURN),
        MessageSpec(K.RETURN_DELIVERED, sms=False, transactional=False, needs=_RETURN),
        MessageSpec(K.RETURN_RECEIVED, sms=False, transactional=False, needs=_RETURN),
        MessageSpec(K.REFUND_ISSUED, sms=True, transactional=True, needs=_MONEY),
        MessageSpec(
            K.CREDIT_ISSUED,
            sms=True,
            transactional=True,
            needs=("return", "money", "money.credit_code", "money.credit_balance"),
        ),
        MessageSpec(K.REFUND_FAILED, sms=False, transactional=True, needs=_MONEY),
        MessageSpec(K.SHIPMENT_SHIPPED, sms=True, transactional=False, needs=_PARCEL),
        MessageSpec(K.SHIPMENT_OUT_FOR_DELIVERY, sms=True, transactional=False, needs=_PARCEL),
        MessageSpec(K.SHIPMENT_DELIVERED, sms=True, transactional=False, needs=_PARCEL),
        MessageSpec(K.SHIPMENT_EXCEPTION, sms=True, transactional=False, needs=_PARCEL),
        MessageSpec(K.SHIPMENT_DELAYED, sms=True, transactional=False, needs=_PARCEL),
        MessageSpec(K.SURVEY, sms=False, transactional=False, needs=("return", "links.survey")),
        MessageSpec(K.SIGN_IN_LINK, sms=False, transactional=True, needs=("links.sign_in",)),
    )
}

# Every message needs these, whatever its kind.
BASE_NEEDS: tuple[str, ...] = ("customer", "order", "links", "links.portal", "links.unsubscribe")

LOCALES: tuple[str, ...] = ("en", "de")
DEFAULT_LOCALE = "en"


def spec(kind: str | MessageKind) -> MessageSpec:
    """The spec of `kind`; ValueError for a name that is not a `MessageKind`."""
    return SPECS[MessageKind(kind)]


def resolve_locale(tag: str | None) -> str:
    """The supported locale for a BCP 47 tag: "de-AT" / "de_DE" / "DE" -> "de"; unknown -> "en"."""
    language = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE
