"""Payment providers behind one port: create a refund, look one up, find one by our key.
The port (`RefundRequest`, `ProviderRefund`, the two errors, `PaymentProvider`) is declared by
the domain in `domain.refunds.ports` and re-exported here for the adapters.

Adapters: `ledger` (the local default: a provider-side record in the Homeward table that
settles asynchronously, like a card refund) and `stripe` (the official SDK, imported only
when a Stripe payment is refunded: the SDK's import alone costs ~170 ms).

Every call carries our deterministic idempotency key `refund:{rma}:{n}` and identical
parameters on every retry, so a provider that already accepted the refund answers with the
same refund instead of making a second one. Errors come back as two kinds only:

* `ProviderUnavailable` - a retry with the same key may succeed (network error, timeout,
  429, 5xx, an idempotent request still in flight);
* `ProviderRejected` - it never will (the charge is already refunded, the amount is more
  than remains, the key was used with other parameters, bad credentials).
"""

from __future__ import annotations

from homeward.domain.refunds.ports import (
    PaymentProvider,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
)

# Statuses after which the provider never moves money for this refund again ("succeeded"
# is final for us; a late failure arrives as its own update and is applied as such).
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


__all__ = [
    "FINAL_STATUSES",
    "PaymentProvider",
    "ProviderRefund",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefundRequest",
    "RefundStatus",
]
