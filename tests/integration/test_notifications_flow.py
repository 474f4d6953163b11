"""Shopper notifications through the real wiring on moto: the table's stream, DomainEventsFunction,
the DomainEvents topic and the template's subscriptions (tests/integration/bus.py) deliver every
domain event to NotificationsFunction (and to the labels and refunds functions that make the
next events). Every email is read back from moto's SES, every SMS from moto's SNS.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.notifications import NotificationsTable
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.dynamodb.returns import LabelClaims
from homeward.adapters.policy import bundled_policy
from homeward.domain.labels import service as labels
from homeward.domain.notifications.rules import LinkTokens
from homeward.domain.orders.rules import email_fingerprint

from infra.webhook_signing import LOCAL_SECRETS, api_gateway_event, load_sample, retarget, signed_headers
from tests.conftest import SIGNING_KEY, TABLE, TEST_ENV, invoke
from tests.integration.bus import EventBus, topic_consumers
from tests.integration.streams import StreamDriver
from tests.integration.test_labels_flow import CountingCarrier
from tests.integration.test_notifications_groundwork import portal_call
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import move
from tests.integration.test_returns_flow import ops, portal, recent_order, shopper_cancel, start

SHOPPER = "jane.doe@example.com"
PHONE = "+14155550123"  # the sample order's
PORTAL_URL = TEST_ENV["PORTAL_URL"]
ALL_CONSUMERS = ("NotificationsFunction", "LabelsFunction", "RefundsFunction")


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str
    unsubscribe: str
    one_click: str


def mails() -> list[Mail]:
    """Every email SES accepted, oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    result = []
    for sent in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages:
        parsed = email.message_from_string(sent.raw_data, policy=email.policy.default)
        result.append(
            Mail(
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                text=parsed.get_body(("plain",)).get_content(),
                html=parsed.get_body(("html",)).get_content(),
                unsubscribe=str(parsed["List-Unsubscribe"]),
                one_click=str(parsed["List-Unsubscribe-Post"]),
            )
        )
    return result


def texts() -> list[tuple[str, str]]:
    """Every SMS SNS accepted, oldest first: (number, text)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def shop(**customer) -> str:
    """The sample order with the customer's details changed; a portal token for it."""
    body = recent_order()
    body["customer"].update(customer)
    assert put_order(body).status == 201
    return sign_in().body["token"]


def record(rma: str):
    return RefundsTable(client("dynamodb"), TABLE).get_return(rma)


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"')]+", text)


def tokens() -> LinkTokens:
    return LinkTokens([SIGNING_KEY])


def unsubscribe_token(mail: Mail) -> str:
    url = mail.unsubscribe.strip("<>")
    assert url.startswith(f"{TEST_ENV['API_URL']}/portal/unsubscribe?token=")
    return unquote(parse_qs(urlparse(url).query)["token"][0])


def timeline(rma: str) -> list[dict]:
    return ops("approve", rma, method="GET").body["timeline"]


# ---- the whole journey -----------------------------------------------------------------------


