"""The portal's front door through the real handlers on moto: its config document, sign-in links
by email (through the real notifications wiring), gift returns, the live refund preview and the
drop-off QR code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from homeward.domain.notifications.rules import LinkTokens

from tests.conftest import SIGNING_KEY, TABLE, TEST_ENV, invoke, load_event
from tests.integration.bus import EventBus
from tests.integration.test_notifications_flow import links_in, mails
from tests.integration.test_notifications_groundwork import portal_call
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_refunds_flow import move
from tests.integration.test_returns_flow import ops, portal, recent_order, start

PORTAL_URL = TEST_ENV["PORTAL_URL"]
SHOPPER = "jane.doe@example.com"
GIFT_CODE = "GIFT-7Q4M-2026"
FRIEND = "lena.fischer@example.com"


def request_link(email=SHOPPER, number="#1001", ip="198.51.100.7", locale=None):
    body = {"order_number": number, "email": email} | ({"locale": locale} if locale else {})
    event = load_event("portal_api.create_session")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/portal/session/link"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /portal/session/link"
    event["requestContext"]["http"]["sourceIp"] = ip
    event["body"] = json.dumps(body)
    return invoke("homeward.handlers.portal_api", event)


def redeem(token: str):
    return portal_call("POST", "/portal/session/redeem", body={"token": token})


def gift_session(code=GIFT_CODE, *, email=FRIEND, number="#1001", **extra):
    body = {"order_number": number, "gift_code": code, "email": email, "locale": "de-DE", **extra}
    return portal_call("POST", "/portal/gift-session", body=body)


def sign_in_link_token(mail) -> str:
    link = next(link for link in links_in(mail.text) if "/#/signin/" in link)
    assert link.startswith(f"{PORTAL_URL}/#/signin/")
    return link.split("/#/signin/", 1)[1].split("?", 1)[0]


def event_items(prefix: str) -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [i for i in items if i["pk"]["S"].startswith(prefix) and i["sk"]["S"].startswith("EVENT#")]


@pytest.fixture
def order(aws):
    assert put_order(recent_order(gift_receipt_code=GIFT_CODE)).status == 201


# ---- config ------------------------------------------------------------------------------------


def test_config_is_public_branded_from_the_template_parameters_and_cached(aws, monkeypatch):
    monkeypatch.setenv("BRAND_NAME", "Linen & Loom")
    monkeypatch.setenv("BRAND_PRIMARY_COLOR", "#224466")
    from homeward.handlers import portal_api  # settings are read once, at cold start

    configured = portal_api.settings.model_copy(update={"return_policy_url": "https://shop.example/rp"})
    monkeypatch.setattr(portal_api, "settings", configured)
    answer = portal_call("GET", "/portal/config")
    assert answer.status == 200
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert answer.body["brand"]["name"] == "Linen & Loom"
    assert answer.body["brand"]["primary_color"] == "#224466"
    assert answer.body["brand"]["policy_url"] == "https://shop.example/rp"
    assert answer.body["locales"] == ["en", "de"] and answer.body["default_locale"] == "en"
    assert answer.body["gift_returns"] == {"enabled": True, "verify_by": "gift_code"}


# ---- sign-in links ---------------------------------------------------------------------------


def test_a_sign_in_link_is_emailed_through_the_notifications_path_and_opens_the_order_once(order):
    bus = EventBus("NotificationsFunction")
    answer = request_link(email="  Jane.Doe@Example.com ", number="1001", locale="de-DE")
    assert (answer.status, answer.body) == (202, {"status": "sent_if_matching"})
    # One event item, naming the nonce - never the token or the address.
    [item] = event_items("SIGNIN#")
    assert item["type"]["S"] == "portal.sign_in_link"
    assert SHOPPER not in json.dumps(item).lower() and "token" not in item["doc"]["S"]
    assert bus.run() == []
    [mail] = mails()
    assert mail.to == SHOPPER
    assert mail.subject == "Ihr Anmeldelink für Bestellung #1001"  # the language asked in
    token = sign_in_link_token(mail)
    assert f"{PORTAL_URL}/#/signin/{token}?lang=de" in links_in(mail.text)
    session = redeem(token)
    assert session.status == 200 and session.body["order_id"] == "ord_1001"
    # The session opens the order ...
    assert portal("eligibility", session.body["token"]).status == 200
    # ... and the link works once.
    again = redeem(token)
    assert again.status == 401 and again.body["details"]["reason"] == "link_used"


def test_the_answer_is_the_same_for_a_wrong_email_and_nothing_is_sent(order):
    bus = EventBus("NotificationsFunction")
    wrong = request_link(email="someone@example.com")
    unknown = request_link(number="#9999")
    assert (
        (wrong.status, wrong.body) == (unknown.status, unknown.body) == (202, {"status": "sent_if_matching"})
    )
    assert event_items("SIGNIN#") == []
    assert bus.run() == [] and mails() == []


def test_links_per_order_are_capped_silently_and_a_flooding_ip_gets_429(order):
    answers = [request_link(ip=f"198.51.100.{i}") for i in range(5)]
    assert {a.status for a in answers} == {202}
    assert len(event_items("SIGNIN#")) == 3  # a few per window: enough for a lost email
    flood = [request_link(email=f"x{i}@example.com", ip="203.0.113.99") for i in range(21)]
    assert [a.status for a in flood[:20]] == [202] * 20
    assert flood[20].status == 429 and int(flood[20].headers["retry-after"]) > 0


def test_forged_tampered_and_expired_links_are_refused(order):
    links = LinkTokens([SIGNING_KEY])
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
    expired = redeem(links.sign_in("ord_1001", "n0nce-expired", past))
    assert expired.status == 401 and expired.body["details"]["reason"] == "link_expired"
    valid = links.sign_in("ord_1001", "n0nce-valid", past + 900)
    tampered = redeem(valid[:-2] + ("AA" if not valid.endswith("AA") else "BB"))
    assert tampered.status == 401 and tampered.body["details"]["reason"] == "link_invalid"
    # A survey or unsubscribe token is no sign-in link (salts bind each to its purpose).
    survey = redeem(links.survey("R-0000-0001"))
    assert survey.status == 401 and survey.body["details"]["reason"] == "link_invalid"


def test_an_unsubscribed_shopper_still_gets_the_link_they_asked_for(order):
    from homeward.adapters.aws import client
    from homeward.adapters.dynamodb.notifications import NotificationsTable
    from homeward.domain.orders.rules import email_fingerprint

    NotificationsTable(client("dynamodb"), TABLE).set_preference(
        email_fingerprint(SHOPPER), "email_opt_out", True, now=datetime.now(UTC)
    )
    bus = EventBus("NotificationsFunction")
    assert request_link().status == 202
    assert bus.run() == []
    assert [m.to for m in mails()] == [SHOPPER]


# ---- gift returns ------------------------------------------------------------------------------


def test_a_gift_recipient_returns_for_store_credit_and_the_buyer_hears_nothing(order):
    session = gift_session(code=" gift 7q4m 2026 ")  # spaces, dashes and case do not matter
    assert session.status == 200 and session.body["gift"] is True
    token = session.body["token"]
    # They see the order without the buyer's contact, and only store credit is offered.
    view = portal("eligibility", token)
    assert view.body["gift"] is True
    assert {r for line in view.body["lines"] for r in line["allowed_resolutions"]} == {"store_credit"}
    order_view = invoke_get_order(token)
    assert order_view.body["gift"] and "jane" not in json.dumps(order_view.body["contact"]).lower()
    # A refund to the buyer's card is refused; store credit goes through.
    refund = start(token, key="gift-return-0001")
    assert refund.status == 422 and refund.body["details"]["reason_codes"] == ["gift_store_credit_only"]
    credit = [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "store_credit"}]
    created = start(token, credit, key="gift-return-0002")
    assert created.status == 201
    rma = created.body["rma"]
    bus = EventBus("NotificationsFunction", "LabelsFunction", "RefundsFunction")
    assert bus.run() == []
    move(rma, "first_scan")
    move(rma, "deliver")
    assert bus.run() == []
    sent = mails()
    assert sent and {m.to for m in sent} == {FRIEND}  # every message to the recipient, in German
    assert any("Guthaben" in m.subject or "Gutschein" in m.subject for m in sent), [m.subject for m in sent]
    # The buyer's own session does not list it (it would spoil the gift) ...
    buyer = sign_in().body["token"]
    assert portal("list_returns", buyer).body["returns"] == []
    hidden = portal(
        "list_returns",
        buyer,
        path=f"/portal/orders/ord_1001/returns/{rma}",
        params={"orderId": "ord_1001", "rma": rma},
    )
    assert hidden.status == 404
    # Nor its parcel among the order's parcels; the recipient follows it.
    assert rma not in {p["rma"] for p in tracking(buyer)["parcels"]}
    assert rma in {p["rma"] for p in tracking(token)["parcels"]}
    # ... while ops see who it is for.
    assert ops("approve", rma, method="GET").body["record"]["gift"] == {"email": FRIEND, "locale": "de-DE"}


def test_a_wrong_gift_code_fails_like_sign_in_and_counts_towards_the_same_lockout(order):
    wrong = gift_session(code="GIFT-0000-0000")
    assert (
        wrong.status == 401
        and wrong.body["message"] == sign_in(email="x@example.com", ip="198.51.100.77").body["message"]
    )
    # An order without a gift receipt never opens by gift code.
    assert put_order(recent_order(order_number="#1005"), order_id="ord_1005").status == 201
    assert gift_session(number="#1005", code="").status in (401, 422)


def test_gift_returns_can_verify_by_postcode(order, monkeypatch):
    from homeward.adapters import policy as policy_adapter

    bundled = policy_adapter.bundled_policy()
    by_postcode = bundled.model_copy(
        update={"gift_returns": bundled.gift_returns.model_copy(update={"verify_by": "postal_code"})}
    )
    monkeypatch.setattr(policy_adapter, "bundled_policy", lambda: by_postcode)
    assert gift_session(code=None, postal_code="94105").status == 200
    assert gift_session(code=None, postal_code="94106").status == 401


# ---- refund preview and drop-off QR ----------------------------------------------------------


def test_the_preview_prices_exactly_as_the_submit_and_writes_nothing(order):
    token = sign_in().body["token"]
    lines = [{"line_id": "L1", "quantity": 2, "reason": "damaged", "resolution": "refund"}]
    before = boto3.client("dynamodb").scan(TableName=TABLE)["Count"]
    preview = portal(
        "start_return", token, path="/portal/orders/ord_1001/returns/preview", body={"lines": lines}
    )
    assert preview.status == 200, preview.body  # the photo "damaged" needs is asked for on submit
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Count"] == before
    photo = "photos/ord_1001/" + "0f" * 16 + ".jpg"
    created = start(token, [{**lines[0], "photos": [photo]}], key="preview-then-submit")
    assert created.status == 201
    assert preview.body["preview"] == created.body["preview"]
    assert [line["refund"] for line in preview.body["lines"]] == [
        line["refund"] for line in created.body["lines"]
    ]
    # Errors are the submit's: nothing more is returnable now.
    over = portal(
        "start_return", token, path="/portal/orders/ord_1001/returns/preview", body={"lines": lines}
    )
    assert over.status == 409


def test_the_drop_off_qr_code_is_an_svg_of_the_labels_payload(order):
    token = sign_in().body["token"]
    rma = start(token).body["rma"]
    early = portal(
        "list_returns",
        token,
        path=f"/portal/orders/ord_1001/returns/{rma}/qr",
        params={"orderId": "ord_1001", "rma": rma},
    )
    assert early.status == 409 and early.body["details"]["reason"] == "no_label"
    assert EventBus("LabelsFunction").run() == []
    qr = portal(
        "list_returns",
        token,
        path=f"/portal/orders/ord_1001/returns/{rma}/qr",
        params={"orderId": "ord_1001", "rma": rma},
    )
    assert qr.status == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.raw.startswith("<svg") and re.search(r"<path[^>]+d=\"M", qr.raw)


def invoke_get_order(token):
    event = load_event("portal_api.get_order")
    event["headers"]["authorization"] = f"Bearer {token}"
    return invoke("homeward.handlers.portal_api", event)


def tracking(token):
    event = load_event("portal_api.get_order")
    event["headers"]["authorization"] = f"Bearer {token}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/portal/orders/ord_1001/tracking"
    answer = invoke("homeward.handlers.portal_api", event)
    assert answer.status == 200, answer.body
    return answer.body


# ---- the shopper's IP behind CloudFront --------------------------------------------------------


def test_behind_the_portal_distribution_limits_count_the_viewers_ip_not_the_edges(order, monkeypatch):
    from homeward.handlers import portal_api

    monkeypatch.setattr(
        portal_api, "settings", portal_api.settings.model_copy(update={"edge_origin_token": "s3cr3t"})
    )

    def via_edge(viewer: str, token: str = "s3cr3t"):
        event = load_event("portal_api.create_session")
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/portal/session/link"
        event["requestContext"]["http"]["sourceIp"] = "130.176.0.1"  # one CloudFront edge server
        event["headers"].update({"x-homeward-edge": token, "cloudfront-viewer-address": f"{viewer}:50123"})
        event["body"] = json.dumps({"order_number": "#1001", "email": "nobody@example.com"})
        return invoke("homeward.handlers.portal_api", event)

    flood = [via_edge("203.0.113.5").status for _ in range(21)]
    assert flood[-1] == 429 and flood[:20] == [202] * 20
    # Another shopper behind the same edge server is not held back ...
    assert via_edge("2001:db8::7").status == 202
    # ... and a client naming someone else's address without the origin secret is counted as itself.
    assert [via_edge("198.51.100.9", token="guess").status for _ in range(20)] == [202] * 20
    assert via_edge("198.51.100.9").status == 202
    assert via_edge("198.51.100.9", token="guess").status == 429  # the edge's own address is spent
