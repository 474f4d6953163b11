"""Tell the shopper about one domain event: pick the message, the channels their addresses and
preferences allow, render it in their language, and send it at most once per channel.

Called by NotificationsFunction for every domain event its queue receives. Sent once: before
anything goes out, a record for (dedupe key, channel) is written with a condition; a duplicate
event finds it and sends nothing. The key is the event id, or for parcel milestones (shipped,
out for delivery, delivered) the parcel and the message, which repeat as events. An SMS in the
shopper's quiet hours is recorded `deferred` and comes back (the message's visibility) at 08:00
their time. A number on the SMS opt-out list (the shopper replied STOP) is not texted.
Throttling is retried; a refusal is recorded and noted on the return's timeline, never retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from homeward.domain.notifications.rules import (
    Channel,
    ChannelDecision,
    Preferences,
    Recipient,
    channels_for,
    dedupe_key,
    message_for,
    sms_send_at,
)
from homeward.domain.orders.rules import email_fingerprint
from homeward.errors import Conflict
from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord, TimelineEntry

if TYPE_CHECKING:
    from homeward.domain.returns.rules import Change


class NotifyStore(Protocol):
    def claim(
        self,
        event_id: str,
        channel: str,
        *,
        kind: str,
        now: datetime,
        status: str = "sending",
        detail: str | None = None,
    ) -> bool: ...

    def mark(
        self, event_id: str, channel: str, status: str, *, detail: str | None = None, now: datetime
    ) -> None: ...

    def preferences(self, customer_fp: str) -> Preferences: ...


class Lookup(Protocol):
    def get_return(self, rma: str) -> ReturnRecord | None: ...

    def get_order(self, order_id: str) -> Order | None: ...

    def save_note(self, record: ReturnRecord, event: TimelineEntry, *, expected_version: int) -> None: ...


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
    kind: str | None = None


class SendThrottled(Exception):
    """The sender was throttled or failed for now: retry later (the record allows it)."""


class ClaimBusy(SendThrottled):
    """Another attempt holds the channel's record (sending now): retry later, like throttling."""


class SendRejected(Exception):
    """The sender refused the recipient or the message for good."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Deferred(Exception):
    """An SMS must wait out quiet hours: come back at `send_at`. `deliveries`: what this
    attempt did meanwhile (the email has gone)."""

    def __init__(self, send_at: datetime, deliveries: list[Delivery] | None = None) -> None:
        super().__init__(f"deferred until {send_at.isoformat()}")
        self.send_at = send_at
        self.deliveries = deliveries or []


Build = Callable[[str, Channel, dict, ReturnRecord | None, Order], Outgoing]


def notify(
    event: dict,
    *,
    event_id: str,
    order_id: str | None,
    rma: str | None,
    store: NotifyStore,
    lookup: Lookup,
    build: Build,
    send: Callable[[Outgoing], str],
    sms_opted_out: Callable[[str], bool] = lambda phone: False,
    now: datetime,
) -> list[Delivery]:
    """Deliver the message for one event. `build(kind, channel, event, record, order)` renders
    it; `send(outgoing)` sends it (raising SendThrottled / SendRejected); `sms_opted_out(phone)`
    asks the carrier-side opt-out list. Raises Deferred when an SMS must wait (the email, if
    any, has gone already). An event without an order id is told to nobody (order_not_found)."""
    record, kind = _message(event, rma, lookup)
    if kind is None:
        return []  # most events without a message cost no read at all
    if record is None and rma:
        record = lookup.get_return(rma)
    order = lookup.get_order(order_id) if order_id else None
    if order is None:
        return [Delivery("email", "undeliverable", "order_not_found", kind=kind)]
    if record is not None and record.gift is not None:
        order = gift_view(order, record)
    attempt = _Attempt(
        kind=kind,
        key=dedupe_key(kind, event, event_id),
        event=event,
        record=record,
        order=order,
        recipient=_recipient(order),
        store=store,
        lookup=lookup,
        build=build,
        send=send,
        sms_opted_out=sms_opted_out,
        now=now,
    )
    deliveries: list[Delivery] = []
    for decision in channels_for(kind, attempt.recipient, _preferences(order, store)):
        delivery = attempt.deliver(decision)
        if delivery is not None:
            deliveries.append(delivery)
    deferred = [d.send_at for d in deliveries if d.status == "deferred" and d.send_at is not None]
    if deferred:
        raise Deferred(deferred[-1], deliveries)
    return deliveries


def _message(event: dict, rma: str | None, lookup: Lookup) -> tuple[ReturnRecord | None, str | None]:
    """The message kind of an event (None: no message), with the return when deciding needed it."""
    record = None
    keeps_every_item = False
    if event.get("type") == "return.approved" and rma:  # told now only if no label will follow
        record = lookup.get_return(rma)
        keeps_every_item = record is not None and all(line.resolution == "keep_item" for line in record.lines)
    return record, message_for(event, keeps_every_item=keeps_every_item)


def _recipient(order: Order) -> Recipient:
    customer = order.customer
    return Recipient(
        email=customer.email,
        phone=customer.phone,
        locale=customer.locale,
        time_zone=customer.time_zone,
        name=customer.name,
    )


def _preferences(order: Order, store: NotifyStore) -> Preferences:
    """The shopper's saved preferences; an SMS opt-in given with the order counts too."""
    customer = order.customer
    saved = store.preferences(email_fingerprint(customer.email))
    return Preferences(
        email_opt_out=saved.email_opt_out,
        sms_opt_in=saved.sms_opt_in or customer.sms_opt_in,
        sms_opt_out=saved.sms_opt_out,
    )