def test_a_refunded_return_tells_the_shopper_each_step_once_in_order(aws):
    token = shop(sms_opt_in=True)
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(token).body["rma"]
    assert bus.run() == []
    label = record(rma).label
    assert label is not None  # LabelsFunction bought it from the sandbox carrier
    move(rma, "first_scan")
    assert bus.run() == []
    move(rma, "deliver")
    assert bus.run() == []  # the policy refunds at delivery; the ledger settles at once
    inspection = {
        "lines": [{"line_id": "L1", "received_quantity": 1, "grade": "a", "disposition": "restock"}]
    }
    assert ops("receive", rma, action="receive", body=inspection).status == 200
    assert bus.run() == []
    done = record(rma)
    assert done.status == "closed" and done.money_status == "refunded"
    refunded = dollars(done.refund.movements[0].amount)

    sent = mails()
    assert [m.subject for m in sent] == [
        f"We received your return request {rma}",
        f"Your return {rma} is approved – here is your label",
        f"Your return {rma} is on its way",
        f"Your return {rma} has arrived",
        f"Your refund of {refunded} is on its way",
        f"We've checked your return {rma}",
        "How was your return with Linen & Loom?",
    ]
    assert {m.to for m in sent} == {SHOPPER}
    return_page = f"{PORTAL_URL}/#/orders/ord_1001/returns/{rma}"
    for mail in sent:
        if mail is not sent[-1]:  # the survey links to itself
            assert return_page in links_in(mail.text), mail.subject
        assert tokens().check_unsubscribe(unsubscribe_token(mail)) == (email_fingerprint(SHOPPER), "email")
        assert mail.one_click == "List-Unsubscribe=One-Click"
        # The footer's link opens the portal's own (localized) page for the same signed token.
        page = f"{PORTAL_URL}/#/unsubscribe/{unsubscribe_token(mail)}?lang=en"
        assert page in links_in(mail.text), mail.subject
    approved, refund, survey = sent[1], sent[4], sent[6]
    assert f"{return_page}/label" in links_in(approved.text)
    assert label.tracking_number in approved.text
    assert refunded in refund.text and refunded in refund.html
    breakdown = done.refund.amounts
    assert dollars(sum(line.merchandise for line in breakdown.lines)) in refund.text
    # Texts only for the moments that matter, to the number on the order.
    assert texts() == [
        (PHONE, f"Linen & Loom: Your return {rma} is approved. Your label: {return_page}/label"),
        (
            PHONE,
            f"Linen & Loom: We've refunded {refunded} for your return {rma}. It can take up to 10 business"
            " days to show on your statement.",
        ),
    ]
    # The survey link is signed for this return and answers through POST /portal/feedback.
    survey_link = next(link for link in links_in(survey.text) if "/#/feedback/" in link)
    survey_token = survey_link.split("/#/feedback/", 1)[1].split("?", 1)[0]
    assert tokens().check_survey(survey_token) == rma
    answered = portal_call(
        "POST", "/portal/feedback", body={"token": survey_token, "rating": 5, "comment": "Easy"}
    )
    assert answered.status == 201 and answered.body["rma"] == rma
    assert NotificationsTable(client("dynamodb"), TABLE).feedback(rma)["rating"] == 5
    # Every event reached the consumer once; nothing more was sent for the ones without a message.
    assert bus.delivered["NotificationsFunction"].count("return.approved") == 1


def test_duplicated_events_send_nothing_twice(aws):
    token = shop(sms_opt_in=True)
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(token).body["rma"]
    assert bus.run() == []
    before = (len(mails()), len(texts()))
    assert before == (2, 1)
    # The stream is redelivered from its start (as after a failed batch): every event published again.
    again = EventBus("NotificationsFunction")
    assert again.run() == []
    assert again.delivered["NotificationsFunction"] == bus.delivered["NotificationsFunction"]
    assert (len(mails()), len(texts())) == before
    assert {m.subject.split()[-1] for m in mails()[:1]} == {rma}


# ---- one message each ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "subject", "greeting"),
    [
        ("de-DE", "Ihre Rücksendeanfrage {rma} ist eingegangen", "Hallo Jane"),
        ("de-AT", "Ihre Rücksendeanfrage {rma} ist eingegangen", "Hallo Jane"),
        ("fr-FR", "We received your return request {rma}", "Hi Jane"),  # no French texts: English
        ("en-GB", "We received your return request {rma}", "Hi Jane"),
    ],
)
def test_the_email_speaks_the_shoppers_language_or_english(aws, locale, subject, greeting):
    token = shop(locale=locale, name="Jane Doe")
    bus = EventBus("NotificationsFunction")
    rma = start(token).body["rma"]
    assert bus.run() == []
    (mail,) = mails()  # return.approved waits for the label, whose consumer is not subscribed here
    assert mail.subject == subject.format(rma=rma)
    assert greeting in mail.text


