"""Notifications groundwork on moto: send-once records, preferences, survey answers, the
SES v2 raw email (read back from moto) and SNS SMS, and `notify` end to end with real
storage — duplicates send nothing, quiet hours defer the SMS, unsubscribed shoppers get no
email, a customer without an address is recorded undeliverable."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.notifications import NotificationsTable
from homeward.adapters.notify import build_email, send_email, send_sms
from homeward.domain.notifications.service import (
    ClaimBusy,
    Deferred,
    Outgoing,
    SendRejected,
    SendThrottled,
    notify,
)
from homeward.domain.orders.rules import email_fingerprint
from homeward.models.orders import Order

from tests.conftest import TABLE
from tests.integration.test_returns_flow import recent_order

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SENDER = "returns@shop.example"


@pytest.fixture
def store(aws):
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    return NotificationsTable(client("dynamodb"), TABLE)


def order(**customer) -> Order:
    body = recent_order()
    body["customer"].update(customer)
    return Order.model_validate({**body, "order_id": "ord_1001", "version": 1, "received_at": NOW})


class Lookup:
    def __init__(self, the_order: Order | None) -> None:
        self.the_order = the_order

    def get_return(self, rma):
        return None

    def get_order(self, order_id):
        return self.the_order


def outgoing(kind, channel, event, record, the_order) -> Outgoing:
    to = the_order.customer.email if channel == "email" else the_order.customer.phone
    return Outgoing(kind, channel, to, "en", f"[{kind}]", f"<p>{kind}</p>", f"{kind}", "https://x/u")


def test_a_claim_is_taken_once_and_deferred_or_throttled_ones_again(store):
    assert store.claim("R-1:000002", "email", kind="return_requested", now=NOW)
    with pytest.raises(ClaimBusy):  # another attempt is sending it: retry, do not drop
        store.claim("R-1:000002", "email", kind="return_requested", now=NOW + timedelta(seconds=30))
    store.mark("R-1:000002", "email", "sent", detail="m-1", now=NOW)
    assert not store.claim("R-1:000002", "email", kind="return_requested", now=NOW)
    assert store.status("R-1:000002", "email") == "sent"
    assert store.claim("R-1:000002", "sms", kind="return_requested", now=NOW)
    store.mark("R-1:000002", "sms", "deferred", now=NOW)
    assert store.claim("R-1:000002", "sms", kind="return_requested", now=NOW)  # the morning run
    store.mark("R-1:000002", "sms", "retry", now=NOW)
    assert store.claim("R-1:000002", "sms", kind="return_requested", now=NOW)  # after throttling


def test_an_attempt_that_died_after_its_claim_leaves_the_message_claimable_a_minute_later(store):
    assert store.claim("R-7:000002", "email", kind="return_requested", now=NOW)
    # The function timed out (30 s) before marking; the queue hands the message back at 180 s.
    assert store.claim("R-7:000002", "email", kind="return_requested", now=NOW + timedelta(seconds=180))
    store.mark("R-7:000002", "email", "sent", now=NOW + timedelta(seconds=181))
    assert not store.claim("R-7:000002", "email", kind="return_requested", now=NOW + timedelta(seconds=400))


def test_preferences_and_feedback_round_trip(store):
    assert not store.preferences("fp").email_opt_out
    store.set_preference("fp", "email_opt_out", True, now=NOW)
    store.set_preference("fp", "sms_opt_in", True, now=NOW)
    prefs = store.preferences("fp")
    assert prefs.email_opt_out and prefs.sms_opt_in and not prefs.sms_opt_out
    with pytest.raises(ValueError):
        store.set_preference("fp", "admin", True, now=NOW)
    store.save_feedback("R-1", "ord_1001", 4, "Quick refund", now=NOW)
    store.save_feedback("R-1", "ord_1001", 5, None, now=NOW)  # changed their mind
    assert store.feedback("R-1") == {"rating": 5, "comment": None, "at": "2026-11-22T12:00:00.000000Z"}


def test_the_email_is_raw_mime_with_both_parts_and_one_click_unsubscribe(store):
    raw = build_email(
        sender=SENDER,
        sender_name="Shop Returns",
        to="maya.chen@example.com",
        subject="Your refund is on its way",
        html="<p>Hello</p>",
        text="Hello",
        unsubscribe_url="https://api.example/portal/unsubscribe?token=abc",
    )
    message_id = send_email(sender=SENDER, to="maya.chen@example.com", raw=raw)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    (sent,) = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if m.id == message_id]
    parsed = email.message_from_string(sent.raw_data)
    assert parsed["Subject"] == "Your refund is on its way" and parsed["To"] == "maya.chen@example.com"
    assert parsed["List-Unsubscribe"] == "<https://api.example/portal/unsubscribe?token=abc>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in parsed.walk() if not p.is_multipart()] == [
        "text/plain",
        "text/html",
    ]
    sms_id = send_sms(phone="+15555550142", text="Your refund of $19.18 was issued.")
    assert sms_id
    with pytest.raises(SendRejected):
        send_email(sender="not-verified@shop.example", to="maya.chen@example.com", raw=raw)


def test_notify_sends_each_channel_once_and_records_the_rest(store):
    sent: list[Outgoing] = []
    the_order = order(sms_opt_in=True)
    kwargs = {
        "event_id": "R-1:000009",
        "order_id": "ord_1001",
        "rma": None,
        "store": store,
        "lookup": Lookup(the_order),
        "build": outgoing,
        "send": lambda o: sent.append(o) or f"m-{len(sent)}",
        "now": NOW,
    }
    event = {"type": "refund.issued", "data": {"amount": 1918, "currency": "USD"}}
    first = notify(event, **kwargs)
    assert [(d.channel, d.status) for d in first] == [("email", "sent"), ("sms", "sent")]
    assert [(o.channel, o.to) for o in sent] == [
        ("email", the_order.customer.email),
        ("sms", the_order.customer.phone),
    ]
    again = notify(event, **kwargs)
    assert [(d.channel, d.status) for d in again] == [("email", "duplicate"), ("sms", "duplicate")]
    assert len(sent) == 2
    assert notify({"type": "return.note_added"}, **kwargs) == []


def test_unsubscribed_or_unreachable_shoppers_are_recorded_not_sent(store):
    sent = []
    the_order = order()
    store.set_preference(email_fingerprint(the_order.customer.email), "email_opt_out", True, now=NOW)
    base = {"order_id": "ord_1001", "rma": None, "store": store, "build": outgoing, "now": NOW}
    send = lambda o: sent.append(o) or "m"  # noqa: E731
    result = notify(
        {"type": "return.requested"}, event_id="R-2:1", lookup=Lookup(the_order), send=send, **base
    )
    assert [(d.channel, d.status, d.detail) for d in result] == [("email", "undeliverable", "unsubscribed")]
    assert store.status("R-2:1", "email") == "undeliverable" and sent == []
    missing = notify({"type": "return.requested"}, event_id="R-3:1", lookup=Lookup(None), send=send, **base)
    assert [(d.status, d.detail) for d in missing] == [("undeliverable", "order_not_found")]


def test_an_sms_in_quiet_hours_is_deferred_to_the_morning_and_sent_once_then(store):
    sent = []
    the_order = order(sms_opt_in=True, time_zone="Europe/Berlin")
    late = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    kwargs = {"event_id": "R-4:7", "order_id": "ord_1001", "rma": None, "store": store}
    kwargs |= {"lookup": Lookup(the_order), "build": outgoing, "send": lambda o: sent.append(o) or "m"}
    event = {"type": "shipment.delayed", "direction": "outbound", "tracking_number": "1Z"}
    with pytest.raises(Deferred) as waited:
        notify(event, now=late, **kwargs)
    assert waited.value.send_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert [o.channel for o in sent] == ["email"]  # the email went at once
    morning = waited.value.send_at + timedelta(seconds=1)
    result = notify(event, now=morning, **kwargs)
    assert [(d.channel, d.status) for d in result] == [("email", "duplicate"), ("sms", "sent")]
    assert [o.channel for o in sent] == ["email", "sms"]


def test_throttling_leaves_the_channel_claimable_and_a_refusal_is_final(store):
    the_order = order()
    calls = []

    def throttled(o):
        calls.append(o)
        raise SendThrottled("Throttling")

    kwargs = {
        "order_id": "ord_1001",
        "rma": None,
        "store": store,
        "lookup": Lookup(the_order),
        "build": outgoing,
    }
    with pytest.raises(SendThrottled):
        notify({"type": "return.requested"}, event_id="R-5:1", send=throttled, now=NOW, **kwargs)
    assert store.status("R-5:1", "email") == "retry"
    ok = notify({"type": "return.requested"}, event_id="R-5:1", send=lambda o: "m-ok", now=NOW, **kwargs)
    assert [(d.status, d.detail) for d in ok] == [("sent", "m-ok")]

    def refused(o):
        raise SendRejected("MessageRejected", "address on the suppression list")

    final = notify({"type": "return.requested"}, event_id="R-6:1", send=refused, now=NOW, **kwargs)
    assert [(d.status, d.detail) for d in final] == [("failed", "MessageRejected")]
    assert notify({"type": "return.requested"}, event_id="R-6:1", send=refused, now=NOW, **kwargs)[
        0
    ].status == ("duplicate")


# ---- the portal routes: unsubscribe and the survey ---------------------------------------------


def portal_call(
    method: str,
    path: str,
    *,
    query: dict | None = None,
    body: dict | None = None,
    headers: dict | None = None,
):
    """A PortalApiFunction route without a portal token (the links in emails carry their own)."""
    import json

    from tests.conftest import invoke, load_event

    event = load_event("portal_api.create_session")
    event["headers"].update(headers or {})
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event["queryStringParameters"] = query
    event["body"] = json.dumps(body) if body is not None else None
    return invoke("homeward.handlers.portal_api", event)


def links():
    from homeward.domain.notifications.rules import LinkTokens

    from tests.conftest import SIGNING_KEY

    return LinkTokens([SIGNING_KEY])


def test_the_unsubscribe_link_opens_a_page_that_changes_nothing_until_its_button_posts(store):
    from html import unescape

    token = links().unsubscribe("fp-maya")
    page = portal_call("GET", "/portal/unsubscribe", query={"token": token})  # a mail scanner, a preview
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert not store.preferences("fp-maya").email_opt_out
    assert "Stop emails?" in page.raw
    (action,) = re.findall(r'<form method="post" action="([^"]+)"', page.raw)
    assert unquote(unescape(action)) == f"?token={token}"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    clicked = portal_call(
        "POST", "/portal/unsubscribe", query={"token": token}, headers={"accept": "text/html,*/*;q=0.8"}
    )
    assert clicked.status == 200 and "You are unsubscribed" in clicked.raw
    assert store.preferences("fp-maya").email_opt_out


def test_unsubscribe_links_switch_the_channel_off_idempotently(store):
    token = links().unsubscribe("fp-maya")
    first = portal_call("POST", "/portal/unsubscribe", query={"token": token})  # one-click
    assert first.status == 200 and first.body == {"unsubscribed": True, "channel": "email"}
    assert store.preferences("fp-maya").email_opt_out
    assert portal_call("POST", "/portal/unsubscribe", query={"token": token}).status == 200  # again
    sms = portal_call("POST", "/portal/unsubscribe", query={"token": links().unsubscribe("fp-maya", "sms")})
    assert sms.body["channel"] == "sms" and store.preferences("fp-maya").sms_opt_out
    forged = portal_call("GET", "/portal/unsubscribe", query={"token": token[:-3] + "abc"})
    assert forged.status == 401
    survey_as_unsubscribe = portal_call("GET", "/portal/unsubscribe", query={"token": links().survey("R-1")})
    assert survey_as_unsubscribe.status == 401


def test_survey_answers_are_stored_per_return_through_the_signed_link(store):
    from tests.integration.test_orders_slice import put_order, sign_in
    from tests.integration.test_returns_flow import start

    assert put_order(recent_order()).status == 201
    rma = start(sign_in().body["token"]).body["rma"]
    answer = {"token": links().survey(rma), "rating": 4, "comment": "  Fast refund, thanks  "}
    stored = portal_call("POST", "/portal/feedback", body=answer)
    assert stored.status == 201 and stored.body == {"rma": rma, "rating": 4, "comment": "Fast refund, thanks"}
    assert store.feedback(rma)["rating"] == 4
    assert portal_call("POST", "/portal/feedback", body={**answer, "rating": 6}).status == 422
    assert (
        portal_call("POST", "/portal/feedback", body={**answer, "token": links().unsubscribe("x")}).status
        == 401
    )
    missing = portal_call("POST", "/portal/feedback", body={**answer, "token": links().survey("R-0000-0000")})
    assert missing.status == 404


# ---- context from real records, rendered ----------------------------------------------------------


def test_messages_render_from_a_real_refunded_return_in_the_shoppers_language(aws):
    """A return refunded through the real handlers: its domain events become messages with the
    amounts, codes and links of that return (what NotificationsFunction will send)."""
    from homeward.adapters.dynamodb.refunds import RefundsTable
    from homeward.domain.notifications.context import build_context
    from homeward.domain.notifications.rules import message_for
    from homeward.notifications.render import Brand, render

    from tests.integration.test_orders_slice import put_order, sign_in
    from tests.integration.test_refunds_flow import deliver_message, move, ops_get
    from tests.integration.test_returns_flow import start

    body = recent_order()
    body["customer"]["locale"] = "de-DE"
    assert put_order(body).status == 201
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    deliver_message(rma, "return.delivered")
    record = RefundsTable(client("dynamodb"), TABLE).get_return(rma)
    the_order = Order.model_validate({**body, "order_id": "ord_1001", "version": 1, "received_at": NOW})
    brand = Brand.from_env({"BRAND_NAME": "Nordwind", "SUPPORT_EMAIL": "hilfe@nordwind.example"})
    timeline = ops_get(rma).body["timeline"]
    issued = next(e for e in timeline if e["type"] == "refund.issued")
    kind = message_for(issued)
    assert kind == "refund_issued"
    context = build_context(
        kind,
        issued,
        record,
        the_order,
        locale="de",
        portal_url="https://returns.nordwind.example",
        unsubscribe_url="https://api.example/portal/unsubscribe?token=t0k",
    )
    rendered = render(kind, "de", context, brand)
    amount = record.refund.movements[0].amount
    euros, cents = divmod(amount, 100)
    assert f"{euros},{cents:02d}" in rendered.html  # German decimals, from the real refund
    assert rma in rendered.text and "hilfe@nordwind.example" in rendered.html
    assert "https://api.example/portal/unsubscribe?token=t0k" in rendered.html
    assert f"https://returns.nordwind.example/#/orders/ord_1001/returns/{rma}" in rendered.html
    assert rendered.subject and rendered.subject != render(kind, "en", context, brand).subject
    # The survey once it closes (signed link), and the delivered-to-warehouse message.
    closed = {"type": "return.closed", "data": {}}
    survey = build_context(
        "survey",
        closed,
        record,
        the_order,
        locale="en",
        portal_url="https://returns.nordwind.example",
        unsubscribe_url="https://api.example/u",
        survey_token="signed.survey.token",
    )
    page = render("survey", "en", survey, brand).html
    assert "https://returns.nordwind.example/#/feedback/signed.survey.token?lang=en" in page
    delivered = next(e for e in timeline if e["type"] == "return.delivered")
    text = render(
        message_for(delivered),
        "en",
        build_context(
            "return_delivered",
            delivered,
            record,
            the_order,
            locale="en",
            portal_url="https://r.example",
            unsubscribe_url="https://api.example/u",
        ),
        brand,
    ).text
    assert rma in text
