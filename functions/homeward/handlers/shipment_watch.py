"""ShipmentWatchFunction (scheduled): flag silent parcels and sweep parked webhook events.

A parcel with no carrier event for the policy's `tracking.stalled_after_days` gets one
`shipment.delayed` event per silence; parked events whose parcel exists by now are re-driven
(the stream normally does that at once; this covers index lag and missed records).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.tracking import TrackingTable
from homeward.adapters.policy import load_policy
from homeward.config import TrackingSettings, load_settings
from homeward.domain.tracking import service as tracking_service
from homeward.observability import logger, metrics

settings = load_settings(TrackingSettings)
store = TrackingTable(client("dynamodb"), settings.table_name)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    policy = load_policy(settings.return_policy_parameter)
    counts = tracking_service.watch(
        store=store, stalled_after=timedelta(days=policy.tracking.stalled_after_days), now=datetime.now(UTC)
    )
    metrics.add_metric(name="ParcelsDelayed", unit="Count", value=counts["delayed"])
    logger.info("shipment watch run", extra=counts)
    return counts
