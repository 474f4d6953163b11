"""The payment-provider port: what the refund use cases need from a provider, declared here so
the domain depends on no adapter. `adapters.payments` implements it (the ledger and Stripe
providers) and re-exports these names; the handlers wire a `ProviderLookup` in.

Every call carries our deterministic idempotency key `refund:{rma}:{n}` and identical
parameters on every retry, so a provider that already accepted the refund answers with the
same refund instead of making a second one. Errors come back as two kinds only:

* `ProviderUnavailable` - a retry with the same key may succeed (network error, timeout,
  429, 5xx, an idempotent request still in flight);
* `ProviderRejected` - it never will (the charge is already refunded, the amount is more
  than remains, the key was used with other parameters, bad credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

RefundStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]


@dataclass(frozen=True)
class RefundRequest:
    """One refund to one payment, exactly as sent on every attempt."""

    idempotency_key: str  # refund:{rma}:{n}
    payment_reference: str  # the provider's payment id, e.g. a Stripe PaymentIntent pi_...
    amount: int  # minor units, > 0
    currency: str  # ISO 4217, upper case
    metadata: Mapping[str, str] = field(default_factory=dict)  # homeward_rma, homeward_key, order_id
    reason: str = "requested_by_customer"


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider reports it."""

    refund_id: str
    status: RefundStatus
    amount: int
    currency: str  # upper case
    failure_reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


class ProviderUnavailable(Exception):
    """Transient: retry later with the same idempotency key and parameters."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderRejected(Exception):
    """Permanent: the provider refused the refund; `code` is its machine-readable reason."""

    def __init__(self, provider: str, code: str, message: str) -> None:
        super().__init__(f"{provider}: {code}: {message}")
        self.provider = provider
        self.code = code


class PaymentProvider(Protocol):
    name: str

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        """Create (or, for a key already used, return) the refund. Raises ProviderUnavailable
        or ProviderRejected."""
        ...

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        """The refund's current state (for reconciling a pending one)."""
        ...

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        """The refund made for this key on this payment, if any: matched on
        `metadata.homeward_key`, for retries after the provider forgot the idempotency key."""
        ...


class ProviderLookup(Protocol):
    """The configured providers, by the name a payment carries (`stripe`, `ledger`)."""

    def for_payment(self, provider: str) -> PaymentProvider: ...