def test_review_then_rejection_tells_the_reason(aws):
    token = shop()
    bus = EventBus("NotificationsFunction")
    photo = portal("photo_upload", token).body["key"]
    lines = [{"line_id": "L1", "quantity": 1, "reason": "damaged", "resolution": "refund", "photos": [photo]}]
    rma = start(token, lines).body["rma"]
    assert record(rma).status == "needs_review"
    assert bus.run() == []
    rejected = ops("approve", rma, action="reject", body={"reason": "The tee was worn and washed"})
    assert rejected.status == 200, rejected.raw
    assert bus.run() == []
    subjects = [m.subject for m in mails()]
    assert subjects == [
        f"We received your return request {rma}",
        f"Your return request {rma} is being reviewed",
        f"We can't accept your return {rma}",
    ]
    assert "The tee was worn and washed" in mails()[-1].text
    assert texts() == []  # not opted in to SMS


def test_a_cancelled_return_is_confirmed(aws):
    token = shop()
    bus = EventBus("NotificationsFunction")
    rma = start(token).body["rma"]
    cancelled = shopper_cancel(token, rma)
    assert cancelled.status == 200
    assert bus.run() == []
    assert mails()[-1].subject == f"Your return {rma} has been cancelled"
    assert len(mails()) == 2


def test_label_reminder_then_expiry(aws):
    token = shop(sms_opt_in=True)
    bus = EventBus("NotificationsFunction", "LabelsFunction")
    rma = start(token).body["rma"]
    assert bus.run() == []
    store = LabelClaims(client("dynamodb"), TABLE)
    label = record(rma).label
    policy = bundled_policy()
    for days in (26, 28.1):
        labels.expire_labels(
            store=store,
            carrier_for=lambda _name: CountingCarrier(),  # voids the expired label
            policy=policy,
            now=label.purchased_at + timedelta(days=days),
        )
        assert bus.run() == []
    reminder, expired = mails()[-2:]
    assert reminder.subject.startswith("Reminder: your return label is valid until ")
    assert f"{PORTAL_URL}/#/orders/ord_1001/returns/{rma}/label" in links_in(reminder.text)
    assert expired.subject == f"Your return label for {rma} has expired"
    assert texts()[-1][1].startswith(f"Linen & Loom: Reminder: your label for return {rma} is valid until ")


def test_store_credit_tells_the_code_and_balance(aws):
    token = shop(sms_opt_in=True)
    bus = EventBus(*ALL_CONSUMERS)
    lines = [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "store_credit"}]
    rma = start(token, lines).body["rma"]
    move(rma, "first_scan", "deliver")
    assert bus.run() == []
    (credit,) = record(rma).refund.movements
    amount = dollars(credit.amount)
    mail = next(m for m in mails() if m.subject == f"Your store credit of {amount} is ready")
    assert credit.credit_code in mail.text and credit.credit_code in mail.html
    assert texts()[-1] == (
        PHONE,
        f"Linen & Loom: Your store credit of {amount} for return {rma} is ready. Code: {credit.credit_code},"
        f" balance {amount}.",
    )


def test_a_failed_refund_says_what_happens_next(aws):
    body = recent_order()
    body["payments"][0]["reference"] = "fail_pi_3QhZ2hJ2eZvKYlo21ABCDEF"  # the ledger declines it
    assert put_order(body).status == 201
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(sign_in().body["token"]).body["rma"]
    move(rma, "first_scan", "deliver")
    assert bus.run() == []
    assert record(rma).money_status == "failed"
    mail = mails()[-1]
    assert mail.subject == f"We're looking into your refund for {rma}"
    assert "Your refund" not in " ".join(m.subject for m in mails())  # no success message


# ---- preferences -----------------------------------------------------------------------------


