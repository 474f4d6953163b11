"""PayPal refunds of Orders v2 captures (Payments v2 REST API, over urllib3; no SDK).

* `POST /v1/oauth2/token` (client credentials, Basic `client_id:client_secret`): the bearer
  token is cached until a minute before `expires_in`, and dropped on a 401.
* `POST /v2/payments/captures/{capture_id}/refund` with `PayPal-Request-Id` = our deterministic
  key `refund:{rma}:{n}` and the same body on every attempt: `amount` as
  `{"value": "10.99", "currency_code": "USD"}` (a decimal string from integer minor units by the
  currency's ISO 4217 exponent: JPY "1050", USD "10.50", KWD "1.050") and `custom_id` = the key,
  so PayPal replays the refund it already made for that id (it keeps ids 30-45 days,
  docs/refunds.md) and its webhooks carry the key back. `Prefer: return=representation`
  asks for the whole refund (the default minimal answer has only id, status and links).
* `GET /v2/payments/refunds/{id}` reads a refund again.
* `find_refund` after a lost answer or an expired request id: the capture's order
  (`GET /v2/payments/captures/{id}`, link `up`) lists its refunds
  (`GET /v2/checkout/orders/{id}`, `purchase_units[].payments.refunds`); the one whose
  `custom_id` is our key is ours (read from the refund itself where the order omits it).

Statuses: COMPLETED -> succeeded, PENDING -> pending (`status_details.reason`), FAILED ->
failed, CANCELLED -> canceled; an unknown one stays `pending` (money kept reserved, reconciled
later). Errors come back as the port's two kinds: ProviderUnavailable for timeouts, connection
errors, 408/409/425/429, 5xx and an expired token; ProviderRejected with PayPal's issue code
(`details[0].issue`, e.g. CAPTURE_FULLY_REFUNDED, REFUND_AMOUNT_EXCEEDED) or error name
otherwise (bad credentials: `invalid_client`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from homeward.domain.refunds.ports import (
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
)

PROVIDER = "paypal"
LIVE_API = "https://api-m.paypal.com"
SANDBOX_API = "https://api-m.sandbox.paypal.com"
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
MAX_RESPONSE_BYTES = 1024 * 1024
TOKEN_MARGIN_SECONDS = 60
STATUSES: Mapping[str, RefundStatus] = {
    "COMPLETED": "succeeded",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELLED": "canceled",
}
# ISO 4217 minor-unit exponents that are not 2.
EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"), 0),
    **dict.fromkeys(("UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
# PayPal takes no decimals for these although ISO 4217 gives them two.
WHOLE_ONLY = frozenset({"HUF", "TWD"})

log = logging.getLogger("homeward.providers.paypal")


def decimal_amount(amount: int, currency: str) -> str:
    """Integer minor units -> PayPal's decimal string: (1099, USD) -> "10.99", (1050, JPY) -> "1050"."""
    currency = currency.upper()
    exponent = EXPONENTS.get(currency, 2)
    if currency in WHOLE_ONLY and amount % 10**exponent:
        raise ProviderRejected(
            PROVIDER, "currency_precision", f"PayPal refunds {currency} in whole units only"
        )
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def minor_units(value: object, currency: str) -> int:
    """PayPal's decimal string -> integer minor units ("0.99" USD -> 99, "0" -> 0); exact."""
    number = Decimal(str(value)).scaleb(EXPONENTS.get(currency.upper(), 2))
    if number != number.to_integral_value():
        raise ProviderUnavailable(PROVIDER, f"amount {value!r} has more decimals than {currency}")
    return int(number)


def metadata_of(custom_id: object) -> dict[str, str]:
    """Our metadata from the refund's `custom_id` (the key `refund:{rma}:{n}`); {} for another one."""
    if not isinstance(custom_id, str) or not custom_id.startswith("refund:") or custom_id.count(":") < 2:
        return {}
    rma = custom_id.removeprefix("refund:").rsplit(":", 1)[0]
    return {"homeward_rma": rma, "homeward_key": custom_id} if rma else {}


