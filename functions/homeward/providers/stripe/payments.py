"""Stripe refunds through the official SDK (`stripe.StripeClient`, v1 refunds service).

Imported lazily by the provider factory (the SDK's import alone costs ~170 ms), never at a
handler's import time.

Idempotency (CR 4.1, 4.5): every create carries our deterministic key as `Idempotency-Key`
and identical parameters on every attempt. The SDK's own network retries (connection errors,
timeouts, 409, 5xx, `Stripe-Should-Retry: true`) resend the very same request, key included;
our callers' later retries send the same key again. Stripe replays the first response it
saved for a key - a 500 included - for at least 24 h; after that, `find_refund` reconciles by
`metadata.homeward_key` before anything creates a second refund.

Errors come back as the port's two kinds (see `homeward.domain.refunds.ports`):
ProviderUnavailable for anything a retry with the same key may fix (network, timeout, 409 key
in flight, 429, 5xx), ProviderRejected with Stripe's error code for the rest
(`charge_already_refunded`, `amount_too_large`, `resource_missing`, `idempotency_error` for a
key reused with other parameters, `authentication_error`, `permission_error`, card errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import stripe

if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses

from homeward.domain.refunds.ports import (
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
)

PROVIDER = "stripe"
# Stripe answers these codes for conditions that pass with time (a lock, a key in flight, a
# rate limit), whatever the HTTP status they come with.
_TRANSIENT_CODES = frozenset({"lock_timeout", "idempotency_key_in_use", "rate_limit"})


def _error_code(err: stripe.StripeError) -> str | None:
    if err.code:
        return err.code
    # IdempotencyError, AuthenticationError and friends are built without `code`; the body may
    # still carry one.
    body = err.json_body if isinstance(err.json_body, dict) else {}
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


def _translate(err: stripe.StripeError) -> ProviderUnavailable | ProviderRejected:
    """The port's error for an SDK error (raised after the SDK's own retries are spent)."""
    message = err.user_message or "no message"
    code = _error_code(err)
    status = err.http_status
    transient = (
        isinstance(err, stripe.APIConnectionError | stripe.RateLimitError)
        or code in _TRANSIENT_CODES
        or (status is not None and (status == 409 or status >= 500))
        # Stripe's api_error type is its own side failing (no status: an unreadable answer).
        or type(err) is stripe.APIError
    )
    if transient:
        detail = ", ".join(x for x in (f"HTTP {status}" if status else "", code or "") if x)
        return ProviderUnavailable(
            PROVIDER, f"{type(err).__name__}{f' ({detail})' if detail else ''}: {message}"
        )
    if isinstance(err, stripe.IdempotencyError):
        # Same key, other parameters: a bug on our side, never fixed by retrying.
        return ProviderRejected(PROVIDER, "idempotency_error", message)
    if isinstance(err, stripe.AuthenticationError):
        return ProviderRejected(PROVIDER, code or "authentication_error", message)
    if isinstance(err, stripe.PermissionError):
        return ProviderRejected(PROVIDER, code or "permission_error", message)
    if isinstance(err, stripe.CardError):
        return ProviderRejected(PROVIDER, code or "card_error", message)
    if isinstance(err, stripe.InvalidRequestError):
        return ProviderRejected(PROVIDER, code or "invalid_request", message)
    return ProviderRejected(PROVIDER, code or "stripe_error", message)


def _to_provider_refund(refund: stripe.Refund) -> ProviderRefund:
    # A StripeObject is not a dict in this SDK (no .get, no iteration): read it via to_dict().
    data: dict[str, Any] = refund.to_dict()
    metadata = data.get("metadata") or {}
    return ProviderRefund(
        refund_id=data["id"],
        status=cast(RefundStatus, data["status"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        failure_reason=data.get("failure_reason"),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


class StripeProvider:
    """The PaymentProvider port on Stripe refunds against a PaymentIntent."""

    name = "stripe"
    # Refunds per list page while reconciling (Stripe's maximum; tests lower it to page).
    page_size = 100

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 10,
        max_network_retries: int = 2,
    ) -> None:
        base_addresses: BaseAddresses | None = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=base_addresses,
            max_network_retries=max_network_retries,
            # Requests is a dependency of stripe; its client takes our timeout (the default is 80 s).
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        """Create the refund, or get back the one this idempotency key already made."""
        metadata = dict(request.metadata)
        # find_refund matches on it; derived from the key, so every attempt sends the same.
        metadata.setdefault("homeward_key", request.idempotency_key)
        params: dict[str, Any] = {
            "payment_intent": request.payment_reference,
            "amount": request.amount,
            "reason": request.reason,
            "metadata": metadata,
        }
        try:
            refund = self._client.v1.refunds.create(
                params=cast(Any, params), options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as err:
            raise _translate(err) from err
        # Stripe refunds in the payment's currency. If that is not the request's, the refund
        # exists all the same: the caller must hold it for a person, never treat it as failed
        # (releasing the reservation would allow a second refund).
        return _to_provider_refund(refund)

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        """The refund's current state."""
        try:
            return _to_provider_refund(self._client.v1.refunds.retrieve(refund_id))
        except stripe.StripeError as err:
            raise _translate(err) from err

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        """The PaymentIntent's refund whose metadata.homeward_key is this key, paging through all."""
        try:
            page = self._client.v1.refunds.list(
                params={"payment_intent": payment_reference, "limit": self.page_size}
            )
            # auto_paging_iter asks for the next page with starting_after = the last id seen.
            for refund in page.auto_paging_iter():
                found = _to_provider_refund(refund)
                if found.metadata.get("homeward_key") == idempotency_key:
                    return found
        except stripe.StripeError as err:
            raise _translate(err) from err
        return None


__all__ = ["StripeProvider"]


def make_provider(settings: Any, api_key: str | None = None) -> StripeProvider:
    """The registry's factory: `api_key` from STRIPE_API_KEY or the payment secret's
    `stripe_api_key`; STRIPE_API_BASE points it at a stub (infra/stripe_stub.py)."""
    if not api_key:
        raise ProviderRejected(PROVIDER, "not_configured", "no Stripe API key is configured")
    return StripeProvider(api_key, api_base=settings.api_bases.get(PROVIDER))
