"""PayPalProvider against infra/paypal_stub.py: money format, idempotency by PayPal-Request-Id,
crash recovery, every error class, and the exactly-once contract under injected faults.
Never calls PayPal."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from homeward.domain.refunds.ports import ProviderRefund, ProviderRejected, ProviderUnavailable, RefundRequest
from homeward.providers import registry
from homeward.providers.paypal.payments import (
    PayPalProvider,
    decimal_amount,
    make_provider,
    minor_units,
    to_provider_refund,
)

from infra.paypal_stub import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PayPalStub

SAMPLES = Path(__file__).parents[1] / "fixtures" / "provider-samples" / "paypal"
CAPTURE = "2GG279541U471931P"
KEY = "refund:R-7K3M-9QXA:1"
METADATA = {"homeward_rma": "R-7K3M-9QXA", "homeward_key": KEY}


def refund_request(key: str = KEY, amount: int = 1099, *, capture: str = CAPTURE, currency: str = "USD"):
    return RefundRequest(key, capture, amount, currency, {"homeward_rma": "R-7K3M-9QXA", "homeward_key": key})


@pytest.fixture
def stub():
    with PayPalStub() as server:
        server.add_capture(CAPTURE, 4599, "USD")
        yield server


def provider(stub: PayPalStub, **kwargs) -> PayPalProvider:
    options = {"read_timeout": 0.5, "connect_timeout": 0.5, **kwargs}
    return PayPalProvider(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_base=stub.url, **options)


def refund_posts(stub: PayPalStub) -> list[dict]:
    return [r for r in stub.requests if r["method"] == "POST" and r["path"].endswith("/refund")]


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1099, "USD", "10.99"),
        (1000, "USD", "10.00"),
        (5, "EUR", "0.05"),
        (1050, "JPY", "1050"),
        (1050, "KWD", "1.050"),
        (1, "usd", "0.01"),
        (1200, "HUF", "12.00"),
    ],
)
def test_minor_units_become_paypal_decimal_strings_and_back(amount, currency, text):
    assert decimal_amount(amount, currency) == text
    assert minor_units(text, currency) == amount


def test_a_currency_paypal_takes_in_whole_units_only_refuses_cents():
    with pytest.raises(ProviderRejected) as err:
        decimal_amount(1250, "HUF")
    assert err.value.code == "currency_precision"


def test_published_refund_answers_convert():
    full = json.loads((SAMPLES / "04-docs-refund-get-details-srmklive-copy.json").read_text())
    refund = to_provider_refund(full)
    assert refund == ProviderRefund("1JU08902781691411", "succeeded", 1099, "USD", None, {})
    minimal = json.loads((SAMPLES / "03-docs-refund-response-minimal-srmklive-copy.json").read_text())
    from_request = to_provider_refund(minimal, refund_request())
    assert (from_request.refund_id, from_request.amount, from_request.currency) == (
        "1JU08902781691411",
        1099,
        "USD",
    )
    sent = json.loads((SAMPLES / "02-docs-refund-request-srmklive-copy.json").read_text())
    assert sent["amount"] == {"value": decimal_amount(1099, "USD"), "currency_code": "USD"}


# --- create, idempotency, recovery ------------------------------------------------------------


def test_create_sends_the_key_the_amount_and_a_cached_token(stub):
    paypal = provider(stub)
    refund = paypal.create_refund(refund_request())
    assert refund == ProviderRefund(refund.refund_id, "succeeded", 1099, "USD", None, METADATA)
    second = paypal.create_refund(refund_request("refund:R-7K3M-9QXA:2", 500))
    assert second.refund_id != refund.refund_id
    sent = refund_posts(stub)[0]
    assert sent["path"] == f"/v2/payments/captures/{CAPTURE}/refund"
    assert sent["headers"]["paypal-request-id"] == KEY
    assert sent["headers"]["prefer"] == "return=representation"
    assert json.loads(sent["body"]) == {
        "amount": {"value": "10.99", "currency_code": "USD"},
        "custom_id": KEY,
    }
    assert stub.tokens_issued == 1  # one token for both calls


def test_a_retry_with_the_same_key_gets_the_same_refund(stub):
    first = provider(stub).create_refund(refund_request())
    again = provider(stub).create_refund(refund_request())  # another container, another token
    assert again == first
    assert stub.refunds_created(CAPTURE) == 1 and stub.requests_seen(KEY) == 2


def test_a_crash_after_success_is_recovered_by_the_retry_and_by_find(stub):
    stub.crash_next_creates()
    paypal = provider(stub)
    with pytest.raises(ProviderUnavailable):
        paypal.create_refund(refund_request())
    assert stub.refunds_created(CAPTURE) == 1  # made, the answer lost
    found = paypal.find_refund(CAPTURE, KEY)
    assert found is not None and found.metadata == METADATA and found.amount == 1099
    assert paypal.create_refund(refund_request()) == found
    assert stub.refunds_created(CAPTURE) == 1
    assert paypal.find_refund(CAPTURE, "refund:R-7K3M-9QXA:9") is None


def test_after_paypal_forgot_the_request_id_find_still_matches_custom_id(stub):
    paypal = provider(stub)
    made = paypal.create_refund(refund_request())
    paypal.create_refund(refund_request("refund:OTHER-1:1", 100))
    stub.forget_request_ids()
    assert paypal.find_refund(CAPTURE, KEY) == made
    assert paypal.retrieve_refund(made.refund_id) == made


def test_pending_and_later_statuses_are_mapped(stub):
    stub.new_refund_status = "PENDING"
    paypal = provider(stub)
    refund = paypal.create_refund(refund_request())
    assert (refund.status, refund.failure_reason) == ("pending", "ECHECK")
    for status, expected in (("FAILED", "failed"), ("CANCELLED", "canceled"), ("COMPLETED", "succeeded")):
        stub.set_refund_status(
            refund.refund_id, status, "BUYER_ACCOUNT_CLOSED" if status == "FAILED" else None
        )
        assert paypal.retrieve_refund(refund.refund_id).status == expected


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "amount", "capture", "currency", "code"),
    [
        (lambda s: s.add_capture("FULL", 100, "USD"), 100, "FULL", "USD", "CAPTURE_FULLY_REFUNDED"),
        (None, 4600, CAPTURE, "USD", "REFUND_AMOUNT_EXCEEDED"),
        (None, 100, "NO_SUCH_CAPTURE", "USD", "INVALID_RESOURCE_ID"),
        (None, 100, CAPTURE, "EUR", "CURRENCY_MISMATCH"),
    ],
)
def test_refusals_are_provider_rejected_with_paypal_issue(stub, setup, amount, capture, currency, code):
    paypal = provider(stub)
    if code == "CAPTURE_FULLY_REFUNDED":
        setup(stub)
        paypal.create_refund(refund_request("refund:FULL:1", 100, capture="FULL"))
    with pytest.raises(ProviderRejected) as err:
        paypal.create_refund(refund_request("refund:X:1", amount, capture=capture, currency=currency))
    assert err.value.code == code and err.value.provider == "paypal"


def test_bad_client_credentials_are_rejected(stub):
    paypal = PayPalProvider(DEFAULT_CLIENT_ID, "wrong", api_base=stub.url)
    with pytest.raises(ProviderRejected) as err:
        paypal.create_refund(refund_request())
    assert err.value.code == "invalid_client"
    assert stub.refunds_created() == 0


def test_an_expired_token_is_transient_and_renewed(stub):
    paypal = provider(stub)
    paypal.create_refund(refund_request())
    stub.expire_tokens()
    with pytest.raises(ProviderUnavailable):
        paypal.create_refund(refund_request("refund:R-7K3M-9QXA:2", 100))
    assert paypal.create_refund(refund_request("refund:R-7K3M-9QXA:2", 100)).amount == 100
    assert stub.tokens_issued == 2


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.rate_limit_next_creates(),
        lambda s: s.fail_next_creates(status=500),
        lambda s: s.fail_next_creates(status=503),
        lambda s: s.stall_next_creates(1.0),
        lambda s: s.crash_next_creates(),
    ],
    ids=["429", "500", "503", "timeout", "crash"],
)
def test_transient_faults_are_provider_unavailable_and_the_retry_makes_one_refund(stub, fault):
    fault(stub)
    paypal = provider(stub)
    with pytest.raises(ProviderUnavailable):
        paypal.create_refund(refund_request())
    refund = _settled(paypal)
    assert refund.amount == 1099 and refund.metadata == METADATA
    assert stub.refunds_created(CAPTURE) == 1


def _settled(paypal: PayPalProvider, attempts: int = 20) -> ProviderRefund:
    for _ in range(attempts):
        try:
            return paypal.create_refund(refund_request())
        except ProviderUnavailable:
            time.sleep(0.1)  # e.g. 409 while the stalled first request still runs
    raise AssertionError("never settled")


def test_a_saved_server_error_is_replayed_then_find_reconciles(stub):
    stub.fail_next_creates(status=500, saved=True)  # made, then PayPal answered 500 and saved it
    paypal = provider(stub)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            paypal.create_refund(refund_request())
    found = paypal.find_refund(CAPTURE, KEY)
    assert found is not None and stub.refunds_created(CAPTURE) == 1


def test_the_registry_factory_reads_client_id_and_secret(stub):
    module = registry.load("paypal", registry.PAYMENT_PROVIDER)
    settings = SimpleNamespace(api_bases={"paypal": stub.url})
    paypal = module.make_provider(settings, f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}")
    assert paypal.create_refund(refund_request()).amount == 1099
    for key in (None, "", "only-an-id", ":secret"):
        with pytest.raises(ProviderRejected) as err:
            make_provider(settings, key)
        assert err.value.code == "not_configured"


# --- exactly once under random faults (the refund fault suite's contract, on the real adapter) --


@pytest.mark.parametrize("seed", [16, 17, 18])
def test_random_faults_never_double_refund_or_over_refund(stub, seed):
    """Several refunds of one capture, each retried through random faults with its own key:
    each key makes at most one refund, and the capture is never refunded beyond its amount."""
    rng = random.Random(seed)
    paypal = provider(stub, read_timeout=0.3)
    faults = [
        lambda: stub.rate_limit_next_creates(),
        lambda: stub.fail_next_creates(status=502),
        lambda: stub.fail_next_creates(status=500, saved=True),
        lambda: stub.crash_next_creates(),
        lambda: stub.stall_next_creates(0.5),
        lambda: None,
    ]
    amounts = [1500, 1500, 1000, 1000]  # 5000 asked of a 4599 capture: the last one must be refused
    outcomes: dict[str, object] = {}
    for n, amount in enumerate(amounts, start=1):
        key = f"refund:R-FAULTS:{n}"
        for _ in range(12):
            rng.choice(faults)()
            try:
                outcomes[key] = paypal.create_refund(refund_request(key, amount))
                break
            except ProviderRejected as rejected:
                outcomes[key] = rejected.code
                break
            except ProviderUnavailable:
                found = paypal.find_refund(CAPTURE, key)
                if found is not None:
                    outcomes[key] = found
                    break
        stub.clear_faults()
        if key not in outcomes:  # PayPal recovers: the same key, no more faults, settles it
            outcomes[key] = _resolved(paypal, key, amount)
    refunds = stub.refunds_for(CAPTURE)
    keys = [r["custom_id"] for r in refunds]
    assert len(keys) == len(set(keys)), "a key made two refunds"
    assert sum(r["_minor"] for r in refunds) <= 4599, "over-refunded"
    # Refused, or still unknown (a 500 PayPal saved for the key replays until ops look): never made.
    assert outcomes["refund:R-FAULTS:4"] in ("REFUND_AMOUNT_EXCEEDED", "unresolved")
    assert "refund:R-FAULTS:4" not in keys
    for key in ("refund:R-FAULTS:1", "refund:R-FAULTS:2", "refund:R-FAULTS:3"):
        assert isinstance(outcomes[key], ProviderRefund)


def test_an_unknown_paypal_status_keeps_the_money_reserved():
    refund = to_provider_refund(
        {"id": "1X", "status": "SOMETHING_NEW", "amount": {"currency_code": "JPY", "value": "1050"}}
    )
    assert (refund.status, refund.amount, refund.currency) == ("pending", 1050, "JPY")


def _resolved(paypal: PayPalProvider, key: str, amount: int, attempts: int = 30) -> object:
    for _ in range(attempts):
        time.sleep(0.2)  # a stalled first request still running answers 409 until it ends
        try:
            return paypal.create_refund(refund_request(key, amount))
        except ProviderRejected as rejected:
            return rejected.code
        except ProviderUnavailable:
            found = paypal.find_refund(CAPTURE, key)
            if found is not None:
                return found
    return "unresolved"  # e.g. a 500 PayPal saved for the key and replays: ops' case
