"""AdyenProvider against infra/adyen_stub.py: the request Adyen documents, idempotent replay after
a crash, every error class, and the exactly-once contract under injected faults. Never calls Adyen."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest
from homeward.domain.refunds.ports import ProviderRefund, ProviderRejected, ProviderUnavailable, RefundRequest
from homeward.providers.adyen.payments import AdyenProvider, make_provider
from homeward.providers.adyen.webhooks import SOURCE

from infra.adyen_stub import AdyenStub

API_KEY = "AQE_test_homeward_adapter_0123456789"
MERCHANT = "HomewardTestECOM"
PSP = "993617894903480A"
KEY = "refund:R-7K3M-9QXA:1"
METADATA = {"homeward_rma": "R-7K3M-9QXA", "homeward_key": KEY, "order_id": "demo-1001"}
HMAC_KEY = "686f6d65776172642d6c6f63616c2d616479656e2d686d61632d6b65792d3332"
SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "adyen"


def refund_request(
    key: str = KEY, amount: int = 2500, *, psp: str = PSP, currency: str = "EUR"
) -> RefundRequest:
    return RefundRequest(key, psp, amount, currency, {**METADATA, "homeward_key": key})


@pytest.fixture
def stub():
    with AdyenStub(API_KEY, merchant_account=MERCHANT) as server:
        server.add_payment(PSP, 10_000, "EUR")
        yield server


def provider(stub: AdyenStub, **kwargs) -> AdyenProvider:
    return AdyenProvider(
        kwargs.pop("api_key", API_KEY), MERCHANT, api_base=stub.url, **{"timeout_seconds": 0.5, **kwargs}
    )


def posts(stub: AdyenStub) -> list[dict]:
    return [r for r in stub.requests if r["method"] == "POST"]


def test_create_sends_the_documented_request_and_answers_pending(stub):
    refund = provider(stub).create_refund(refund_request())
    assert refund == ProviderRefund(refund.refund_id, "pending", 2500, "EUR", None, METADATA)
    sent = posts(stub)[0]
    assert sent["path"] == f"/v71/payments/{PSP}/refunds"
    assert sent["headers"]["x-api-key"] == API_KEY and sent["headers"]["idempotency-key"] == KEY
    body = json.loads(sent["body"])
    # The published request's shape (07), minor units, our key as the reference.
    published = json.loads((SAMPLES / "07-openapi-checkout-refund-request.json").read_text())
    assert set(body) == set(published)
    assert body == {
        "amount": {"currency": "EUR", "value": 2500},
        "merchantAccount": MERCHANT,
        "reference": KEY,
    }
    assert stub.refunds_for(PSP)[0]["pspReference"] == refund.refund_id


def test_the_published_201_answer_reads_as_a_pending_refund():
    from homeward.providers.adyen.payments import _to_refund

    answer = json.loads((SAMPLES / "08-openapi-checkout-refund-response-201.json").read_text())
    request = RefundRequest("YOUR_UNIQUE_REFERENCE", "993617894903480A", 2500, "EUR")
    refund = _to_refund(answer, request)
    assert (refund.refund_id, refund.status, refund.amount, refund.currency) == (
        "993617894906488A",
        "pending",
        2500,
        "EUR",
    )


def test_a_lost_answer_is_found_again_by_replaying_the_same_key(stub):
    adyen = provider(stub)
    stub.crash_next_creates()
    with pytest.raises(ProviderUnavailable):
        adyen.create_refund(refund_request())
    assert len(stub.refunds_for(PSP)) == 1  # the refund exists; its answer was lost
    assert adyen.find_refund(PSP, KEY) is None  # no list API: the replay is the lookup
    again = adyen.create_refund(refund_request())
    assert again.refund_id == stub.refunds_for(PSP)[0]["pspReference"]
    assert len(stub.refunds_for(PSP)) == 1 and posts(stub)[-1]["headers"]["idempotency-key"] == KEY


def test_a_timeout_then_a_retry_makes_one_refund(stub):
    adyen = provider(stub, timeout_seconds=0.2)
    stub.stall_next_creates(0.6)
    with pytest.raises(ProviderUnavailable):
        adyen.create_refund(refund_request())
    # While the first request still runs, the key is in flight (704): try again later.
    with pytest.raises(ProviderUnavailable, match="704"):
        adyen.create_refund(refund_request())
    time.sleep(0.6)
    assert adyen.create_refund(refund_request()).status == "pending"
    assert len(stub.refunds_for(PSP)) == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (lambda s: s.fail_next_creates(status=500), "HTTP 500"),
        (lambda s: s.fail_next_creates(status=503), "HTTP 503"),
        (lambda s: s.rate_limit_next_creates(), "HTTP 429"),
    ],
)
def test_transient_answers_are_unavailable_and_create_nothing(stub, fault, expected):
    fault(stub)
    with pytest.raises(ProviderUnavailable, match=expected):
        provider(stub).create_refund(refund_request())
    assert stub.refunds_for(PSP) == []
    assert provider(stub).create_refund(refund_request()).status == "pending"  # same key, later


def test_refusals_are_rejected_with_adyens_code(stub):
    adyen = provider(stub)
    cases = [
        (provider(stub, api_key="AQE_wrong"), refund_request(), "authentication_error"),
        (AdyenProvider(API_KEY, "OtherMerchant", api_base=stub.url), refund_request(), "permission_error"),
        (adyen, refund_request(psp="UNKNOWN000000000"), "adyen_167"),
        (adyen, refund_request(currency="USD"), "adyen_137"),
        (adyen, refund_request(amount=0), "adyen_137"),
    ]
    for client, request, code in cases:
        with pytest.raises(ProviderRejected) as rejected:
            client.create_refund(request)
        assert rejected.value.code == code
        assert API_KEY not in str(rejected.value)
    assert stub.refunds_for(PSP) == []
    # A validation error is not saved under the key: a corrected request may use it.
    assert adyen.create_refund(refund_request()).status == "pending"


def test_the_same_key_with_another_amount_is_refused_never_a_second_refund(stub):
    adyen = provider(stub)
    first = adyen.create_refund(refund_request())
    with pytest.raises(ProviderRejected) as conflict:
        adyen.create_refund(refund_request(amount=2600))
    assert conflict.value.code == "adyen_idempotency_conflict"
    assert adyen.create_refund(refund_request()).refund_id == first.refund_id
    assert len(stub.refunds_for(PSP)) == 1


def test_refunds_are_read_by_webhook_only(stub):
    adyen = provider(stub)
    refund = adyen.create_refund(refund_request())
    # Never a rejection: that would fail the movement and release the money for a second refund.
    with pytest.raises(ProviderUnavailable):
        adyen.retrieve_refund(refund.refund_id)
    (update,) = SOURCE.parse_all(stub.notification_for(refund.refund_id, HMAC_KEY))
    SOURCE.verify(stub.notification_for(refund.refund_id, HMAC_KEY), {}, [HMAC_KEY], now=None)  # type: ignore[arg-type]
    assert (update.refund_id, update.status, update.amount) == (refund.refund_id, "succeeded", 2500)
    assert update.metadata == {"homeward_key": KEY, "homeward_rma": "R-7K3M-9QXA"}
    assert update.payment_reference == PSP


def test_exactly_once_under_faults_never_more_than_captured(stub):
    """Three refunds of one payment, each retried through every fault with its own key: each
    key makes exactly one refund, and nothing beyond the capture ever succeeds."""
    adyen = provider(stub, timeout_seconds=0.2)
    faults = [
        lambda: stub.crash_next_creates(),
        lambda: stub.fail_next_creates(status=502),
        lambda: stub.rate_limit_next_creates(),
        lambda: stub.stall_next_creates(0.3),
    ]
    answers = {}
    for n, amount in enumerate((4000, 4000, 4000), start=1):
        key = f"refund:R-7K3M-9QXA:{n}"
        for inject in faults:
            inject()
            with contextlib.suppress(ProviderUnavailable):
                answers[key] = adyen.create_refund(refund_request(key, amount))
        for _ in range(20):  # the caller's retries with the same key, until an answer
            try:
                answers[key] = adyen.create_refund(refund_request(key, amount))
                break
            except ProviderUnavailable:
                time.sleep(0.05)
    refunds = stub.refunds_for(PSP)
    assert sorted(r["reference"] for r in refunds) == sorted(answers) and len(refunds) == 3
    assert {a.refund_id for a in answers.values()} == {r["pspReference"] for r in refunds}
    # The third would go over the capture: Adyen's accounting rule fails it (a REFUND success false).
    assert stub.refunded(PSP) == 8000 <= 10_000
    (late,) = SOURCE.parse_all(stub.notification_for(answers["refund:R-7K3M-9QXA:3"].refund_id, HMAC_KEY))
    assert late.status == "failed"


def test_make_provider_needs_a_key_and_a_merchant_account(monkeypatch):
    class Settings:
        api_bases = {"adyen": "http://127.0.0.1:9"}

    monkeypatch.setenv("ADYEN_MERCHANT_ACCOUNT", MERCHANT)
    assert isinstance(make_provider(Settings(), "AQE_key"), AdyenProvider)
    assert "AQE_key" not in repr(make_provider(Settings(), "AQE_key"))
    with pytest.raises(ProviderRejected, match="not_configured"):
        make_provider(Settings(), None)
    monkeypatch.delenv("ADYEN_MERCHANT_ACCOUNT")
    with pytest.raises(ProviderRejected, match="not_configured"):
        make_provider(Settings(), "AQE_key")
