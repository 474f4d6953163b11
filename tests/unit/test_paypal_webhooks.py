"""PayPal webhook signatures and events (homeward.providers.paypal.webhooks), against the
deliveries PayPal itself signed (tests/fixtures/provider-samples/paypal, SIGNING.md there) and
events signed by the stub (infra/paypal_stub.py) with its own certificate. No network: every
certificate comes from a pinned directory or an injected fetch."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.errors import MalformedRequest, Unprocessable, WebhookSignatureInvalid
from homeward.providers.paypal.webhooks import CertStore, PayPalWebhooks, cert_name, parse_paypal_event

from infra.paypal_stub import CERT_URL, PayPalStub, _signing_identity

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "paypal"
MANIFEST = {entry["file"][:2]: entry for entry in json.loads((SAMPLES / "manifest.json").read_text())}
PROD_CERT = SAMPLES / "certs" / "CERT-360caa42-fca2a594-1a5f47cb.pem"


def delivery(number: str) -> tuple[bytes, dict[str, str], datetime, str]:
    entry = MANIFEST[number]
    body = (SAMPLES / entry["file"]).read_bytes()
    headers = dict(entry["delivery_headers"])
    sent = {k.lower(): v for k, v in headers.items()}["paypal-transmission-time"]
    return (
        body,
        headers,
        datetime.fromisoformat(sent.replace("Z", "+00:00")),
        entry["signature"]["webhook_id"],
    )


@pytest.fixture
def pinned(tmp_path) -> PayPalWebhooks:
    shutil.copy(PROD_CERT, tmp_path / PROD_CERT.name)
    shutil.copy(SAMPLES / "certs" / "paypal-java-sdk-testClientCert.crt", tmp_path / "test.pem")
    return PayPalWebhooks(CertStore(tmp_path))


@pytest.mark.parametrize("number", ["05", "06", "07", "08"])
def test_each_delivery_paypal_signed_verifies_with_its_certificate(pinned, number):
    body, headers, sent, webhook_id = delivery(number)
    pinned.verify(body, headers, ["an-old-webhook-id", webhook_id], now=sent + timedelta(seconds=30))


def test_a_tampered_body_does_not_verify(pinned):
    body, headers, sent, webhook_id = delivery("06")
    tampered = body.replace(b'"value":"0.99"', b'"value":"9.99"', 1)
    assert tampered != body
    with pytest.raises(WebhookSignatureInvalid) as err:
        pinned.verify(tampered, headers, [webhook_id], now=sent)
    assert err.value.reason == "mismatch"
    # Even a whitespace change breaks the CRC: bodies are verified as delivered, never re-serialized.
    with pytest.raises(WebhookSignatureInvalid):
        pinned.verify(body + b"\n", headers, [webhook_id], now=sent)


def test_another_webhook_id_does_not_verify(pinned):
    body, headers, sent, _ = delivery("06")
    with pytest.raises(WebhookSignatureInvalid) as err:
        pinned.verify(body, headers, ["8PT597110X687430LKGECATA"], now=sent)
    assert err.value.reason == "mismatch"


@pytest.mark.parametrize("shift", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=800)])
def test_a_stale_or_future_transmission_is_refused(pinned, shift):
    body, headers, sent, webhook_id = delivery("06")
    with pytest.raises(WebhookSignatureInvalid) as err:
        pinned.verify(body, headers, [webhook_id], now=sent + shift)
    assert err.value.reason == "stale_timestamp"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
        "http://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
        "https://api.paypal.com@evil.example/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
        "https://api.paypal.com/v1/other/CERT-360caa42-fca2a594-1a5f47cb",
        "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb?x=1",
    ],
)
def test_a_certificate_url_off_paypal_hosts_is_refused_before_any_fetch(url):
    fetched = []
    source = PayPalWebhooks(CertStore(fetch=lambda u: fetched.append(u) or b""))
    body, headers, sent, webhook_id = delivery("06")
    headers["paypal-cert-url"] = url
    with pytest.raises(WebhookSignatureInvalid) as err:
        source.verify(body, headers, [webhook_id], now=sent)
    assert err.value.reason in ("untrusted_cert_url", "malformed_header")
    assert fetched == []


def test_path_tricks_in_the_certificate_name_are_refused():
    for url in (
        "https://api.paypal.com/v1/notifications/certs/../../etc/passwd",
        "https://api.paypal.com/v1/notifications/certs/a/b",
        "https://api.paypal.com/v1/notifications/certs/",
    ):
        with pytest.raises(WebhookSignatureInvalid):
            cert_name(url)
    assert cert_name("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1") == "CERT-1"


@pytest.mark.parametrize(
    "header",
    ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL"],
)
def test_a_missing_header_is_refused(pinned, header):
    body, headers, sent, webhook_id = delivery("06")
    headers = {k: v for k, v in headers.items() if k.lower() != header.lower()}
    with pytest.raises(WebhookSignatureInvalid) as err:
        pinned.verify(body, headers, [webhook_id], now=sent)
    assert err.value.reason == "missing_header"


def test_malformed_headers_and_other_algorithms_are_refused(pinned):
    body, headers, sent, webhook_id = delivery("06")
    for name, value, reason in (
        ("paypal-transmission-sig", "not base64!", "malformed_header"),
        ("paypal-transmission-time", "yesterday", "malformed_header"),
        ("paypal-auth-algo", "SHA1withRSA", "unsupported_algorithm"),
    ):
        with pytest.raises(WebhookSignatureInvalid) as err:
            pinned.verify(body, {**headers, name: value}, [webhook_id], now=sent)
        assert err.value.reason == reason


def test_an_unknown_pinned_certificate_is_refused(tmp_path):
    body, headers, sent, webhook_id = delivery("06")
    with pytest.raises(WebhookSignatureInvalid) as err:
        PayPalWebhooks(CertStore(tmp_path)).verify(body, headers, [webhook_id], now=sent)
    assert err.value.reason == "unknown_cert"


def test_a_fetched_certificate_is_checked_and_cached():
    _, pem = _signing_identity()  # a certificate naming messageverificationcerts, valid now
    fetched: list[str] = []
    store = CertStore(fetch=lambda url: fetched.append(url) or pem)
    now = datetime.now(UTC)
    assert store.public_key(CERT_URL, now) is store.public_key(CERT_URL, now)
    assert fetched == [CERT_URL]
    # The published production certificate, fetched today, has expired: refused.
    expired = CertStore(fetch=lambda url: PROD_CERT.read_bytes())
    with pytest.raises(WebhookSignatureInvalid) as err:
        expired.public_key(
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb", now
        )
    assert err.value.reason == "bad_cert"


def test_events_signed_by_the_stub_verify_and_carry_our_key(tmp_path):
    with PayPalStub() as stub:
        stub.add_capture("2GG279541U471931P", 4599, "USD")
        stub.write_cert(tmp_path)
        refund = stub._create(
            "2GG279541U471931P",
            {"amount": {"currency_code": "USD", "value": "10.99"}, "custom_id": "refund:RMA-7Q2K9:1"},
        ).body
        assert refund is not None
        body = stub.event_for(refund["id"])
        now = datetime.now(UTC)
        headers = stub.sign_event(body, "WH-ID-NEW", when=now)
    source = PayPalWebhooks(CertStore(tmp_path))
    source.verify(body, headers, ["WH-ID-OLD", "WH-ID-NEW"], now=now)
    update = source.parse(body)
    assert isinstance(update, RefundUpdate)
    assert (update.status, update.amount, update.currency) == ("succeeded", 1099, "USD")
    assert update.metadata == {"homeward_rma": "RMA-7Q2K9", "homeward_key": "refund:RMA-7Q2K9:1"}
    assert update.payment_reference == "2GG279541U471931P"


def test_the_refunded_sample_reads_as_its_refund():
    body, *_ = delivery("06")
    update = parse_paypal_event(body)
    assert isinstance(update, RefundUpdate)
    assert update.event_id == "WH-1GE84257G0350133W-6RW800890C634293G"
    assert (update.refund_id, update.status, update.amount, update.currency) == (
        "1Y107995YT783435V",
        "succeeded",
        99,
        "USD",
    )  # this refund's 0.99, never the capture's total_refunded_amount 1.98
    assert update.payment_reference == "0JF852973C016714D"
    assert update.occurred_at == datetime(2018, 8, 15, 19, 14, 4, 543000, tzinfo=UTC)
    assert update.metadata == {} and update.failure_reason is None


@pytest.mark.parametrize(
    ("status", "expected"), [("PENDING", "pending"), ("FAILED", "failed"), ("CANCELLED", "canceled")]
)
def test_refund_outcome_events_map_paypal_statuses(status, expected):
    event = json.loads(delivery("06")[0])
    event["event_type"] = f"PAYMENT.REFUND.{status}" if status != "PENDING" else "PAYMENT.REFUND.PENDING"
    event["resource"]["status"] = status
    event["resource"]["status_details"] = {"reason": "ECHECK"}
    event["resource"]["custom_id"] = "refund:RMA-1:2"
    update = parse_paypal_event(json.dumps(event).encode())
    assert isinstance(update, RefundUpdate)
    assert update.status == expected and update.failure_reason == "ECHECK"
    assert update.metadata["homeward_key"] == "refund:RMA-1:2"


def test_other_events_are_ignored():
    for number in ("05", "08"):
        assert isinstance(parse_paypal_event(delivery(number)[0]), IgnoredEvent)


def test_a_bad_refund_event_names_every_problem():
    event = json.loads(delivery("06")[0])
    event["resource"]["status"] = "DONE"
    event["resource"]["amount"]["value"] = "0.999"
    del event["create_time"]
    with pytest.raises(Unprocessable) as err:
        parse_paypal_event(json.dumps(event).encode())
    fields = {problem["field"] for problem in err.value.details["fields"]}
    assert fields == {"resource.status", "resource.amount.value", "create_time"}
    with pytest.raises(MalformedRequest):
        parse_paypal_event(b"[1, 2]")
    with pytest.raises(Unprocessable):
        parse_paypal_event(b'{"id": "WH-1"}')