@dataclass(frozen=True)
class _Attempt:
    """One event's message on its way to one shopper, channel by channel."""

    kind: str
    key: str
    event: dict
    record: ReturnRecord | None
    order: Order
    recipient: Recipient
    store: NotifyStore
    lookup: Lookup
    build: Build
    send: Callable[[Outgoing], str]
    sms_opted_out: Callable[[str], bool]
    now: datetime

    def deliver(self, decision: ChannelDecision) -> Delivery | None:
        """What became of the message on the decision's channel (None: not worth a record)."""
        channel = decision.channel
        if not decision.send:
            return self._skip(channel, decision.reason)
        if channel == "sms":
            send_at = sms_send_at(self.now, self.recipient.time_zone)
            if send_at > self.now:
                return self._defer_sms(send_at)
        if not self.store.claim(self.key, channel, kind=self.kind, now=self.now):
            return Delivery(channel, "duplicate", kind=self.kind)
        # Asked only once claimed: duplicates and replays cost no call to a slow, rate-limited API.
        # (channels_for lets an SMS go only to a valid number.)
        if channel == "sms" and self.recipient.phone is not None and self.sms_opted_out(self.recipient.phone):
            self.store.mark(self.key, "sms", "undeliverable", detail="sms_opted_out", now=self.now)
            return Delivery("sms", "undeliverable", "sms_opted_out", kind=self.kind)
        delivery = _send_one(self, channel)
        if delivery.status == "failed" and self.record is not None:
            note_failure(self.record.rma, delivery, lookup=self.lookup, now=self.now)
        return delivery

    def _skip(self, channel: str, reason: str) -> Delivery | None:
        """Record a channel the message cannot use (a shopper who never opted in to SMS: no write)."""
        if reason == "sms_not_opted_in":  # the usual case, not worth a write
            return None
        self.store.claim(
            self.key, channel, kind=self.kind, now=self.now, status="undeliverable", detail=reason
        )
        return Delivery(channel, "undeliverable", reason, kind=self.kind)

    def _defer_sms(self, send_at: datetime) -> Delivery:
        """Quiet hours: claim the SMS as deferred until `send_at` (a duplicate finds it claimed)."""
        claimed = self.store.claim(
            self.key, "sms", kind=self.kind, now=self.now, status="deferred", detail=send_at.isoformat()
        )
        if not claimed:
            return Delivery("sms", "duplicate", kind=self.kind)
        return Delivery("sms", "deferred", send_at=send_at, kind=self.kind)


def gift_view(order: Order, record: ReturnRecord) -> Order:
    """The order as told to a gift's recipient: addressed to them (email only, their language)."""
    from homeward.models.orders import Customer

    if record.gift is None:
        return order
    recipient = Customer(email=record.gift.email, locale=record.gift.locale or order.customer.locale)
    return order.model_copy(update={"customer": recipient})


def failure_note(record: ReturnRecord, delivery: Delivery, *, now: datetime) -> Change:
    """The return with a staff-only timeline entry saying a message could not be delivered."""
    # Imported here: the return rules (policy, pricing) are needed only for this rare write.
    from homeward.domain.returns.rules import add_note
    from homeward.domain.returns.states import Actor

    return add_note(
        record,
        f"The {delivery.kind} {delivery.channel} could not be delivered ({delivery.detail})",
        shopper_visible=False,
        actor=Actor.SYSTEM,
        actor_id=None,
        now=now,
        event_type="notification.failed",
        data={"kind": delivery.kind, "channel": delivery.channel, "reason": delivery.detail},
    )


def note_failure(rma: str, delivery: Delivery, *, lookup: Lookup, now: datetime, attempts: int = 3) -> bool:
    """Put the failure on the return's timeline, re-reading it if another write came first.
    False if the return kept changing (the notification record still says `failed`)."""
    for _ in range(attempts):
        record = lookup.get_return(rma)
        if record is None:
            return False
        change = failure_note(record, delivery, now=now)
        try:
            lookup.save_note(change.record, change.events[0], expected_version=record.version)
        except Conflict:
            continue
        return True
    return False


def _send_one(attempt: _Attempt, channel: Channel) -> Delivery:
    """Render and send on a claimed channel; the record says sent, failed, or retry (throttled)."""
    store, key, kind, now = attempt.store, attempt.key, attempt.kind, attempt.now
    outgoing = attempt.build(kind, channel, attempt.event, attempt.record, attempt.order)
    try:
        message_id = attempt.send(outgoing)
    except SendThrottled:
        store.mark(key, channel, "retry", now=now)  # claimable again on the retry
        raise
    except SendRejected as exc:
        store.mark(key, channel, "failed", detail=exc.code, now=now)
        return Delivery(channel, "failed", exc.code, kind=kind)
    store.mark(key, channel, "sent", detail=message_id, now=now)
    return Delivery(channel, "sent", message_id, kind=kind)