def _link(resource: Mapping[str, Any], rel: str) -> str | None:
    for link in resource.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
            return link["href"]
    return None


def last_segment(href: str | None) -> str | None:
    """`https://api.paypal.com/v2/payments/captures/0JF8...` -> `0JF8...`."""
    if not href:
        return None
    return urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1] or None


def _issue(body: Any, status: int) -> tuple[str, str]:
    """(code, message) of a PayPal error body: `details[0].issue` or `name` / OAuth's `error`."""
    if not isinstance(body, dict):
        return f"http_{status}", f"HTTP {status}"
    details = body.get("details")
    first = details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else {}
    code = first.get("issue") or body.get("name") or body.get("error") or f"http_{status}"
    message = first.get("description") or body.get("message") or body.get("error_description") or ""
    return str(code), str(message)[:300]


def to_provider_refund(data: Mapping[str, Any], request: RefundRequest | None = None) -> ProviderRefund:
    """A PayPal refund resource as the port's refund (a minimal answer borrows the request's amount)."""
    raw_status = str(data.get("status") or "")
    status = STATUSES.get(raw_status)
    if status is None:
        log.warning("unknown PayPal refund status, kept pending", extra={"status": raw_status})
        status = "pending"
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else None
    if amount is not None:
        currency = str(amount.get("currency_code") or "").upper()
        units = minor_units(amount.get("value"), currency)
    elif request is not None:
        currency, units = request.currency.upper(), request.amount
    else:
        raise ProviderUnavailable(PROVIDER, "PayPal answered a refund without its amount")
    details = data.get("status_details")
    reason = (
        details.get("reason")
        if isinstance(details, dict)
        else None
        if status in ("failed", "pending", "canceled")
        else None
    )
    return ProviderRefund(
        refund_id=str(data["id"]),
        status=status,
        amount=units,
        currency=currency,
        failure_reason=str(reason) if reason else None,
        metadata=metadata_of(data.get("custom_id")),
    )


