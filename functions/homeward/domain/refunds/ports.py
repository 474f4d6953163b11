"""The payment provider ports: refund money, find a refund again, read the provider's webhooks.

Implementations live in homeward/providers/<name>/ (payments.py: a `PaymentProvider`;
webhooks.py: a `PaymentWebhookSource`), listed in homeward/providers/registry.py; which
adapter refunds which payment is homeward/providers/payments.py, which the handlers
wire into the refund use cases as a `ProviderLookup` (so the domain depends on no adapter).

Every call carries our deterministic idempotency key `refund:{rma}:{n}` and identical
parameters on every retry, so a provider that already accepted the refund answers with the
same refund instead of making a second one. Errors come back as two kinds only:

* `ProviderUnavailable` - a retry with the same key may succeed (network error, timeout,
  429, 5xx, an idempotent request still in flight);
* `ProviderRejected` - it never will (the charge is already refunded, the amount is more
  than remains, the key was used with other parameters, bad credentials).

A webhook source verifies the provider's signature on the raw bytes and reads the verified
body into a `RefundUpdate` (the refund's state as of one event), or `IgnoredEvent` for event
types we do not act on. Providers may deliver an event more than once and in any order:
dedupe on `event_id` and order on the refund's status rules, never on arrival.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

RefundStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]
# Statuses after which the provider never moves money for this refund again ("succeeded"
# is final for us; a late failure arrives as its own update and is applied as such).
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
# Providers whose refunds a person makes and ops confirm (providers/manual): their movements
# wait in `requires_action` for ops; the sweep neither re-sends nor reads them back.
BY_HAND: frozenset[str] = frozenset({"manual"})


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


class RefundNotReadable(ProviderUnavailable):
    """The provider has no API to read a refund back (Adyen): its webhooks report the outcome.
    Still transient for an open refund (it stays pending until the webhook; never failed)."""


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


@dataclass(frozen=True)
class RefundUpdate:
    """A refund's state as of one provider event."""

    event_id: str
    event_type: str
    refund_id: str
    status: str
    amount: int  # minor units
    currency: str  # upper case
    failure_reason: str | None
    metadata: Mapping[str, str]  # homeward_rma, homeward_key, order_id as we sent them
    payment_reference: str | None  # the provider's payment id, when the refund has one
    occurred_at: datetime  # aware, UTC, the event's own time


@dataclass(frozen=True)
class IgnoredEvent:
    """An event of a type we do not act on (acknowledge it, do nothing)."""

    event_id: str
    event_type: str


class PaymentWebhookSource(Protocol):
    name: str
    # The body the endpoint answers once a delivery is handled: None for the JSON acknowledgement
    # (Stripe), or the provider's own text (Adyen's standard notifications expect "[accepted]").
    acknowledgement: str | None

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, now: datetime
    ) -> None:
        """Accept a signature made with any active secret, else raise WebhookSignatureInvalid."""
        ...

    def parse(self, body: bytes) -> RefundUpdate | IgnoredEvent:
        """The verified body as a refund update; MalformedRequest (400) / Unprocessable (422)."""
        ...

    def parse_all(self, body: bytes) -> Sequence[RefundUpdate | IgnoredEvent]:
        """Every event of a verified delivery, each once (a provider may batch several, as
        Adyen does); `[parse(body)]` for a provider that sends one event per delivery."""
        ...


class ProviderLookup(Protocol):
    """The configured providers, by the name a payment carries (`stripe`, `ledger`)."""

    def for_payment(self, provider: str) -> PaymentProvider: ...


__all__ = [
    "BY_HAND",
    "FINAL_STATUSES",
    "IgnoredEvent",
    "PaymentProvider",
    "PaymentWebhookSource",
    "ProviderLookup",
    "ProviderRefund",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefundNotReadable",
    "RefundRequest",
    "RefundStatus",
    "RefundUpdate",
]
