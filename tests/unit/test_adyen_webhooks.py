"""Adyen standard notifications: the HMAC with Adyen's own SDK vectors, rotation, tampering, and
every published sample read into what Homeward makes of it (tests/fixtures/provider-samples/adyen,
byte for byte from ../shared/provider-samples/commerce/adyen)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.errors import MalformedRequest, Unprocessable, WebhookSignatureInvalid
from homeward.providers import registry
from homeward.providers.adyen.webhooks import (
    SOURCE,
    parse_adyen_notifications,
    signing_string,
    verify_adyen,
    verify_item,
)

from infra.adyen_stub import sign_item

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "adyen"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SDK_KEY = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174"
PY_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
OUR_KEY = "686f6d65776172642d6c6f63616c2d616479656e2d686d61632d6b65792d3332"
RETIRED = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def sample(name: str) -> bytes:
    return next(SAMPLES.glob(f"{name}-*.json")).read_bytes()


def wrap(*items: dict) -> bytes:
    return json.dumps(
        {"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}
    ).encode()


def resign(body: bytes, key: str = OUR_KEY, **changes) -> tuple[bytes, dict]:
    """A published notification with its items re-signed under our key (SIGNING.md: the
    published refund signatures verify under no public key)."""
    data = json.loads(body)
    item = data["notificationItems"][0]["NotificationRequestItem"]
    item.update(changes)
    item.setdefault("additionalData", {})["hmacSignature"] = sign_item(item, key)
    return json.dumps(data).encode(), item


# --- the SDK vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["09", "10"])
def test_the_sdk_vectors_verify_with_their_published_key(name):
    item = json.loads(sample(name))
    verify_item(item, [bytes.fromhex(SDK_KEY)])
    # Backslashes and colons go into the signing string as they are, nothing escaped.
    assert "slashes are fun:1000:EUR:AUTHORISATION:true" in signing_string(item)
    # Lower-case hex is the same key; the vector inside a delivery verifies with rotation.
    verify_adyen(wrap(item), {}, [RETIRED, SDK_KEY.lower()])


def test_the_python_sdk_vector_verifies_with_an_empty_original_reference():
    item = {
        "pspReference": "7914073381342284",
        "merchantAccountCode": "TestMerchant",
        "merchantReference": "TestPayment-1407325143704",
        "amount": {"value": 1130, "currency": "EUR"},
        "eventCode": "AUTHORISATION",
        "success": "true",
        "additionalData": {"hmacSignature": "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="},
    }
    assert (
        signing_string(item)
        == "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
    )
    verify_adyen(wrap(item), {}, [PY_KEY])
    assert sign_item(item, PY_KEY) == item["additionalData"]["hmacSignature"]  # the stub signs alike


@pytest.mark.parametrize("name", ["01", "02", "04"])
def test_the_published_refund_signatures_are_rejected(name):
    # 01/02: references anonymised after signing; 04: truncated in the spec (SIGNING.md).
    with pytest.raises(WebhookSignatureInvalid) as rejected:
        verify_adyen(sample(name), {}, [SDK_KEY, PY_KEY, OUR_KEY])
    assert rejected.value.reason in ("mismatch", "malformed_header")


@pytest.mark.parametrize(
    "change",
    [
        {"amount": {"currency": "EUR", "value": 150000}},
        {"success": "false"},
        {"merchantReference": "refund:R-OTHER:1"},
        {"eventCode": "REFUND_FAILED"},
        {"pspReference": "PSP_OTHER"},
    ],
)
def test_a_tampered_signed_field_is_rejected(change):
    body, item = resign(sample("01"))
    verify_adyen(body, {}, [OUR_KEY])
    data = json.loads(body)
    data["notificationItems"][0]["NotificationRequestItem"].update(change)
    with pytest.raises(WebhookSignatureInvalid) as rejected:
        verify_adyen(json.dumps(data).encode(), {}, [OUR_KEY])
    assert rejected.value.reason == "mismatch"


def test_rotation_wrong_key_missing_and_malformed_signatures():
    body, _ = resign(sample("01"), RETIRED)
    verify_adyen(body, {}, [RETIRED, OUR_KEY])  # the old key still works during a rotation
    SOURCE.verify(body, {}, [OUR_KEY, RETIRED], now=NOW)
    with pytest.raises(WebhookSignatureInvalid, match="does not match"):
        verify_adyen(body, {}, [OUR_KEY, "not hex at all"])  # a misconfigured key matches nothing
    with pytest.raises(WebhookSignatureInvalid) as missing:
        verify_adyen(sample("03"), {}, [OUR_KEY])  # the spec's REFUND example carries no signature
    assert missing.value.reason == "missing_header"
    for bad in (b"not json", b"[]", b"{}", b'{"notificationItems": []}', b'{"notificationItems": [1]}'):
        with pytest.raises(WebhookSignatureInvalid) as malformed:
            verify_adyen(bad, {}, [OUR_KEY])
        assert malformed.value.reason == "malformed_header"
    with pytest.raises(ValueError):
        verify_adyen(body, {}, [])


def test_every_item_of_a_batch_must_be_signed():
    _, good = resign(sample("01"))
    _, other = resign(sample("02"))
    verify_adyen(wrap(good, other), {}, [OUR_KEY])
    unsigned = {**other, "additionalData": {}}
    with pytest.raises(WebhookSignatureInvalid):
        verify_adyen(wrap(good, unsigned), {}, [OUR_KEY])


# --- reading --------------------------------------------------------------------------------------

EXPECTED = {
    "01": ("REFUND", "succeeded", None),
    "02": ("REFUND", "failed", "Insufficient balance on payment"),
    "03": ("REFUND", "failed", "Transaction hasn't been captured, refund not possible"),
    "04": ("REFUND_FAILED", "failed", "Refund Failed"),
    "05": ("REFUNDED_REVERSED", "failed", "test_AUTHORISATION_1"),
}


def manifest() -> dict[str, dict]:
    return {entry["file"][:2]: entry for entry in json.loads((SAMPLES / "manifest.json").read_text())}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_published_refund_notification_is_read(name):
    entry = manifest()[name]
    data = json.loads(sample(name))
    item = data["notificationItems"][0]["NotificationRequestItem"]
    (parsed,) = parse_adyen_notifications(sample(name))
    event_type, status, reason = EXPECTED[name]
    assert isinstance(parsed, RefundUpdate)
    assert parsed.event_type == entry["event_type"] == event_type
    assert parsed.status == status and parsed.failure_reason == reason
    assert parsed.refund_id == json.loads(entry["refund_id_raw"])
    assert parsed.payment_reference == json.loads(entry["payment_reference_raw"])
    assert (parsed.amount, parsed.currency) == (
        int(entry["amounts"][0]["raw"]),
        entry["amounts"][0]["currency"],
    )
    assert parsed.event_id == f"{item['pspReference']}:{item['eventCode']}:{item['success']}"
    assert parsed.occurred_at == datetime.fromisoformat(item["eventDate"]).astimezone(UTC)
    assert parsed.metadata == {}  # their merchantReference is not one of our keys
    assert SOURCE.parse(sample(name)) == parsed


def test_cancel_or_refund_and_the_vectors_events_are_ignored():
    (cancel,) = parse_adyen_notifications(sample("06"))
    assert cancel == IgnoredEvent(
        event_id="QFQTPCQ8HXSKGK82:CANCEL_OR_REFUND:true", event_type="CANCEL_OR_REFUND"
    )
    (auth,) = parse_adyen_notifications(wrap(json.loads(sample("09"))))
    assert isinstance(auth, IgnoredEvent) and auth.event_type == "AUTHORISATION"


def test_our_reference_becomes_the_metadata_and_a_batch_is_read_once_per_event():
    _, ours = resign(sample("01"), merchantReference="refund:R-7K3M-9QXA:2", pspReference="993617894906488A")
    _, failed = resign(
        sample("02"), merchantReference="refund:R-7K3M-9QXA:2", pspReference="993617894906488A"
    )
    events = SOURCE.parse_all(wrap(ours, failed, ours))
    assert [e.event_id for e in events] == ["993617894906488A:REFUND:true", "993617894906488A:REFUND:false"]
    assert events[0].metadata == {"homeward_key": "refund:R-7K3M-9QXA:2", "homeward_rma": "R-7K3M-9QXA"}
    assert SOURCE.acknowledgement == "[accepted]"


def test_bad_bodies_are_400_or_422_with_every_field():
    with pytest.raises(MalformedRequest):
        parse_adyen_notifications(b"\xff")
    with pytest.raises(Unprocessable):
        parse_adyen_notifications(b'{"notificationItems": []}')
    item = json.loads(sample("01"))["notificationItems"][0]["NotificationRequestItem"]
    broken = {
        **item,
        "success": True,
        "amount": {"value": "15.00", "currency": "EURO"},
        "eventDate": "yesterday",
    }
    with pytest.raises(Unprocessable) as problems:
        parse_adyen_notifications(wrap(item, broken))
    fields = {p["field"] for p in problems.value.details["fields"]}
    assert fields == {
        "notificationItems.1.success",
        "notificationItems.1.amount.value",
        "notificationItems.1.amount.currency",
        "notificationItems.1.eventDate",
    }


def test_adyen_is_registered_for_refunds_and_their_webhooks():
    assert registry.is_a("adyen", registry.PAYMENT_PROVIDER)
    assert registry.load("adyen", registry.PAYMENT_WEBHOOKS).SOURCE is SOURCE