def test_unsubscribe_stops_further_emails_and_sms_needs_opt_in(aws):
    token = shop()  # no SMS opt-in on the order
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(token).body["rma"]
    assert bus.run() == []
    assert [m.subject for m in mails()] == [
        f"We received your return request {rma}",
        f"Your return {rma} is approved – here is your label",
    ]
    assert texts() == []  # a phone number alone is not consent
    link = mails()[0].unsubscribe.strip("<>")
    # The one-click POST (RFC 8058) that mail clients send to the List-Unsubscribe URL.
    done = portal_call("POST", "/portal/unsubscribe", query={"token": link.split("token=", 1)[1]})
    assert done.status == 200 and done.body["channel"] == "email"
    move(rma, "first_scan")
    assert bus.run() == []
    assert len(mails()) == 2  # nothing after the unsubscribe
    status = NotificationsTable(client("dynamodb"), TABLE).status(f"{rma}:{record(rma).version:06d}", "email")
    assert status == "undeliverable"
    forged = portal_call("POST", "/portal/unsubscribe", query={"token": "x" * 40})
    assert forged.status == 401


def test_numbers_on_the_sms_opt_out_list_get_no_text(aws):
    token = shop(sms_opt_in=True, phone="+14155550199")  # moto lists numbers ending in 99 as opted out
    bus = EventBus(*ALL_CONSUMERS)
    start(token)
    assert bus.run() == []
    assert len(mails()) == 2 and texts() == []


def test_a_channel_without_an_address_is_recorded_not_deliverable(aws):
    token = shop(sms_opt_in=True, phone=None)  # agreed to texts, gave no number
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(token).body["rma"]
    assert bus.run() == []
    assert len(mails()) == 2 and texts() == []
    label_event = next(e for e in timeline(rma) if e["type"] == "return.label_issued")
    store = NotificationsTable(client("dynamodb"), TABLE)
    assert store.status(f"{rma}:{label_event['seq']:06d}", "email") == "sent"
    assert store.status(f"{rma}:{label_event['seq']:06d}", "sms") == "undeliverable"


def test_a_refused_email_is_noted_on_the_returns_timeline_and_not_retried(aws):
    token = shop()
    bus = EventBus("NotificationsFunction")
    # SES refuses: the sender identity is gone (moto checks it like SES does).
    boto3.client("sesv2").delete_email_identity(EmailIdentity=TEST_ENV["SENDER_EMAIL"])
    rma = start(token).body["rma"]
    assert bus.run() == []  # handled: a refusal is final, not a retry
    notes = [e for e in timeline(rma) if e["type"] == "notification.failed"]
    assert [(n["data"]["kind"], n["data"]["channel"]) for n in notes] == [("return_requested", "email")]
    assert SHOPPER not in json.dumps(notes)  # the reason, never the address
    assert NotificationsTable(client("dynamodb"), TABLE).status(f"{rma}:000001", "email") == "failed"


# ---- outbound parcels -----------------------------------------------------------------------


def test_outbound_parcel_milestones_are_told_once_each(aws):
    body = recent_order()
    shipment = body["shipments"][0]
    shipment.pop("delivered_at")
    body["customer"]["sms_opt_in"] = True
    assert put_order(body).status == 201
    number = shipment["tracking_number"]
    tracking = StreamDriver("TrackingFunction", "homeward.handlers.tracking")
    bus = EventBus("NotificationsFunction")
    now = datetime.now(UTC)

    def scan(case: str, hours_ago: float) -> None:
        raw = retarget(
            load_sample("aftership", case),
            "aftership",
            tracking_number=number,
            occurred_at=now - timedelta(hours=hours_ago),
        )
        headers = signed_headers("aftership", raw, LOCAL_SECRETS["aftership"])
        assert (
            invoke("homeward.handlers.webhooks", api_gateway_event("aftership", raw, headers)).status == 200
        )
        assert tracking.drain() == []
        assert bus.run() == []

    scan("in_transit", 30)
    scan("in_transit", 20)  # a second scan, same status: no second "shipped"
    scan("out_for_delivery", 3)
    scan("delivered", 1)
    subjects = [m.subject for m in mails()]
    assert subjects == [
        "Your order #1001 is on its way",
        "Your order #1001 arrives today",
        "Your order #1001 has been delivered",
    ]
    assert [t for _, t in texts()] == [
        f"Linen & Loom: Your order #1001 has shipped. Track it: {PORTAL_URL}/#/orders/ord_1001",
        "Linen & Loom: Your order #1001 is out for delivery and should arrive today.",
        "Linen & Loom: Your order #1001 has been delivered. Thank you for shopping with us!",
    ]


