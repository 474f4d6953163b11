"""Stripe webhooks: `verify_stripe` (cross-checked against stripe-python) and `parse_stripe_event`."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe
from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.errors import MalformedRequest, Unprocessable, WebhookSignatureInvalid
from homeward.providers.stripe.webhooks import HEADER as STRIPE_HEADER
from homeward.providers.stripe.webhooks import parse_stripe_event, verify_stripe
from homeward.providers.tracking_sources import verify
from hypothesis import given
from hypothesis import strategies as st

from infra.stripe_stub import StripeStub

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "payments"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
OLD_SECRET = "whsec_old0123456789abcdefghijklmnopqrstu"
NEW_SECRET = "whsec_new9876543210zyxwvutsrqponmlkjihgf"
BODY = (SAMPLES / "stripe.refund_created_pending.json").read_bytes()
METADATA = {"homeward_rma": "R-7K3M-9QXA", "homeward_key": "refund:R-7K3M-9QXA:1", "order_id": "demo-1001"}


def v1(secret: str, timestamp: int | str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check(
    header: str | None, body: bytes = BODY, secrets=(NEW_SECRET,), now: datetime = NOW, **kwargs
) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}
    verify_stripe(body, headers, list(secrets), now=now, **kwargs)


def reason(header: str | None, **kwargs) -> str:
    with pytest.raises(WebhookSignatureInvalid) as excinfo:
        check(header, **kwargs)
    assert excinfo.value.provider == "stripe"
    return excinfo.value.reason


# --- verify_stripe ----------------------------------------------------------------------------


def test_valid_signature_passes():
    check(f"t={TS},v1={v1(NEW_SECRET, TS)}")


def test_one_matching_v1_among_several_passes():
    check(f"t={TS},v1={'0' * 64},v1={v1(NEW_SECRET, TS)},v1={v1('whsec_other', TS)}")


def test_other_schemes_are_ignored():
    check(f"t={TS},v0={v1(NEW_SECRET, TS)},v1={v1(NEW_SECRET, TS)},scheme2=abc")
    # A v0 alone (Stripe's legacy test-mode scheme) is no v1 to check.
    assert reason(f"t={TS},v0={v1(NEW_SECRET, TS)}") == "malformed_header"


def test_secret_rotation_accepts_any_active_secret():
    header = f"t={TS},v1={v1(OLD_SECRET, TS)}"
    check(header, secrets=[NEW_SECRET, OLD_SECRET])
    assert reason(header, secrets=[NEW_SECRET]) == "mismatch"
    # During Stripe's own rotation the header carries one v1 per secret.
    both = StripeStub.sign_event(BODY, [OLD_SECRET, NEW_SECRET], TS)
    check(both, secrets=[OLD_SECRET])
    check(both, secrets=[NEW_SECRET])


def test_the_whole_secret_is_the_key_whsec_prefix_included():
    secret = "whsec_" + "c2VjcmV0LWJ5dGVz"  # would decode to b"secret-bytes" under Standard Webhooks
    decoded = hmac.new(b"secret-bytes", f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert reason(f"t={TS},v1={decoded}", secrets=[secret]) == "mismatch"
    check(f"t={TS},v1={v1(secret, TS)}", secrets=[secret])


@pytest.mark.parametrize("skew", [301, -301, 86_400, -86_400])
def test_timestamps_beyond_tolerance_are_rejected_both_ways(skew):
    ts = TS - skew
    assert reason(f"t={ts},v1={v1(NEW_SECRET, ts)}") == "stale_timestamp"


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_timestamps_within_tolerance_pass(skew):
    ts = TS - skew
    check(f"t={ts},v1={v1(NEW_SECRET, ts)}")


def test_tolerance_is_configurable():
    ts = TS - 60
    header = f"t={ts},v1={v1(NEW_SECRET, ts)}"
    assert reason(header, tolerance=30) == "stale_timestamp"
    check(header, tolerance=60)


@pytest.mark.parametrize(
    "headers", [{}, {"Stripe-Signature": ""}, {"Stripe-Signature": "   "}, {"X-Other": "t=1"}]
)
def test_missing_header(headers):
    with pytest.raises(WebhookSignatureInvalid) as excinfo:
        verify_stripe(BODY, headers, [NEW_SECRET], now=NOW)
    assert excinfo.value.reason == "missing_header"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={'a' * 64}",
        f"t={TS}",
        f"t=abc,v1={'a' * 64}",
        f"t=-{TS},v1={'a' * 64}",
        f"t={TS},t={TS},v1={'a' * 64}",
        f"t={TS},v1",
        f"t={TS};v1={'a' * 64}",
    ],
)
def test_malformed_header(header):
    assert reason(header) == "malformed_header"


def test_tampered_body_is_a_mismatch():
    header = f"t={TS},v1={v1(NEW_SECRET, TS)}"
    assert reason(header, body=BODY.replace(b"4599", b"4600")) == "mismatch"
    assert reason(header, body=BODY + b"\n") == "mismatch"
    # Re-serialized JSON is other bytes: verify the raw body, never json.dumps(json.loads(...)).
    assert reason(header, body=json.dumps(json.loads(BODY)).encode()) == "mismatch"


def test_upper_case_hex_is_a_mismatch_like_stripe_python():
    assert reason(f"t={TS},v1={v1(NEW_SECRET, TS).upper()}") == "mismatch"


@pytest.mark.parametrize(
    "name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE", "sTrIpE-sIgNaTuRe"]
)
def test_header_name_is_case_insensitive(name):
    verify_stripe(BODY, {name: f"t={TS},v1={v1(NEW_SECRET, TS)}"}, [NEW_SECRET], now=NOW)
    assert name.lower() == STRIPE_HEADER


def test_inputs_are_checked():
    header = {"Stripe-Signature": f"t={TS},v1={v1(NEW_SECRET, TS)}"}
    with pytest.raises(TypeError):
        verify_stripe(BODY.decode(), header, [NEW_SECRET], now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        verify_stripe(BODY, header, [], now=NOW)
    with pytest.raises(ValueError):
        verify_stripe(BODY, header, [NEW_SECRET, ""], now=NOW)


def test_stripe_is_not_in_the_carrier_dispatcher():
    with pytest.raises(WebhookSignatureInvalid) as excinfo:
        verify("stripe", BODY, {"Stripe-Signature": f"t={TS},v1={v1(NEW_SECRET, TS)}"}, [NEW_SECRET], now=NOW)
    assert excinfo.value.reason == "unknown_provider"


# --- cross-checks with stripe-python ------------------------------------------------------------


def test_stub_signature_passes_the_official_sdk():
    now = int(datetime.now(UTC).timestamp())
    header = StripeStub.sign_event(BODY, NEW_SECRET, now)
    assert stripe.WebhookSignature.verify_header(BODY, header, NEW_SECRET, tolerance=300)
    event = stripe.Webhook.construct_event(BODY, header, NEW_SECRET)
    assert (event.id, event.type) == ("evt_3Demo00000000000010Rc1aZ", "refund.created")
    assert event.data.object.metadata.to_dict() == METADATA
    # And ours agrees.
    verify_stripe(BODY, {"Stripe-Signature": header}, [NEW_SECRET], now=datetime.fromtimestamp(now, UTC))


def test_stub_signature_with_two_secrets_passes_the_sdk_with_either():
    now = int(datetime.now(UTC).timestamp())
    header = StripeStub.sign_event(BODY, [OLD_SECRET, NEW_SECRET], now)
    assert header.count("v1=") == 2
    for secret in (OLD_SECRET, NEW_SECRET):
        assert stripe.WebhookSignature.verify_header(BODY, header, secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY, header, "whsec_third", tolerance=300)


def test_sdk_signing_helper_passes_our_verifier():
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), NEW_SECRET, timestamp=TS)
    check(header)
    assert reason(header, secrets=[OLD_SECRET]) == "mismatch"


def test_zero_padded_timestamp_is_signed_as_the_integer_like_the_sdk():
    # stripe-python signs "%d.%s" % (int(t), payload): "t=0<ts>" means the payload "<ts>.".
    header = f"t=0{TS},v1={v1(NEW_SECRET, TS)}"
    check(header)
    assert stripe.WebhookSignature.verify_header(BODY, header, NEW_SECRET, tolerance=None)


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_signed_by_the_stub_passes_both_verifiers(sample):
    body = sample.read_bytes()
    header = StripeStub.sign_event(body, NEW_SECRET, TS)
    check(header, body=body)
    assert stripe.WebhookSignature.verify_header(body, header, NEW_SECRET, tolerance=None)


@given(st.data())
def test_any_single_byte_change_to_the_body_fails(data):
    header = f"t={TS},v1={v1(NEW_SECRET, TS)}"
    index = data.draw(st.integers(0, len(BODY) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != BODY[index]))
    changed = BODY[:index] + bytes([byte]) + BODY[index + 1 :]
    with pytest.raises(WebhookSignatureInvalid) as excinfo:
        check(header, body=changed)
    assert excinfo.value.reason == "mismatch"


@given(st.data())
def test_any_single_character_change_to_the_signature_fails(data):
    signature = v1(NEW_SECRET, TS)
    index = data.draw(st.integers(0, len(signature) - 1))
    char = data.draw(st.characters(codec="utf-8").filter(lambda c: c != signature[index]))
    changed = signature[:index] + char + signature[index + 1 :]
    with pytest.raises(WebhookSignatureInvalid):
        check(f"t={TS},v1={changed}")


@given(st.data())
def test_any_single_byte_change_to_the_digest_is_a_mismatch(data):
    digest = bytearray(bytes.fromhex(v1(NEW_SECRET, TS)))
    index = data.draw(st.integers(0, len(digest) - 1))
    digest[index] = data.draw(st.integers(0, 255).filter(lambda b: b != digest[index]))
    with pytest.raises(WebhookSignatureInvalid) as excinfo:
        check(f"t={TS},v1={digest.hex()}")
    assert excinfo.value.reason == "mismatch"


# --- parse_stripe_event -------------------------------------------------------------------------

EXPECTED = {
    "stripe.refund_created_pending.json": ("refund.created", "pending", None),
    "stripe.refund_updated_succeeded.json": ("refund.updated", "succeeded", None),
    "stripe.charge_refund_updated.json": ("charge.refund.updated", "succeeded", None),
    "stripe.refund_failed.json": ("refund.failed", "failed", "expired_or_canceled_card"),
}


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_bytes())


def test_every_sample_file_is_covered():
    assert {p.name for p in SAMPLES.glob("*.json")} == {*EXPECTED, "stripe.payment_intent_succeeded.json"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_refund_samples_parse_to_refund_updates(name):
    event_type, status, failure_reason = EXPECTED[name]
    raw = sample(name)
    update = parse_stripe_event((SAMPLES / name).read_bytes())

    assert update == RefundUpdate(
        event_id=raw["id"],
        event_type=event_type,
        refund_id="re_3Demo00000000000010Kx9Qa2B",
        status=status,
        amount=4599,
        currency="USD",
        failure_reason=failure_reason,
        metadata=METADATA,
        payment_reference="pi_3Demo0000000000001",
        occurred_at=datetime.fromtimestamp(raw["created"], UTC),
    )
    assert update.occurred_at.tzinfo is not None


def test_other_event_types_are_ignored():
    assert parse_stripe_event(
        (SAMPLES / "stripe.payment_intent_succeeded.json").read_bytes()
    ) == IgnoredEvent("evt_3Demo00000000000010Ps5eV", "payment_intent.succeeded")
    # Only id and type matter for an ignored event.
    assert parse_stripe_event(b'{"id":"evt_1","object":"event","type":"customer.created"}') == IgnoredEvent(
        "evt_1", "customer.created"
    )


def test_occurred_at_is_the_event_time_not_the_refund_time():
    update = parse_stripe_event((SAMPLES / "stripe.refund_failed.json").read_bytes())
    assert update.occurred_at == datetime(2026, 11, 24, 10, 2, 55, tzinfo=UTC)
    assert update.occurred_at - timedelta(days=2) > datetime.fromtimestamp(
        sample("stripe.refund_failed.json")["data"]["object"]["created"], UTC
    )


def test_missing_optional_refund_fields_are_none_or_empty():
    raw = sample("stripe.refund_created_pending.json")
    for key in ("metadata", "payment_intent", "failure_reason"):
        raw["data"]["object"].pop(key, None)
    update = parse_stripe_event(json.dumps(raw).encode())
    assert (update.metadata, update.payment_reference, update.failure_reason) == ({}, None, None)


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"{", b"\xff\xfe{}", b"[1, 2]", b'"event"', b"42", b"null"]
)
def test_malformed_bodies(body):
    with pytest.raises(MalformedRequest):
        parse_stripe_event(body)


def unprocessable_fields(raw: dict) -> dict[str, str]:
    with pytest.raises(Unprocessable) as excinfo:
        parse_stripe_event(json.dumps(raw).encode())
    return {f["field"]: f["message"] for f in excinfo.value.details["fields"]}


def refund_event(**changes) -> dict:
    raw = copy.deepcopy(sample("stripe.refund_updated_succeeded.json"))
    for key, value in changes.items():
        raw["data"]["object"][key] = value
    return raw


def test_missing_event_fields():
    raw = sample("stripe.refund_created_pending.json")
    del raw["id"], raw["type"]
    raw["object"] = "v2.core.event"
    assert set(unprocessable_fields(raw)) == {"id", "type", "object"}


def test_unknown_refund_status_is_unprocessable():
    fields = unprocessable_fields(refund_event(status="reversed"))
    assert fields == {"data.object.status": "unknown refund status 'reversed'"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": None}, "data.object.status"),
        ({"status": 3}, "data.object.status"),
        ({"id": ""}, "data.object.id"),
        ({"amount": "4599"}, "data.object.amount"),
        ({"amount": True}, "data.object.amount"),
        ({"amount": -1}, "data.object.amount"),
        ({"currency": "usdollars"}, "data.object.currency"),
        ({"currency": None}, "data.object.currency"),
        ({"failure_reason": 7}, "data.object.failure_reason"),
        ({"payment_intent": {"id": "pi_x"}}, "data.object.payment_intent"),
        ({"metadata": {"homeward_key": 1}}, "data.object.metadata"),
        ({"metadata": ["x"]}, "data.object.metadata"),
        ({"object": "charge"}, "data.object.object"),
    ],
)
def test_wrongly_typed_refund_fields_are_named(changes, field):
    fields = unprocessable_fields(refund_event(**changes))
    assert list(fields) == [field]
    assert fields[field]


def test_every_problem_is_reported_at_once():
    raw = refund_event(status="nope", amount=None, currency=1)
    raw["created"] = "yesterday"
    assert set(unprocessable_fields(raw)) == {
        "created",
        "data.object.status",
        "data.object.amount",
        "data.object.currency",
    }


@pytest.mark.parametrize("data", [None, "x", {}, {"object": None}, {"object": []}])
def test_refund_event_without_a_refund_object(data):
    raw = sample("stripe.refund_created_pending.json")
    raw["data"] = data
    fields = unprocessable_fields(raw)
    assert set(fields) <= {"data", "data.object"} and fields
