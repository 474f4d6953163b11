"""StripeProvider (the real stripe SDK) against infra/stripe_stub.py: idempotency, faults, errors.

Never calls Stripe. The SDK sleeps at least 0.5 s before each of its own retries and ignores
Retry-After, so `sdk_sleeps` records the sleeps it planned and makes them 10 ms.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
import stripe
from homeward.adapters.payments import ProviderRefund, ProviderRejected, ProviderUnavailable, RefundRequest
from homeward.domain.refunds.ports import RefundUpdate
from homeward.providers.stripe.payments import StripeProvider, _translate
from homeward.providers.stripe.webhooks import parse_stripe_event, verify_stripe

from infra.stripe_stub import StripeStub

API_KEY = "sk_test_homeward_adapter_0123456789"
PI = "pi_3Demo0000000000001"
KEY = "refund:R-7K3M-9QXA:1"
METADATA = {"homeward_rma": "R-7K3M-9QXA", "homeward_key": KEY, "order_id": "demo-1001"}


def refund_request(
    key: str = KEY, amount: int = 4599, *, pi: str = PI, currency: str = "USD"
) -> RefundRequest:
    metadata = {**METADATA, "homeward_key": key}
    return RefundRequest(key, pi, amount, currency, metadata)


@pytest.fixture(autouse=True)
def sdk_sleeps(monkeypatch) -> list[float]:
    planned: list[float] = []
    original = stripe.HTTPClient._sleep_time_seconds

    def fast(self, num_retries: int) -> float:
        planned.append(original(self, num_retries))
        return 0.01

    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", fast)
    return planned


@pytest.fixture
def stub():
    with StripeStub(API_KEY) as server:
        server.add_payment_intent(PI, 10_000, "usd")
        yield server


def make_provider(stub: StripeStub, **kwargs) -> StripeProvider:
    api_key = kwargs.pop("api_key", API_KEY)
    options = {"timeout_seconds": 0.5, "max_network_retries": 2, **kwargs}
    return StripeProvider(api_key, api_base=stub.url, **options)


def posts(stub: StripeStub) -> list[dict]:
    return [r for r in stub.requests if r["method"] == "POST"]


# --- create and idempotency -------------------------------------------------------------------


def test_create_sends_key_and_parameters_and_converts_the_refund(stub):
    stub.new_refund_status = "pending"
    refund = make_provider(stub).create_refund(refund_request())

    assert refund == ProviderRefund(refund.refund_id, "pending", 4599, "USD", None, METADATA)
    assert refund.refund_id.startswith("re_")
    sent = posts(stub)[0]
    assert sent["headers"]["idempotency-key"] == KEY
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert sent["params"] == {
        "payment_intent": PI,
        "amount": "4599",
        "reason": "requested_by_customer",
        "metadata": METADATA,
    }
    assert stub.refund(refund.refund_id)["currency"] == "usd"


def test_same_key_again_returns_the_same_refund_and_creates_one(stub):
    provider = make_provider(stub)
    first = provider.create_refund(refund_request())
    again = provider.create_refund(refund_request())

    assert again == first
    assert stub.refunds_created(PI) == 1
    assert stub.requests_seen(KEY) == 2


def test_homeward_key_is_added_to_metadata_when_missing(stub):
    refund = make_provider(stub).create_refund(RefundRequest(KEY, PI, 100, "USD"))
    assert refund.metadata == {"homeward_key": KEY}


def test_same_key_with_another_amount_is_an_idempotency_error(stub):
    provider = make_provider(stub)
    provider.create_refund(refund_request(amount=4599))
    with pytest.raises(ProviderRejected) as excinfo:
        provider.create_refund(refund_request(amount=4600))
    assert excinfo.value.code == "idempotency_error"
    assert stub.refunds_created(PI) == 1


def test_over_refund_and_fully_refunded_are_rejected_with_stripes_codes(stub):
    provider = make_provider(stub)
    with pytest.raises(ProviderRejected) as too_large:
        provider.create_refund(refund_request("refund:R-1:1", 10_001))
    provider.create_refund(refund_request("refund:R-1:2", 10_000))
    with pytest.raises(ProviderRejected) as already:
        provider.create_refund(refund_request("refund:R-1:3", 1))
    with pytest.raises(ProviderRejected) as missing:
        provider.create_refund(refund_request("refund:R-1:4", 1, pi="pi_unknown"))

    assert (too_large.value.code, already.value.code, missing.value.code) == (
        "amount_too_large",
        "charge_already_refunded",
        "resource_missing",
    )
    # Saved like any executed request: the same key replays the same rejection.
    with pytest.raises(ProviderRejected, match="amount_too_large"):
        provider.create_refund(refund_request("refund:R-1:1", 10_001))
    assert stub.refunds_created(PI) == 1


def test_the_refund_reports_the_payments_currency_for_the_caller_to_check(stub):
    stub.add_payment_intent("pi_eur", 5000, "eur")
    provider = make_provider(stub)
    made = provider.create_refund(refund_request("refund:R-2:1", 100, pi="pi_eur", currency="USD"))
    assert made.currency == "EUR"  # made all the same: the service holds it for a person
    assert stub.refunds_created("pi_eur") == 1


# --- transient faults -------------------------------------------------------------------------


def test_500_is_retried_by_the_sdk_with_the_same_key(stub, sdk_sleeps):
    stub.fail_next_creates(1)
    refund = make_provider(stub, max_network_retries=2).create_refund(refund_request())

    assert stub.requests_seen(KEY) == 2
    assert {p["headers"]["idempotency-key"] for p in posts(stub)} == {KEY}
    assert stub.refunds_created(PI) == 1
    assert stub.refund(refund.refund_id)["amount"] == 4599
    # Unpatched, the SDK would have slept 0.5-1 s: its floor is HTTPClient.INITIAL_DELAY.
    assert len(sdk_sleeps) == 1 and sdk_sleeps[0] >= 0.5


def test_500s_outlasting_the_sdk_retries_are_unavailable_then_a_retry_succeeds(stub):
    stub.fail_next_creates(3)
    provider = make_provider(stub, max_network_retries=2)
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())
    assert stub.requests_seen(KEY) == 3
    assert stub.refunds_created(PI) == 0

    provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 1


def test_a_saved_500_is_replayed_until_the_key_is_pruned(stub):
    stub.fail_next_creates(1, saved=True)
    provider = make_provider(stub, max_network_retries=2)
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())
    # Stripe-Should-Retry: false: the SDK did not retry a 500 it would only get replayed.
    assert stub.requests_seen(KEY) == 1
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 0

    stub.forget_idempotency_keys()
    assert provider.find_refund(PI, KEY) is None
    provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 1


def test_429_is_not_retried_by_the_sdk_and_is_unavailable(stub):
    stub.rate_limit_next_creates(3)
    with pytest.raises(ProviderUnavailable):
        make_provider(stub, max_network_retries=2).create_refund(refund_request())
    # No Stripe-Should-Retry header: the SDK gives up on a 429 at once (and never reads Retry-After).
    assert stub.requests_seen(KEY) == 1
    assert stub.refunds_created(PI) == 0


def test_429_with_should_retry_true_is_retried_by_the_sdk(stub):
    stub.rate_limit_next_creates(1, should_retry=True)
    make_provider(stub, max_network_retries=2).create_refund(refund_request())
    assert stub.requests_seen(KEY) == 2
    assert stub.refunds_created(PI) == 1


def test_timeout_is_unavailable_and_the_retry_gets_the_refund_made_meanwhile(stub):
    stub.stall_next_creates(0.6)
    provider = make_provider(stub, timeout_seconds=0.2, max_network_retries=0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())
    assert time.monotonic() - started < 0.5
    assert stub.wait_idle()
    assert stub.refunds_created(PI) == 1  # the stalled request went through after all

    refund = provider.create_refund(refund_request())
    assert refund.refund_id == stub.refunds_for(PI)[0]["id"]
    assert stub.refunds_created(PI) == 1


def test_sdk_retry_of_a_timed_out_request_meets_the_key_in_flight(stub):
    stub.stall_next_creates(0.6)
    provider = make_provider(stub, timeout_seconds=0.2, max_network_retries=2)
    with pytest.raises(ProviderUnavailable, match="409"):
        provider.create_refund(refund_request())
    # One timeout, then two retries answered 409 while the first still ran.
    assert stub.requests_seen(KEY) == 3
    assert stub.wait_idle()
    provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 1


def test_concurrent_request_with_the_same_key_is_unavailable(stub):
    stub.stall_next_creates(0.4)
    slow = make_provider(stub, timeout_seconds=2, max_network_retries=0)
    results: list[ProviderRefund] = []
    thread = threading.Thread(target=lambda: results.append(slow.create_refund(refund_request())))
    thread.start()
    deadline = time.monotonic() + 2
    while stub.requests_seen(KEY) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)

    with pytest.raises(ProviderUnavailable, match="409"):
        make_provider(stub, max_network_retries=0).create_refund(refund_request())
    thread.join(3)
    assert len(results) == 1
    assert stub.refunds_created(PI) == 1


def test_crash_after_success_then_retry_returns_the_same_refund(stub):
    stub.crash_next_creates(1)
    provider = make_provider(stub, max_network_retries=0)
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 1

    refund = provider.create_refund(refund_request())
    assert refund.refund_id == stub.refunds_for(PI)[0]["id"]
    assert stub.refunds_created(PI) == 1


def test_crash_after_success_is_absorbed_by_the_sdk_retry(stub):
    stub.crash_next_creates(1)
    refund = make_provider(stub, max_network_retries=1).create_refund(refund_request())
    assert stub.requests_seen(KEY) == 2
    assert refund.refund_id == stub.refunds_for(PI)[0]["id"]
    assert stub.refunds_created(PI) == 1


def test_nothing_listening_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = StripeProvider(
        API_KEY, api_base=f"http://127.0.0.1:{port}", timeout_seconds=0.5, max_network_retries=1
    )
    with pytest.raises(ProviderUnavailable):
        provider.create_refund(refund_request())


# --- reconcile and retrieve -------------------------------------------------------------------


def test_after_the_key_is_pruned_find_refund_finds_it_by_metadata(stub):
    provider = make_provider(stub)
    made = provider.create_refund(refund_request())
    stub.forget_idempotency_keys()

    assert provider.find_refund(PI, KEY) == made
    assert provider.find_refund(PI, "refund:R-7K3M-9QXA:2") is None
    # Why find_refund comes first: with the key forgotten, a create makes a second refund.
    provider.create_refund(refund_request())
    assert stub.refunds_created(PI) == 2


def test_find_refund_pages_through_all_refunds(stub):
    provider = make_provider(stub)
    provider.page_size = 2
    made = [provider.create_refund(refund_request(f"refund:R-3:{n}", 100)) for n in range(1, 6)]

    # Newest first: the first refund is on the last of three pages.
    assert provider.find_refund(PI, "refund:R-3:1") == made[0]
    lists = [r for r in stub.requests if r["method"] == "GET"]
    assert len(lists) == 3
    assert [r["params"].get("starting_after") for r in lists] == [None, made[3].refund_id, made[1].refund_id]
    assert all(r["params"]["payment_intent"] == PI for r in lists)
    assert provider.find_refund(PI, "refund:R-3:9") is None


def test_retrieve_sees_the_status_set_later(stub):
    stub.new_refund_status = "pending"
    provider = make_provider(stub)
    made = provider.create_refund(refund_request())
    stub.set_refund_status(made.refund_id, "failed", "expired_or_canceled_card")

    seen = provider.retrieve_refund(made.refund_id)
    assert (seen.status, seen.failure_reason, seen.metadata) == (
        "failed",
        "expired_or_canceled_card",
        METADATA,
    )
    with pytest.raises(ProviderRejected) as excinfo:
        provider.retrieve_refund("re_unknown")
    assert excinfo.value.code == "resource_missing"


def test_wrong_api_key_is_rejected_everywhere(stub):
    provider = make_provider(stub, api_key="sk_test_not_the_right_one")
    for call in (
        lambda: provider.create_refund(refund_request()),
        lambda: provider.retrieve_refund("re_x"),
        lambda: provider.find_refund(PI, KEY),
    ):
        with pytest.raises(ProviderRejected) as excinfo:
            call()
        assert excinfo.value.code == "authentication_error"
    assert stub.refunds_created() == 0


# --- webhooks from the stub -------------------------------------------------------------------


def test_stub_events_round_trip_through_verify_and_parse(stub):
    stub.new_refund_status = "pending"
    made = make_provider(stub).create_refund(refund_request())
    stub.set_refund_status(made.refund_id, "failed", "lost_or_stolen_card")
    body = stub.event_for(made.refund_id, "refund.failed")
    now = int(time.time())
    header = stub.sign_event(body, ["whsec_old", "whsec_new"], now)

    verify_stripe(body, {"Stripe-Signature": header}, ["whsec_new"], now=datetime.fromtimestamp(now, UTC))
    assert stripe.Webhook.construct_event(body, header, "whsec_old").type == "refund.failed"
    update = parse_stripe_event(body)
    assert isinstance(update, RefundUpdate)
    assert (update.refund_id, update.status, update.failure_reason) == (
        made.refund_id,
        "failed",
        "lost_or_stolen_card",
    )
    assert (update.amount, update.currency, update.payment_reference) == (4599, "USD", PI)
    assert update.metadata == METADATA
    created = json.loads(stub.event_for(made.refund_id, "refund.created"))
    assert created["request"]["idempotency_key"] == KEY
    assert created["id"].startswith("evt_") and created["livemode"] is False


# --- the stub's wire protocol (what the SDK does not show) --------------------------------------


def raw_call(stub: StripeStub, path: str, data: str | None = None, **headers: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(stub.url + path, data=data.encode() if data else None, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_stub_rejects_a_missing_api_key_with_stripes_401(stub):
    status, headers, body = raw_call(stub, "/v1/refunds")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")


def test_stub_saves_nothing_for_a_request_that_fails_validation(stub):
    auth = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k-1"}
    status, _, body = raw_call(stub, "/v1/refunds", f"payment_intent={PI}&amont=5", **auth)
    assert (status, body["error"]["code"]) == (400, "parameter_unknown")
    # The corrected request may reuse the key; its answer is then saved and replayed.
    first = raw_call(stub, "/v1/refunds", f"payment_intent={PI}&amount=5", **auth)
    again = raw_call(stub, "/v1/refunds", f"amount=5&payment_intent={PI}", **auth)
    assert first[0] == again[0] == 200 and first[2] == again[2]
    assert again[1]["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first[1]
    too_long = raw_call(stub, "/v1/refunds", f"payment_intent={PI}", **{**auth, "Idempotency-Key": "k" * 256})
    assert too_long[0] == 400
    assert stub.refunds_created(PI) == 1


# --- error mapping the stub does not produce ----------------------------------------------------


def _body(type_: str, code: str | None = None) -> dict:
    return {"error": {"type": type_, **({"code": code} if code else {})}}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (stripe.PermissionError("no", None, 403, _body("invalid_request_error")), "permission_error"),
        (stripe.CardError("no", None, "card_declined", None, 402), "card_declined"),
        (stripe.IdempotencyError("no", None, 400, _body("idempotency_error")), "idempotency_error"),
        (stripe.InvalidRequestError("no", "amount", None, None, 400), "invalid_request"),
        (
            stripe.AuthenticationError("no", None, 401, _body("invalid_request_error", "api_key_expired")),
            "api_key_expired",
        ),
    ],
)
def test_permanent_errors_map_to_rejected_with_a_code(error, expected):
    translated = _translate(error)
    assert isinstance(translated, ProviderRejected) and translated.code == expected


@pytest.mark.parametrize(
    "error",
    [
        stripe.APIConnectionError("reset", should_retry=True),
        stripe.RateLimitError("slow down", None, 429),
        stripe.InvalidRequestError("locked", None, "lock_timeout", None, 400),
        stripe.APIError("conflict", None, 409, _body("invalid_request_error", "idempotency_key_in_use")),
        stripe.APIError("oops", None, 503),
        stripe.APIError("unreadable answer"),
    ],
)
def test_transient_errors_map_to_unavailable(error):
    assert isinstance(_translate(error), ProviderUnavailable)
