"""NotificationsFunction: tells the shopper, by email (SES v2) and SMS (SNS), what a domain
event means for them.

The queue is subscribed to the DomainEvents topic for the event types that carry a message
(`domain.notifications.RETURN_MESSAGES`, outbound parcel events). Each message runs
`notification_service.notify`: sent at most once per (event, channel), in the shopper's
language, only by the channels they allow. Outcomes per record (partial batch response):

* sent / duplicate / undeliverable / refused: done (a refusal is on the return's timeline);
* throttled or a dependency down: retried with exponential visibility backoff, then the DLQ
  (replay it with `aws sqs start-message-move-task`: the send-once records make that safe);
* an SMS in quiet hours: the message is hidden until 08:00 the shopper's time, then sent.

Nothing here logs an address or a phone number: only kinds, channels and statuses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.notifications import NotificationLookup, NotificationsTable
from homeward.adapters.notify import build_email, send_email, send_sms, sms_opted_out
from homeward.adapters.queues import back_off, come_back_in
from homeward.adapters.secrets import secret_values
from homeward.config import NotificationsSettings, load_settings
from homeward.domain.notifications.context import PortalLinks, build_context
from homeward.domain.notifications.rules import Channel, LinkTokens
from homeward.domain.notifications.service import (
    Deferred,
    Outgoing,
    SendRejected,
    SendThrottled,
    notify,
)
from homeward.domain.orders.rules import email_fingerprint
from homeward.errors import DependencyFailed
from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord
from homeward.notifications.catalog import resolve_locale
from homeward.notifications.render import Brand, ContextError, render
from homeward.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(NotificationsSettings)
brand = Brand.from_env()
store = NotificationsTable(client("dynamodb"), settings.table_name)
lookup = NotificationLookup(client("dynamodb"), settings.table_name)
# A batch of one deferred SMS "fails" as a whole: report it like any partial failure (the
# visibility set above decides when it returns) instead of failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _links() -> LinkTokens:
    # Not cached here: the secret is (five minutes), so a rotated signing key is picked up.
    return LinkTokens(secret_values(settings.portal_signing_key_secret))


def build(kind: str, channel: Channel, event: dict, record: ReturnRecord | None, order: Order) -> Outgoing:
    """Render the message for one channel; a context the template cannot use is a refusal."""
    customer = order.customer
    # A sign-in link is worded in the language the shopper was using when they asked for it.
    locale = resolve_locale(event.get("locale") or customer.locale)
    links = _links()
    token = links.unsubscribe(email_fingerprint(customer.email), channel)
    # One-click (RFC 8058) POSTs the API; people who click the footer link get the portal's page.
    unsubscribe = f"{settings.api_url.rstrip('/')}/portal/unsubscribe?token={quote(token)}"
    survey = links.survey(record.rma) if kind == "survey" and record is not None else None
    context = build_context(
        kind,
        event,
        record,
        order,
        locale=locale,
        portal_url=brand.portal_url,
        unsubscribe_url=PortalLinks(brand.portal_url, locale).unsubscribe(token),
        survey_token=survey,
        sign_in_token=sign_in_token(links, event) if kind == "sign_in_link" else None,
    )
    try:
        rendered = render(kind, locale, context, brand)
    except ContextError as exc:
        raise SendRejected("cannot_render", str(exc)) from exc
    if channel == "sms":
        if not rendered.sms:
            raise SendRejected("no_sms_text", kind)
        return Outgoing(kind, "sms", customer.phone or "", rendered.locale, "", "", rendered.sms, unsubscribe)
    return Outgoing(
        kind,
        "email",
        customer.email,
        rendered.locale,
        rendered.subject,
        rendered.html,
        rendered.text,
        unsubscribe,
    )


def sign_in_token(links: LinkTokens, event: dict) -> str:
    """The one-time sign-in link's token, signed here: the event carries only its nonce."""
    expires_at = datetime.fromisoformat(event["expires_at"])
    return links.sign_in(event["order_id"], event["nonce"], int(expires_at.timestamp()))


def send(outgoing: Outgoing) -> str:
    if outgoing.channel == "sms":
        return send_sms(phone=outgoing.to, text=outgoing.text, sender_id=settings.sms_sender_id)
    raw = build_email(
        sender=settings.sender_email,
        sender_name=brand.name,
        to=outgoing.to,
        subject=outgoing.subject,
        html=outgoing.html,
        text=outgoing.text,
        unsubscribe_url=outgoing.unsubscribe_url,
    )
    return send_email(sender=settings.sender_email, to=outgoing.to, raw=raw)


def _attribute(record: SQSRecord, name: str) -> str | None:
    value = record.message_attributes[name]
    return value.string_value if value else None


def handle(record: SQSRecord) -> None:
    event = json.loads(record.body)  # the event's document; a malformed one goes to the DLQ
    event["type"] = _attribute(record, "type") or event.get("type", "")
    facts = {
        "event_id": _attribute(record, "event_id"),
        "type": event["type"],
        "rma": _attribute(record, "rma"),
    }
    try:
        deliveries = notify(
            event,
            event_id=facts["event_id"],
            order_id=_attribute(record, "order_id"),
            rma=facts["rma"],
            store=store,
            lookup=lookup,
            build=build,
            send=send,
            sms_opted_out=sms_opted_out,
            now=datetime.now(UTC),
        )
    except Deferred as deferred:
        seconds = (deferred.send_at - datetime.now(UTC)).total_seconds()
        delay = come_back_in(record, settings.notification_queue_url, seconds)
        metrics.add_metric(name="NotificationsDeferred", unit="Count", value=1)
        _report(facts, deferred.deliveries, "sms deferred until quiet hours end", delay_seconds=delay)
        raise
    except (SendThrottled, DependencyFailed) as exc:
        back_off(record, settings.notification_queue_url)
        logger.warning("notification incomplete; will retry", extra={**facts, "error": str(exc)})
        raise
    _report(facts, deliveries, "notification handled")


METRICS = {
    "sent": "NotificationsSent",
    "failed": "NotificationsFailed",
    "undeliverable": "NotificationsUndeliverable",
    "duplicate": "NotificationDuplicates",
}


def _report(facts: dict, deliveries: list, message: str, **extra) -> None:
    """Metrics and one log line: kinds, channels and statuses, never an address or a number."""
    for delivery in deliveries:
        if metric := METRICS.get(delivery.status):
            metrics.add_metric(name=metric, unit="Count", value=1)
    outcomes = [
        {"kind": d.kind, "channel": d.channel, "status": d.status}
        | ({"reason": d.detail} if d.status in ("undeliverable", "failed") else {})
        for d in deliveries
    ]
    logger.info(message, extra={**facts, **extra, "deliveries": outcomes})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
