"""Adyen refunds through the Checkout API (v71), on urllib3 (already there via botocore).

`POST {base}/v71/payments/{paymentPspReference}/refunds` with `X-API-Key`, `Idempotency-Key`
= our deterministic key `refund:{rma}:{n}`, and the same body on every attempt:
`{"amount": {"currency", "value"}, "merchantAccount", "reference": <the key>}` (CR 4.2;
value in minor units, which is what Homeward stores). Adyen answers 201 `status: "received"`
with the refund's `pspReference`: it only confirms receipt, so the refund is `pending` until
its REFUND (success true/false) or REFUND_FAILED notification arrives (webhooks.py).

Idempotency (CR 4.2, AD4): Adyen keeps a key for at least 31 days and answers a repeated
request with the first answer, so a retry after a crash or a lost answer gets the same
refund back. Adyen has no API to list or read a refund: `find_refund` returns None (the
create that follows replays under the same key), and `retrieve_refund` raises
`RefundNotReadable` (a ProviderUnavailable): a pending refund stays pending until its webhook
(never `failed`, which would release the money for a second refund), and the late-failure
recheck of a settled one is marked done (REFUND_FAILED / REFUNDED_REVERSED report those).

Errors, as the port's two kinds: timeouts, refused connections, 408/425/429, 5xx and Adyen's
errorCode 704 ("request already processed or in progress": the key is in flight) ->
ProviderUnavailable; 401/403 -> ProviderRejected `authentication_error`/`permission_error`;
every other 4xx (validation 422 such as an amount above what remains, an unknown payment) ->
ProviderRejected `adyen_<errorCode>`. The API key only travels in the X-API-Key header and is
never logged or put in a message.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import urllib3

from homeward.domain.refunds.ports import (
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundNotReadable,
    RefundRequest,
)

PROVIDER = "adyen"
API_VERSION = "v71"
# Adyen's test Checkout endpoint; live uses the company's prefix URL
# (https://<prefix>-checkout-live.adyenpayments.com/checkout), set as ADYEN_API_BASE.
TEST_API_BASE = "https://checkout-test.adyen.com"
MAX_ANSWER_BYTES = 1024 * 1024
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_IN_FLIGHT_CODES = frozenset({"704"})  # the same idempotency key is still being processed


def _decode(data: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(data[:MAX_ANSWER_BYTES].decode("utf-8")) if data else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _error(status: int, body: dict[str, Any]) -> ProviderUnavailable | ProviderRejected:
    code = str(body.get("errorCode") or "")
    message = str(body.get("message") or "no message")[:300]
    if status >= 500 or status in _TRANSIENT_STATUSES or code in _IN_FLIGHT_CODES:
        return ProviderUnavailable(PROVIDER, f"HTTP {status}{f' ({code})' if code else ''}: {message}")
    if status == 401:
        return ProviderRejected(PROVIDER, "authentication_error", message)
    if status == 403:
        return ProviderRejected(PROVIDER, "permission_error", message)
    return ProviderRejected(PROVIDER, f"adyen_{code}" if code else f"http_{status}", message)


def _to_refund(body: dict[str, Any], request: RefundRequest) -> ProviderRefund:
    """The 201 answer as a pending refund; ProviderUnavailable if it is not one (the refund may
    exist: a retry with the same key gets the same answer back)."""
    raw_amount = body.get("amount")
    amount: dict[str, Any] = raw_amount if isinstance(raw_amount, dict) else {}
    psp, value, currency = body.get("pspReference"), amount.get("value"), amount.get("currency")
    if not (isinstance(psp, str) and psp and isinstance(value, int) and isinstance(currency, str)):
        raise ProviderUnavailable(PROVIDER, "unreadable refund answer")
    if body.get("status") != "received":
        raise ProviderUnavailable(PROVIDER, f"unexpected refund status {body.get('status')!r}")
    answered = body.get("reference")
    reference = answered if isinstance(answered, str) and answered else request.idempotency_key
    return ProviderRefund(
        refund_id=psp,
        status="pending",
        amount=value,
        currency=currency.upper(),
        metadata={**request.metadata, "homeward_key": reference},
    )


class AdyenProvider:
    """The PaymentProvider port on Adyen Checkout refunds of a captured payment."""

    name = "adyen"

    def __init__(
        self,
        api_key: str,
        merchant_account: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 10,
    ) -> None:
        self._merchant_account = merchant_account
        self._base = (api_base or TEST_API_BASE).rstrip("/")
        self._headers = {
            "X-API-Key": api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        timeout = urllib3.Timeout(connect=min(3.0, timeout_seconds), read=timeout_seconds)
        # No urllib3 retries: our callers retry with the same key.
        self._pool = urllib3.PoolManager(timeout=timeout, retries=False)

    def __repr__(self) -> str:  # never show the headers (they hold the key)
        return f"AdyenProvider(base={self._base!r})"

    def refund_body(self, request: RefundRequest) -> dict[str, Any]:
        """The request body, identical on every attempt for one key."""
        return {
            "amount": {"currency": request.currency.upper(), "value": request.amount},
            "merchantAccount": self._merchant_account,
            "reference": request.idempotency_key,
        }

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask Adyen to refund (or, for a key already used, get the same refund back)."""
        path = f"/{API_VERSION}/payments/{quote(request.payment_reference, safe='')}/refunds"
        headers = {**self._headers, "Idempotency-Key": request.idempotency_key}
        body = json.dumps(self.refund_body(request), separators=(",", ":")).encode()
        try:
            answer = self._pool.request("POST", self._base + path, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as err:  # timeouts, refused, reset, protocol errors
            raise ProviderUnavailable(PROVIDER, f"{type(err).__name__}: no answer") from None
        data = _decode(answer.data)
        if not 200 <= answer.status < 300:
            raise _error(answer.status, data)
        return _to_refund(data, request)

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        """Adyen has no API to read a refund: its outcome arrives by webhook only."""
        raise RefundNotReadable(PROVIDER, f"refund {refund_id} is reported by webhook only")

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        """None: Adyen cannot list refunds; the create that follows replays under the same key
        (kept at least 31 days)."""
        return None


__all__ = ["AdyenProvider", "make_provider"]


def make_provider(settings: Any, api_key: str | None = None) -> AdyenProvider:
    """The registry's factory: `api_key` from ADYEN_API_KEY or the payment secret's
    `adyen_api_key`, the merchant account from ADYEN_MERCHANT_ACCOUNT, ADYEN_API_BASE (the live
    prefix URL, or a stub: infra/adyen_stub.py)."""
    merchant_account = os.environ.get("ADYEN_MERCHANT_ACCOUNT", "").strip()
    if not api_key or not merchant_account:
        raise ProviderRejected(
            PROVIDER, "not_configured", "no Adyen API key or merchant account is configured"
        )
    return AdyenProvider(api_key, merchant_account, api_base=settings.api_bases.get(PROVIDER))