class PayPalApi:
    """JSON over HTTPS to PayPal with a cached OAuth2 token; errors as the port's two kinds."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_base: str,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.base = api_base.rstrip("/")
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # Never retried or redirected here: a repeated POST is the caller's decision (same key).
        self._pool = urllib3.PoolManager(timeout=timeout, retries=False)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the credentials
        return f"PayPalApi(base={self.base!r})"

    def call(
        self, method: str, path: str, *, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self._bearer()}", "Accept": "application/json"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        status, data = self._send(method, path, payload, all_headers)
        if status == 401:
            with self._lock:
                self._token = None  # expired or revoked: the next attempt asks for a new one
            raise ProviderUnavailable(PROVIDER, f"{method} {path}: access token refused (HTTP 401)")
        return self._result(method, path, status, data)

    def _bearer(self) -> str:
        with self._lock:
            if self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
        headers = {
            "Authorization": f"Basic {self._basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        payload = urlencode({"grant_type": "client_credentials"}).encode()
        status, data = self._send("POST", "/v1/oauth2/token", payload, headers)
        if status in (400, 401, 403):
            code, message = _issue(data, status)
            raise ProviderRejected(PROVIDER, code, message or "PayPal refused the client credentials")
        data = self._result("POST", "/v1/oauth2/token", status, data)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderUnavailable(PROVIDER, "PayPal answered no access token")
        lifetime = data.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        with self._lock:
            self._token = (token, time.monotonic() + max(seconds - TOKEN_MARGIN_SECONDS, 0))
        return token

    def _send(
        self, method: str, path: str, payload: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        try:
            response = self._pool.request(
                method, self.base + path, body=payload, headers=dict(headers), preload_content=False
            )
            try:
                raw = response.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as err:  # timeouts, refused, reset, TLS, protocol
            raise ProviderUnavailable(PROVIDER, f"{method} {path}: {type(err).__name__}") from err
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ProviderUnavailable(PROVIDER, f"{method} {path}: answer too large")
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return response.status, data

    @staticmethod
    def _result(method: str, path: str, status: int, data: Any) -> Any:
        if 200 <= status < 300:
            if not isinstance(data, dict):
                raise ProviderUnavailable(PROVIDER, f"{method} {path}: HTTP {status} without a JSON object")
            return data
        code, message = _issue(data, status)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise ProviderUnavailable(PROVIDER, f"{method} {path}: HTTP {status} {code}")
        raise ProviderRejected(PROVIDER, code, message or f"HTTP {status}")


class PayPalProvider:
    """The PaymentProvider port on PayPal refunds of a capture (`payment_reference` = capture id)."""

    name = "paypal"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_base: str = LIVE_API,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        self._api = PayPalApi(
            client_id,
            client_secret,
            api_base=api_base,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        """Create the refund, or get back the one this PayPal-Request-Id already made."""
        body = {
            "amount": {
                "value": decimal_amount(request.amount, request.currency),
                "currency_code": request.currency.upper(),
            },
            "custom_id": request.idempotency_key,
        }
        data = self._api.call(
            "POST",
            f"/v2/payments/captures/{quote(request.payment_reference, safe='')}/refund",
            body=body,
            headers={"PayPal-Request-Id": request.idempotency_key, "Prefer": "return=representation"},
        )
        return to_provider_refund(data, request)

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        return to_provider_refund(self._api.call("GET", f"/v2/payments/refunds/{quote(refund_id, safe='')}"))

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        """The capture's refund whose custom_id is this key, through the capture's order."""
        for listed in self._order_refunds(payment_reference):
            if listed.get("custom_id") not in (None, idempotency_key):
                continue
            refund = listed if "custom_id" in listed and "amount" in listed else self._refund(listed)
            if refund.get("custom_id") == idempotency_key:
                return to_provider_refund(refund)
        return None

    def _refund(self, listed: Mapping[str, Any]) -> dict[str, Any]:
        return self._api.call("GET", f"/v2/payments/refunds/{quote(str(listed['id']), safe='')}")

    def _order_refunds(self, capture_id: str) -> Iterator[dict[str, Any]]:
        capture = self._api.call("GET", f"/v2/payments/captures/{quote(capture_id, safe='')}")
        order_id = last_segment(_link(capture, "up"))
        if order_id is None:
            return
        order = self._api.call("GET", f"/v2/checkout/orders/{quote(order_id, safe='')}")
        for unit in order.get("purchase_units") or ():
            payments = unit.get("payments") if isinstance(unit, dict) else None
            for refund in (payments or {}).get("refunds") or ():
                up = last_segment(_link(refund, "up")) if isinstance(refund, dict) else None
                if isinstance(refund, dict) and refund.get("id") and up in (None, capture_id):
                    yield refund


def split_credentials(api_key: str) -> tuple[str, str]:
    """`client_id:client_secret` (PAYPAL_API_KEY / the secret's `paypal_api_key`) -> the pair."""
    client_id, sep, client_secret = api_key.partition(":")
    if not sep or not client_id or not client_secret:
        raise ProviderRejected(PROVIDER, "not_configured", "the PayPal key must be client_id:client_secret")
    return client_id.strip(), client_secret.strip()


def make_provider(settings: Any, api_key: str | None = None) -> PayPalProvider:
    """The registry's factory: `api_key` = "client_id:client_secret" from PAYPAL_API_KEY or the
    payment secret's `paypal_api_key`; PAYPAL_API_BASE points it at the sandbox or a stub
    (infra/paypal_stub.py); the live API otherwise."""
    if not api_key:
        raise ProviderRejected(PROVIDER, "not_configured", "no PayPal client credentials are configured")
    client_id, client_secret = split_credentials(api_key)
    return PayPalProvider(client_id, client_secret, api_base=settings.api_bases.get(PROVIDER) or LIVE_API)


__all__ = ["PayPalProvider", "decimal_amount", "make_provider", "metadata_of", "minor_units"]
