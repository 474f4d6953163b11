"""Tell the shopper about one domain event: pick the message, the channels their addresses and
preferences allow, render it in their language, and send it at most once per channel.

Called by NotificationsFunction for every domain event its queue receives. Sent once: before
anything goes out, a record for (event id, channel) is written with a condition; a duplicate
event finds it and sends nothing. An SMS in the shopper's quiet hours is recorded `deferred`
and comes back (the message's visibility) at 08:00 their time. Throttling is retried; a
refusal is recorded (and noted on the return's timeline), never retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from homeward.domain.notifications import (
    Preferences,
    Recipient,
    channels_for,
    message_for,
    sms_send_at,
)
from homeward.domain.orders import email_fingerprint
from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord


class NotifyStore(Protocol):
    def claim(self, event_id: str, channel: str, *, kind: str, now: datetime) -> bool: ...

    def mark(
        self, event_id: str, channel: str, status: str, *, detail: str | None = None, now: datetime
    ) -> None: ...

    def preferences(self, customer_fp: str) -> Preferences: ...


class Lookup(Protocol):
    def get_return(self, rma: str) -> ReturnRecord | None: ...

    def get_order(self, order_id: str) -> Order | None: ...


@dataclass(frozen=True)
class Outgoing:
    """A rendered message for one channel and recipient."""

    kind: str
    channel: str
    to: str
    locale: str
    subject: str
    html: str
    text: str
    unsubscribe_url: str


@dataclass(frozen=True)
class Delivery:
    channel: str
    status: str  # sent, duplicate, undeliverable, deferred, failed
    detail: str | None = None
    send_at: datetime | None = None


class SendThrottled(Exception):
    """The sender was throttled or failed for now: retry later (the record allows it)."""


class SendRejected(Exception):
    """The sender refused the recipient or the message for good."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Deferred(Exception):
    """An SMS must wait out quiet hours: come back at `send_at`."""

    def __init__(self, send_at: datetime) -> None:
        super().__init__(f"deferred until {send_at.isoformat()}")
        self.send_at = send_at


def notify(
    event: dict,
    *,
    event_id: str,
    order_id: str,
    rma: str | None,
    store: NotifyStore,
    lookup: Lookup,
    build: Callable[[str, str, dict, ReturnRecord | None, Order], Outgoing],
    send: Callable[[Outgoing], str],
    now: datetime,
) -> list[Delivery]:
    """Deliver the message for one event. `build(kind, channel, event, record, order)` renders
    it; `send(outgoing)` sends it (raising the adapter's SendThrottled / SendRejected).
    Raises Deferred when an SMS must wait (the email, if any, has gone already)."""
    record = lookup.get_return(rma) if rma else None
    keeps_every_item = bool(record) and all(line.resolution == "keep_item" for line in record.lines)
    kind = message_for(event, keeps_every_item=keeps_every_item)
    if kind is None:
        return []
    order = lookup.get_order(order_id)
    if order is None:
        return [Delivery("email", "undeliverable", "order_not_found")]
    customer = order.customer
    recipient = Recipient(
        email=customer.email,
        phone=customer.phone,
        locale=customer.locale,
        time_zone=customer.time_zone,
        name=customer.name,
    )
    saved = store.preferences(email_fingerprint(customer.email))
    prefs = Preferences(
        email_opt_out=saved.email_opt_out,
        sms_opt_in=saved.sms_opt_in or customer.sms_opt_in,
        sms_opt_out=saved.sms_opt_out,
    )
    deliveries: list[Delivery] = []
    deferred_until: datetime | None = None
    for decision in channels_for(kind, recipient, prefs):
        if not decision.send:
            if store.claim(event_id, decision.channel, kind=kind, now=now):
                store.mark(event_id, decision.channel, "undeliverable", detail=decision.reason, now=now)
            deliveries.append(Delivery(decision.channel, "undeliverable", decision.reason))
            continue
        if decision.channel == "sms":
            send_at = sms_send_at(now, recipient.time_zone)
            if send_at > now:
                if store.claim(event_id, "sms", kind=kind, now=now):
                    store.mark(event_id, "sms", "deferred", detail=send_at.isoformat(), now=now)
                    deferred_until = send_at
                    deliveries.append(Delivery("sms", "deferred", send_at=send_at))
                else:
                    deliveries.append(Delivery("sms", "duplicate"))
                continue
        if not store.claim(event_id, decision.channel, kind=kind, now=now):
            deliveries.append(Delivery(decision.channel, "duplicate"))
            continue
        deliveries.append(
            _send_one(kind, decision.channel, event, record, order, event_id, store, build, send, now)
        )
    if deferred_until is not None:
        raise Deferred(deferred_until)
    return deliveries


def _send_one(kind, channel, event, record, order, event_id, store, build, send, now) -> Delivery:
    outgoing = build(kind, channel, event, record, order)
    try:
        message_id = send(outgoing)
    except SendThrottled:
        store.mark(event_id, channel, "retry", now=now)  # claimable again on the retry
        raise
    except SendRejected as exc:
        store.mark(event_id, channel, "failed", detail=exc.code, now=now)
        return Delivery(channel, "failed", exc.code)
    store.mark(event_id, channel, "sent", detail=message_id, now=now)
    return Delivery(channel, "sent", message_id)
