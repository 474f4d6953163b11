"""Payment adapters: which provider refunds which payment (providers.py).

The port (`PaymentProvider`, `RefundRequest`, `ProviderRefund`, the two error kinds) is
declared in homeward/domain/refunds/ports.py and re-exported here for existing callers; the
providers themselves are homeward/providers/<name>/payments.py.
"""

from __future__ import annotations

from homeward.domain.refunds.ports import (
    FINAL_STATUSES,
    PaymentProvider,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
)

__all__ = [
    "FINAL_STATUSES",
    "PaymentProvider",
    "ProviderRefund",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefundRequest",
    "RefundStatus",
]
