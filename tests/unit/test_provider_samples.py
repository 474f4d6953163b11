"""Each provider's own published payloads (tests/fixtures/provider-samples/<provider>/, copied
byte for byte from ../shared/provider-samples with their SOURCES.md and manifest.json) go
through that provider's package as registered: verified when signed with a rotated secret,
then read into what the manifest says Homeward makes of them.

A new tracking source or payment provider adds its folder here: the tests pick it up from
the registry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from homeward.domain.refunds.ports import IgnoredEvent, RefundUpdate
from homeward.domain.tracking.ports import TEST_EVENT, Ignored
from homeward.models.tracking import CarrierUpdate, normalize_tracking_number
from homeward.providers import registry

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SECRETS = ["retired-secret", "active-secret"]


def at_path(data: object, path: str) -> object:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]  # type: ignore[index]
    return data


def cases(kind: str) -> list[tuple[str, dict]]:
    found = []
    for name in registry.names(kind):
        manifest = SAMPLES / name / "manifest.json"
        if manifest.exists():
            found += [(name, entry) for entry in json.loads(manifest.read_text())]
    return found


def case_id(case: tuple[str, dict]) -> str:
    return f"{case[0]}-{case[1]['file'][:2]}"


TRACKING = cases(registry.TRACKING_SOURCE)
# Manifests that say what Homeward makes of each event (Stripe's, PayPal's webhooks; PayPal's API
# samples are read by its adapter tests); Adyen's, in the shared collection's own shape, are read
# with their expectations in tests/unit/test_adyen_webhooks.py.
PAYMENTS = [case for case in cases(registry.PAYMENT_WEBHOOKS) if "expected_normalized" in case[1]]


# No exact published body was found for AfterShip; generic is Homeward's own format.
WITHOUT_PUBLISHED_SAMPLES = {"aftership", "generic"}


def test_every_provider_has_its_published_samples():
    assert {name for name, _ in TRACKING} == set(registry.TRACKING_SOURCES) - WITHOUT_PUBLISHED_SAMPLES
    assert {name for name, _ in cases(registry.PAYMENT_WEBHOOKS)} == set(registry.PAYMENT_WEBHOOK_PROVIDERS)


@pytest.mark.parametrize("case", TRACKING, ids=case_id)
def test_a_published_tracking_body_is_verified_and_read_by_its_source(case):
    name, entry = case
    body = (SAMPLES / name / entry["file"]).read_bytes()
    headers = registry.load_testkit(name).sign(body, SECRETS[1], now=NOW)
    source = registry.load(name, registry.TRACKING_SOURCE).SOURCE
    source.verify(body, {k.lower(): v for k, v in headers.items()}, SECRETS, now=NOW)
    data = json.loads(body)
    if data.get("test") is True:
        # Documentation samples are test events: ignored unless the stack accepts them.
        assert source.parse(body, headers, received_at=NOW).reason == TEST_EVENT
    parsed = source.parse(body, headers, received_at=NOW, accept_test_events=True)
    if entry["expected_normalized"] == "ignored":
        assert isinstance(parsed, Ignored) and parsed.event_type == entry["event_type"]
        return
    assert isinstance(parsed, CarrierUpdate) and parsed.provider == name
    assert parsed.tracking_number == normalize_tracking_number(at_path(data, entry["tracking_number_path"]))
    assert parsed.event_id == at_path(data, entry["event_id_path"])
    assert parsed.status.value == entry["expected_normalized"].split(" ")[0]
    assert parsed.checkpoints and parsed.event_at.tzinfo is not None


@pytest.mark.parametrize("case", PAYMENTS, ids=case_id)
def test_a_published_payment_event_is_verified_and_read_by_its_provider(case, tmp_path):
    name, entry = case
    body = (SAMPLES / name / entry["file"]).read_bytes()
    source = registry.load(name, registry.PAYMENT_WEBHOOKS).SOURCE
    if "signature" in entry:  # signed by the provider itself (PayPal): verified as delivered
        verify_published_signature(name, entry, body, tmp_path)
    parsed = source.parse(body)
    data = json.loads(body)
    if entry["expected_normalized"] == "ignored":
        assert isinstance(parsed, IgnoredEvent) and parsed.event_type == entry["event_type"]
        return
    assert not isinstance(parsed, IgnoredEvent)
    assert isinstance(parsed, RefundUpdate) and parsed.event_type == entry["event_type"]
    assert parsed.event_id == at_path(data, entry["event_id_path"])
    assert parsed.refund_id == at_path(data, entry["refund_id_path"])
    # PayPal names the capture only in the refund's `up` link: the manifest gives the id read from it.
    expected_reference = entry.get("expected_payment_reference") or at_path(
        data, entry["payment_reference_path"]
    )
    assert parsed.payment_reference == expected_reference
    assert parsed.status == entry["expected_normalized"].split(" ")[-1]
    assert dict(parsed.metadata) == (at_path(data, entry["metadata_path"]) if entry["metadata_path"] else {})


def verify_published_signature(name: str, entry: dict, body: bytes, cert_dir: Path) -> None:
    """The delivery's own signature, with its certificate pinned (named as its PAYPAL-CERT-URL)
    and `now` at its transmission time (the published certificates have expired)."""
    from homeward.providers.paypal.webhooks import CertStore, PayPalWebhooks, cert_name

    headers = entry["delivery_headers"]
    lower = {k.lower(): v for k, v in headers.items()}
    cert = (SAMPLES / name / entry["signature"]["cert_file"]).read_bytes()
    (cert_dir / f"{cert_name(lower['paypal-cert-url'])}.pem").write_bytes(cert)
    sent = datetime.fromisoformat(lower["paypal-transmission-time"].replace("Z", "+00:00"))
    source = PayPalWebhooks(CertStore(cert_dir))
    source.verify(body, headers, ["retired-webhook-id", entry["signature"]["webhook_id"]], now=sent)