# ---- the topic for other systems ---------------------------------------------------------------


def test_every_domain_event_reaches_the_topic_with_filterable_attributes(aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="merchant-erp")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=TEST_ENV["DOMAIN_EVENTS_TOPIC_ARN"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    token = shop()
    bus = EventBus(*ALL_CONSUMERS)
    rma = start(token).body["rma"]
    move(rma, "first_scan", "deliver")
    assert bus.run() == []
    received = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        received += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    written = [e["type"] for e in timeline(rma)]
    by_type = [
        m["MessageAttributes"]["type"]["StringValue"] for m in received if "rma" in m["MessageAttributes"]
    ]
    assert sorted(by_type) == sorted(written)  # every event of the return, once
    for message in received:
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert {"type", "event_id", "order_id", "status"} <= set(attributes)
        assert json.loads(message["Body"])["type"] == attributes["type"]
    # Every message type NotificationsFunction needs passes its subscription's filter.
    from homeward.domain.notifications.rules import PORTAL_MESSAGES, RETURN_MESSAGES, SHIPMENT_MESSAGES

    (_, props) = topic_consumers()["NotificationsFunction"]
    wanted = set(RETURN_MESSAGES) | set(SHIPMENT_MESSAGES) | set(PORTAL_MESSAGES)
    wanted |= {"return.approved", "shipment.updated"}
    assert wanted == set(props["FilterPolicy"]["type"])


def test_an_sms_in_the_shoppers_quiet_hours_waits_on_the_queue_until_eight(aws, monkeypatch):
    from homeward.handlers import notifications

    now = datetime.now(UTC)
    offset = (23 - now.hour) % 24  # a zone where it is 23:xx now
    offset = offset - 24 if offset > 14 else offset
    zone = "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")
    token = shop(sms_opt_in=True, time_zone=zone)
    bus = EventBus(*ALL_CONSUMERS)
    (_, _, url, _) = next(q for q in bus.queues if q[0] == "NotificationsFunction")
    monkeypatch.setattr(
        notifications, "settings", notifications.settings.model_copy(update={"notification_queue_url": url})
    )
    delays = []
    real = notifications.come_back_in
    monkeypatch.setattr(
        notifications,
        "come_back_in",
        lambda record, queue, seconds: delays.append(seconds) or real(record, queue, seconds),
    )
    rma = start(token).body["rma"]
    failed = bus.run()
    assert len(failed) == 1  # the label event's message stays on the queue for the SMS
    assert [m.subject for m in mails()][-1] == f"Your return {rma} is approved – here is your label"
    assert texts() == []
    (delay,) = delays
    assert 8 * 3600 <= delay <= 9 * 3600 + 60  # from 23:xx to 08:00 where the shopper is
    label_event = next(e for e in timeline(rma) if e["type"] == "return.label_issued")
    assert (
        NotificationsTable(client("dynamodb"), TABLE).status(f"{rma}:{label_event['seq']:06d}", "sms")
        == "deferred"
    )
    assert boto3.client("sqs").receive_message(QueueUrl=url).get("Messages") is None  # hidden until then
