"""The metrics every refund function publishes from a `refund_service` outcome.

RefundsFailed has an alarm (template: RefundsFailedAlarm).
"""

from __future__ import annotations

from collections.abc import Mapping

from homeward.observability import metrics

METRICS = {
    "planned": "RefundsPlanned",
    "credited": "StoreCreditsIssued",
    "succeeded": "RefundsIssued",
    "pending": "RefundsSubmitted",
    "requires_action": "RefundsSubmitted",
    "failed": "RefundsFailed",
    "canceled": "RefundsFailed",
    "closed": "ReturnsClosed",
    "unavailable": "RefundProviderUnavailable",
}


def emit(outcome: Mapping[str, int]) -> None:
    for name, count in outcome.items():
        if name in METRICS and count:
            metrics.add_metric(name=METRICS[name], unit="Count", value=count)
